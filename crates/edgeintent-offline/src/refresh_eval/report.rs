//! Tallies summed into a report: each policy's figures, the fixed-interval
//! curve and what the configured policy saves at its own recall.

use serde::Serialize;

use edgeintent::{Event, EventKind};

use crate::error::{Error, OfflineError};

use super::candidates::{Candidate, PolicyKind};
use super::tally::{run_one, Loop, PolicyMetrics, Tally};
use super::truth::Truth;

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// One trace and its truth.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where the trace came from (for messages).
    pub name: String,
    /// Its events in order.
    pub events: Vec<Event>,
    /// Its ground truth.
    pub truth: Truth,
}

/// How our policy compares with the fixed-interval curve.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Requests per hour the fixed-interval curve needs to reach our recall
    /// (linear interpolation between its points; `None` when no fixed interval
    /// reaches it).
    pub fixed_requests_per_hour_at_our_recall: Option<f64>,
    /// `1 - ours / that`: the share of requests we save at equal recall.
    pub request_reduction_at_equal_recall: Option<f64>,
    /// When our recall is above every fixed interval's: `1 - ours / (the
    /// requests of the fixed interval with the highest recall)`, a lower
    /// bound on the saving at equal recall (that timer still falls short).
    pub request_reduction_above_the_curve: Option<f64>,
    /// The fixed-interval curve's recall at our requests per hour (`None`
    /// when we make fewer requests than every fixed interval).
    pub fixed_recall_at_our_requests: Option<f64>,
    /// Our recall minus that.
    pub recall_gain_at_equal_requests: Option<f64>,
    /// The fixed interval nearest to our recall.
    pub nearest_fixed: String,
    /// `1 - ours / per-notification` for asynchronous requests per notification.
    pub async_reduction: Option<f64>,
    /// What the model adds, at equal recall: the requests per hour of the
    /// policy without its model, less those of the policy with it (its
    /// threshold curve, ours and the sweep, interpolated at the no-model
    /// policy's recall), as a share of the fixed curve's requests there. In
    /// points of "requests saved"; negative when the model costs. `None`
    /// without a model, or when the curve does not reach that recall.
    pub model_adds_at_equal_recall: Option<f64>,
}

/// Everything `evaluate` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Traces evaluated.
    pub traces: Vec<String>,
    /// Events replayed per policy.
    pub events: u64,
    /// Whether the simulated user reacted to refreshes.
    #[serde(rename = "loop")]
    pub mode: Loop,
    /// One entry per policy (ours first, then sweeps, then baselines).
    pub policies: Vec<PolicyMetrics>,
    /// Ours against the baselines.
    pub comparison: Comparison,
}

/// Piecewise-linear interpolation of `y` at `x` over points sorted by `x`.
pub(super) fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let first = points.first()?;
    let last = points.last()?;
    if x < first.0 || x > last.0 {
        return None;
    }
    points
        .windows(2)
        .find_map(|w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            (x0 <= x && x <= x1).then(|| {
                if x1 > x0 {
                    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
                } else {
                    y0.min(y1)
                }
            })
        })
        .or_else(|| (points.len() == 1 && x == first.0).then_some(first.1))
}

pub(super) fn compare(policies: &[PolicyMetrics]) -> Comparison {
    let ours = &policies[0];
    let mut fixed: Vec<&PolicyMetrics> = policies
        .iter()
        .filter(|p| p.kind == Some(PolicyKind::FixedInterval))
        .collect();
    // Recall → requests and requests → recall, each sorted by its x.
    fixed.sort_by(|a, b| a.recall.total_cmp(&b.recall));
    let by_recall: Vec<(f64, f64)> = fixed
        .iter()
        .map(|p| (p.recall, p.requests_per_hour))
        .collect();
    let mut by_requests: Vec<(f64, f64)> = fixed
        .iter()
        .map(|p| (p.requests_per_hour, p.recall))
        .collect();
    by_requests.sort_by(|a, b| a.0.total_cmp(&b.0));
    let req_at = interpolate(&by_recall, ours.recall);
    let recall_at = interpolate(&by_requests, ours.requests_per_hour);
    let nearest = fixed
        .iter()
        .min_by(|a, b| {
            (a.recall - ours.recall)
                .abs()
                .total_cmp(&(b.recall - ours.recall).abs())
        })
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let per_note = policies
        .iter()
        .find(|p| p.kind == Some(PolicyKind::PerNotification));
    let above = fixed
        .last()
        .filter(|best| ours.recall > best.recall && best.requests_per_hour > 0.0)
        .map(|best| 1.0 - ours.requests_per_hour / best.requests_per_hour);
    Comparison {
        fixed_requests_per_hour_at_our_recall: req_at,
        request_reduction_at_equal_recall: req_at
            .filter(|&r| r > 0.0)
            .map(|r| 1.0 - ours.requests_per_hour / r),
        request_reduction_above_the_curve: above,
        fixed_recall_at_our_requests: recall_at,
        recall_gain_at_equal_requests: recall_at.map(|r| ours.recall - r),
        nearest_fixed: nearest,
        async_reduction: per_note
            .filter(|p| p.async_per_notification > 0.0)
            .map(|p| 1.0 - ours.async_per_notification / p.async_per_notification),
        model_adds_at_equal_recall: model_adds(policies, &by_recall),
    }
}

