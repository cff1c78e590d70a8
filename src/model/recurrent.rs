//! Recurrent intent models stepped once per event: the model has an event
//! input and a state input/output pair; the runtime carries the state between
//! calls, so a decision reads the latest score instead of re-running a window.
//! Steady state copies the new state into a preallocated tensor: no allocation
//! in our code (tract allocates its outputs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use crate::features::FeatureSpec;
use crate::model::{ModelError, ModelMetadata, ModelOptions};

/// Metadata key (or config `model.recurrent`) naming the recurrent interface.
pub const META_RECURRENT: &str = "edgeintent.recurrent";

/// The names of a stepped model's interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentOptions {
    /// Input receiving the event-type id (`[1, 1]`, f32), default `"event"`.
    #[serde(default = "default_event")]
    pub event_input: String,
    /// State input (any fixed shape), default `"h_in"`.
    #[serde(default = "default_state_in")]
    pub state_input: String,
    /// State output (same shape), default `"h_out"`.
    #[serde(default = "default_state_out")]
    pub state_output: String,
    /// Probability output (`[1, 1]`), default `"score"`.
    #[serde(default = "default_score")]
    pub score_output: String,
}

fn default_event() -> String {
    "event".into()
}
fn default_state_in() -> String {
    "h_in".into()
}
fn default_state_out() -> String {
    "h_out".into()
}
fn default_score() -> String {
    "score".into()
}

impl Default for RecurrentOptions {
    fn default() -> Self {
        RecurrentOptions {
            event_input: default_event(),
            state_input: default_state_in(),
            state_output: default_state_out(),
            score_output: default_score(),
        }
    }
}

/// A recurrent model with its carried state.
pub struct RecurrentModel {
    plan_state: TypedSimpleState,
    event: Arc<Tensor>,
    state: Arc<Tensor>,
    /// Whether the event is the model's first input.
    event_first: bool,
    last_score: Option<f32>,
    metadata: ModelMetadata,
}

impl std::fmt::Debug for RecurrentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecurrentModel")
            .field("state_shape", &self.state.shape())
            .field("last_score", &self.last_score)
            .finish_non_exhaustive()
    }
}

/// The recurrent interface a model declares, from config or metadata.
pub(crate) fn declared(
    opts: &ModelOptions,
    meta: &ModelMetadata,
    path: &Path,
) -> Result<Option<RecurrentOptions>, ModelError> {
    if let Some(r) = &opts.recurrent {
        return Ok(Some(r.clone()));
    }
    match meta.get(META_RECURRENT) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| ModelError::Metadata {
                path: path.to_owned(),
                why: format!("`{META_RECURRENT}` is not valid: {e}"),
            }),
    }
}

impl RecurrentModel {
    /// Loads a stepped model; `rec` names its interface.
    pub fn load(
        opts: &ModelOptions,
        spec: &FeatureSpec,
        rec: &RecurrentOptions,
    ) -> Result<RecurrentModel, ModelError> {
        Self::from_bytes(&crate::model::read_model(&opts.path)?, opts, spec, rec)
    }

    /// Like [`RecurrentModel::load`], from bytes already in memory.
    pub fn from_bytes(
        bytes: &[u8],
        opts: &ModelOptions,
        spec: &FeatureSpec,
        rec: &RecurrentOptions,
    ) -> Result<RecurrentModel, ModelError> {
        crate::model::guarded(&opts.path, || build(bytes, &opts.path, opts, spec, rec))
    }

