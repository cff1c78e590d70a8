//! The engine boundary: the only code, with `model/ops` (which extends tract's
//! importer), that touches tract. It decodes ONNX bytes, fixes input shapes,
//! picks outputs, builds a plan once and runs it with preallocated inputs; the
//! rest of `model` sees plain slices, names and shapes. Every tract call that
//! can panic on a malformed graph runs inside [`guarded`].

pub(crate) mod native;
mod proto;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

pub(crate) use proto::declared_inputs;
pub(crate) use proto::{check_shapes, inspect_bytes, GraphView, MODEL_MEMORY_BUDGET};

use super::error::ModelError;
use super::metadata::{ModelMetadata, Normalization};
use super::tensors::{OutputValues, TensorData, TensorValue};

pub(crate) use super::error::{read_model, MAX_MODEL_FILE};

/// Runs `load`, turning a tract panic into [`ModelError::Panic`]: tract can
/// panic on some malformed graphs, and a bad model must be an error.
pub(crate) fn guarded<T>(
    path: &Path,
    load: impl FnOnce() -> Result<T, ModelError>,
) -> Result<T, ModelError> {
    catch_unwind(AssertUnwindSafe(load)).unwrap_or_else(|panic| {
        Err(ModelError::Panic {
            path: path.to_owned(),
            why: crate::panics::message(&*panic),
        })
    })
}

fn engine(e: TractError) -> ModelError {
    ModelError::Engine(format!("{e:#}"))
}

/// Decodes only the metadata of model bytes.
pub(crate) fn metadata_of(bytes: &[u8], path: &Path) -> Result<ModelMetadata, ModelError> {
    header_of(bytes, path).map(|(m, _)| m)
}

/// Decodes the metadata and the graph's input names (initializers excluded).
pub(crate) fn header_of(
    bytes: &[u8],
    path: &Path,
) -> Result<(ModelMetadata, Vec<String>), ModelError> {
    guarded(path, || {
        let onnx = super::ops::importer();
        proto::decode(&onnx, bytes, path).map(|p| {
            let inputs = p
                .graph
                .as_ref()
                .map(|g| GraphView::new(g).inputs().map(str::to_owned).collect())
                .unwrap_or_default();
            (proto::metadata(&p), inputs)
        })
    })
}

/// A decoded ONNX file whose every operator edgeintent's importer knows.
pub(crate) struct Decoded {
    onnx: tract_onnx::Onnx,
    proto: pb::ModelProto,
    path: PathBuf,
}

impl Decoded {
    /// Decodes `bytes`; an unsupported operator is an error naming it, and so
    /// is a declared tensor over `budget` bytes (see [`MODEL_MEMORY_BUDGET`]).
    pub(crate) fn new(bytes: &[u8], path: &Path, budget: u64) -> Result<Decoded, ModelError> {
        Decoded::with_importer(bytes, path, budget, importer_for(Importer::Edgeintent))
    }

    /// As [`Decoded::new`], with the given importer.
    fn with_importer(
        bytes: &[u8],
        path: &Path,
        budget: u64,
        onnx: tract_onnx::Onnx,
    ) -> Result<Decoded, ModelError> {
        let proto = proto::decode(&onnx, bytes, path)?;
        proto::check_declared(&proto, path, budget)?;
        let missing = proto::unsupported_ops(&onnx, &proto);
        if !missing.is_empty() {
            return Err(ModelError::UnsupportedOps {
                path: path.to_owned(),
                ops: missing.join(", "),
            });
        }
        Ok(Decoded {
            onnx,
            proto,
            path: path.to_owned(),
        })
    }

    /// The package metadata (`metadata_props`, producer).
    pub(crate) fn metadata(&self) -> ModelMetadata {
        proto::metadata(&self.proto)
    }

