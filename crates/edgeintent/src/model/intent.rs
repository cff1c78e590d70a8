//! The intent model: a model package checked against the feature spec, its
//! input and score output chosen, scored at decision points on the native
//! executor where every node has a kernel, else on a tract plan built once.

use std::path::{Path, PathBuf};

use super::eim::{self, EimPayload, EimReading};
#[cfg(feature = "tract")]
use super::engine::{guarded, Decoded, OutputFact, Plan};
use super::error::read_model;
use super::error::ModelError;
use super::metadata::{check_spec, read_normalization, ModelMetadata, Normalization};
use super::native::NativePlan;
use super::options::ModelOptions;
#[cfg(feature = "tract")]
use super::options::{InputOptions, OutputKind, OutputOptions};
use crate::features::FeatureSpec;

/// How the score is read from the selected output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reading {
    Column(usize),
    Probability,
    Logit,
}

/// How the model runs: edgeintent's native executor or a tract plan.
// One per model; boxing the plan would add an indirection on every call.
#[allow(clippy::large_enum_variant)]
enum Runner {
    /// Every node the score needs has a native kernel; no allocation per run.
    Native(NativePlan),
    /// A tract plan; its inputs are the features and, when `sequence` is set,
    /// the event-type ids (input indexes in the plan).
    #[cfg(feature = "tract")]
    Plan {
        plan: Plan,
        features: usize,
        sequence: Option<usize>,
    },
}

/// A loaded intent model: plan built once, state reused for every call.
pub struct IntentModel {
    path: PathBuf,
    runner: Runner,
    normalization: Option<Normalization>,
    reading: Reading,
    output_name: String,
    metadata: ModelMetadata,
    /// Why the native executor does not take the model (tract runs it).
    not_native: Option<String>,
}

impl std::fmt::Debug for IntentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentModel")
            .field("path", &self.path)
            .field("output", &self.output_name)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

impl IntentModel {
    /// Loads `opts.path`, checks it against `spec`, and builds the plan.
    pub fn load(opts: &ModelOptions, spec: &FeatureSpec) -> Result<IntentModel, ModelError> {
        Self::from_bytes(&read_model(&opts.path)?, &opts.path, opts, spec)
    }

    /// Like [`IntentModel::load`], from bytes already in memory; `path` only names
    /// the model in errors.
    pub fn from_bytes(
        bytes: &[u8],
        path: &Path,
        opts: &ModelOptions,
        spec: &FeatureSpec,
    ) -> Result<IntentModel, ModelError> {
        if eim::is_eim(bytes) {
            return load_eim(bytes, path, opts, spec);
        }
        #[cfg(feature = "tract")]
        return guarded(path, || load_checked(bytes, path, opts, spec));
        #[cfg(not(feature = "tract"))]
        Err(ModelError::NotNative {
            path: path.to_owned(),
            why: "this build has no ONNX importer (the `tract` feature); load a `.eim` package \
                  made with `edgeintent compile MODEL.onnx -o MODEL.eim`"
                .into(),
        })
    }

    /// The `.eim` package of this model (`edgeintent compile`): its native
    /// plan and package metadata. An error when tract runs the model, naming
    /// the node the native executor has no kernel for.
    pub fn to_eim(&self) -> Result<Vec<u8>, ModelError> {
        let not_native = |why: String| ModelError::NotNative {
            path: self.path.clone(),
            why,
        };
        #[allow(irrefutable_let_patterns)] // the only runner without tract
        let Runner::Native(plan) = &self.runner
        else {
            return Err(not_native(self.not_native.clone().unwrap_or_else(|| {
                format!(
                    "the {} engine runs it, not the native executor",
                    self.engine()
                )
            })));
        };
        let reading = match self.reading {
            Reading::Column(c) => EimReading::Column(c as u32),
            Reading::Probability => EimReading::Probability,
            Reading::Logit => EimReading::Logit,
        };
        eim::write(&EimPayload {
            props: self.metadata.props.clone(),
            producer: self.metadata.producer.clone(),
            output_name: self.output_name.clone(),
            reading,
            plan: plan.clone(),
        })
        .map_err(not_native)
    }