    /// Feeds one event (its sequence id, see [`crate::EventType::sequence_id`]),
    /// carries the new state, and returns the new score.
    pub fn step(&mut self, event_id: u32) -> Result<f32, ModelError> {
        crate::model::fill(&mut self.event, &[event_id as f32], None)?;
        let event = TValue::from_const(self.event.clone());
        let state = TValue::from_const(self.state.clone());
        let inputs = if self.event_first {
            tvec![event, state]
        } else {
            tvec![state, event]
        };
        let out = self.plan_state.run(inputs);
        crate::model::clear_upper_simd_state();
        let out = out.map_err(|e| ModelError::Engine(format!("{e:#}")))?;
        let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
        let score = out[0]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>().map(|s| s.first().copied()))
            .map_err(engine)?
            .ok_or_else(|| ModelError::Engine("empty score".into()))?;
        let view = out[1].try_as_plain_ram().map_err(engine)?;
        crate::model::fill(
            &mut self.state,
            view.as_slice::<f32>().map_err(engine)?,
            None,
        )?;
        if !(score.is_finite() && (0.0..=1.0).contains(&score)) {
            self.last_score = None;
            return Err(ModelError::BadScore(score));
        }
        self.last_score = Some(score);
        Ok(score)
    }

    /// The score after the latest step, if any step succeeded.
    pub fn last_score(&self) -> Option<f32> {
        self.last_score
    }

    /// Forgets the carried state (zeros) and the last score.
    pub fn reset(&mut self) -> Result<(), ModelError> {
        let zeros = vec![0.0; self.state.len()];
        crate::model::fill(&mut self.state, &zeros, None)?;
        self.last_score = None;
        Ok(())
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }
}

fn build(
    bytes: &[u8],
    path: &Path,
    opts: &ModelOptions,
    spec: &FeatureSpec,
    rec: &RecurrentOptions,
) -> Result<RecurrentModel, ModelError> {
    let shape_err = |why: String| ModelError::Shape {
        path: PathBuf::from(path),
        why,
    };
    let (onnx, proto) = crate::model::decode_supported(bytes, path)?;
    let metadata = ModelMetadata::from_proto(&proto);
    crate::model::check_spec(&metadata, path, opts, spec)?;
    let report_inputs = crate::model::inspect_proto_inputs(&proto);
    let state_dims: Vec<usize> = report_inputs
        .iter()
        .find(|i| i.name == rec.state_input)
        .ok_or_else(|| shape_err(format!("has no state input `{}`", rec.state_input)))?
        .dims
        .iter()
        .map(|d| d.parse::<usize>().unwrap_or(1))
        .collect();
    let engine = |e: TractError| ModelError::Engine(format!("{e:#}"));
    let mut model = onnx.model_for_proto_model(&proto).map_err(engine)?;
    let names: Vec<String> = model
        .input_outlets()
        .map_err(engine)?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    if names.len() != 2 {
        return Err(shape_err(format!(
            "a recurrent model needs exactly the event and state inputs, found {}",
            names.join(", ")
        )));
    }
    let position = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| shape_err(format!("has no input `{n}` (inputs: {})", names.join(", "))))
    };
    let event_ix = position(&rec.event_input)?;
    let state_ix = position(&rec.state_input)?;
    model
        .set_input_fact(event_ix, f32::fact([1, 1]).into())
        .map_err(engine)?;
    model
        .set_input_fact(state_ix, f32::fact(&state_dims).into())
        .map_err(engine)?;
    let mut typed = model
        .into_typed()
        .map_err(|e| shape_err(format!("{e:#}")))?;
    let find_out = |n: &str| -> Result<OutletId, ModelError> {
        let outlets = typed.output_outlets().map_err(engine)?;
        outlets
            .iter()
            .copied()
            .find(|o| typed.outlet_label(*o) == Some(n) || typed.node(o.node).name == n)
            .ok_or_else(|| shape_err(format!("has no output `{n}`")))
    };
    let score = find_out(&rec.score_output)?;
    let state_out = find_out(&rec.state_output)?;
    let state_fact = typed.outlet_fact(state_out).map_err(engine)?;
    if state_fact.shape.as_concrete() != Some(&state_dims[..]) {
        return Err(shape_err(format!(
            "state output `{}` has shape {:?}, the state input {state_dims:?}",
            rec.state_output, state_fact.shape
        )));
    }
    typed
        .select_output_outlets(&[score, state_out])
        .map_err(engine)?;
    let plan = typed
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(engine)?;
    let plan_state = plan.spawn().map_err(engine)?;
    Ok(RecurrentModel {
        plan_state,
        event: Arc::new(Tensor::zero::<f32>(&[1, 1]).map_err(engine)?),
        state: Arc::new(Tensor::zero::<f32>(&state_dims).map_err(engine)?),
        event_first: event_ix < state_ix,
        last_score: None,
        metadata,
    })
}
