//! The small types every part of the runtime shares: decision points,
//! what observers of them receive, the decision callback, the model's
//! status, the counters.

use serde::Serialize;

use crate::decision::{Action, Decision, REASON_COUNT};

/// A moment at which the runtime considers refreshing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionPoint {
    /// The app came to the foreground.
    Foreground,
    /// The homepage was viewed.
    HomeView,
    /// A periodic tick while the homepage is shown.
    Tick,
}

impl DecisionPoint {
    /// Name used in featurized data.
    pub fn name(self) -> &'static str {
        match self {
            DecisionPoint::Foreground => "foreground",
            DecisionPoint::HomeView => "home_view",
            DecisionPoint::Tick => "tick",
        }
    }
}

/// A callback receiving every decision as it is made.
pub type DecisionCallback = Box<dyn FnMut(&Decision) + Send>;

/// What happened at one decision point, handed to an observer set with
/// [`crate::RuntimeBuilder::on_decision_point`] after the decision (the
/// training rows of `featurize` and the timeline are cut from these).
#[derive(Debug, Clone, Copy)]
pub struct PointRecord<'a> {
    /// When (event clock, ms).
    pub ts_ms: i64,
    /// Which kind of decision point.
    pub point: DecisionPoint,
    /// The features as the model saw them (raw, before normalisation).
    pub features: &'a [f32],
    /// The last-N event-type ids (empty without a sequence in the spec).
    pub sequence: &'a [f32],
    /// The model's score, when a model ran (an observer makes it run at
    /// every point).
    pub score: Option<f32>,
}

/// An observer of decision points (see [`PointRecord`]).
pub(crate) type PointObserver = Box<dyn FnMut(&PointRecord<'_>) + Send>;

/// Whether the runtime has a model to consult.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum ModelStatus {
    /// A model is loaded (its path).
    Loaded(String),
    /// No model was configured (or it was switched off); rules decide.
    None,
    /// The configured model failed to load (the error); rules decide.
    Failed(String),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) processed: u64,
    pub(crate) rejected: u64,
    pub(crate) decision_points: u64,
    pub(crate) ticks: u64,
    pub(crate) suppressed: u64,
    pub(crate) model_calls: u64,
    pub(crate) model_errors: u64,
    pub(crate) decisions_dropped: u64,
    pub(crate) ticks_skipped: u64,
    pub(crate) restored_under_other_model: u64,
    pub(crate) by_reason: [u64; REASON_COUNT],
    pub(crate) by_action: [u64; Action::ALL.len()],
}
