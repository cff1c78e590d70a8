//! Tensors handed to and returned by whole-graph runs (`graph`), with
//! every element type a model may use.

/// One output of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphOutput {
    /// The graph output's name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: OutputValues,
}

/// The values of an output, by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputValues {
    /// Floating point outputs (scores, probabilities, regressions), widened to f64.
    Float(Vec<f64>),
    /// Integer outputs (class labels).
    Int(Vec<i64>),
    /// String outputs (string class labels).
    Text(Vec<String>),
}

/// A tensor of any element type: a backend test's inputs and expected
/// outputs, or typed rows for `predict`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorValue {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: TensorData,
}

/// The values of a [`TensorValue`], by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// Bytes.
    U8(Vec<u8>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Strings.
    Text(Vec<String>),
}

impl TensorData {
    /// The element type's ONNX name.
    pub fn type_name(&self) -> &'static str {
        match self {
            TensorData::F32(_) => "float",
            TensorData::F64(_) => "double",
            TensorData::I64(_) => "int64",
            TensorData::I32(_) => "int32",
            TensorData::U8(_) => "uint8",
            TensorData::Bool(_) => "bool",
            TensorData::Text(_) => "string",
        }
    }
}
