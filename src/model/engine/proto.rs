//! The decoded ONNX protobuf: decoding, operator support, metadata, the
//! `inspect` report, and a read-only view of nodes and initializers for fast
//! paths that compile a graph themselves.

use tract_onnx::pb;
use tract_onnx::prelude::*;

use std::path::Path;

use crate::model::inspect::{ModelReport, OpInfo, TensorInfo};
use crate::model::package::ModelMetadata;
use crate::model::ModelError;

/// Decodes model bytes; a file without a graph is an error.
pub(super) fn decode(
    onnx: &tract_onnx::Onnx,
    bytes: &[u8],
    path: &Path,
) -> Result<pb::ModelProto, ModelError> {
    let mut reader = bytes;
    let proto = onnx
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
    Ok(proto)
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
#[cfg(feature = "offline")]
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

    /// Nodes in file order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = NodeView<'a>> {
        self.0.node.iter().map(NodeView)
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

/// One node of a [`GraphView`].
#[derive(Clone, Copy)]
pub(crate) struct NodeView<'a>(&'a pb::NodeProto);

impl<'a> NodeView<'a> {
    /// Operator type, e.g. `Gemm`.
    pub(crate) fn op(&self) -> &'a str {
        &self.0.op_type
    }

    /// Operator domain (empty for the default one).
    pub(crate) fn domain(&self) -> &'a str {
        &self.0.domain
    }

    /// Input names.
    pub(crate) fn inputs(&self) -> &'a [String] {
        &self.0.input
    }

    /// Output names.
    pub(crate) fn outputs(&self) -> &'a [String] {
        &self.0.output
    }

    /// An integer attribute, or `default`.
    pub(crate) fn attr_i(&self, name: &str, default: i64) -> i64 {
        self.0
            .attribute
            .iter()
            .find(|a| a.name == name)
            .map_or(default, |a| a.i)
    }

    /// A float attribute, or `default`.
    pub(crate) fn attr_f(&self, name: &str, default: f32) -> f32 {
        self.0
            .attribute
            .iter()
            .find(|a| a.name == name)
            .map_or(default, |a| a.f)
    }
}
