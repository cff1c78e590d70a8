"""Seeded benchmark trace for cross-slot de-duplication.

Story: a homepage with four slots fed by different services: ``search``
suggestions (5 items), a ``badge`` (3), a ``waistband`` banner (4) and the
``feed`` (10). Every service recommends from the same catalogue of entities
whose popularity is Zipf-like, so popular entities are recommended to several
slots at once. During each session, each slot's service answers a few times
(``recommendations`` with 50 candidates: item ids unique per answer, the entity
they are about, a score decreasing with rank). After an answer the user often
sees the top of the slot (``exposure`` of its first few candidates) and
sometimes clicks.

    python training/generate_slots.py --seed 7 --out fixtures/dedup_trace.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SLOTS = {"search": 5, "badge": 3, "waistband": 4, "feed": 10}
CANDIDATES = 50
CATALOGUE = 400
EPOCH_MS = 1_767_571_200_000


def generate(seed: int, sessions: int = 12) -> list[dict]:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, CATALOGUE + 1) ** 0.9
    popularity /= popularity.sum()
    events = []
    t = EPOCH_MS / 1000 + 9 * 3600
    answer = 0
    for _ in range(sessions):
        start = t
        events.append({"ts_ms": int(start * 1000), "type": "app_foreground"})
        events.append({"ts_ms": int(start * 1000) + 300, "type": "page_view", "page": "home"})
        length = float(rng.uniform(120, 480))
        for slot, size in SLOTS.items():
            for k in range(int(rng.integers(1, 4))):
                at = start + 1 + rng.uniform(0, length)
                answer += 1
                entities = rng.choice(CATALOGUE, size=CANDIDATES, replace=False, p=popularity)
                base = rng.uniform(0.3, 1.0)
                items = [
                    {"id": f"{slot}-{answer}-{r}", "entity": f"e{e}", "score": round(float(base * (0.97**r) * rng.uniform(0.8, 1.0)), 4)}
                    for r, e in enumerate(entities)
                ]
                events.append({"ts_ms": int(at * 1000), "type": "recommendations", "slot": slot, "items": items})
                if rng.random() < 0.6:
                    seen = [it["id"] for it in items[: max(1, size // 2)]]
                    events.append({"ts_ms": int(at * 1000) + 800, "type": "exposure", "slot": slot, "items": seen})
                    if rng.random() < 0.2:
                        events.append({"ts_ms": int(at * 1000) + 2500, "type": "click", "slot": slot, "item": seen[0]})
        events.append({"ts_ms": int((start + length + 2) * 1000), "type": "app_background"})
        t = start + length + float(rng.uniform(1800, 6 * 3600))
    events.sort(key=lambda e: e["ts_ms"])
    return events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    events = generate(a.seed, a.sessions)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
    print(f"generate_slots: {len(events)} events -> {a.out}")


if __name__ == "__main__":
    main()
