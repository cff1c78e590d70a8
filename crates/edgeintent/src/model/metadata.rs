//! The model package's metadata: what an ONNX file (or `.eim` package)
//! carries so that it can be used safely (feature-spec hash and names,
//! normalisation), and the checks against the runtime's feature spec.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::options::ModelOptions;
use crate::features::FeatureSpec;

/// Metadata key (in ONNX `metadata_props`) holding the feature-spec hash.
pub const META_SPEC_HASH: &str = "edgeintent.feature_spec_hash";

/// Metadata key holding the feature-spec version.
pub const META_SPEC_VERSION: &str = "edgeintent.feature_spec_version";

/// Metadata key holding the feature names as a JSON array.
pub const META_FEATURE_NAMES: &str = "edgeintent.feature_names";

/// Metadata key holding `{"mean": [...], "scale": [...]}` fitted in training.
pub const META_NORMALIZATION: &str = "edgeintent.normalization";

/// Metadata key holding the model's own version label.
pub const META_MODEL_VERSION: &str = "edgeintent.model_version";

/// The model-package metadata edgeintent reads from `metadata_props`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMetadata {
    /// Every `metadata_props` entry, by key.
    pub props: BTreeMap<String, String>,
    /// Producer name and version, from the ONNX header.
    pub producer: String,
}

impl ModelMetadata {
    /// The value of one metadata key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }
}

/// Per-feature affine normalisation fitted in training: `(x - mean) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Subtracted from each feature.
    pub mean: Vec<f32>,
    /// Each feature is divided by this (non-zero).
    pub scale: Vec<f32>,
}

impl Normalization {
    /// Writes the normalised `src` into `dst`: `(x - mean) / scale` per feature.
    /// Both hold one row of as many features as the normalisation has.
    pub fn apply(&self, src: &[f32], dst: &mut [f32]) {
        let params = self.mean.iter().zip(&self.scale);
        for ((d, s), (m, k)) in dst.iter_mut().zip(src).zip(params) {
            *d = (s - m) / k;
        }
    }

    /// Normalises whole rows in place: `values` holds rows of as many
    /// features as the normalisation has, one after another.
    pub fn apply_rows(&self, values: &mut [f32]) {
        if self.mean.is_empty() {
            return;
        }
        for row in values.chunks_exact_mut(self.mean.len()) {
            for ((x, m), k) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = (*x - m) / k;
            }
        }
    }

    /// Writes `src` into `dst`, normalised when `norm` is given, copied
    /// otherwise; an input of another length than `dst` is an error.
    pub(crate) fn apply_or_copy(
        norm: Option<&Normalization>,
        src: &[f32],
        dst: &mut [f32],
    ) -> Result<(), ModelError> {
        if dst.len() != src.len() {
            return Err(ModelError::Engine(format!(
                "input holds {} values, got {}",
                dst.len(),
                src.len()
            )));
        }
        match norm {
            Some(n) => n.apply(src, dst),
            None => dst.copy_from_slice(src),
        }
        Ok(())
    }

    /// Features it normalises.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether it normalises no feature.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }
}

