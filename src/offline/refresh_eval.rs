//! Offline evaluation of refresh policies against ground truth: replays traces
//! through the same [`Runtime`] an app embeds, once for the configured policy
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

use std::io::BufRead;
use std::sync::Arc;

use super::updates::UpdateSchedule;
use super::{open, read_records, OfflineError};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::decision::{Action, Reason};
use crate::error::Error;
use crate::event::{Event, EventKind, EventType};
use crate::policy::PolicyConfig;
use crate::runtime::Runtime;
use crate::triggers::{TriggerAction, TriggerRule, TriggerWhen};

/// The fixed refresh intervals (seconds) the baselines use.
pub const FIXED_INTERVALS_S: [f64; 11] = [
    5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// How long after a shift's first home view a page refresh still counts as
/// shown at that view (the request a view triggers completes a moment later).
pub const GRACE_MS: i64 = 10_000;

/// Ground truth for one trace: when fresh content would have been useful.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// `[start_ms, end_ms]` of every `want_fresh` record, sorted by start.
    pub want_fresh: Vec<(i64, i64)>,
    /// `ts_ms` of every `interest_shift` record, sorted.
    pub shifts: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TruthRecord {
    WantFresh {
        start_ms: i64,
        end_ms: i64,
    },
    InterestShift {
        ts_ms: i64,
    },
    #[serde(other)]
    Other,
}

impl Truth {
    /// Reads a truth file (JSON Lines, see `training/generate.py`): records of
    /// `kind` `want_fresh` with `start_ms` and `end_ms`, and `interest_shift`
    /// with `ts_ms`; other kinds are ignored.
    pub fn from_reader(input: impl BufRead, origin: &str) -> Result<Truth, Error> {
        let mut want_fresh = Vec::new();
        let mut shifts = Vec::new();
        read_records(input, origin, |record, bad| {
            match record {
                TruthRecord::WantFresh { start_ms, end_ms } if end_ms < start_ms => {
                    return Err(bad(format!(
                        "want_fresh ends ({end_ms}) before it starts ({start_ms})"
                    )))
                }
                TruthRecord::WantFresh { start_ms, end_ms } => want_fresh.push((start_ms, end_ms)),
                TruthRecord::InterestShift { ts_ms } => shifts.push(ts_ms),
                TruthRecord::Other => {}
            }
            Ok(())
        })?;
        want_fresh.sort_unstable();
        shifts.sort_unstable();
        Ok(Truth { want_fresh, shifts })
    }

    /// Reads a truth file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Truth, Error> {
        Truth::from_reader(open(path)?, &path.display().to_string())
    }
}

/// Which family a policy under test belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// The configured policy (model, triggers, gate).
    Ours,
    /// The configured policy at another threshold (`--sweep-threshold`).
    OursSweep,
    /// The configured policy with its model switched off (rules and
    /// triggers alone): what the model adds.
    OursNoModel,
    /// Refresh at any decision point once content is older than a fixed interval.
    FixedInterval,
    /// Refresh at every app foreground and home view.
    EveryHomeView,
    /// Refresh on open when stale and once per server notification.
    PerNotification,
    /// The configured policy with a roll-out's updates applied, in one arm.
    RolloutArm,
}

/// One policy to replay: a runtime config and whether to load its model.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Display name.
    pub name: String,
    /// Its family.
    pub kind: PolicyKind,
    /// The runtime config it runs with.
    pub config: Config,
    /// Load the config's model (baselines run on rules alone).
    pub use_model: bool,
    /// Updates applied during each trace, and the roll-out arm this
    /// candidate stands for (`evaluate --updates`).
    pub rollout: Option<(Arc<UpdateSchedule>, String)>,
}

fn ptr_only() -> Vec<TriggerRule> {
    vec![TriggerRule {
        event: EventType::PullToRefresh,
        when: TriggerWhen::default(),
        action: TriggerAction::Refresh,
        debounce_s: 2.0,
        coalesce_s: 0.0,
    }]
}

