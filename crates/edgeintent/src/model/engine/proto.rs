//! The decoded ONNX protobuf: decoding, operator support, metadata, the
//! `inspect` report, and a read-only view of nodes and initializers for fast
//! paths that compile a graph themselves.

use tract_onnx::pb;
use tract_onnx::prelude::*;

use std::path::Path;

use crate::model::error::ModelError;
use crate::model::metadata::ModelMetadata;
use crate::model::report::{ModelReport, OpInfo, TensorInfo};

/// Decodes model bytes; a file without a graph is an error.
pub(super) fn decode(
    onnx: &tract_onnx::Onnx,
    bytes: &[u8],
    path: &Path,
) -> Result<pb::ModelProto, ModelError> {
    let mut reader = bytes;
    let mut proto = onnx
        .proto_model_for_read(&mut reader)
        .map_err(|e| ModelError::Parse {
            path: path.to_owned(),
            why: format!("{e:#}"),
        })?;
    if proto.graph.is_none() {
        return Err(ModelError::Parse {
            path: path.to_owned(),
            why: "the file holds no graph".into(),
        });
    }
    // Intermediate shapes as exporters declare them: tract infers its own,
    // and a declared symbolic batch (CatBoost's `N`) would fail to unify with
    // the fixed input batch. Subgraphs (Loop, If, Scan bodies) keep theirs.
    if let Some(g) = proto.graph.as_mut() {
        g.value_info.clear();
    }
    Ok(proto)
}

/// The most memory (bytes) a model's declared tensors and input shapes may
/// take; checked before anything is allocated, so that a file declaring a
/// `[2^40, 2^24]` weight is an error instead of an aborted host.
pub const MODEL_MEMORY_BUDGET: u64 = 256 << 20;

/// Bytes per element of an ONNX `TensorProto.DataType` (0 when unknown).
fn elem_size(t: i32) -> u64 {
    match t {
        1 | 6 | 12 => 4,      // float, int32, uint32
        2 | 3 | 9 => 1,       // uint8, int8, bool
        4 | 5 | 10 | 16 => 2, // uint16, int16, float16, bfloat16
        7 | 11 | 13 => 8,     // int64, double, uint64
        14 => 8,              // complex64
        15 => 16,             // complex128
        _ => 0,
    }
}

