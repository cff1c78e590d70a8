//! Cost of one `recommendations` event through the cross-slot arbiter, with 4
//! slots × 50 candidates drawn from a shared catalogue (many conflicts).
//!
//! `cargo bench --bench dedup`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use edgeintent::{DedupConfig, RecItem, SlotArbiter, SlotSettings};

const SLOTS: [(&str, f64, usize); 4] = [
    ("search", 1.5, 5),
    ("badge", 1.2, 3),
    ("waistband", 1.0, 4),
    ("feed", 1.0, 10),
];

/// 50 candidates for a slot; entities from a 120-entity catalogue, so the slots overlap.
fn candidates(slot: usize, round: usize) -> Vec<RecItem> {
    (0..50)
        .map(|r| {
            let e = (r * 7 + slot * 13 + round * 29) % 120;
            RecItem {
                id: format!("{slot}-{round}-{r}"),
                entity: Some(format!("e{e}")),
                score: Some(1.0 - r as f64 / 60.0),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut slots = BTreeMap::new();
    for (name, weight, size) in SLOTS {
        slots.insert(
            name.to_owned(),
            SlotSettings::Full {
                weight,
                size: Some(size),
            },
        );
    }
    let mut arbiter = SlotArbiter::new(DedupConfig {
        slots,
        ..Default::default()
    });
    let lists: Vec<Vec<RecItem>> = (0..16).map(|i| candidates(i % 4, i / 4)).collect();
    let mut i = 0usize;
    let mut ts = 0i64;
    for (k, l) in lists.iter().enumerate().take(4) {
        arbiter.recommendations(k as i64, SLOTS[k].0, l.clone());
    }
    c.bench_function("dedup_recommendations_4_slots_x_50", |b| {
        b.iter_batched(
            || {
                i += 1;
                ts += 100;
                (ts, SLOTS[i % 4].0, lists[i % lists.len()].clone())
            },
            |(ts, slot, items)| arbiter.recommendations(black_box(ts), slot, items),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