/// The configured policy, its threshold sweep (each threshold must pass the
/// policy's validation, e.g. stay above the hysteresis), the policy without its
/// model (when it has one), and the baselines: fixed
/// intervals ([`FIXED_INTERVALS_S`]), every home view, and one request per
/// notification. Every baseline honours pull-to-refresh and ticks while the
/// homepage is shown like the configured policy.
pub fn candidates(ours: &Config, sweep: &[f32]) -> Result<Vec<Candidate>, Error> {
    let mut out = vec![Candidate {
        name: "ours".into(),
        kind: PolicyKind::Ours,
        config: ours.clone(),
        use_model: true,
        rollout: None,
    }];
    for &t in sweep {
        let policy = PolicyConfig {
            threshold: t,
            buckets: None,
            ..ours.policy().clone()
        };
        policy
            .validate()
            .map_err(|source| OfflineError::SweepThreshold {
                threshold: t,
                source,
            })?;
        let c = ours.clone().with_policy(policy)?;
        out.push(Candidate {
            name: format!("ours@{t}"),
            kind: PolicyKind::OursSweep,
            config: c,
            use_model: true,
            rollout: None,
        });
    }
    if ours.model().is_some() {
        out.push(Candidate {
            name: "ours, no model".into(),
            kind: PolicyKind::OursNoModel,
            config: ours.clone(),
            use_model: false,
            rollout: None,
        });
    }
    // Rules alone: no model, no cooldown, never stale by age alone.
    let rules = |fallback_s: f64, tick_s: f64, triggers: Vec<TriggerRule>| {
        ours.rules_baseline(fallback_s, tick_s, triggers)
    };
    let tick = ours.policy().tick_interval_s;
    for s in FIXED_INTERVALS_S {
        out.push(Candidate {
            name: format!("fixed {s}s"),
            kind: PolicyKind::FixedInterval,
            config: rules(s, tick, ptr_only())?,
            use_model: false,
            rollout: None,
        });
    }
    out.push(Candidate {
        name: "every home view".into(),
        kind: PolicyKind::EveryHomeView,
        config: rules(0.0, 0.0, ptr_only())?,
        use_model: false,
        rollout: None,
    });
    let mut per_note = ptr_only();
    per_note.push(TriggerRule {
        event: EventType::Notification,
        when: TriggerWhen::default(),
        action: TriggerAction::Refresh,
        debounce_s: 0.0,
        coalesce_s: 0.0,
    });
    out.push(Candidate {
        name: "per notification".into(),
        kind: PolicyKind::PerNotification,
        config: rules(ours.policy().max_staleness_s, 0.0, per_note)?,
        use_model: false,
        rollout: None,
    });
    Ok(out)
}

/// One candidate per arm of the roll-outs in `updates`: the configured
/// policy with the updates applied as they come, the device in that arm.
pub fn rollout_candidates(ours: &Config, updates: &Arc<UpdateSchedule>) -> Vec<Candidate> {
    updates
        .arms()
        .into_iter()
        .map(|arm| Candidate {
            name: format!("rollout: {arm}"),
            kind: PolicyKind::RolloutArm,
            config: ours.clone(),
            use_model: true,
            rollout: Some((Arc::clone(updates), arm)),
        })
        .collect()
}

/// Everything `edgeintent evaluate` compares, from its options: the
/// configured policy (at the threshold of `user_id`'s A/B bucket when the
/// policy has buckets), its sweep, the baselines ([`candidates`]), and one
/// candidate per arm of the staged roll-outs in `updates`.
pub fn evaluation_candidates(
    config: &Config,
    sweep: &[f32],
    user_id: Option<&str>,
    updates: Option<&Arc<UpdateSchedule>>,
) -> Result<Vec<Candidate>, Error> {
    if let Some(&t) = sweep.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(OfflineError::SweepOutOfRange(t).into());
    }
    let mut config = config.clone();
    if let (Some(id), Some(_)) = (user_id, &config.policy().buckets) {
        // Evaluate the bucket's threshold as "ours".
        let policy = PolicyConfig {
            threshold: config.policy().threshold_for(Some(id)).0,
            ..config.policy().clone()
        };
        config = config.with_policy(policy)?;
    }
    let mut all = candidates(&config, sweep)?;
    if let Some(schedule) = updates {
        let arms = rollout_candidates(&config, schedule);
        if arms.is_empty() {
            return Err(OfflineError::NoRolloutArms.into());
        }
        all.extend(arms);
    }
    Ok(all)
}

