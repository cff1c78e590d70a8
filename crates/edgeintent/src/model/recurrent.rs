//! Recurrent intent models stepped once per event: the model has an event
//! input and a state input/output pair (two for an LSTM: `h` and `c`); the
//! runtime carries the state between calls, so a decision reads the latest
//! score instead of re-running a window. When every node has a native kernel
//! (embedding lookup, GRU or LSTM step, the head), the native executor
//! steps it with no allocation; otherwise tract
//! does, copying the new state into a preallocated tensor (tract allocates
//! its outputs).

use std::path::{Path, PathBuf};

use super::engine::{guarded, read_model, Decoded, Plan};
use super::error::ModelError;
use super::metadata::{check_spec, ModelMetadata};
use super::native::{NativePlan, Slot};
use super::options::ModelOptions;
use crate::features::FeatureSpec;

pub use super::recurrent_options::{RecurrentOptions, META_RECURRENT};

/// A recurrent model with its carried state.
pub struct RecurrentModel {
    stepper: Stepper,
    /// Why the native executor does not step it, when it does not.
    not_native: Option<String>,
    last_score: Option<f32>,
    metadata: ModelMetadata,
}

/// What steps the model: the native executor when the graph compiles, else tract.
// One per model; boxing the plan would add an indirection on every step.
#[allow(clippy::large_enum_variant)]
enum Stepper {
    Native(NativeStep),
    Tract(TractStep),
}

/// A tract plan and where its inputs are.
struct TractStep {
    plan: Plan,
    /// Plan input index of the event id.
    event_ix: usize,
    /// Plan input index and length of each carried state; state `k` comes
    /// back as plan output `k + 1` (output 0 is the score).
    states: Vec<(usize, usize)>,
}

/// A native plan over the row `[event id, states...]` (the states live in its arena).
struct NativeStep {
    plan: NativePlan,
    score: Slot,
    /// Each new state's slot and where it goes back in the input row.
    carry: Vec<(Slot, usize)>,
}

/// Offset of the first state in a native step's input row (after the event id).
const NATIVE_STATE_AT: usize = 1;

