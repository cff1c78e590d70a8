//! Offline evaluation of refresh policies against ground truth: replays traces
//! through the same [`edgeintent::Runtime`] an app embeds, once for the configured policy
//! and once for each baseline, and scores the refreshes against the moments
//! the user needed fresh content (`want_fresh` intervals of the truth file).
//!
//! Metrics, per policy, summed over every trace:
//! * `requests_per_hour`: refresh requests per hour the app was in the foreground;
//! * `precision` (useful-refresh precision): the share of requests that were the
//!   first refresh inside a `want_fresh` interval (start and end included);
//! * `recall` (the judged figure): of the interest shifts (`interest_shift`
//!   records; the starts of `want_fresh` intervals in truth files without
//!   them), the share whose first home view afterwards showed content
//!   refreshed at or after the shift, a refresh up to [`GRACE_MS`] after that
//!   view included (the view's own request lands a moment later). A shift
//!   whose first home view comes after the next shift is folded into it;
//!   one never followed by a home view is not counted;
//! * `view_recall`: of the home views inside a `want_fresh` interval, the
//!   share that saw content refreshed at or after the interval's start;
//! * `mean_staleness_s`: the mean age of the content at home views;
//! * `async_per_notification`: requests made because of a server notification
//!   (reason `trigger:notification`), per notification received.

mod candidates;
mod report;
mod tally;
mod truth;

#[cfg(test)]
mod tests;

pub use candidates::{
    candidates, evaluation_candidates, rollout_candidates, Candidate, PolicyKind,
    FIXED_INTERVALS_S, MODEL_SWEEP,
};
pub(crate) use report::ratio;
pub use report::{
    evaluate, evaluate_with, render_table, report_from_tallies, tally_scenario, Comparison, Report,
    Scenario, Totals,
};
pub use tally::{Loop, PolicyMetrics, Tally, GRACE_MS};
pub use truth::Truth;