    /// The graph as written, for fast paths that read it directly.
    pub(crate) fn view(&self) -> Option<GraphView<'_>> {
        self.proto.graph.as_ref().map(GraphView::new)
    }

    /// Declared dimensions of the input named `name` (symbolic ones as `None`).
    pub(crate) fn input_dims(&self, name: &str) -> Option<Vec<Option<usize>>> {
        proto::input_dims(&self.proto, name)
    }

    /// Names of the graph outputs, in order.
    pub(crate) fn output_names(&self) -> Vec<String> {
        self.view()
            .map(|g| g.outputs().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The native executor's plan computing `output` from a `[1, n_in]` row
    /// on `input`; the error says which node has no native kernel.
    pub(crate) fn native_plan(
        &self,
        input: &str,
        output: &str,
        n_in: usize,
    ) -> Result<crate::model::native::NativePlan, String> {
        native::compile(&self.onnx, &self.proto, input, output, n_in)
    }

    /// As [`Decoded::native_plan`], for several inputs (name, width) laid
    /// side by side and several outputs; also gives the outputs' slots.
    pub(crate) fn native_plan_multi(
        &self,
        inputs: &[(&str, usize)],
        outputs: &[&str],
    ) -> Result<
        (
            crate::model::native::NativePlan,
            Vec<crate::model::native::Slot>,
        ),
        String,
    > {
        native::compile_multi(&self.onnx, &self.proto, inputs, outputs)
    }

    /// The graph ready for its input shapes to be fixed.
    pub(crate) fn into_graph(self) -> Result<Graph, ModelError> {
        self.to_graph()
    }

    /// As [`Decoded::into_graph`], keeping the decoded file for the native executor.
    pub(crate) fn to_graph(&self) -> Result<Graph, ModelError> {
        let model = self
            .onnx
            .model_for_proto_model(&self.proto)
            .map_err(engine)?;
        Ok(Graph {
            model,
            path: self.path.clone(),
        })
    }
}

/// A graph whose input shapes are being fixed.
pub(crate) struct Graph {
    model: InferenceModel,
    path: PathBuf,
}

impl Graph {
    /// Input names, in graph order.
    pub(crate) fn input_names(&self) -> Result<Vec<String>, ModelError> {
        Ok(self
            .model
            .input_outlets()
            .map_err(engine)?
            .iter()
            .map(|o| self.model.node(o.node).name.clone())
            .collect())
    }

    /// Fixes input `ix` to an f32 tensor of `shape`.
    pub(crate) fn fix_input(&mut self, ix: usize, shape: &[usize]) -> Result<(), ModelError> {
        self.model
            .set_input_fact(ix, f32::fact(shape).into())
            .map_err(engine)
    }

    /// Infers every type and shape; the error is tract's, for the caller to explain.
    pub(crate) fn into_typed(self) -> Result<TypedGraph, String> {
        let path = self.path;
        self.model
            .into_typed()
            .map(|model| TypedGraph { model, path })
            .map_err(|e| format!("{e:#}"))
    }
}

/// One output of a typed graph.
#[derive(Debug, Clone)]
pub(crate) struct OutputFact {
    /// Its label (or its node's name).
    pub(crate) name: String,
    /// Whether it holds f32 values.
    pub(crate) is_f32: bool,
    /// Its shape when every dimension is known.
    pub(crate) shape: Option<Vec<usize>>,
    /// Type and shape as tract prints them, for messages.
    pub(crate) describe: String,
}

/// A graph with every type and shape known.
pub(crate) struct TypedGraph {
    model: TypedModel,
    path: PathBuf,
}

impl TypedGraph {
    /// The outputs, in graph order.
    pub(crate) fn outputs(&self) -> Result<Vec<OutputFact>, ModelError> {
        let outlets = self.model.output_outlets().map_err(engine)?.to_vec();
        outlets
            .iter()
            .map(|o| {
                let fact = self.model.outlet_fact(*o).map_err(engine)?;
                let name = self
                    .model
                    .outlet_label(*o)
                    .map(str::to_owned)
                    .unwrap_or_else(|| self.model.node(o.node).name.clone());
                Ok(OutputFact {
                    name,
                    is_f32: fact.datum_type == f32::datum_type(),
                    shape: fact.shape.as_concrete().map(<[usize]>::to_vec),
                    describe: format!("{fact:?}"),
                })
            })
            .collect()
    }

    /// Keeps only these outputs (by position), so branches that feed nothing
    /// else (a label, an ArgMax) are pruned from the plan.
    pub(crate) fn keep_outputs(&mut self, which: &[usize]) -> Result<(), ModelError> {
        let outlets = self.model.output_outlets().map_err(engine)?.to_vec();
        let keep: Vec<OutletId> = which
            .iter()
            .filter_map(|&i| outlets.get(i).copied())
            .collect();
        self.model.select_output_outlets(&keep).map_err(engine)
    }

    /// Optimises the graph and builds its plan, inputs preallocated.
    pub(crate) fn into_plan(self) -> Result<Plan, ModelError> {
        let input_shapes: Vec<Vec<usize>> = self
            .model
            .input_outlets()
            .map_err(engine)?
            .iter()
            .map(|o| {
                let fact = self.model.outlet_fact(*o).map_err(engine)?;
                fact.shape
                    .as_concrete()
                    .map(<[usize]>::to_vec)
                    .ok_or_else(|| ModelError::Shape {
                        path: self.path.clone(),
                        why: format!("input shape {:?} is not fixed", fact.shape),
                    })
            })
            .collect::<Result<_, _>>()?;
        let path = self.path;
        let plan = self
            .model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::Shape {
                path: path.clone(),
                why: format!("does not run on f32 inputs of shapes {input_shapes:?}: {e:#}"),
            })?;
        let state = plan.spawn().map_err(engine)?;
        let inputs = input_shapes
            .iter()
            .map(|s| Tensor::zero::<f32>(s).map(Arc::new))
            .collect::<TractResult<Vec<_>>>()
            .map_err(engine)?;
        Ok(Plan {
            state,
            inputs,
            outputs: TVec::new(),
        })
    }
}

