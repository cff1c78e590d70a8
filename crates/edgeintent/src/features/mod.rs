//! Features: the declarative, versioned, hashed spec (`spec`) and the
//! incremental state (`state`) that turns events into a feature vector in O(1)
//! per event. The same code featurizes traces for training and scores live
//! sessions, so the two cannot drift. It never allocates after construction and
//! never reads the clock.

mod spec;
mod state;

pub use spec::{CyclicPart, FeatureDef, FeatureKind, FeatureSpec, SpecError, Weight, OTHER_PAGE};
pub use state::FeatureState;
