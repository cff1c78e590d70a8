//! Models, in layers from the bottom: the shared types (`error`, `options`,
//! `metadata`, `tensors`, `report`); the native executor (`native`), which
//! needs nothing above; the tract boundary (`engine`, with the operators
//! added to tract's importer in `ops`); and above them what the runtime and
//! the tools use: `.eim` packages (`eim`), the intent model (`intent`),
//! recurrent stepping (`recurrent`), whole graphs (`graph`), `inspect`, the
//! package reader (`package`) and the scorer a runtime holds (`scorer`).
//! Only `engine` and `ops` touch tract; with the `tract` feature off the
//! native executor runs `.eim` packages alone. Nothing here panics outward:
//! every failure is a [`ModelError`].

pub(crate) mod eim;
#[cfg(feature = "tract")]
mod engine;
mod error;
#[cfg(feature = "tract")]
mod graph;
#[cfg(feature = "tract")]
mod inspect;
mod intent;
mod metadata;
pub(crate) mod native;
#[cfg(feature = "tract")]
pub(crate) mod ops;
mod options;
mod package;
#[cfg(feature = "tract")]
mod recurrent;
mod recurrent_options;
#[cfg(feature = "tract")]
mod report;
mod scorer;
#[cfg(feature = "tract")]
mod tensors;

pub use error::ModelError;
#[cfg(feature = "tract")]
pub use graph::{Importer, NativeModel, OnnxGraph, TensorGraph};
#[cfg(feature = "tract")]
pub use inspect::{check_input_shapes, declared_inputs, inspect};
pub use intent::IntentModel;
pub use metadata::{
    ModelMetadata, Normalization, META_FEATURE_NAMES, META_MODEL_VERSION, META_NORMALIZATION,
    META_SPEC_HASH, META_SPEC_VERSION,
};
#[cfg(feature = "tract")]
pub use ops::importer as onnx_importer;
pub use options::{InputOptions, ModelOptions, OutputKind, OutputOptions};
pub use package::ModelPackage;
#[cfg(feature = "tract")]
pub use recurrent::RecurrentModel;
pub use recurrent_options::{RecurrentOptions, META_RECURRENT};
#[cfg(feature = "tract")]
pub use report::{ModelReport, OpInfo, TensorInfo};
pub(crate) use scorer::{load_scorer, load_scorer_bytes, Scorer};
#[cfg(feature = "tract")]
pub use tensors::{GraphOutput, OutputValues, TensorData, TensorValue};

#[cfg(test)]
use crate::features::FeatureSpec;

/// A two-feature spec with a sequence of `seq` events, for the model tests.
#[cfg(test)]
pub(crate) fn test_spec(seq: usize) -> FeatureSpec {
    FeatureSpec::from_json(&format!(
        r#"{{"version":"t","sequence_length":{seq},"features":[{{"name":"a","kind":"home_visible"}},{{"name":"b","kind":"home_visible"}}]}}"#
    ))
    .unwrap()
}