impl std::fmt::Debug for RecurrentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecurrentModel")
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
        guarded(&opts.path, || {
            build(bytes, &opts.path, opts, spec, rec, true)
        })
    }

    /// Feeds one event (its sequence id, see [`crate::EventType::sequence_id`]),
    /// carries the new state, and returns the new score.
    pub fn step(&mut self, event_id: u32) -> Result<f32, ModelError> {
        let score = match &mut self.stepper {
            Stepper::Native(n) => {
                n.plan.input_mut()[0] = event_id as f32;
                n.plan.run().map_err(ModelError::Native)?;
                let score = n.plan.value(n.score)[0];
                for &(from, at) in &n.carry {
                    n.plan.copy_to_input(from, at);
                }
                score
            }
            Stepper::Tract(t) => {
                t.plan.set_input(t.event_ix, &[event_id as f32], None)?;
                t.plan.run()?;
                let score = t
                    .plan
                    .output_f32(0)?
                    .first()
                    .copied()
                    .ok_or_else(|| ModelError::Engine("empty score".into()))?;
                for (k, &(ix, _)) in t.states.iter().enumerate() {
                    t.plan.carry(k + 1, ix)?;
                }
                t.plan.clear_outputs();
                score
            }
        };
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
        match &mut self.stepper {
            Stepper::Native(n) => n.plan.input_mut()[NATIVE_STATE_AT..].fill(0.0),
            Stepper::Tract(t) => {
                for &(ix, len) in &t.states {
                    t.plan.set_input(ix, &vec![0.0; len], None)?;
                }
            }
        }
        Ok(())
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Which engine steps it: `native` (edgeintent's executor) or `tract`.
    pub fn engine(&self) -> &'static str {
        match self.stepper {
            Stepper::Native(_) => "native",
            Stepper::Tract(_) => "tract",
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
    try_native: bool,
) -> Result<RecurrentModel, ModelError> {
    let shape_err = |why: String| ModelError::Shape {
        path: PathBuf::from(path),
        why,
    };
    let decoded = Decoded::new(bytes, path, opts.memory_budget())?;
    let metadata = decoded.metadata();
    check_spec(&metadata, path, opts, spec)?;
    // (input, output) of each carried state: `h`, then an LSTM's `c`.
    let mut pairs = vec![(rec.state_input.as_str(), rec.state_output.as_str())];
    match (&rec.cell_input, &rec.cell_output) {
        (Some(i), Some(o)) => pairs.push((i, o)),
        (None, None) => {}
        _ => {
            return Err(shape_err(
                "cell_input and cell_output name the second state together: give both or neither"
                    .into(),
            ))
        }
    }
    let mut dims = Vec::with_capacity(pairs.len());
    for (input, _) in &pairs {
        let d: Vec<usize> = decoded
            .input_dims(input)
            .ok_or_else(|| shape_err(format!("has no state input `{input}`")))?
            .into_iter()
            .map(|d| d.unwrap_or(1))
            .collect();
        dims.push(d);
    }
    let lens: Vec<usize> = dims.iter().map(|d| d.iter().product()).collect();
    let native = match try_native {
        true => native_step(&decoded, rec, &pairs, &lens),
        false => Err("not tried".into()),
    };
    let mut graph = decoded.into_graph()?;
    let names = graph.input_names()?;
    if names.len() != 1 + pairs.len() {
        return Err(shape_err(format!(
            "a recurrent model needs exactly the event and state inputs ({}), found {}",
            std::iter::once(rec.event_input.as_str())
                .chain(pairs.iter().map(|p| p.0))
                .collect::<Vec<_>>()
                .join(", "),
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
    graph.fix_input(event_ix, &[1, 1])?;
    let mut states = Vec::with_capacity(pairs.len());
    for ((input, _), d) in pairs.iter().zip(&dims) {
        let ix = position(input)?;
        graph.fix_input(ix, d)?;
        states.push((ix, d.iter().product()));
    }
    let mut typed = graph.into_typed().map_err(shape_err)?;
    let outputs = typed.outputs()?;
    let find_out = |n: &str| {
        outputs
            .iter()
            .position(|o| o.name == n)
            .ok_or_else(|| shape_err(format!("has no output `{n}`")))
    };
    let mut keep = vec![find_out(&rec.score_output)?];
    for ((input, output), d) in pairs.iter().zip(&dims) {
        let ix = find_out(output)?;
        if outputs[ix].shape.as_deref() != Some(&d[..]) {
            return Err(shape_err(format!(
                "state output `{output}` has shape {}, the state input `{input}` {d:?}",
                outputs[ix].describe
            )));
        }
        keep.push(ix);
    }
    typed.keep_outputs(&keep)?;
    // tract has checked the interface either way; it plans only what it runs.
    let (stepper, not_native) = match native {
        Ok(step) => (Stepper::Native(step), None),
        Err(why) => {
            let plan = typed.into_plan()?;
            let step = TractStep {
                plan,
                event_ix,
                states,
            };
            (Stepper::Tract(step), Some(why))
        }
    };
    Ok(RecurrentModel {
        stepper,
        not_native,
        last_score: None,
        metadata,
    })
}

/// The native step over `[event, states...]`, or why there is none.
fn native_step(
    decoded: &Decoded,
    rec: &RecurrentOptions,
    pairs: &[(&str, &str)],
    lens: &[usize],
) -> Result<NativeStep, String> {
    let mut inputs = vec![(rec.event_input.as_str(), 1)];
    inputs.extend(pairs.iter().zip(lens).map(|((i, _), &len)| (*i, len)));
    let mut outputs = vec![rec.score_output.as_str()];
    outputs.extend(pairs.iter().map(|p| p.1));
    let (plan, slots) = decoded.native_plan_multi(&inputs, &outputs)?;
    if slots[0].len == 0 {
        return Err("the score output is empty".into());
    }
    let mut carry = Vec::with_capacity(pairs.len());
    let mut at = NATIVE_STATE_AT;
    for ((slot, len), (_, output)) in slots[1..].iter().zip(lens).zip(pairs) {
        if slot.len as usize != *len {
            return Err(format!(
                "state output `{output}` has {} values, its state {len}",
                slot.len
            ));
        }
        carry.push((*slot, at));
        at += len;
    }
    Ok(NativeStep {
        plan,
        score: slots[0],
        carry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tract carries both of an LSTM's states as the native step does.
    #[test]
    fn tract_and_native_lstm_steps_agree_over_a_sequence() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let cfg = crate::Config::from_file(root.join("models/config.json")).unwrap();
        let mut opts = ModelOptions::for_path(root.join("fixtures/recurrent/lstm_step.onnx"));
        opts.require_spec_hash = false;
        let rec = RecurrentOptions {
            cell_input: Some("c_in".into()),
            cell_output: Some("c_out".into()),
            ..RecurrentOptions::default()
        };
        let bytes = read_model(&opts.path).unwrap();
        let load = |native| build(&bytes, &opts.path, &opts, cfg.features(), &rec, native);
        let (mut native, mut tract) = (load(true).unwrap(), load(false).unwrap());
        assert_eq!((native.engine(), tract.engine()), ("native", "tract"));
        for round in 0..2 {
            for i in 0..40u32 {
                let id = (i * 7 + round) % 14;
                let (a, b) = (native.step(id).unwrap(), tract.step(id).unwrap());
                assert!((a - b).abs() < 1e-5, "event {i}: native {a}, tract {b}");
            }
            native.reset().unwrap();
            tract.reset().unwrap();
        }
    }
}
