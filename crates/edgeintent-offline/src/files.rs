//! Reading the files offline work is given: opened with errors that name
//! them, JSON Lines records with errors that name the line.

use std::io::BufRead;

use crate::error::Error;

/// Opens a file for buffered reading; the error names it.
pub(crate) fn open(path: &std::path::Path) -> Result<std::io::BufReader<std::fs::File>, Error> {
    edgeintent::limits::ensure_regular_file(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    let f = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    Ok(std::io::BufReader::new(f))
}

/// Feeds every non-blank JSON Lines record of `input` to `f`, which gets a
/// maker of errors that name `origin` and the line.
pub(crate) fn read_records<T: serde::de::DeserializeOwned>(
    input: impl BufRead,
    origin: &str,
    mut f: impl FnMut(T, &dyn Fn(String) -> Error) -> Result<(), Error>,
) -> Result<(), Error> {
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::Io {
            path: origin.to_owned(),
            why: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| Error::Io {
            path: origin.to_owned(),
            why: format!("line {}: {why}", i + 1),
        };
        let record = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        f(record, &bad)?;
    }
    Ok(())
}
