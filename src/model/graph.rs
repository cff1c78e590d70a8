//! Any ONNX model as a plain function of one input tensor, with every output:
//! what `predict`, parity tests and benchmarks need. Unlike [`crate::IntentModel`]
//! it checks no feature spec and keeps every output.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::model::dense::DenseChain;
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
    state: Option<TypedSimpleState>,
    inputs: Vec<Arc<Tensor>>,
    outputs: Vec<String>,
    /// Set when the model is a pure dense chain run by edgeintent's own loop.
    dense: Option<DenseChain>,
}

impl std::fmt::Debug for OnnxGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxGraph")
            .field("path", &self.path)
            .field("input_shapes", &self.input_shapes())
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl OnnxGraph {
    /// Loads a single-input model with its input fixed to f32 `shape`, e.g. `[rows, features]`.
    pub fn load(path: &Path, shape: &[usize]) -> Result<OnnxGraph, ModelError> {
        Self::load_inputs(path, &[shape.to_vec()])
    }

    /// Loads a model with every input fixed to an f32 shape, in graph order.
    /// A pure dense chain at batch 1 runs on edgeintent's dense fast path.
    pub fn load_inputs(path: &Path, shapes: &[Vec<usize>]) -> Result<OnnxGraph, ModelError> {
        Self::load_with(path, shapes, true)
    }

    /// Like [`OnnxGraph::load_inputs`], always on tract: the oracle for fast paths.
    pub fn load_tract_only(path: &Path, shapes: &[Vec<usize>]) -> Result<OnnxGraph, ModelError> {
        Self::load_with(path, shapes, false)
    }

    /// Whether the dense fast path runs this model.
    pub fn uses_dense_fast_path(&self) -> bool {
        self.dense.is_some()
    }

    fn load_with(path: &Path, shapes: &[Vec<usize>], fast: bool) -> Result<OnnxGraph, ModelError> {
        let bytes = crate::model::read_model(path)?;
        crate::model::guarded(path, || Self::build(&bytes, path, shapes, fast))
    }

    fn build(
        bytes: &[u8],
        path: &Path,
        shapes: &[Vec<usize>],
        fast: bool,
    ) -> Result<OnnxGraph, ModelError> {
        let (onnx, proto) = crate::model::decode_supported(bytes, path)?;
        let outputs: Vec<String> = proto
            .graph
            .as_ref()
            .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
            .unwrap_or_default();
        let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
        if fast {
            if let Some(chain) = DenseChain::compile(&proto) {
                if shapes.len() == 1 && shapes[0] == [1, chain.n_in] {
                    return Ok(OnnxGraph {
                        path: path.to_owned(),
                        state: None,
                        inputs: Vec::new(),
                        outputs,
                        dense: Some(chain),
                    });
                }
            }
        }
        let mut model = onnx.model_for_proto_model(&proto).map_err(engine)?;
        let n_inputs = model.input_outlets().map_err(engine)?.len();
        if n_inputs != shapes.len() {
            return Err(ModelError::Shape {
                path: path.to_owned(),
                why: format!(
                    "has {n_inputs} inputs but {} shapes were given",
                    shapes.len()
                ),
            });
        }
        for (ix, shape) in shapes.iter().enumerate() {
            model
                .set_input_fact(ix, f32::fact(shape).into())
                .map_err(engine)?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::Shape {
                path: path.to_owned(),
                why: format!("does not run on f32 inputs of shapes {shapes:?}: {e:#}"),
            })?;
        let state = plan.spawn().map_err(engine)?;
        let inputs = shapes
            .iter()
            .map(|s| Tensor::zero::<f32>(s).map(Arc::new))
            .collect::<TractResult<Vec<_>>>()
            .map_err(engine)?;
        Ok(OnnxGraph {
            path: path.to_owned(),
            state: Some(state),
            inputs,
            outputs,
            dense: None,
        })
    }

    /// The input shapes fixed at load time.
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        match &self.dense {
            Some(d) => vec![vec![1, d.n_in]],
            None => self.inputs.iter().map(|t| t.shape().to_vec()).collect(),
        }
    }

    /// Output names, in graph order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Runs a single-input model on `x` (row-major, as many values as the input shape holds).
    pub fn run(&mut self, x: &[f32]) -> Result<Vec<GraphOutput>, ModelError> {
        self.run_inputs(&[x])
    }

    /// Runs the model on one slice per input, in graph order.
    pub fn run_inputs(&mut self, xs: &[&[f32]]) -> Result<Vec<GraphOutput>, ModelError> {
        if let Some(d) = self.dense.as_mut() {
            let [x] = xs else {
                return Err(ModelError::Engine(format!(
                    "{} inputs given, the model has 1",
                    xs.len()
                )));
            };
            let name = d.output.clone();
            let y = d.run(x)?;
            return Ok(vec![GraphOutput {
                name,
                shape: vec![1, y.len()],
                values: OutputValues::Float(y.iter().map(|v| f64::from(*v)).collect()),
            }]);
        }
        let raw = self.run_raw(xs)?;
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

    /// Runs the model and discards the outputs: what benchmarks time.
    pub fn run_discard(&mut self, xs: &[&[f32]]) -> Result<(), ModelError> {
        if let Some(d) = self.dense.as_mut() {
            let [x] = xs else {
                return Err(ModelError::Engine(format!(
                    "{} inputs given, the model has 1",
                    xs.len()
                )));
            };
            return d.run(x).map(|_| ());
        }
        self.run_raw(xs).map(drop)
    }

    /// Runs the model on tract and returns its output tensors as they are.
    fn run_raw(&mut self, xs: &[&[f32]]) -> Result<TVec<TValue>, ModelError> {
        let Some(state) = self.state.as_mut() else {
            return Err(ModelError::Engine("no tract plan".into()));
        };
        if xs.len() != self.inputs.len() {
            return Err(ModelError::Engine(format!(
                "{} inputs given, the model has {}",
                xs.len(),
                self.inputs.len()
            )));
        }
        for (t, x) in self.inputs.iter_mut().zip(xs) {
            crate::model::fill(t, x, None)?;
        }
        let values: TVec<TValue> = self
            .inputs
            .iter()
            .map(|t| TValue::from_const(t.clone()))
            .collect();
        let out = state.run(values);
        crate::model::clear_upper_simd_state();
        out.map_err(|e| ModelError::Engine(format!("{e:#}")))
    }
}