/// One policy's figures over every trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyMetrics {
    /// Display name.
    pub name: String,
    /// Its family.
    pub kind: Option<PolicyKind>,
    /// The fixed interval (fixed-interval baselines) in seconds.
    pub interval_s: Option<f64>,
    /// The score threshold (our policy).
    pub threshold: Option<f32>,
    /// Refresh requests (pages and slots).
    pub requests: u64,
    /// Hours the app was in the foreground.
    pub foreground_hours: f64,
    /// Requests per foreground hour.
    pub requests_per_hour: f64,
    /// Requests that were the first refresh inside a `want_fresh` interval.
    pub useful_requests: u64,
    /// `useful_requests / requests`.
    pub precision: f64,
    /// Interest shifts followed by a home view (before the next shift).
    pub shifts_seen: u64,
    /// Of those, shifts whose first home view afterwards showed content
    /// refreshed after the shift ([`GRACE_MS`] included).
    pub shifts_served: u64,
    /// `shifts_served / shifts_seen`: the judged recall.
    pub recall: f64,
    /// Home views.
    pub home_views: u64,
    /// Home views inside a `want_fresh` interval.
    pub views_needing_fresh: u64,
    /// Of those, views whose content was refreshed after the need began.
    pub views_served: u64,
    /// `views_served / views_needing_fresh`.
    pub view_recall: f64,
    /// Mean age of the content at home views, seconds.
    pub mean_staleness_s: f64,
    /// Server notifications received.
    pub notifications: u64,
    /// Requests made because of a notification.
    pub async_requests: u64,
    /// `async_requests / notifications`.
    pub async_per_notification: f64,
    /// Requests by reason.
    pub by_reason: std::collections::BTreeMap<String, u64>,
}

/// One policy's counts over some traces: what `evaluate` sums before it
/// divides, so evaluations split over many machines (Spark) add up to the
/// one over all traces ([`Tally::merge`], [`report_from_tallies`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Refresh requests.
    pub requests: u64,
    /// Requests that were the first inside a need.
    pub useful: u64,
    /// Foreground time, ms.
    pub fg_ms: i64,
    /// Home views.
    pub views: u64,
    /// Home views inside a need.
    pub needing: u64,
    /// Of those, served by a refresh after the need began.
    pub served: u64,
    /// Shifts followed by a home view.
    pub shifts_seen: u64,
    /// Of those, served.
    pub shifts_served: u64,
    /// Sum of the content's age at home views, ms (whole milliseconds, so
    /// sums are exact in any order).
    pub staleness_ms: f64,
    /// Home views with a refresh before them.
    pub staleness_n: u64,
    /// Notifications received.
    pub notifications: u64,
    /// Requests made because of a notification.
    pub async_requests: u64,
    /// Requests by reason.
    pub by_reason: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.useful += other.useful;
        self.fg_ms += other.fg_ms;
        self.views += other.views;
        self.needing += other.needing;
        self.served += other.served;
        self.shifts_seen += other.shifts_seen;
        self.shifts_served += other.shifts_served;
        self.staleness_ms += other.staleness_ms;
        self.staleness_n += other.staleness_n;
        self.notifications += other.notifications;
        self.async_requests += other.async_requests;
        for (reason, n) in &other.by_reason {
            *self.by_reason.entry(reason.clone()).or_default() += n;
        }
    }
}

/// Replays one trace through one policy and scores it against the truth.
/// `progress` is called with the number of events processed since its last call.
/// Whether the simulated user reacts to our refreshes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loop {
    /// The truth as recorded: a need lasts until the user found fresh content
    /// by themselves, whatever the policy did.
    #[default]
    Open,
    /// A need also ends at the first home view that shows content refreshed
    /// after the need began: refreshing at the right moment is credited, and
    /// the views after it no longer count as needing fresh content. (The
    /// trace's events stay as recorded.)
    Closed,
}

