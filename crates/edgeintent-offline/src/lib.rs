//! edgeintent's offline tools, never in the device library: replay,
//! featurize, the refresh, geofence and de-duplication evaluations,
//! timelines, conformance and the benchmark harness, and the `edgeintent`
//! command over them. Everything here drives the same [`edgeintent::Runtime`]
//! an app embeds, so offline results are what the app would do.

pub mod bench;
pub mod conformance;
mod dedup_eval;
mod error;
pub mod featurize;
mod files;
pub mod geo_eval;
pub mod refresh_eval;
pub mod replay;
pub mod timeline;
pub mod updates;

pub use dedup_eval::{dedup_eval, DedupReport};
pub use error::{Error, OfflineError};
pub use featurize::{
    feature_columns, featurize, featurize_user, spec_identity, FeatureRows, FeaturizeOptions,
    FeaturizeSummary, Featurizer,
};
pub use replay::{
    load_trace, replay, replay_with_updates, LoadedTrace, ReadCounts, ReadOptions, ReplaySummary,
    TraceItem,
};
pub use timeline::{
    page_file_name, replay_timeline, timeline_html, timeline_index_html, trace_events_json,
    IndexEntry, Timeline,
};
pub use updates::{UpdateRecord, UpdateSchedule};
