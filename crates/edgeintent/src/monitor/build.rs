//! Building the monitors from the config and the reference profile.

use super::config::MonitorConfig;
use super::history::OwnSaved;
use super::profile::{ReferenceProfile, FIELDS, MAX_BINS, PSI_FLOOR};
use super::state::*;
use super::window::CallWindow;
use crate::event::EventType;

impl Monitor {
    /// Monitors for `names` (the spec's features), with the model package's
    /// `profile` when it has one; `budget` is the policy's hourly budget.
    pub(crate) fn new(
        cfg: &MonitorConfig,
        names: &[&str],
        profile: Option<&ReferenceProfile>,
        budget: u32,
    ) -> Monitor {
        let f = names.len();
        let cols = f + 1;
        let (score_i, events_i, _, _, _, _, total) = layout(f);
        let reference = profile.map(|p| {
            let mut events = [0.0; EventType::ALL.len()];
            for (name, share) in &p.events {
                if let Some(t) = EventType::from_name(name) {
                    events[t.index()] = *share;
                }
            }
            let mut edges: Vec<Box<[f32]>> = p
                .features
                .iter()
                .map(|h| h.histogram.edges.clone().into())
                .collect();
            let mut freq: Vec<Box<[f64]>> = p
                .features
                .iter()
                .map(|h| h.histogram.freq.clone().into())
                .collect();
            match &p.score {
                Some(s) => {
                    edges.push(s.edges.clone().into());
                    freq.push(s.freq.clone().into());
                }
                None => {
                    edges.push(Box::new([]));
                    freq.push(Box::new([1.0]));
                }
            }
            let mut fields = [0.0; FIELDS.len()];
            for (i, f) in FIELDS.iter().enumerate() {
                fields[i] = p.fields.get(*f).copied().unwrap_or(0.0);
            }
            let surprise = p.surprise.as_ref().map(|sp| (sp.window, sp.threshold));
            // Logarithms of fixed shares, once: a decision point then takes none.
            let table = |f: &dyn Fn(f64) -> f64| -> Box<[f64]> {
                let mut t = vec![0.0; freq.len() * MAX_BINS];
                for (c, col) in freq.iter().enumerate() {
                    for (b, &e) in col.iter().enumerate() {
                        t[c * MAX_BINS + b] = f(e);
                    }
                }
                t.into_boxed_slice()
            };
            let floored = table(&|e| e.max(PSI_FLOOR));
            let ln_freq = table(&|e| e.max(PSI_FLOOR).ln());
            let padded = edges
                .iter()
                .map(|col| {
                    let mut p = [f32::INFINITY; MAX_BINS];
                    p[..col.len()].copy_from_slice(col);
                    p
                })
                .collect();
            let surprise_of = table(&|e| -e.max(1e-3).ln());
            // Over the features only, as a point's surprise is summed.
            let expected_surprise = (0..freq.len().saturating_sub(1))
                .map(|c| {
                    freq[c]
                        .iter()
                        .enumerate()
                        .map(|(b, &e)| e * surprise_of[c * MAX_BINS + b])
                        .sum::<f64>()
                })
                .sum();
            Reference {
                expected_surprise,
                edges,
                freq,
                padded,
                floored,
                ln_freq,
                surprise_of,
                events,
                fields,
                surprise,
            }
        });
        let mut judged = vec![false; total].into_boxed_slice();
        if let Some(r) = &reference {
            for (i, name) in names.iter().enumerate() {
                judged[i] = !cfg.ignore_features.iter().any(|n| n == name);
            }
            judged[score_i] = profile.is_some_and(|p| p.score.is_some());
            for t in EventType::ALL {
                // Any type training saw can explode; only common ones can vanish.
                judged[events_i + t.index()] = r.events[t.index()] > 0.0;
            }
        }
        let max_refreshes = cfg
            .max_refreshes_per_hour
            .or((budget > 0).then_some(budget))
            .filter(|&m| m > 0);
        let (_, _, refresh_i, latency_i, errors_i, clock_i, _) = layout(f);
        judged[refresh_i] = max_refreshes.is_some();
        judged[latency_i] = true;
        judged[errors_i] = true;
        judged[clock_i] = true;
        let (joint_i, fields_i) = joint_and_fields(f);
        if let Some(r) = &reference {
            judged[joint_i] = r.surprise.is_some();
            for k in 0..FIELDS.len() {
                judged[fields_i + k] = r.fields[k] < cfg.zero_share / 2.0;
            }
        }
        let sp_window = reference
            .as_ref()
            .and_then(|r| r.surprise)
            .map_or(0, |(w, _)| w);
        let mut out_names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        out_names.push("score".into());
        out_names.extend(EventType::ALL.iter().map(|t| t.name().to_owned()));
        out_names.extend(["per_hour", "p99", "rate", "jump", "joint"].map(String::from));
        out_names.extend(FIELDS.iter().map(|f| (*f).to_owned()));
        out_names.extend(EventType::ALL.iter().map(|t| format!("{}_gap", t.name())));
        out_names.extend(names.iter().map(|n| format!("{n}_range")));
        let natural = profile.and_then(|p| p.natural.as_ref());
        let w = natural.map_or(cfg.window_points, |n| n.window_points);
        let event_window = natural.map_or(cfg.event_window, |n| n.event_window);
        let mut thresholds = vec![0.0; total].into_boxed_slice();
        let mut explode = [cfg.event_high; EventType::ALL.len()];
        for (i, name) in names.iter().enumerate() {
            let nat = natural
                .and_then(|n| n.psi.get(*name))
                .copied()
                .unwrap_or(0.0);
            thresholds[i] = cfg.psi_threshold.max(nat * cfg.psi_margin);
        }
        let nat_score = natural
            .and_then(|n| n.psi.get("score"))
            .copied()
            .unwrap_or(0.0);
        thresholds[score_i] = cfg.psi_threshold.max(nat_score * cfg.psi_margin);
        for t in EventType::ALL {
            let range = natural.and_then(|n| n.events.get(t.name()));
            thresholds[events_i + t.index()] =
                range.map_or(cfg.event_low, |[lo, _]| lo * cfg.event_margin);
            explode[t.index()] =
                range.map_or(cfg.event_high, |[_, hi]| hi / cfg.event_margin.max(1e-9));
        }
        {
            let (_, _, refresh_i, latency_i, errors_i, clock_i, _) = layout(f);
            let (joint_i, fields_i) = joint_and_fields(f);
            thresholds[refresh_i] = max_refreshes.map_or(0.0, |m| f64::from(m) + 1.0);
            thresholds[latency_i] = cfg.latency_p99_ms;
            thresholds[errors_i] = cfg.error_rate;
            thresholds[clock_i] = cfg.max_clock_jump_s;
            thresholds[joint_i] = reference
                .as_ref()
                .and_then(|r| r.surprise)
                .map_or(0.0, |(_, t)| t * cfg.surprise_factor);
            for k in 0..FIELDS.len() {
                thresholds[fields_i + k] = cfg.zero_share;
            }
            let g0 = gaps_start(f);
            for t in EventType::ALL {
                let gap = natural.and_then(|n| n.gaps.get(t.name())).copied();
                let common = reference
                    .as_ref()
                    .is_some_and(|r| r.events[t.index()] >= cfg.event_min_share);
                thresholds[g0 + t.index()] =
                    gap.map_or(0.0, |g| (f64::from(g) * cfg.gap_margin).ceil());
                judged[g0 + t.index()] = common && gap.is_some();
            }
            let r0 = ranges_start(f);
            for (i, name) in names.iter().enumerate() {
                let run = natural.and_then(|n| n.runs.get(*name)).copied();
                let has_top = profile.is_some_and(|p| !p.features[i].histogram.edges.is_empty());
                thresholds[r0 + i] = run.map_or(0.0, |r| {
                    (f64::from(r) * cfg.gap_margin)
                        .ceil()
                        .max(f64::from(cfg.min_range_run))
                });
                judged[r0 + i] = has_top && run.is_some() && judged[i];
            }
        }
        let g0 = gaps_start(f);
        let mut gap_limit = [0u64; EventType::ALL.len()];
        for t in EventType::ALL {
            if judged[g0 + t.index()] {
                gap_limit[t.index()] = thresholds[g0 + t.index()].max(1.0) as u64;
            }
        }
        let r0 = ranges_start(f);
        let run_limit = (0..f)
            .map(|c| match judged[r0 + c] {
                true => thresholds[r0 + c].ceil().clamp(0.0, f64::from(u32::MAX)) as u32,
                false => u32::MAX,
            })
            .collect();
        Monitor {
            gap_limit,
            thresholds,
            explode,
            cols,
            judged,
            names: out_names,
            max_refreshes,
            counts: vec![0; cols * MAX_BINS].into_boxed_slice(),
            ev_counts: [0; EventType::ALL.len()],
            s: MonitorSaved {
                bins: vec![NO_BIN; w * cols].into_boxed_slice(),
                ts: vec![0; w].into_boxed_slice(),
                latency_us: vec![0; w].into_boxed_slice(),
                model: vec![0; w].into_boxed_slice(),
                head: 0,
                len: 0,
                events: vec![0; event_window].into_boxed_slice(),
                ev_head: 0,
                ev_len: 0,
                refreshes: vec![0; max_refreshes.map_or(0, |m| m as usize + 1)].into_boxed_slice(),
                rf_head: 0,
                rf_len: 0,
                flags: vec![Flag::default(); total].into_boxed_slice(),
                last_ts: None,
                since_check: 0,
                field_bits: [0; FIELDS.len()],
                field_n: [0; FIELDS.len()],
                surprise: vec![0.0; sp_window].into_boxed_slice(),
                sp_head: 0,
                sp_len: 0,
                seen: 0,
                last_of: [0; EventType::ALL.len()],
                runs: vec![0; f].into_boxed_slice(),
                own: OwnSaved::new(cols),
            },
            scratch: vec![0; w].into_boxed_slice(),
            ln_count: (0..=w).map(|c| (c as f64).ln()).collect(),
            calls: CallWindow::default(),
            run_limit,
            alerting_fallback: 0,
            alerting_ranges: 0,
            sp_sum: 0.0,
            fired: [None; 8],
            reference,
            cfg: cfg.clone(),
        }
    }
}
