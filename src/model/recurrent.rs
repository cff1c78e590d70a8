//! Recurrent intent models stepped once per event: the model has an event
//! input and a state input/output pair; the runtime carries the state between
//! calls, so a decision reads the latest score instead of re-running a window.
//! When every node has a native kernel (embedding lookup, GRU step, dense
//! head), the native executor steps it with no allocation; otherwise tract
//! does, copying the new state into a preallocated tensor (tract allocates
//! its outputs).

use std::path::{Path, PathBuf};

use super::engine::{guarded, read_model, Decoded, Plan};
use super::native::{NativePlan, Slot};
use super::package::{check_spec, ModelMetadata};
use super::{ModelError, ModelOptions};
use crate::features::FeatureSpec;

pub use super::recurrent_options::{RecurrentOptions, META_RECURRENT};

/// A recurrent model with its carried state.
pub struct RecurrentModel {
    plan: Plan,
    /// The native step, when the graph compiles (the state lives in its arena).
    native: Option<NativeStep>,
    /// Why the native executor does not step it, when it does not.
    not_native: Option<String>,
    /// Plan input indexes of the event id and the state.
    event_ix: usize,
    state_ix: usize,
    state_len: usize,
    last_score: Option<f32>,
    metadata: ModelMetadata,
}

/// A native plan over the row `[event id, state]`.
struct NativeStep {
    plan: NativePlan,
    score: Slot,
    state_out: Slot,
}

/// Offset of the state in a native step's input row (after the event id).
const NATIVE_STATE_AT: usize = 1;

impl std::fmt::Debug for RecurrentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecurrentModel")
            .field("state_len", &self.state_len)
            .field("engine", &self.engine())
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
        Self::from_bytes(&read_model(&opts.path)?, opts, spec, rec)
    }

    /// Like [`RecurrentModel::load`], from bytes already in memory.
    pub fn from_bytes(
        bytes: &[u8],
        opts: &ModelOptions,
        spec: &FeatureSpec,
        rec: &RecurrentOptions,
    ) -> Result<RecurrentModel, ModelError> {
        guarded(&opts.path, || build(bytes, &opts.path, opts, spec, rec))
    }

    /// Feeds one event (its sequence id, see [`crate::EventType::sequence_id`]),
    /// carries the new state, and returns the new score.
    pub fn step(&mut self, event_id: u32) -> Result<f32, ModelError> {
        if let Some(n) = &mut self.native {
            n.plan.input_mut()[0] = event_id as f32;
            n.plan.run();
            let score = n.plan.value(n.score)[0];
            n.plan.copy_to_input(n.state_out, NATIVE_STATE_AT);
            return self.checked(score);
        }
        self.plan
            .set_input(self.event_ix, &[event_id as f32], None)?;
        self.plan.run()?;
        let score = self
            .plan
            .output_f32(0)?
            .first()
            .copied()
            .ok_or_else(|| ModelError::Engine("empty score".into()))?;
        self.plan.carry(1, self.state_ix)?;
        self.checked(score)
    }

    fn checked(&mut self, score: f32) -> Result<f32, ModelError> {
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
        self.last_score = None;
        if let Some(n) = &mut self.native {
            n.plan.input_mut()[NATIVE_STATE_AT..].fill(0.0);
            return Ok(());
        }
        let zeros = vec![0.0; self.state_len];
        self.plan.set_input(self.state_ix, &zeros, None)?;
        self.last_score = None;
        Ok(())
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Which engine steps it: `native` (edgeintent's executor) or `tract`.
    pub fn engine(&self) -> &'static str {
        if self.native.is_some() {
            "native"
        } else {
            "tract"
        }
    }

    /// Why the native executor does not step this model, when it does not.
    pub fn not_native_reason(&self) -> Option<&str> {
        self.not_native.as_deref()
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
    let decoded = Decoded::new(bytes, path, opts.memory_budget())?;
    let metadata = decoded.metadata();
    check_spec(&metadata, path, opts, spec)?;
    let state_dims: Vec<usize> = decoded
        .input_dims(&rec.state_input)
        .ok_or_else(|| shape_err(format!("has no state input `{}`", rec.state_input)))?
        .into_iter()
        .map(|d| d.unwrap_or(1))
        .collect();
    let state_len: usize = state_dims.iter().product();
    let native = decoded.native_plan_multi(
        &[(&rec.event_input, 1), (&rec.state_input, state_len)],
        &[&rec.score_output, &rec.state_output],
    );
    let (native, not_native) = match native {
        Ok((plan, slots)) if slots[1].len as usize == state_len && slots[0].len >= 1 => (
            Some(NativeStep {
                plan,
                score: slots[0],
                state_out: slots[1],
            }),
            None,
        ),
        Ok((_, slots)) => (
            None,
            Some(format!(
                "the state output has {} values, the state {state_len}",
                slots[1].len
            )),
        ),
        Err(why) => (None, Some(why)),
    };
    let mut graph = decoded.into_graph()?;
    let names = graph.input_names()?;
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
    graph.fix_input(event_ix, &[1, 1])?;
    graph.fix_input(state_ix, &state_dims)?;
    let mut typed = graph.into_typed().map_err(shape_err)?;
    let outputs = typed.outputs()?;
    let find_out = |n: &str| {
        outputs
            .iter()
            .position(|o| o.name == n)
            .ok_or_else(|| shape_err(format!("has no output `{n}`")))
    };
    let score = find_out(&rec.score_output)?;
    let state_out = find_out(&rec.state_output)?;
    if outputs[state_out].shape.as_deref() != Some(&state_dims[..]) {
        return Err(shape_err(format!(
            "state output `{}` has shape {}, the state input {state_dims:?}",
            rec.state_output, outputs[state_out].describe
        )));
    }
    typed.keep_outputs(&[score, state_out])?;
    Ok(RecurrentModel {
        plan: typed.into_plan()?,
        native,
        not_native,
        event_ix,
        state_ix,
        state_len,
        last_score: None,
        metadata,
    })
}
