//! What `edgeintent inspect` reports about a model file: its interface,
//! metadata, operators and whether tract loads it.

use std::collections::BTreeMap;

use serde::Serialize;

/// What `edgeintent inspect` reports about a model file.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// Graph inputs: name, element type, dimensions (`?name` for symbolic ones).
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Producer name and version.
    pub producer: String,
    /// Opset imports, `domain:version`.
    pub opsets: Vec<String>,
    /// `metadata_props`.
    pub metadata: BTreeMap<String, String>,
    /// Every operator type used, with whether tract can parse it.
    pub ops: Vec<OpInfo>,
    /// `None` when tract loads and optimises the graph with its declared
    /// shapes (batch pinned to 1), else tract's error.
    pub load_error: Option<String>,
}

/// A named tensor of a graph's interface.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// ONNX element type name.
    pub elem_type: String,
    /// Dimensions; symbolic ones as `?name`.
    pub dims: Vec<String>,
}

/// One operator type of a graph.
#[derive(Debug, Clone, Serialize)]
pub struct OpInfo {
    /// `domain.op_type` (plain op_type for the default domain).
    pub op: String,
    /// Whether tract has a parser for it.
    pub supported: bool,
}