/// A runnable plan: built once, its state and input tensors reused for every
/// run, so our side of a run allocates nothing (tract allocates its outputs).
pub(crate) struct Plan {
    state: TypedSimpleState,
    inputs: Vec<Arc<Tensor>>,
    /// The latest run's outputs.
    outputs: TVec<TValue>,
}

impl Plan {
    /// The input shapes fixed at load time.
    pub(crate) fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.inputs.iter().map(|t| t.shape().to_vec()).collect()
    }

    /// Copies `src` (normalised by `norm`, if any) into input `ix`.
    pub(crate) fn set_input(
        &mut self,
        ix: usize,
        src: &[f32],
        norm: Option<&Normalization>,
    ) -> Result<(), ModelError> {
        // An output of the last run may share an input's buffer: drop them first.
        self.outputs.clear();
        let t = self
            .inputs
            .get_mut(ix)
            .ok_or_else(|| ModelError::Engine(format!("the plan has no input #{ix}")))?;
        fill(t, src, norm)
    }

    /// Runs the plan on its inputs; the outputs stay readable until the next run.
    pub(crate) fn run(&mut self) -> Result<(), ModelError> {
        self.outputs.clear();
        let values: TVec<TValue> = self
            .inputs
            .iter()
            .map(|t| TValue::from_const(t.clone()))
            .collect();
        // A graph that passed every load-time check can still panic inside
        // tract on some input: that is one failed run (counted, the rules
        // decide), not a lost event or a crashed host.
        let out = catch_unwind(AssertUnwindSafe(|| self.state.run(values)));
        clear_upper_simd_state();
        self.outputs = match out {
            Ok(out) => out.map_err(engine)?,
            Err(panic) => {
                return Err(ModelError::Engine(format!(
                    "the model panicked while running: {}",
                    crate::panics::message(&*panic)
                )))
            }
        };
        Ok(())
    }

    /// Output `ix` of the latest run as f32 values.
    pub(crate) fn output_f32(&self, ix: usize) -> Result<&[f32], ModelError> {
        self.outputs
            .get(ix)
            .ok_or_else(|| ModelError::Engine(format!("the plan returned no output #{ix}")))?
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(engine)
    }

    /// Drops the latest run's outputs (once they have been read or carried).
    pub(crate) fn clear_outputs(&mut self) {
        self.outputs.clear();
    }

    /// Copies output `from` of the latest run into input `to` (a carried state).
    pub(crate) fn carry(&mut self, from: usize, to: usize) -> Result<(), ModelError> {
        let out = self
            .outputs
            .get(from)
            .ok_or_else(|| ModelError::Engine(format!("the plan returned no output #{from}")))?
            .clone();
        let src = out
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(engine)?;
        let t = self
            .inputs
            .get_mut(to)
            .ok_or_else(|| ModelError::Engine(format!("the plan has no input #{to}")))?;
        fill(t, src, None)
    }

    /// Every output of the latest run: shape and values, widened.
    pub(crate) fn outputs(&self) -> Result<Vec<(Vec<usize>, OutputValues)>, ModelError> {
        self.outputs
            .iter()
            .map(|t| {
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
                Ok((t.shape().to_vec(), values))
            })
            .collect()
    }
}

