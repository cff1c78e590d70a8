//! Any ONNX model as a plain function of one input tensor, with every output:
//! what `predict`, parity tests and benchmarks need. Unlike [`crate::IntentModel`]
//! it checks no feature spec and keeps every output.

use std::path::{Path, PathBuf};

use super::engine::{check_shapes, guarded, Decoded, Plan, MODEL_MEMORY_BUDGET};
use super::error::read_model;
use super::error::ModelError;
use super::tensors::{GraphOutput, TensorValue};

pub use super::engine::Importer;

impl TensorValue {
    /// Reads a serialized ONNX `TensorProto` file (`input_0.pb` of a backend test).
    pub fn read_pb(path: &Path) -> Result<TensorValue, ModelError> {
        super::engine::read_tensor_pb(path)
    }
}

/// Any ONNX model run on whole tensors of any element type, every output
/// kept: the conformance runner and typed inputs. Allocates per run.
pub struct TensorGraph {
    plan: super::engine::TensorPlan,
}

impl std::fmt::Debug for TensorGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorGraph").finish_non_exhaustive()
    }
}

impl TensorGraph {
    /// Loads the model at `path` for inputs of the types and shapes of
    /// `inputs` (graph order), decoded by `importer`.
    pub fn load(
        path: &Path,
        inputs: &[TensorValue],
        importer: Importer,
    ) -> Result<TensorGraph, ModelError> {
        let bytes = read_model(path)?;
        Ok(TensorGraph {
            plan: super::engine::TensorPlan::new(&bytes, path, inputs, importer)?,
        })
    }

    /// Runs on `inputs`; every output's name and value, in graph order.
    pub fn run(&self, inputs: &[TensorValue]) -> Result<Vec<(String, TensorValue)>, ModelError> {
        self.plan.run(inputs)
    }
}

/// An ONNX model loaded for a fixed input shape, outputs in graph order.
pub struct OnnxGraph {
    path: PathBuf,
    plan: Plan,
    outputs: Vec<String>,
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

    /// Loads a model with every input fixed to an f32 shape, in graph order,
    /// on tract with edgeintent's operators (the oracle of the native executor).
    pub fn load_inputs(path: &Path, shapes: &[Vec<usize>]) -> Result<OnnxGraph, ModelError> {
        let bytes = read_model(path)?;
        guarded(path, || Self::build(&bytes, path, shapes))
    }

    fn build(bytes: &[u8], path: &Path, shapes: &[Vec<usize>]) -> Result<OnnxGraph, ModelError> {
        check_shapes(shapes, path, MODEL_MEMORY_BUDGET)?;
        let decoded = Decoded::new(bytes, path, MODEL_MEMORY_BUDGET)?;
        let outputs = decoded.output_names();
        let mut graph = decoded.into_graph()?;
        let n_inputs = graph.input_names()?.len();
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
            graph.fix_input(ix, shape)?;
        }
        let plan = graph
            .into_typed()
            .map_err(|e| ModelError::Shape {
                path: path.to_owned(),
                why: format!("does not run on f32 inputs of shapes {shapes:?}: {e}"),
            })?
            .into_plan()?;
        Ok(OnnxGraph {
            path: path.to_owned(),
            plan,
            outputs,
        })
    }

    /// The input shapes fixed at load time.
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.plan.input_shapes()
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
        let plan = self.run_plan(xs)?;
        Ok(plan
            .outputs()?
            .into_iter()
            .zip(&self.outputs)
            .map(|((shape, values), name)| GraphOutput {
                name: name.clone(),
                shape,
                values,
            })
            .collect())
    }

    /// Runs the model and discards the outputs: what benchmarks time.
    pub fn run_discard(&mut self, xs: &[&[f32]]) -> Result<(), ModelError> {
        self.run_plan(xs).map(drop)
    }

    /// Runs the tract plan on `xs`; its outputs stay readable in the plan.
    fn run_plan(&mut self, xs: &[&[f32]]) -> Result<&Plan, ModelError> {
        let plan = &mut self.plan;
        let n = plan.input_shapes().len();
        if xs.len() != n {
            return Err(ModelError::Engine(format!(
                "{} inputs given, the model has {n}",
                xs.len()
            )));
        }
        for (ix, x) in xs.iter().enumerate() {
            plan.set_input(ix, x, None)?;
        }
        plan.run()?;
        Ok(plan)
    }
}