/// [`Comparison::model_adds_at_equal_recall`] from the policies and the
/// fixed curve (recall → requests per hour).
pub(super) fn model_adds(
    policies: &[PolicyMetrics],
    fixed_by_recall: &[(f64, f64)],
) -> Option<f64> {
    let without = policies
        .iter()
        .find(|p| p.kind == Some(PolicyKind::OursNoModel))?;
    let mut curve: Vec<(f64, f64)> = policies
        .iter()
        .filter(|p| matches!(p.kind, Some(PolicyKind::Ours | PolicyKind::OursSweep)))
        .map(|p| (p.recall, p.requests_per_hour))
        .collect();
    curve.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    // Where thresholds tie on recall, the cheapest one stands for it.
    curve.dedup_by(|later, earlier| later.0 == earlier.0);
    let with = interpolate(&curve, without.recall)?;
    let fixed = interpolate(fixed_by_recall, without.recall)
        .or_else(|| fixed_by_recall.last().map(|p| p.1))
        .filter(|&f| f > 0.0)?;
    Some((without.requests_per_hour - with) / fixed)
}

/// [`evaluate_with`] in the open loop: the truth as recorded.
pub fn evaluate(
    candidates: &[Candidate],
    scenarios: &[Scenario],
    progress: impl FnMut(u64),
) -> Result<Report, Error> {
    evaluate_with(candidates, scenarios, Loop::Open, progress)
}

/// Replays every scenario through every candidate and scores them.
/// `progress` receives the number of events processed since its last call.
pub fn evaluate_with(
    candidates: &[Candidate],
    scenarios: &[Scenario],
    mode: Loop,
    mut progress: impl FnMut(u64),
) -> Result<Report, Error> {
    if candidates.first().map(|c| c.kind) != Some(PolicyKind::Ours) {
        return Err(OfflineError::FirstCandidateNotOurs.into());
    }
    let home_view = |e: &Event| matches!(&e.kind, EventKind::PageView { page } if page == "home");
    if !scenarios.iter().any(|s| s.events.iter().any(home_view)) {
        return Err(no_home_views());
    }
    let mut tallies = vec![Tally::default(); candidates.len()];
    for (cand, t) in candidates.iter().zip(&mut tallies) {
        for sc in scenarios {
            run_one(cand, &sc.events, &sc.truth, mode, t, &mut progress)?;
        }
    }
    let totals = Totals {
        traces: scenarios.iter().map(|s| s.name.clone()).collect(),
        events: scenarios.iter().map(|s| s.events.len() as u64).sum(),
    };
    report_from_tallies(candidates, &tallies, totals, mode)
}

/// Scores one trace under every candidate: one [`Tally`] per candidate, in order.
pub fn tally_scenario(
    candidates: &[Candidate],
    scenario: &Scenario,
    mode: Loop,
) -> Result<Vec<Tally>, Error> {
    candidates
        .iter()
        .map(|cand| {
            let mut t = Tally::default();
            run_one(
                cand,
                &scenario.events,
                &scenario.truth,
                mode,
                &mut t,
                &mut |_| {},
            )?;
            Ok(t)
        })
        .collect()
}

pub(super) fn no_home_views() -> Error {
    Error::NothingTo {
        input: "the traces".into(),
        missing: "home page views (`page_view` with page \"home\")",
        task: "evaluate a refresh policy on",
    }
}

/// What a report says of its inputs besides the counts.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Names of the traces evaluated.
    pub traces: Vec<String>,
    /// Events in them.
    pub events: u64,
}

