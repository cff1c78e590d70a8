//! On-device monitoring: the reference profile a model package carries
//! (fixed-bin histograms of every feature and of the score, and the event
//! mix of the training data), and streaming monitors that compare the live
//! stream with it: the population stability index per feature and for the
//! score over a rolling window of decision points, the share of each event
//! type, refreshes per hour, model latency and errors, and jumps in the
//! event clock. A monitor that crosses its threshold raises one alert, and
//! another only after it has recovered. Everything is preallocated: O(1) per
//! event, O(features) per decision point, no allocation.

mod alerts;
mod build;
mod config;
mod history;
mod own;
mod persist;
mod profile;
mod report;
mod state;
mod watch;
mod window;

#[cfg(test)]
mod tests;

pub use config::{MonitorConfig, MonitorKind};
pub use profile::{
    FeatureHistogram, Histogram, Natural, ReferenceProfile, Surprise, FIELDS, MAX_BINS,
    META_REFERENCE_PROFILE, PROFILE_VERSION,
};
pub use report::{Alert, LiveHistogram, MonitorState, MonitorStats, ProfileDistance};
pub(crate) use state::{Monitor, MonitorSaved};
pub(crate) use window::ModelCall;