pub(crate) fn check_spec(
    meta: &ModelMetadata,
    path: &Path,
    opts: &ModelOptions,
    spec: &FeatureSpec,
) -> Result<(), ModelError> {
    let meta_err = |why: String| ModelError::Metadata {
        path: path.to_owned(),
        why,
    };
    match meta.get(META_SPEC_HASH) {
        Some(h) if h == spec.hash() => {}
        Some(h) => {
            return Err(ModelError::SpecMismatch {
                path: path.to_owned(),
                model_hash: h.to_owned(),
                model_version: meta.get(META_SPEC_VERSION).unwrap_or("?").to_owned(),
                runtime_hash: spec.hash(),
                runtime_version: spec.version.clone(),
            })
        }
        None if opts.require_spec_hash => {
            return Err(meta_err(format!(
                "metadata has no `{META_SPEC_HASH}`, so the features it expects cannot be checked; \
                 export it with training/export.py, or set model.require_spec_hash to false at your own risk"
            )))
        }
        None => {}
    }
    if let Some(text) = meta.get(crate::monitor::META_REFERENCE_PROFILE) {
        let ours: Vec<&str> = spec.names().collect();
        crate::monitor::ReferenceProfile::parse(text, &ours).map_err(|why| {
            meta_err(format!(
                "`{}`: {why}",
                crate::monitor::META_REFERENCE_PROFILE
            ))
        })?;
    }
    if let Some(names) = meta.get(META_FEATURE_NAMES) {
        let names: Vec<String> = serde_json::from_str(names).map_err(|e| {
            meta_err(format!(
                "`{META_FEATURE_NAMES}` is not a JSON string array: {e}"
            ))
        })?;
        let ours: Vec<&str> = spec.names().collect();
        if names.len() != ours.len() {
            return Err(meta_err(format!(
                "model expects {} features, the spec has {}",
                names.len(),
                ours.len()
            )));
        }
        if let Some((i, (m, r))) = names
            .iter()
            .zip(&ours)
            .enumerate()
            .find(|(_, (m, r))| m != *r)
        {
            return Err(meta_err(format!(
                "feature #{i} is `{m}` in the model but `{r}` in the spec"
            )));
        }
    }
    Ok(())
}

pub(super) fn read_normalization(
    meta: &ModelMetadata,
    path: &Path,
    width: usize,
) -> Result<Option<Normalization>, ModelError> {
    let Some(text) = meta.get(META_NORMALIZATION) else {
        return Ok(None);
    };
    let bad = |why: String| ModelError::Metadata {
        path: path.to_owned(),
        why: format!("`{META_NORMALIZATION}`: {why}"),
    };
    let n: Normalization = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if n.mean.len() != width || n.scale.len() != width {
        return Err(bad(format!(
            "has {} means and {} scales for {width} features",
            n.mean.len(),
            n.scale.len()
        )));
    }
    if n.mean.iter().any(|m| !m.is_finite()) || n.scale.iter().any(|s| !s.is_finite() || *s == 0.0)
    {
        return Err(bad(
            "means must be finite and scales finite and non-zero".into()
        ));
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_spec as spec;

    fn meta(key: &str, value: &str) -> ModelMetadata {
        ModelMetadata {
            props: [(key.to_owned(), value.to_owned())].into_iter().collect(),
            producer: String::new(),
        }
    }

    #[test]
    fn normalization_must_fit_the_spec_and_be_usable() {
        let p = Path::new("m.onnx");
        let ok = meta(META_NORMALIZATION, r#"{"mean":[1,2],"scale":[0.5,4]}"#);
        let n = read_normalization(&ok, p, 2).unwrap().unwrap();
        assert_eq!(n.scale, [0.5, 4.0]);
        assert_eq!(
            read_normalization(&ModelMetadata::default(), p, 2),
            Ok(None)
        );
        for bad in [
            r#"{"mean":[1],"scale":[1]}"#,
            r#"{"mean":[1,2],"scale":[1,0]}"#,
            r#"{"mean":[1,2]}"#,
        ] {
            let err = read_normalization(&meta(META_NORMALIZATION, bad), p, 2).unwrap_err();
            assert!(err.to_string().contains(META_NORMALIZATION), "{bad}: {err}");
        }
    }

    #[test]
    fn feature_names_are_checked_one_by_one() {
        let p = Path::new("m.onnx");
        let s = spec(0);
        let mut m = meta(META_FEATURE_NAMES, r#"["a","c"]"#);
        m.props.insert(META_SPEC_HASH.into(), s.hash());
        let opts = ModelOptions::for_path(p);
        let err = check_spec(&m, p, &opts, &s).unwrap_err().to_string();
        assert!(
            err.contains("feature #1 is `c` in the model but `b`"),
            "{err}"
        );
        let no_hash = ModelMetadata::default();
        assert!(check_spec(&no_hash, p, &opts, &s).is_err());
        let lax = ModelOptions {
            require_spec_hash: false,
            ..opts
        };
        assert!(check_spec(&no_hash, p, &lax, &s).is_ok());
    }
}
