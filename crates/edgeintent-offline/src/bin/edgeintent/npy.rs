//! NumPy `.npy` arrays and `.npz` archives as typed tensors, for `predict`
//! on models whose inputs are not one float matrix (double, int64, string,
//! several inputs).
//!
//! Supported element types: `<f4`, `<f8`, `<i8`, `<i4`, `|u1`, `|b1`, and
//! fixed-width text (`<U`n, `|S`n). Object arrays (pickles) are refused:
//! save strings with `x.astype(str)`.

use std::io::Read;
use std::path::Path;

use edgeintent::{TensorData, TensorValue};

/// The most bytes one array (or a whole archive, decompressed) may hold.
const MAX_BYTES: u64 = 1 << 30;

/// Reads an array file; the error says what is wrong with it.
pub fn read_npy(path: &Path) -> Result<TensorValue, String> {
    let bytes = edgeintent::limits::read_regular(path, MAX_BYTES).map_err(|e| e.to_string())?;
    parse_npy(&bytes)
}

/// Reads every array of an archive, with its name (the member's name without `.npy`).
pub fn read_npz(path: &Path) -> Result<Vec<(String, TensorValue)>, String> {
    edgeintent::limits::ensure_regular_file(path).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| format!("not a .npz (zip) archive: {e}"))?;
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = member
            .name()
            .map_err(|e| format!("member {i}: {e}"))?
            .into_owned();
        let Some(key) = name.strip_suffix(".npy") else {
            return Err(format!("member `{name}` is not an .npy array"));
        };
        total = total.saturating_add(member.size());
        if total > MAX_BYTES {
            return Err(format!("the arrays hold more than {MAX_BYTES} bytes"));
        }
        let mut bytes = Vec::with_capacity(member.size() as usize);
        (&mut member)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("`{name}`: {e}"))?;
        let value = parse_npy(&bytes).map_err(|e| format!("`{name}`: {e}"))?;
        out.push((key.to_owned(), value));
    }
    if out.is_empty() {
        return Err("the archive holds no arrays".into());
    }
    Ok(out)
}

/// Element type of an array.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dtype {
    F32,
    F64,
    I64,
    I32,
    U8,
    Bool,
    /// UTF-32 code points, this many per element.
    Unicode(usize),
    /// Bytes (UTF-8 expected), this many per element.
    Bytes(usize),
}

impl Dtype {
    fn parse(descr: &str) -> Result<Dtype, String> {
        let (order, kind) = descr.split_at(descr.len().min(1));
        if order == ">" && !matches!(kind, "u1" | "b1" | "i1") {
            return Err(format!(
                "big-endian arrays (`{descr}`) are not supported; save with a little-endian dtype"
            ));
        }
        if !matches!(order, "<" | "|" | "=") {
            return Err(format!("unknown dtype `{descr}`"));
        }
        let width = |s: &str| {
            s.parse::<usize>()
                .ok()
                .filter(|&n| n > 0 && n <= 1 << 16)
                .ok_or_else(|| format!("unknown dtype `{descr}`"))
        };
        Ok(match kind {
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            "i8" => Dtype::I64,
            "i4" => Dtype::I32,
            "u1" => Dtype::U8,
            "b1" => Dtype::Bool,
            "O" => {
                return Err(
                    "object arrays (pickles) are not read; save strings with `x.astype(str)`"
                        .into(),
                )
            }
            k if k.starts_with('U') => Dtype::Unicode(width(&k[1..])?),
            k if k.starts_with('S') => Dtype::Bytes(width(&k[1..])?),
            _ => {
                return Err(format!(
                "dtype `{descr}` is not supported (float32, float64, int64, int32, uint8, bool, str)"
            ))
            }
        })
    }

    fn item_size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::U8 | Dtype::Bool => 1,
            Dtype::Unicode(n) => 4 * n,
            Dtype::Bytes(n) => n,
        }
    }
}