/// The want_fresh intervals, each cut (closed loop) at the first home view
/// at or after the first page refresh inside it.
fn closed_loop_needs(
    want: &[(i64, i64)],
    page_refreshes: &[i64],
    views: &[i64],
) -> Vec<(i64, i64)> {
    want.iter()
        .map(|&(s, e)| {
            let r = page_refreshes[page_refreshes.partition_point(|&r| r < s)..]
                .first()
                .copied()
                .filter(|&r| r < e);
            let shown = r.and_then(|r| views[views.partition_point(|&v| v < r)..].first().copied());
            // The view that shows fresh content is still inside the need (served).
            (s, shown.map_or(e, |v| e.min(v + 1)))
        })
        .collect()
}

/// The shifts a recall is computed over: the truth's `interest_shift`
/// records, or the starts of its needs when it has none.
fn shift_times(truth: &Truth) -> std::borrow::Cow<'_, [i64]> {
    if truth.shifts.is_empty() {
        let mut s: Vec<i64> = truth.want_fresh.iter().map(|&(s, _)| s).collect();
        s.dedup();
        std::borrow::Cow::Owned(s)
    } else {
        std::borrow::Cow::Borrowed(&truth.shifts)
    }
}

/// `(seen, served)` over sorted shifts, page refreshes and home views: a
/// shift is seen when a home view follows it before the next shift, and
/// served when a page refresh falls between the shift and that view
/// (plus [`GRACE_MS`]).
fn shift_recall(shifts: &[i64], page_refreshes: &[i64], views: &[i64]) -> (u64, u64) {
    let (mut seen, mut served) = (0, 0);
    for (i, &s) in shifts.iter().enumerate() {
        let Some(&v) = views[views.partition_point(|&v| v < s)..].first() else {
            break;
        };
        if shifts.get(i + 1).is_some_and(|&next| next <= v) {
            continue; // folded into the next shift
        }
        seen += 1;
        let r = page_refreshes.partition_point(|&r| r < s);
        served += u64::from(page_refreshes.get(r).is_some_and(|&r| r <= v + GRACE_MS));
    }
    (seen, served)
}

fn run_one(
    cand: &Candidate,
    events: &[Event],
    truth: &Truth,
    mode: Loop,
    tally: &mut Tally,
    progress: &mut dyn FnMut(u64),
) -> Result<(), Error> {
    let mut b = Runtime::builder().config(cand.config.clone());
    if !cand.use_model {
        b = b.without_model();
    }
    let schedule = match &cand.rollout {
        Some((s, arm)) => {
            b = b.force_arm(arm.clone());
            Some(s.as_ref())
        }
        None => None,
    };
    let mut rt = b.build()?;
    let mut cursor = schedule.map(|s| s.cursor());
    // Page refresh times (slot refreshes are requests but leave the page as is).
    let mut page_refreshes: Vec<i64> = Vec::new();
    let mut views: Vec<i64> = Vec::new();
    let mut fg_since: Option<i64> = None;
    let mut last_ts = 0;
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::AppForeground => {
                fg_since.get_or_insert(e.ts_ms);
            }
            EventKind::AppBackground => {
                if let Some(s) = fg_since.take() {
                    tally.fg_ms += e.ts_ms - s;
                }
            }
            EventKind::PageView { page } if page == "home" => views.push(e.ts_ms),
            EventKind::Notification { .. } => tally.notifications += 1,
            _ => {}
        }
        last_ts = e.ts_ms;
        if let Some(c) = cursor.as_mut() {
            c.apply_due(&mut rt, e.ts_ms);
        }
        // Events the runtime rejects (clock skew) are skipped, as an app would.
        let _ = rt.process(e.clone());
        while let Some(d) = rt.poll() {
            if d.action != Action::Refresh {
                continue;
            }
            tally.requests += 1;
            *tally
                .by_reason
                .entry(d.reason.as_str().to_owned())
                .or_default() += 1;
            if d.reason == Reason::Trigger(EventType::Notification) {
                tally.async_requests += 1;
            }
            if d.slot.is_none() {
                page_refreshes.push(d.ts_ms);
            }
        }
        if i % 1024 == 1023 {
            progress(1024);
        }
    }
    progress(events.len() as u64 % 1024);
    if let Some(s) = fg_since {
        tally.fg_ms += last_ts - s;
    }
    let closed;
    let want: &[(i64, i64)] = match mode {
        Loop::Open => &truth.want_fresh,
        Loop::Closed => {
            closed = closed_loop_needs(&truth.want_fresh, &page_refreshes, &views);
            &closed
        }
    };
    // Useful: the first page refresh inside each want_fresh interval.
    let mut useful = vec![false; page_refreshes.len()];
    for &(s, e) in want {
        let i = page_refreshes.partition_point(|&r| r < s);
        if page_refreshes.get(i).is_some_and(|&r| r <= e) {
            useful[i] = true;
        }
    }
    tally.useful += useful.iter().filter(|&&u| u).count() as u64;
    let (seen, served) = shift_recall(&shift_times(truth), &page_refreshes, &views);
    tally.shifts_seen += seen;
    tally.shifts_served += served;
    let max_len = truth
        .want_fresh
        .iter()
        .map(|&(s, e)| e - s)
        .max()
        .unwrap_or(0);
    for &v in &views {
        tally.views += 1;
        let last = page_refreshes
            .partition_point(|&r| r <= v)
            .checked_sub(1)
            .map(|i| page_refreshes[i]);
        if let Some(r) = last {
            tally.staleness_ms += (v - r) as f64;
            tally.staleness_n += 1;
        }
        // The latest need that covers this view; intervals are sorted by start.
        let upto = want.partition_point(|&(s, _)| s <= v);
        let need = want[..upto]
            .iter()
            .rev()
            .take_while(|&&(s, _)| v - s <= max_len)
            .filter(|&&(_, e)| v < e)
            .map(|&(s, _)| s)
            .max();
        if let Some(s) = need {
            tally.needing += 1;
            if last.is_some_and(|r| r >= s) {
                tally.served += 1;
            }
        }
    }
    Ok(())
}

