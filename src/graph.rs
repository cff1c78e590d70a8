//! Any ONNX model as a plain function of one input tensor, with every output:
//! what `predict`, parity tests and benchmarks need. Unlike [`crate::IntentModel`]
//! it checks no feature spec and keeps every output.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::model::ModelError;

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

/// An ONNX model loaded for a fixed input shape, outputs in graph order.
pub struct OnnxGraph {
    path: PathBuf,
    state: TypedSimpleState,
    input: Arc<Tensor>,
    outputs: Vec<String>,
}

impl std::fmt::Debug for OnnxGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxGraph")
            .field("path", &self.path)
            .field("input_shape", &self.input.shape())
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl OnnxGraph {
    /// Loads `path` with its (first) input fixed to f32 `shape`, e.g. `[rows, features]`.
    pub fn load(path: &Path, shape: &[usize]) -> Result<OnnxGraph, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        catch_unwind(AssertUnwindSafe(|| Self::build(&bytes, path, shape))).unwrap_or_else(
            |panic| {
                Err(ModelError::Panic {
                    path: path.to_owned(),
                    why: crate::model::panic_message(&panic),
                })
            },
        )
    }

    fn build(bytes: &[u8], path: &Path, shape: &[usize]) -> Result<OnnxGraph, ModelError> {
        let onnx = crate::ops::importer();
        let proto = crate::model::decode(&onnx, bytes, path)?;
        let missing = crate::model::unsupported_ops(&onnx, &proto);
        if !missing.is_empty() {
            return Err(ModelError::UnsupportedOps {
                path: path.to_owned(),
                ops: missing.join(", "),
            });
        }
        let outputs: Vec<String> = proto
            .graph
            .as_ref()
            .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
            .unwrap_or_default();
        let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
        let mut model = onnx.model_for_proto_model(&proto).map_err(engine)?;
        let n_inputs = model.input_outlets().map_err(engine)?.len();
        if n_inputs != 1 {
            return Err(ModelError::Shape {
                path: path.to_owned(),
                why: format!("has {n_inputs} inputs; only single-input models can be run this way"),
            });
        }
        model
            .set_input_fact(0, f32::fact(shape).into())
            .map_err(engine)?;
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::Shape {
                path: path.to_owned(),
                why: format!("does not run on an f32 input of shape {shape:?}: {e:#}"),
            })?;
        let state = plan.spawn().map_err(engine)?;
        let input = Arc::new(Tensor::zero::<f32>(shape).map_err(engine)?);
        Ok(OnnxGraph {
            path: path.to_owned(),
            state,
            input,
            outputs,
        })
    }

    /// The input shape fixed at load time.
    pub fn input_shape(&self) -> &[usize] {
        self.input.shape()
    }

    /// Output names, in graph order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Runs the model on `x` (row-major, as many values as the input shape holds).
    pub fn run(&mut self, x: &[f32]) -> Result<Vec<GraphOutput>, ModelError> {
        let raw = self.run_raw(x)?;
        let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
        raw.iter()
            .zip(&self.outputs)
            .map(|(t, name)| {
                let values = match t.datum_type() {
                    DatumType::String => OutputValues::Text(
                        t.try_as_plain_ram()
                            .and_then(|v| Ok(v.as_slice::<String>()?.to_vec()))
                            .map_err(engine)?,
                    ),
                    dt if dt.is_float() => {
                        let c = t.cast_to::<f64>().map_err(engine)?;
                        OutputValues::Float(
                            c.try_as_plain_ram()
                                .and_then(|v| Ok(v.as_slice::<f64>()?.to_vec()))
                                .map_err(engine)?,
                        )
                    }
                    _ => {
                        let c = t.cast_to::<i64>().map_err(engine)?;
                        OutputValues::Int(
                            c.try_as_plain_ram()
                                .and_then(|v| Ok(v.as_slice::<i64>()?.to_vec()))
                                .map_err(engine)?,
                        )
                    }
                };
                Ok(GraphOutput {
                    name: name.clone(),
                    shape: t.shape().to_vec(),
                    values,
                })
            })
            .collect()
    }

    /// Runs the model and returns tract's output tensors as they are (no copy),
    /// for benchmarks.
    pub fn run_raw(&mut self, x: &[f32]) -> Result<TVec<TValue>, ModelError> {
        crate::model::fill(&mut self.input, x, None)?;
        let out = self
            .state
            .run(tvec![TValue::from_const(self.input.clone())]);
        crate::model::clear_upper_simd_state();
        out.map_err(|e| ModelError::Engine(format!("{e:#}")))
    }
}