/// Elements of `dims`, `None` on a negative dimension or overflow.
fn elements(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

/// Elements a tensor actually holds in the file.
fn held(t: &pb::TensorProto) -> u64 {
    let typed = t.float_data.len()
        + t.int32_data.len()
        + t.int64_data.len()
        + t.double_data.len()
        + t.uint64_data.len()
        + t.string_data.len();
    let raw = if t.raw_data.is_empty() {
        0
    } else {
        t.raw_data.len() as u64 / elem_size(t.data_type).max(1)
    };
    typed as u64 + raw
}

/// Checks a decoded model before any engine sees it: every declared tensor
/// (initializers, `Constant` values) holds the data its dimensions declare,
/// they fit in `budget` bytes together, and `Transpose` permutations are
/// permutations.
pub(crate) fn check_declared(
    proto: &pb::ModelProto,
    path: &Path,
    budget: u64,
) -> Result<(), ModelError> {
    let refuse = |why: String| ModelError::Refused {
        path: path.to_owned(),
        why,
    };
    let mut total = 0u64;
    let mut tensor = |t: &pb::TensorProto, what: &str| -> Result<(), ModelError> {
        let n = elements(&t.dims).ok_or_else(|| {
            refuse(format!(
                "{what} `{}` declares dimensions {:?}, which are negative or too large to count",
                t.name, t.dims
            ))
        })?;
        let bytes = n.saturating_mul(elem_size(t.data_type).max(1));
        if bytes > budget {
            return Err(refuse(format!(
                "{what} `{}` declares {:?} ({bytes} bytes), more than the model memory budget of {budget} bytes",
                t.name, t.dims
            )));
        }
        if t.data_location == Some(1) {
            return Err(refuse(format!(
                "{what} `{}` keeps its data in an external file, which is not supported",
                t.name
            )));
        }
        if n > 0 && held(t) != n && t.data_type != 8 {
            return Err(refuse(format!(
                "{what} `{}` declares {n} elements and holds {}",
                t.name,
                held(t)
            )));
        }
        total = total.saturating_add(bytes);
        Ok(())
    };
    let Some(graph) = proto.graph.as_ref() else {
        return Ok(());
    };
    let mut stack = vec![graph];
    while let Some(g) = stack.pop() {
        for t in &g.initializer {
            tensor(t, "initializer")?;
        }
        for node in &g.node {
            for a in &node.attribute {
                if let Some(t) = a.t.as_ref() {
                    tensor(t, "attribute tensor")?;
                }
                stack.extend(a.g.as_ref());
                stack.extend(a.graphs.iter());
            }
            if node.op_type == "Transpose" {
                if let Some(perm) = node.attribute.iter().find(|a| a.name == "perm") {
                    let mut seen = vec![false; perm.ints.len()];
                    let ok = perm.ints.iter().all(|&p| {
                        usize::try_from(p)
                            .ok()
                            .and_then(|p| seen.get_mut(p))
                            .is_some_and(|s| !std::mem::replace(s, true))
                    });
                    if !ok {
                        return Err(refuse(format!(
                            "Transpose `{}` has perm {:?}, which is not a permutation of 0..{}",
                            node.name,
                            perm.ints,
                            perm.ints.len()
                        )));
                    }
                }
            }
        }
    }
    if total > budget {
        return Err(refuse(format!(
            "its tensors take {total} bytes, more than the model memory budget of {budget} bytes"
        )));
    }
    Ok(())
}

/// Why an f32 input of `shape` does not fit in `budget` bytes, if it does not.
fn oversized_input(shape: &[usize], budget: u64) -> Option<String> {
    let bytes = shape
        .iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    (bytes > budget).then(|| {
        format!(
            "an input of shape {shape:?} takes {bytes} bytes, more than the model memory budget of {budget} bytes"
        )
    })
}

/// Checks that input shapes of `shapes` (f32) fit in the memory budget.
pub(crate) fn check_shapes(
    shapes: &[Vec<usize>],
    path: &Path,
    budget: u64,
) -> Result<(), ModelError> {
    match shapes.iter().find_map(|s| oversized_input(s, budget)) {
        Some(why) => Err(ModelError::Refused {
            path: path.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// The package metadata of a decoded model.
pub(super) fn metadata(proto: &pb::ModelProto) -> ModelMetadata {
    ModelMetadata {
        props: proto
            .metadata_props
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_owned(),
    }
}

/// Operator types in the graph (and its subgraphs) that tract has no parser for.
pub(super) fn unsupported_ops(onnx: &tract_onnx::Onnx, proto: &pb::ModelProto) -> Vec<String> {
    let mut ops = Vec::new();
    if let Some(g) = &proto.graph {
        collect_ops(g, &mut ops);
    }
    ops.into_iter()
        .filter(|(_, op)| !onnx.op_register.0.contains_key(op))
        .map(|(domain, op)| qualified(&domain, &op))
        .collect()
}

fn qualified(domain: &str, op: &str) -> String {
    if domain.is_empty() || domain == "ai.onnx" {
        op.to_owned()
    } else {
        format!("{domain}.{op}")
    }
}

/// Distinct (domain, op_type) pairs, in first-seen order, including subgraphs.
fn collect_ops(graph: &pb::GraphProto, out: &mut Vec<(String, String)>) {
    for node in &graph.node {
        let key = (node.domain.clone(), node.op_type.clone());
        if !out.contains(&key) {
            out.push(key);
        }
        for attr in &node.attribute {
            if let Some(g) = &attr.g {
                collect_ops(g, out);
            }
            for g in &attr.graphs {
                collect_ops(g, out);
            }
        }
    }
}

/// The graph's real inputs (initializers listed as inputs left out).
fn proto_inputs(proto: &pb::ModelProto) -> Vec<TensorInfo> {
    let Some(g) = proto.graph.as_ref() else {
        return Vec::new();
    };
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    g.input
        .iter()
        .map(tensor_info)
        .filter(|i| !inits.contains(&i.name.as_str()))
        .collect()
}

/// The graph's declared inputs, decoded without building anything.
pub(crate) fn declared_inputs(bytes: &[u8], path: &Path) -> Result<Vec<TensorInfo>, ModelError> {
    let onnx = crate::model::ops::importer();
    decode(&onnx, bytes, path).map(|p| proto_inputs(&p))
}

/// Declared dimensions of the input named `name` (symbolic ones as `None`).
pub(super) fn input_dims(proto: &pb::ModelProto, name: &str) -> Option<Vec<Option<usize>>> {
    proto_inputs(proto)
        .into_iter()
        .find(|i| i.name == name)
        .map(|i| i.dims.iter().map(|d| d.parse::<usize>().ok()).collect())
}

/// Describes model bytes without checking them against any feature spec.
pub(crate) fn inspect_bytes(bytes: &[u8], path: &Path) -> Result<ModelReport, ModelError> {
    let onnx = crate::model::ops::importer();
    let proto = decode(&onnx, bytes, path)?;
    check_declared(&proto, path, MODEL_MEMORY_BUDGET)?;
    let graph = proto.graph.as_ref();
    let mut ops = Vec::new();
    if let Some(g) = graph {
        collect_ops(g, &mut ops);
    }
    let ops: Vec<OpInfo> = ops
        .into_iter()
        .map(|(d, op)| OpInfo {
            supported: onnx.op_register.0.contains_key(&op),
            op: qualified(&d, &op),
        })
        .collect();
    let load_error = try_load_plain(&onnx, &proto).err();
    let meta = metadata(&proto);
    Ok(ModelReport {
        inputs: proto_inputs(&proto),
        outputs: graph
            .map(|g| g.output.iter().map(tensor_info).collect())
            .unwrap_or_default(),
        producer: meta.producer,
        opsets: proto.opset_import.iter().fold(Vec::new(), |mut acc, o| {
            let d = if o.domain.is_empty() {
                "ai.onnx"
            } else {
                &o.domain
            };
            let entry = format!("{d}:{}", o.version);
            if !acc.contains(&entry) {
                acc.push(entry);
            }
            acc
        }),
        metadata: meta.props,
        ops,
        load_error,
    })
}

/// Loads the graph with symbolic dimensions pinned to 1 and optimises it.
fn try_load_plain(onnx: &tract_onnx::Onnx, proto: &pb::ModelProto) -> Result<(), String> {
    let err = |e: TractError| format!("{e:#}");
    let mut model = onnx.model_for_proto_model(proto).map_err(err)?;
    for (ix, info) in proto_inputs(proto).iter().enumerate() {
        let dims: Vec<usize> = info
            .dims
            .iter()
            .map(|d| d.parse::<usize>().unwrap_or(1))
            .collect();
        if let Some(why) = oversized_input(&dims, MODEL_MEMORY_BUDGET) {
            return Err(why);
        }
        if info.elem_type == "float" && !dims.is_empty() {
            model
                .set_input_fact(ix, f32::fact(dims).into())
                .map_err(err)?;
        }
    }
    model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map(|_| ())
        .map_err(err)
}

fn tensor_info(v: &pb::ValueInfoProto) -> TensorInfo {
    let (elem, dims) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => {
            let dims = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) => {
                                n.to_string()
                            }
                            Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) => {
                                format!("?{p}")
                            }
                            None => "?".into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            (elem_type_name(t.elem_type), dims)
        }
        _ => ("non-tensor".to_owned(), Vec::new()),
    };
    TensorInfo {
        name: v.name.clone(),
        elem_type: elem,
        dims,
    }
}

fn elem_type_name(t: i32) -> String {
    match t {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        _ => return format!("type#{t}"),
    }
    .to_owned()
}

/// A read-only view of a graph as written: its interface, nodes in order, and
/// f32 initializers.
#[derive(Clone, Copy)]
pub(crate) struct GraphView<'a>(&'a pb::GraphProto);

impl<'a> GraphView<'a> {
    pub(super) fn new(g: &'a pb::GraphProto) -> GraphView<'a> {
        GraphView(g)
    }

    fn initializer(&self, name: &str) -> Option<&'a pb::TensorProto> {
        self.0.initializer.iter().find(|t| t.name == name)
    }

    /// Whether `name` is an initializer (a constant).
    pub(crate) fn is_initializer(&self, name: &str) -> bool {
        self.initializer(name).is_some()
    }

    /// Inputs that are not initializers.
    pub(crate) fn inputs(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.0
            .input
            .iter()
            .map(|i| i.name.as_str())
            .filter(|n| !self.is_initializer(n))
    }

    /// Output names.
    pub(crate) fn outputs(&self) -> impl Iterator<Item = &'a str> {
        self.0.output.iter().map(|o| o.name.as_str())
    }

    /// An f32 initializer's data and dims (raw or typed storage).
    pub(crate) fn initializer_f32(&self, name: &str) -> Option<(Vec<f32>, Vec<usize>)> {
        let t = self.initializer(name)?;
        if t.data_type != 1 {
            return None;
        }
        let dims: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<_>>()?;
        let n: usize = dims.iter().product();
        let data: Vec<f32> = if !t.raw_data.is_empty() {
            if t.raw_data.len() != n * 4 {
                return None;
            }
            t.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            t.float_data.clone()
        };
        (data.len() == n).then_some((data, dims))
    }
}

impl GraphView<'_> {
    /// An int64 initializer's values (raw or typed storage).
    pub(crate) fn initializer_i64(&self, name: &str) -> Option<Vec<i64>> {
        let t = self.initializer(name)?;
        if t.data_type != 7 {
            return None;
        }
        let n: usize = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .product::<Option<usize>>()?;
        let data: Vec<i64> = if !t.raw_data.is_empty() {
            if t.raw_data.len() != n * 8 {
                return None;
            }
            t.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect()
        } else {
            t.int64_data.clone()
        };
        (data.len() == n).then_some(data)
    }
}
