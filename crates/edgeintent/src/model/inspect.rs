//! What `edgeintent inspect` reports about a model file: its interface,
//! metadata, operators and whether tract loads it.

use std::path::Path;

use super::engine::{guarded, inspect_bytes};
use super::error::read_model;
use super::error::ModelError;
use super::report::{ModelReport, TensorInfo};

/// Describes a model file without checking it against any feature spec.
pub fn inspect(path: &Path) -> Result<ModelReport, ModelError> {
    let bytes = read_model(path)?;
    guarded(path, || inspect_bytes(&bytes, path))
}

/// A model file's declared inputs (names, types, dimensions), read without
/// building a plan.
pub fn declared_inputs(path: &Path) -> Result<Vec<TensorInfo>, ModelError> {
    let bytes = read_model(path)?;
    guarded(path, || super::engine::declared_inputs(&bytes, path))
}

/// Checks that f32 inputs of `shapes` fit in the default model memory budget
/// (the benchmark harness feeds models rows of these shapes).
pub fn check_input_shapes(shapes: &[Vec<usize>], path: &std::path::Path) -> Result<(), ModelError> {
    super::engine::check_shapes(shapes, path, super::engine::MODEL_MEMORY_BUDGET)
}