/// A model run by edgeintent's native executor alone, one row at a time:
/// what the runtime scores with when every node its output needs has a
/// native kernel. No allocation per run.
pub struct NativeModel {
    plan: super::native::NativePlan,
    output: String,
    /// Width of each graph input, in graph order (the row is their concatenation).
    input_widths: Vec<usize>,
}

impl std::fmt::Debug for NativeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeModel")
            .field("output", &self.output)
            .field("inputs", &self.input_widths)
            .field("steps", &self.plan.len())
            .finish()
    }
}

impl NativeModel {
    /// Compiles the model at `path` computing `output` (default: the graph's
    /// last output, a classifier's probabilities). Each input must be one
    /// row of known width (`[1, F]`, `[F]` or `[1, 1, F]`); several inputs
    /// (a recurrent step's event and state) are fed as one row, side by side
    /// in graph order. With the default output, every other graph output the
    /// executor can compute is computed too, as ONNX Runtime would. The error
    /// names the first node without a native kernel.
    pub fn load(path: &Path, output: Option<&str>) -> Result<NativeModel, ModelError> {
        let bytes = read_model(path)?;
        let decoded = Decoded::new(&bytes, path, super::engine::MODEL_MEMORY_BUDGET)?;
        let view = decoded.view().ok_or_else(|| ModelError::Parse {
            path: path.to_owned(),
            why: "no graph".into(),
        })?;
        let not_native = |why: String| ModelError::NotNative {
            path: path.to_owned(),
            why,
        };
        let names: Vec<String> = view.inputs().map(str::to_owned).collect();
        if names.is_empty() {
            return Err(not_native("it has no inputs".into()));
        }
        let mut inputs = Vec::with_capacity(names.len());
        for name in &names {
            let dims = decoded.input_dims(name).unwrap_or_default();
            let width = match dims.split_last() {
                Some((Some(f), lead)) if lead.iter().all(|d| d.is_none_or(|d| d == 1)) => *f,
                _ => {
                    return Err(not_native(format!(
                        "input `{name}` is not a row of known width ({dims:?})"
                    )))
                }
            };
            inputs.push((name.as_str(), width));
        }
        let all = decoded.output_names();
        let output = match output {
            Some(o) => o.to_owned(),
            None => all
                .last()
                .cloned()
                .ok_or_else(|| not_native("it has no outputs".into()))?,
        };
        // The chosen output first, so that it is the plan's own.
        let mut wanted: Vec<&str> = vec![output.as_str()];
        wanted.extend(all.iter().map(String::as_str).filter(|o| *o != output));
        let plan = match decoded.native_plan_multi(&inputs, &wanted) {
            Ok((plan, _)) if wanted.len() > 1 => plan,
            _ => {
                decoded
                    .native_plan_multi(&inputs, &wanted[..1])
                    .map_err(not_native)?
                    .0
            }
        };
        Ok(NativeModel {
            plan,
            output,
            input_widths: inputs.iter().map(|(_, w)| *w).collect(),
        })
    }

    /// The output it computes.
    pub fn output_name(&self) -> &str {
        &self.output
    }

    /// Width of the input row (all inputs side by side).
    pub fn input_len(&self) -> usize {
        self.plan.n_in
    }

    /// Width of each input, in graph order.
    pub fn input_widths(&self) -> &[usize] {
        &self.input_widths
    }

    /// Runs one row; the output borrows the model's buffer.
    pub fn run(&mut self, x: &[f32]) -> Result<&[f32], ModelError> {
        if x.len() != self.plan.n_in {
            return Err(ModelError::Engine(format!(
                "the model takes rows of {} values, got {}",
                self.plan.n_in,
                x.len()
            )));
        }
        self.plan.input_mut().copy_from_slice(x);
        self.plan.run().map_err(ModelError::Native)
    }

    /// Runs one row given as one slice per input (graph order).
    pub fn run_inputs(&mut self, inputs: &[&[f32]]) -> Result<&[f32], ModelError> {
        if inputs.len() != self.input_widths.len()
            || inputs
                .iter()
                .zip(&self.input_widths)
                .any(|(i, w)| i.len() != *w)
        {
            let widths: Vec<usize> = inputs.iter().map(|i| i.len()).collect();
            return Err(ModelError::Engine(format!(
                "the model takes inputs of widths {:?}, got {widths:?}",
                self.input_widths
            )));
        }
        let mut at = 0;
        let row = self.plan.input_mut();
        for i in inputs {
            row[at..at + i.len()].copy_from_slice(i);
            at += i.len();
        }
        self.plan.run().map_err(ModelError::Native)
    }
}