pub(super) fn ratio(a: f64, b: f64) -> f64 {
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
fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
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

fn compare(policies: &[PolicyMetrics]) -> Comparison {
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
    }
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

fn no_home_views() -> Error {
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
    let _ = writeln!(
        s,
        "  async requests vs one per notification: {}",
        pct(c.async_reduction.map(|v| -v))
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;

    fn cfg() -> Config {
        Config::rules_only(
            FeatureSpec::from_json(
                r#"{"version":"t","features":[{"name":"v","kind":"home_visible"}]}"#,
            )
            .unwrap(),
        )
    }

    fn ev(ts_ms: i64, kind: EventKind) -> Event {
        Event { ts_ms, kind }
    }

    fn home(ts: i64) -> Event {
        ev(
            ts,
            EventKind::PageView {
                page: "home".into(),
            },
        )
    }

    #[test]
    fn truth_reads_want_fresh_and_rejects_bad_records() {
        let t = Truth::from_reader(
            r#"{"kind":"session","start_ms":0,"end_ms":9}
{"kind":"want_fresh","start_ms":50,"end_ms":80,"cause":"interest_shift"}
{"kind":"want_fresh","start_ms":10,"end_ms":20,"cause":"long_absence"}
{"kind":"interest_shift","ts_ms":50,"from":1,"to":2}
{"kind":"interest_shift","ts_ms":5,"from":0,"to":1}
"#
            .as_bytes(),
            "t",
        )
        .unwrap();
        assert_eq!(t.want_fresh, [(10, 20), (50, 80)]);
        assert_eq!(t.shifts, [5, 50]);
        let e = Truth::from_reader(
            r#"{"kind":"want_fresh","start_ms":50,"end_ms":10}"#.as_bytes(),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn metrics_follow_their_definitions() {
        // Foreground 0..600 s; views at 1 s, 100 s, 200 s, 400 s; notifications at 50 s, 60 s.
        let events = vec![
            ev(0, EventKind::AppForeground),
            home(1_000),
            ev(
                50_000,
                EventKind::Notification {
                    topic: "feed".into(),
                    importance: None,
                },
            ),
            ev(
                60_000,
                EventKind::Notification {
                    topic: "feed".into(),
                    importance: None,
                },
            ),
            home(100_000),
            home(200_000),
            home(400_000),
            ev(600_000, EventKind::AppBackground),
        ];
        // Needs: [90 s, 250 s] covers views at 100 s and 200 s.
        let truth = Truth {
            want_fresh: vec![(90_000, 250_000)],
            shifts: vec![90_000],
        };
        let c = candidates(&cfg(), &[]).unwrap();
        let sc = [Scenario {
            name: "t".into(),
            events,
            truth,
        }];
        let r = evaluate(&c, &sc, |_| {}).unwrap();
        let get = |name: &str| r.policies.iter().find(|p| p.name == name).unwrap();
        // Every home view: refreshes at 0 s (foreground) and at each view.
        let every = get("every home view");
        assert_eq!(every.requests, 5);
        assert_eq!((every.views_needing_fresh, every.views_served), (2, 2));
        assert_eq!(every.useful_requests, 1, "only the first inside the need");
        assert_eq!(every.mean_staleness_s, 0.0);
        assert!(
            (every.requests_per_hour - 30.0).abs() < 1e-9,
            "5 in 10 minutes"
        );
        // One per notification: 0 s (first view), 50 s, 60 s.
        let per = get("per notification");
        assert_eq!((per.requests, per.async_requests), (3, 2));
        assert_eq!(per.async_per_notification, 1.0);
        assert_eq!(per.recall, 0.0, "nothing refreshed after 90 s");
        assert!((per.mean_staleness_s - (1.0 + 40.0 + 140.0 + 340.0) / 4.0).abs() < 1e-9);
        // Ours (rules: fallback 300 s, default triggers): the marks wait out their
        // coalescing window, and the fallback refresh at the 320 s tick absorbs
        // them, so no request is made for the notifications.
        let ours = get("ours");
        assert_eq!(ours.async_requests, 0, "{:?}", ours.by_reason);
        assert_eq!(ours.by_reason.get("fallback:no_model"), Some(&1));
        assert_eq!(r.comparison.async_reduction, Some(1.0));
    }

    #[test]
    fn in_the_closed_loop_a_need_ends_at_the_first_view_showing_fresh_content() {
        let want = [(100, 1000), (2000, 3000), (5000, 6000)];
        // A refresh at 150 shown at the view at 200; none inside the second
        // need; a refresh at 5500 shown at once (a view at the same moment).
        let refreshes = [150, 4000, 5500];
        let views = [120, 200, 300, 2100, 5500, 5600];
        assert_eq!(
            closed_loop_needs(&want, &refreshes, &views),
            [(100, 201), (2000, 3000), (5000, 5501)]
        );
    }

    #[test]
    fn baselines_stay_valid_for_a_policy_that_is_never_stale() {
        // "Never stale by age alone" is 1000x the interval, capped at the
        // ten-year duration limit, so a long max_staleness still evaluates.
        let policy = PolicyConfig {
            max_staleness_s: 3e8,
            fallback_interval_s: 3e8,
            ..cfg().policy().clone()
        };
        let c = cfg().with_policy(policy).unwrap();
        assert!(candidates(&c, &[]).is_ok());
    }

    #[test]
    fn recall_counts_each_shift_at_its_first_home_view() {
        let views = [1_000, 50_000, 120_000, 300_000];
        // 10 s: seen at 50 s, refreshed at 55 s (grace) -> served.
        // 60 s and 100 s: both before the view at 120 s; 60 s folds into 100 s,
        // which the refresh at 90 s does not serve (it came before the shift).
        // 200 s: seen at 300 s, refreshed at 250 s -> served.
        // 400 s: never followed by a home view -> not counted.
        let shifts = [10_000, 60_000, 100_000, 200_000, 400_000];
        let refreshes = [0, 55_000, 90_000, 250_000];
        assert_eq!(shift_recall(&shifts, &refreshes, &views), (3, 2));
        // A refresh past the grace does not count.
        assert_eq!(shift_recall(&[10_000], &[60_001], &views), (1, 0));
        assert_eq!(shift_recall(&[10_000], &[60_000], &views), (1, 1));
    }

    #[test]
    fn interpolation_stays_inside_the_curve() {
        let pts = [(0.2, 10.0), (0.6, 30.0)];
        assert_eq!(interpolate(&pts, 0.4), Some(20.0));
        assert_eq!(interpolate(&pts, 0.7), None);
        assert_eq!(interpolate(&pts, 0.1), None);
    }
}