/// Copies (and normalises) `src` into the exclusively held input tensor. tract
/// drops its reference when `run` returns, so `Arc::get_mut` succeeds and no
/// tensor is allocated per call.
fn fill(t: &mut Arc<Tensor>, src: &[f32], norm: Option<&Normalization>) -> Result<(), ModelError> {
    if Arc::get_mut(t).is_none() {
        *t = Arc::new(t.as_ref().clone());
    }
    let tensor =
        Arc::get_mut(t).ok_or_else(|| ModelError::Engine("input tensor is shared".into()))?;
    let mut plain = tensor.try_as_plain_ram_mut().map_err(engine)?;
    let dst = plain.as_slice_mut::<f32>().map_err(engine)?;
    Normalization::apply_or_copy(norm, src, dst)
}

/// Which importer decodes a model: edgeintent's (tract with our operators)
/// or plain tract, for comparing what each runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Importer {
    /// tract with edgeintent's operators registered.
    #[default]
    Edgeintent,
    /// tract's own ONNX importer as shipped.
    PlainTract,
}

fn importer_for(which: Importer) -> tract_onnx::Onnx {
    match which {
        Importer::Edgeintent => super::ops::importer(),
        Importer::PlainTract => tract_onnx::onnx(),
    }
}

/// Reads one serialized ONNX `TensorProto` (a backend test's `input_0.pb`).
pub(crate) fn read_tensor_pb(path: &Path) -> Result<TensorValue, ModelError> {
    let bytes = crate::limits::read_regular(path, MAX_MODEL_FILE).map_err(|e| ModelError::Io {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    guarded(path, || {
        let proto = tract_onnx::tensor::proto_from_reader(&bytes[..]).map_err(engine)?;
        let t = tract_onnx::tensor::load_tensor(
            &tract_onnx::data_resolver::FopenDataResolver,
            &proto,
            None,
        )
        .map_err(engine)?;
        from_tensor(&t)
    })
}

fn from_tensor(t: &Tensor) -> Result<TensorValue, ModelError> {
    fn plain<T: Datum + Clone>(t: &Tensor) -> Result<Vec<T>, ModelError> {
        t.try_as_plain_ram()
            .and_then(|v| Ok(v.as_slice::<T>()?.to_vec()))
            .map_err(engine)
    }
    let data = match t.datum_type() {
        DatumType::F32 => TensorData::F32(plain(t)?),
        DatumType::F64 => TensorData::F64(plain(t)?),
        DatumType::I64 => TensorData::I64(plain(t)?),
        DatumType::I32 => TensorData::I32(plain(t)?),
        DatumType::U8 => TensorData::U8(plain(t)?),
        DatumType::Bool => TensorData::Bool(plain(t)?),
        DatumType::String => TensorData::Text(plain(t)?),
        dt if dt.is_float() => {
            let wide = t.cast_to::<f64>().map_err(engine)?;
            TensorData::F64(plain(&wide)?)
        }
        // TDim: integers tract computed from values fixed at load.
        dt if dt.is_integer() || dt == DatumType::TDim => {
            let wide = t.cast_to::<i64>().map_err(engine)?;
            TensorData::I64(plain(&wide)?)
        }
        dt => {
            return Err(ModelError::Engine(format!(
                "tensors of {dt:?} are not supported here"
            )))
        }
    };
    Ok(TensorValue {
        shape: t.shape().to_vec(),
        data,
    })
}

fn to_tensor(v: &TensorValue) -> Result<Tensor, ModelError> {
    fn make<T: Datum + Clone>(shape: &[usize], v: &[T]) -> Result<Tensor, ModelError> {
        tract_ndarray::ArrayD::from_shape_vec(shape, v.to_vec())
            .map(Tensor::from)
            .map_err(|e| ModelError::Engine(format!("a tensor of shape {shape:?}: {e}")))
    }
    let s = &v.shape;
    match &v.data {
        TensorData::F32(x) => make(s, x),
        TensorData::F64(x) => make(s, x),
        TensorData::I64(x) => make(s, x),
        TensorData::I32(x) => make(s, x),
        TensorData::U8(x) => make(s, x),
        TensorData::Bool(x) => make(s, x),
        TensorData::Text(x) => make(s, x),
    }
}

fn datum_of(v: &TensorData) -> DatumType {
    match v {
        TensorData::F32(_) => f32::datum_type(),
        TensorData::F64(_) => f64::datum_type(),
        TensorData::I64(_) => i64::datum_type(),
        TensorData::I32(_) => i32::datum_type(),
        TensorData::U8(_) => u8::datum_type(),
        TensorData::Bool(_) => bool::datum_type(),
        TensorData::Text(_) => String::datum_type(),
    }
}

/// A model loaded for inputs of given types and shapes, run on whole
/// tensors: conformance tests and typed `predict`. Allocates per run.
pub(crate) struct TensorPlan {
    plan: Arc<TypedSimplePlan>,
    outputs: Vec<String>,
}

impl TensorPlan {
    /// Decodes `bytes` with `importer`, fixes every input to the type and
    /// shape of `inputs` (in graph order), and builds the plan.
    pub(crate) fn new(
        bytes: &[u8],
        path: &Path,
        inputs: &[TensorValue],
        importer: Importer,
    ) -> Result<TensorPlan, ModelError> {
        guarded(path, || {
            let onnx = importer_for(importer)
                .with_ignore_output_shapes(true)
                .with_ignore_output_types(true);
            let decoded = Decoded::with_importer(bytes, path, MODEL_MEMORY_BUDGET, onnx)?;
            let outputs = decoded.output_names();
            let mut model = decoded.into_graph()?.model;
            let n = model.input_outlets().map_err(engine)?.len();
            if n != inputs.len() {
                return Err(ModelError::Shape {
                    path: path.to_owned(),
                    why: format!("has {n} inputs but {} were given", inputs.len()),
                });
            }
            for (ix, v) in inputs.iter().enumerate() {
                // Integer inputs (shapes, axes, indices) are fixed to their
                // values: tract types shapes and axes only when it knows them.
                let fact: InferenceFact = match &v.data {
                    TensorData::I64(_) | TensorData::I32(_) => to_tensor(v)?.into(),
                    d => datum_of(d).fact(&v.shape).into(),
                };
                model.set_input_fact(ix, fact).map_err(engine)?;
            }
            let plan = model
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .map_err(engine)?;
            Ok(TensorPlan { plan, outputs })
        })
    }

    /// Runs on `inputs`; every output with its name, in graph order.
    pub(crate) fn run(
        &self,
        inputs: &[TensorValue],
    ) -> Result<Vec<(String, TensorValue)>, ModelError> {
        let values = inputs
            .iter()
            .map(|v| to_tensor(v).map(TValue::from))
            .collect::<Result<TVec<_>, _>>()?;
        let out = catch_unwind(AssertUnwindSafe(|| self.plan.run(values)));
        clear_upper_simd_state();
        let out = match out {
            Ok(out) => out.map_err(engine)?,
            Err(panic) => {
                return Err(ModelError::Engine(format!(
                    "the model panicked while running: {}",
                    crate::panics::message(&*panic)
                )))
            }
        };
        out.iter()
            .enumerate()
            .map(|(i, t)| {
                let name = self
                    .outputs
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("output_{i}"));
                Ok((name, from_tensor(t)?))
            })
            .collect()
    }
}

/// tract's AVX-512 kernels return without `vzeroupper`, leaving the upper
/// vector state dirty; every legacy-SSE instruction after that (our feature
/// code, libm) then pays a transition penalty. Measured here: feature write +
/// score went from 4.3 µs to 1.9 µs per decision with this call.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub(crate) fn clear_upper_simd_state() {
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` needs only AVX, detected just above. It zeroes the
        // upper halves of the vector registers, which hold no live value across
        // this call (the compiler treats the intrinsic as clobbering them).
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn clear_upper_simd_state() {}