    /// Why the native executor does not run this model, when it does not.
    pub fn not_native_reason(&self) -> Option<&str> {
        self.not_native.as_deref()
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Which engine scores: `native` (edgeintent's executor) or `tract`.
    pub fn engine(&self) -> &'static str {
        match self.runner {
            Runner::Native(_) => "native",
            #[cfg(feature = "tract")]
            Runner::Plan { .. } => "tract",
        }
    }

    /// The output the score is read from.
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// Scores one moment: `features` (raw, as written by the feature state) and
    /// `sequence` (ignored unless the model has a sequence input). Returns the
    /// positive-class probability.
    pub fn score(&mut self, features: &[f32], sequence: &[f32]) -> Result<f32, ModelError> {
        #[cfg(not(feature = "tract"))]
        let _ = sequence;
        let norm = self.normalization.as_ref();
        let view: &[f32] = match &mut self.runner {
            Runner::Native(plan) => {
                Normalization::apply_or_copy(norm, features, plan.input_mut())?;
                plan.run().map_err(ModelError::Native)?
            }
            #[cfg(feature = "tract")]
            Runner::Plan {
                plan,
                features: f_ix,
                sequence: s_ix,
            } => {
                plan.set_input(*f_ix, features, norm)?;
                if let Some(ix) = s_ix {
                    plan.set_input(*ix, sequence, None)?;
                }
                plan.run()?;
                plan.output_f32(0)?
            }
        };
        let raw = match self.reading {
            Reading::Column(i) => view.get(i).copied(),
            Reading::Probability | Reading::Logit => view.first().copied(),
        }
        .ok_or_else(|| ModelError::Engine("output is smaller than at load time".into()))?;
        let p = match self.reading {
            Reading::Logit => 1.0 / (1.0 + (-raw).exp()),
            _ => raw,
        };
        if p.is_finite() && (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(ModelError::BadScore(p))
        }
    }
}

fn load_eim(
    bytes: &[u8],
    path: &Path,
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<IntentModel, ModelError> {
    let (payload, metadata) = eim::read(bytes, path, opts.memory_budget())?;
    check_spec(&metadata, path, opts, spec)?;
    let normalization = read_normalization(&metadata, path, spec.len())?;
    let shape_err = |why: String| ModelError::Shape {
        path: path.to_owned(),
        why,
    };
    if payload.plan.n_in != spec.len() {
        return Err(shape_err(format!(
            "was compiled for {} features; the feature spec has {}",
            payload.plan.n_in,
            spec.len()
        )));
    }
    if let Some(wanted) = &opts.output.name {
        if wanted != &payload.output_name {
            return Err(shape_err(format!(
                "was compiled to compute output `{}`, but the config asks for `{wanted}` (recompile it with this config)",
                payload.output_name
            )));
        }
    }
    let reading = match payload.reading {
        EimReading::Column(c) => Reading::Column(c as usize),
        EimReading::Probability => Reading::Probability,
        EimReading::Logit => Reading::Logit,
    };
    Ok(IntentModel {
        path: path.to_owned(),
        runner: Runner::Native(payload.plan),
        normalization,
        reading,
        output_name: payload.output_name,
        metadata,
        not_native: None,
    })
}

#[cfg(feature = "tract")]
fn load_checked(
    bytes: &[u8],
    path: &Path,
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<IntentModel, ModelError> {
    let shape_err = |why: String| ModelError::Shape {
        path: path.to_owned(),
        why,
    };
    let decoded = Decoded::new(bytes, path, opts.memory_budget())?;
    let metadata = decoded.metadata();
    check_spec(&metadata, path, opts, spec)?;
    let normalization = read_normalization(&metadata, path, spec.len())?;

    let mut graph = decoded.to_graph()?;
    let input_names = graph.input_names()?;
    let (features_ix, sequence_ix) =
        assign_inputs(&input_names, &opts.inputs, spec).map_err(shape_err)?;
    graph.fix_input(features_ix, &[1, spec.len()])?;
    if let Some(ix) = sequence_ix {
        graph.fix_input(ix, &[1, spec.sequence_length])?;
    }
    let mut typed = graph.into_typed().map_err(|e| {
        shape_err(format!(
            "does not accept a [1, {}] feature input ({e}); was it trained on this feature spec?",
            spec.len()
        ))
    })?;
    let (output_ix, name, reading) =
        choose_output(&typed.outputs()?, &opts.output).map_err(shape_err)?;
    let not_native;
    // Without a sequence input, the native executor takes the graph when it
    // has a kernel for every node the score needs.
    if sequence_ix.is_none() {
        match decoded.native_plan(&input_names[features_ix], &name, spec.len()) {
            Ok(plan) => {
                return Ok(IntentModel {
                    path: path.to_owned(),
                    runner: Runner::Native(plan),
                    normalization,
                    reading,
                    output_name: name,
                    metadata,
                    not_native: None,
                })
            }
            Err(why) => {
                log::debug!("model {}: tract runs it ({why})", path.display());
                not_native = Some(why);
            }
        }
    } else {
        not_native = Some("it has a sequence input".into());
    }
    // Keep only the score output, so label/ArgMax branches are pruned from the plan.
    typed.keep_outputs(&[output_ix])?;
    let plan = typed.into_plan()?;
    Ok(IntentModel {
        path: path.to_owned(),
        runner: Runner::Plan {
            plan,
            features: features_ix,
            sequence: sequence_ix,
        },
        normalization,
        reading,
        output_name: name,
        metadata,
        not_native,
    })
}

#[cfg(feature = "tract")]
fn assign_inputs(
    names: &[String],
    opts: &InputOptions,
    spec: &FeatureSpec,
) -> Result<(usize, Option<usize>), String> {
    let find = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| format!("has no input named `{n}` (inputs: {})", names.join(", ")))
    };
    let seq_name = opts.sequence.as_deref().unwrap_or("sequence");
    match names.len() {
        1 => Ok((0, None)),
        2 => {
            if spec.sequence_length == 0 {
                return Err(
                    "has two inputs but the feature spec has no sequence (set sequence_length)"
                        .into(),
                );
            }
            let seq = find(seq_name)?;
            let feat = match &opts.features {
                Some(n) => find(n)?,
                None => 1 - seq,
            };
            if feat == seq {
                return Err("features and sequence inputs are the same".into());
            }
            Ok((feat, Some(seq)))
        }
        n => Err(format!(
            "has {n} inputs; edgeintent feeds one feature input and an optional sequence input"
        )),
    }
}

#[cfg(feature = "tract")]
fn choose_output(
    outputs: &[OutputFact],
    opts: &OutputOptions,
) -> Result<(usize, String, Reading), String> {
    let all = || {
        outputs
            .iter()
            .map(|o| format!("{} {}", o.name, o.describe))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pick = match &opts.name {
        Some(wanted) => outputs
            .iter()
            .position(|o| &o.name == wanted)
            .ok_or_else(|| format!("has no output named `{wanted}` (outputs: {})", all()))?,
        None => {
            let floats = || outputs.iter().enumerate().filter(|(_, o)| o.is_f32);
            floats()
                .find(|(_, o)| o.name.to_lowercase().contains("prob"))
                .or_else(|| floats().next())
                .map(|(i, _)| i)
                .ok_or_else(|| {
                    format!(
                        "has no f32 output to read a score from (outputs: {})",
                        all()
                    )
                })?
        }
    };
    let out = &outputs[pick];
    if !out.is_f32 {
        return Err(format!(
            "output `{}` is {}; the score output must be f32",
            out.name, out.describe
        ));
    }
    let shape = out.shape.as_ref().ok_or_else(|| {
        format!(
            "output `{}` has a symbolic shape {}",
            out.name, out.describe
        )
    })?;
    let width: usize = shape.iter().product();
    let reading = reading_for(opts, &out.name, width)?;
    Ok((pick, out.name.clone(), reading))
}

/// How to read the score from an output of `width` values named `name`.
#[cfg(feature = "tract")]
fn reading_for(opts: &OutputOptions, name: &str, width: usize) -> Result<Reading, String> {
    let reading = match opts.kind {
        OutputKind::Probabilities => Reading::Column(opts.positive_index.unwrap_or(1)),
        OutputKind::Probability => Reading::Probability,
        OutputKind::Logit => Reading::Logit,
        OutputKind::Auto if width >= 2 => Reading::Column(opts.positive_index.unwrap_or(1)),
        OutputKind::Auto if name.to_lowercase().contains("logit") => Reading::Logit,
        OutputKind::Auto => Reading::Probability,
    };
    if let Reading::Column(i) = reading {
        if i >= width {
            return Err(format!(
                "output `{name}` has {width} values; positive_index {i} is out of range"
            ));
        }
    } else if width != 1 {
        return Err(format!(
            "output `{name}` has {width} values; a probability or logit output must have one"
        ));
    }
    Ok(reading)
}

#[cfg(all(test, feature = "tract"))]
mod tests {
    use super::*;
    use crate::model::test_spec as spec;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inputs_are_assigned_by_name_whatever_their_order() {
        let opts = InputOptions::default();
        assert_eq!(
            assign_inputs(&names(&["x"]), &opts, &spec(0)),
            Ok((0, None))
        );
        assert_eq!(
            assign_inputs(&names(&["sequence", "x"]), &opts, &spec(4)),
            Ok((1, Some(0)))
        );
        let named = InputOptions {
            features: Some("feats".into()),
            sequence: Some("events".into()),
        };
        assert_eq!(
            assign_inputs(&names(&["feats", "events"]), &named, &spec(4)),
            Ok((0, Some(1)))
        );
        let err = assign_inputs(&names(&["a", "b"]), &opts, &spec(0)).unwrap_err();
        assert!(err.contains("sequence_length"), "{err}");
        let err = assign_inputs(&names(&["a", "b"]), &opts, &spec(4)).unwrap_err();
        assert!(err.contains("no input named `sequence`"), "{err}");
        let err = assign_inputs(&names(&["a", "b", "c"]), &opts, &spec(4)).unwrap_err();
        assert!(err.contains("3 inputs"), "{err}");
    }

    #[test]
    fn garbage_bytes_are_a_parse_error_not_a_panic() {
        let s = spec(0);
        let opts = ModelOptions::for_path("x.onnx");
        for bytes in [&b""[..], b"\x08\x01\x12garbage", &[0xff; 64]] {
            let err = IntentModel::from_bytes(bytes, Path::new("x.onnx"), &opts, &s).unwrap_err();
            assert!(
                matches!(err, ModelError::Parse { .. } | ModelError::Panic { .. }),
                "{err}"
            );
        }
    }
}
