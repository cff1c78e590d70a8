//! A model file's package metadata read without building a plan: what
//! `predict` needs to compute what the runtime computes.

#[cfg(feature = "tract")]
use std::path::Path;

#[cfg(feature = "tract")]
use super::engine::header_of;
#[cfg(feature = "tract")]
use super::error::read_model;
#[cfg(feature = "tract")]
use super::error::ModelError;
#[cfg(feature = "tract")]
use super::metadata::{read_normalization, META_FEATURE_NAMES, META_NORMALIZATION};
use super::metadata::{ModelMetadata, Normalization};

/// What a model file's package metadata says about its input, read and checked
/// without building a plan: the feature names it was trained on and the
/// normalisation fitted in training (what `predict` needs to compute what the
/// runtime computes).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPackage {
    metadata: ModelMetadata,
    inputs: Vec<String>,
    feature_names: Option<Vec<String>>,
    normalization: Option<Normalization>,
}

impl ModelPackage {
    /// Reads a model file's package metadata; a malformed entry is an error.
    #[cfg(feature = "tract")]
    pub fn read(path: &Path) -> Result<ModelPackage, ModelError> {
        let bytes = read_model(path)?;
        let (metadata, inputs) = header_of(&bytes, path)?;
        let feature_names = match metadata.get(META_FEATURE_NAMES) {
            None => None,
            Some(text) => Some(serde_json::from_str::<Vec<String>>(text).map_err(|e| {
                ModelError::Metadata {
                    path: path.to_owned(),
                    why: format!("`{META_FEATURE_NAMES}` is not a JSON string array: {e}"),
                }
            })?),
        };
        let width = match (&feature_names, metadata.get(META_NORMALIZATION)) {
            (Some(names), _) => names.len(),
            (None, Some(text)) => serde_json::from_str::<Normalization>(text)
                .map(|n| n.len())
                .unwrap_or(0),
            (None, None) => 0,
        };
        let normalization = read_normalization(&metadata, path, width)?;
        Ok(ModelPackage {
            metadata,
            inputs,
            feature_names,
            normalization,
        })
    }

    /// Every metadata entry.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The graph's input names, in order.
    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }

    /// The feature names it was trained on, in input order (`edgeintent.feature_names`).
    pub fn feature_names(&self) -> Option<&[String]> {
        self.feature_names.as_deref()
    }

    /// The normalisation to apply to raw features (`edgeintent.normalization`).
    pub fn normalization(&self) -> Option<&Normalization> {
        self.normalization.as_ref()
    }
}