/// The header's `descr`, `fortran_order` and `shape`.
fn parse_header(h: &str) -> Result<(Dtype, bool, Vec<usize>), String> {
    let field = |key: &str| -> Result<&str, String> {
        let at = h
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the header has no `{key}`"))?;
        let rest = h[at + key.len() + 2..].trim_start();
        rest.strip_prefix(':')
            .map(str::trim_start)
            .ok_or_else(|| format!("malformed header near `{key}`"))
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| "structured dtypes are not supported".to_string())?;
    let dtype = Dtype::parse(descr)?;
    let fortran = field("fortran_order")?.starts_with("True");
    let shape = field("shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| "malformed shape".to_string())?;
    let dims = inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| format!("malformed shape `({inner})`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dtype, fortran, dims))
}

fn parse_npy(bytes: &[u8]) -> Result<TensorValue, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| "not an .npy array (no \\x93NUMPY magic)".to_string())?;
    let (major, rest) = match rest {
        [major, _minor, rest @ ..] => (*major, rest),
        _ => return Err("truncated header".into()),
    };
    let (len, rest) = match (major, rest) {
        (1, [a, b, rest @ ..]) => (u16::from_le_bytes([*a, *b]) as usize, rest),
        (2 | 3, [a, b, c, d, rest @ ..]) => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, rest),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
    if rest.len() < len {
        return Err("truncated header".into());
    }
    let header = std::str::from_utf8(&rest[..len]).map_err(|_| "header is not text")?;
    let (dtype, fortran, shape) = parse_header(header)?;
    if fortran && shape.len() > 1 {
        return Err("Fortran-ordered arrays are not read; save `np.ascontiguousarray(x)`".into());
    }
    let data = &rest[len..];
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let need = count
        .checked_mul(dtype.item_size())
        .ok_or("shape overflows")?;
    if data.len() != need {
        return Err(format!(
            "{} data bytes, {need} expected for shape {shape:?}",
            data.len()
        ));
    }
    let chunks = |n: usize| data.chunks_exact(n);
    let data = match dtype {
        Dtype::F32 => TensorData::F32(
            chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        Dtype::F64 => TensorData::F64(
            chunks(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        Dtype::I64 => TensorData::I64(
            chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        Dtype::I32 => TensorData::I32(
            chunks(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        Dtype::U8 => TensorData::U8(data.to_vec()),
        Dtype::Bool => TensorData::Bool(data.iter().map(|&b| b != 0).collect()),
        Dtype::Unicode(n) => TensorData::Text(
            chunks(4 * n)
                .map(|c| {
                    c.chunks_exact(4)
                        .map(|u| u32::from_le_bytes(u.try_into().unwrap_or_default()))
                        .take_while(|&u| u != 0)
                        .map(|u| char::from_u32(u).ok_or("a string holds an invalid code point"))
                        .collect::<Result<String, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Dtype::Bytes(n) => TensorData::Text(
            chunks(n)
                .map(|c| {
                    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                    String::from_utf8(c[..end].to_vec()).map_err(|_| "a byte string is not UTF-8")
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(TensorValue { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn numbers_and_strings_round_trip() {
        let f: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = parse_npy(&npy("<f4", "(1, 2)", &f)).unwrap();
        assert_eq!(t.shape, vec![1, 2]);
        assert_eq!(t.data, TensorData::F32(vec![1.5, -2.0]));
        let i: Vec<u8> = [7i64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = parse_npy(&npy("<i8", "(1,)", &i)).unwrap();
        assert_eq!(t.data, TensorData::I64(vec![7]));
        // '<U3': "ab" padded with a NUL, then "xyz".
        let u: Vec<u8> = ['a', 'b', '\0', 'x', 'y', 'z']
            .iter()
            .flat_map(|c| (*c as u32).to_le_bytes())
            .collect();
        let t = parse_npy(&npy("<U3", "(2,)", &u)).unwrap();
        assert_eq!(t.data, TensorData::Text(vec!["ab".into(), "xyz".into()]));
        let t = parse_npy(&npy("<f8", "()", &2.5f64.to_le_bytes())).unwrap();
        assert_eq!((t.shape.len(), t.data), (0, TensorData::F64(vec![2.5])));
    }

    #[test]
    fn bad_arrays_say_why() {
        let err = |b: &[u8]| parse_npy(b).unwrap_err();
        assert!(err(b"PK\x03\x04").contains("magic"));
        assert!(err(&npy("|O", "(1,)", &[0; 8])).contains("astype(str)"));
        assert!(err(&npy(">f4", "(1,)", &[0; 4])).contains("big-endian"));
        assert!(err(&npy("<f4", "(3,)", &[0; 8])).contains("12 expected"));
        assert!(err(&npy("<c8", "(1,)", &[0; 8])).contains("not supported"));
        assert!(err(&npy("<f4", "(99999999999, 99999999999)", &[])).contains("overflow"));
    }
}
