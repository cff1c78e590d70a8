//! The model a runtime consults: a window model scored at decision points
//! or a recurrent one stepped per event, loaded as whichever kind the file
//! declares.

#[cfg(feature = "tract")]
use super::eim;
#[cfg(feature = "tract")]
use super::engine::metadata_of;
use super::error::{read_model, ModelError};
use super::intent::IntentModel;
use super::metadata::ModelMetadata;
use super::options::ModelOptions;
#[cfg(feature = "tract")]
use super::recurrent::{self, RecurrentModel};
use crate::features::FeatureSpec;

/// The loaded model: scored on a feature vector at decision points, or stepped
/// once per event with its state carried.
// One per runtime, so the size difference costs nothing; a Box would add an
// indirection on every decision.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Scorer {
    /// Scored on the feature vector (and sequence) at decision points.
    Window(IntentModel),
    /// Stepped once per event, state carried.
    #[cfg(feature = "tract")]
    Stepped(RecurrentModel),
}

impl Scorer {
    /// The package metadata of the loaded model.
    pub(crate) fn metadata(&self) -> &ModelMetadata {
        match self {
            Scorer::Window(m) => m.metadata(),
            #[cfg(feature = "tract")]
            Scorer::Stepped(m) => m.metadata(),
        }
    }
}

/// Loads the configured model as whichever kind it declares.
pub(crate) fn load_scorer(opts: &ModelOptions, spec: &FeatureSpec) -> Result<Scorer, ModelError> {
    let bytes = read_model(&opts.path)?;
    load_scorer_bytes(&bytes, opts, spec)
}

/// Loads a model file's bytes (a live update) as whichever kind it declares;
/// `opts.path` names it in errors.
pub(crate) fn load_scorer_bytes(
    bytes: &[u8],
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<Scorer, ModelError> {
    // Without tract every model is a package (an ONNX file is refused there).
    #[cfg(not(feature = "tract"))]
    return IntentModel::from_bytes(bytes, &opts.path, opts, spec).map(Scorer::Window);
    #[cfg(feature = "tract")]
    {
        if eim::is_eim(bytes) {
            return IntentModel::from_bytes(bytes, &opts.path, opts, spec).map(Scorer::Window);
        }
        let meta = metadata_of(bytes, &opts.path)?;
        match recurrent::declared(opts, &meta, &opts.path)? {
            Some(rec) => RecurrentModel::from_bytes(bytes, opts, spec, &rec).map(Scorer::Stepped),
            None => IntentModel::from_bytes(bytes, &opts.path, opts, spec).map(Scorer::Window),
        }
    }
}
