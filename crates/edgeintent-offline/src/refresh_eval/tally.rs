//! One policy replayed over one trace, and what it did: requests, the
//! shifts it served, staleness at home views.

use serde::{Deserialize, Serialize};

use edgeintent::{Action, Event, EventKind, EventType, Reason, Runtime};

use crate::error::Error;

use super::candidates::{Candidate, PolicyKind};
use super::truth::Truth;

/// How long after a shift's first home view a page refresh still counts as
/// shown at that view (the request a view triggers completes a moment later).
pub const GRACE_MS: i64 = 10_000;

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
/// one over all traces ([`Tally::merge`], [`super::report_from_tallies`]).
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
pub(super) fn closed_loop_needs(
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
pub(super) fn shift_times(truth: &Truth) -> std::borrow::Cow<'_, [i64]> {
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
pub(super) fn shift_recall(shifts: &[i64], page_refreshes: &[i64], views: &[i64]) -> (u64, u64) {
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

pub(super) fn run_one(
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