/// The report for `candidates` from their summed counts (`tallies[i]` for
/// `candidates[i]`, e.g. [`Tally::merge`]d over many machines' traces).
pub fn report_from_tallies(
    candidates: &[Candidate],
    tallies: &[Tally],
    totals: Totals,
    mode: Loop,
) -> Result<Report, Error> {
    if candidates.first().map(|c| c.kind) != Some(PolicyKind::Ours) {
        return Err(OfflineError::FirstCandidateNotOurs.into());
    }
    if tallies.len() != candidates.len() {
        return Err(OfflineError::TallyCount {
            tallies: tallies.len(),
            candidates: candidates.len(),
        }
        .into());
    }
    if tallies.iter().all(|t| t.views == 0) {
        return Err(no_home_views());
    }
    let mut policies = Vec::with_capacity(candidates.len());
    for (cand, t) in candidates.iter().zip(tallies) {
        let t = t.clone();
        let hours = t.fg_ms as f64 / 3.6e6;
        policies.push(PolicyMetrics {
            name: cand.name.clone(),
            kind: Some(cand.kind),
            interval_s: (cand.kind == PolicyKind::FixedInterval)
                .then_some(cand.config.policy().fallback_interval_s),
            threshold: matches!(cand.kind, PolicyKind::Ours | PolicyKind::OursSweep)
                .then(|| cand.config.policy().threshold),
            requests: t.requests,
            foreground_hours: hours,
            requests_per_hour: ratio(t.requests as f64, hours),
            useful_requests: t.useful,
            precision: ratio(t.useful as f64, t.requests as f64),
            home_views: t.views,
            shifts_seen: t.shifts_seen,
            shifts_served: t.shifts_served,
            recall: ratio(t.shifts_served as f64, t.shifts_seen as f64),
            views_needing_fresh: t.needing,
            views_served: t.served,
            view_recall: ratio(t.served as f64, t.needing as f64),
            mean_staleness_s: ratio(t.staleness_ms / 1000.0, t.staleness_n as f64),
            notifications: t.notifications,
            async_requests: t.async_requests,
            async_per_notification: ratio(t.async_requests as f64, t.notifications as f64),
            by_reason: t.by_reason,
        });
    }
    Ok(Report {
        traces: totals.traces,
        events: totals.events,
        mode,
        comparison: compare(&policies),
        policies,
    })
}

/// The report as a plain-text table.
pub fn render_table(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if r.mode == Loop::Closed {
        s.push_str("closed loop: a need ends at the first home view showing content refreshed after it began\n");
    }
    let _ = writeln!(
        s,
        "{:<18} {:>9} {:>9} {:>8} {:>11} {:>11} {:>9}",
        "policy", "req/hour", "precision", "recall", "view_recall", "staleness_s", "async/ntf"
    );
    for p in &r.policies {
        let _ = writeln!(
            s,
            "{:<18} {:>9.2} {:>9.3} {:>8.3} {:>11.3} {:>11.1} {:>9.3}",
            p.name,
            p.requests_per_hour,
            p.precision,
            p.recall,
            p.view_recall,
            p.mean_staleness_s,
            p.async_per_notification
        );
    }
    let c = &r.comparison;
    let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{:+.1}%", v * 100.0));
    let _ = writeln!(
        s,
        "\nours vs the fixed-interval curve ({} traces, {} events):",
        r.traces.len(),
        r.events
    );
    match c.request_reduction_above_the_curve {
        Some(v) => {
            let _ = writeln!(
                s,
                "  requests saved at equal recall:   at least {} (no fixed interval reaches our recall; \
                 this is against the one that comes closest)",
                pct(Some(v))
            );
        }
        None => {
            let _ = writeln!(
                s,
                "  requests saved at equal recall:   {} (fixed needs {} req/hour)",
                pct(c.request_reduction_at_equal_recall),
                c.fixed_requests_per_hour_at_our_recall
                    .map_or("n/a".into(), |v| format!("{v:.2}"))
            );
        }
    }
    let _ = writeln!(
        s,
        "  recall gained at equal requests:  {} (fixed reaches {})",
        c.recall_gain_at_equal_requests
            .map_or("n/a".into(), |v| format!("{:+.3}", v)),
        c.fixed_recall_at_our_requests
            .map_or("n/a".into(), |v| format!("{v:.3}"))
    );
    let _ = writeln!(s, "  nearest fixed interval by recall: {}", c.nearest_fixed);
    if let Some(v) = c.model_adds_at_equal_recall {
        let _ = writeln!(
            s,
            "  the model adds {:+.1} points at equal recall (against the same policy without it)",
            v * 100.0
        );
    }
    let _ = writeln!(
        s,
        "  async requests vs one per notification: {}",
        pct(c.async_reduction.map(|v| -v))
    );
    s
}
