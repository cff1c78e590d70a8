"""Seeded days in a dense city, with ground truth, for the geofence evaluation
(``edgeintent geo-eval``) where location sampling is hardest: many small
fences close together, slow movement, and fixes that lie.

Generative story (one ``numpy.random.Generator`` per seed; a second,
independent story to ``geo_traces.py``'s airports):

* The city is a 12 × 12 km square; ``POIS`` points of interest (stations,
  malls, hospitals) are drawn once from ``CITY_SEED``, with fence radii of
  120–400 m and buffers of 300–900 m, at least 600 m apart.
* Each user has a home and an office (outside every fence) and a day of
  activities: long **stationary** spells at home and at the office; **walks**
  (1.1–1.7 m/s, with stops at crossings); **cycling** (3.5–6.5 m/s);
  **bus** rides (6–12 m/s between stops every 300–600 m, 20–40 s dwell);
  **metro** rides (12–20 m/s in tunnels: no fixes at all underground, the
  phone gets its first fix at the exit); and **visits** to points of interest
  (walk or cycle there, stay 30 s to 40 min wandering inside, leave), some
  of which are **pass-bys** (walk through the buffer, never the fence).
* Fixes come every second above ground, with Gaussian error σ of 4–14 m
  (``accuracy_m`` = 1.51 σ, the 68% radius as Android reports it), and
  **urban-canyon multipath**: episodes of 1–6 minutes, about two an hour
  outdoors, where the fix carries an extra slowly drifting bias of 40–150 m
  that ``accuracy_m`` does not show. ``speed_mps`` is the true speed plus
  noise (0.4 m/s; during multipath 1.5 m/s).

Ground truth (``--truth``): ``{"kind": "trace", "start_ms", "end_ms"}`` and
``{"kind": "visit", "fence", "enter_ms", "exit_ms"}`` for every crossing of a
fence radius by the noise-free position, as ``geo_traces.py`` writes them.

Usage: ``python training/city_traces.py --seed 9300 --hours 12 --out t.jsonl
--truth g.jsonl [--config-out fixtures/geo/city_config.json]``
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from generate import write_jsonl
from geo_traces import crossings, dist_m, offset

# The city's centre and the day's start (2026-03-02 07:00 UTC).
CENTRE = (31.2304, 121.4737)
SIDE_M = 12_000.0
POIS = 24
CITY_SEED = 4242
EPOCH_MS = 1_772_434_800_000
KINDS = ("station", "mall", "hospital")


def city() -> list[dict]:
    """The points of interest: id, position, radius, buffer, category."""
    rng = np.random.default_rng(CITY_SEED)
    pois: list[dict] = []
    while len(pois) < POIS:
        p = offset(CENTRE, float(rng.uniform(-SIDE_M / 2, SIDE_M / 2)), float(rng.uniform(-SIDE_M / 2, SIDE_M / 2)))
        if any(dist_m(p, (q["lat"], q["lon"])) < 600 + q["radius_m"] for q in pois):
            continue
        kind = KINDS[len(pois) % len(KINDS)]
        pois.append({
            "id": f"{kind[:3]}{len(pois):02d}",
            "lat": round(p[0], 6),
            "lon": round(p[1], 6),
            "radius_m": float(round(rng.uniform(120, 400))),
            "buffer_m": float(round(rng.uniform(300, 900))),
            "category": kind,
        })
    return pois


def outside_all(p: tuple[float, float], pois: list[dict], margin: float = 150.0) -> bool:
    return all(dist_m(p, (q["lat"], q["lon"])) > q["radius_m"] + q["buffer_m"] * 0.3 + margin for q in pois)


class Day:
    """The true path, one point per second (None underground), and the noise."""

    def __init__(self, rng: np.random.Generator, start: tuple[float, float]):
        self.rng = rng
        self.pos = start
        self.path: list[tuple[float, float, float] | None] = []  # (lat, lon, speed) or None
        self.sigma = 8.0

    def step(self, p: tuple[float, float], v: float, underground: bool = False) -> None:
        self.pos = p
        self.path.append(None if underground else (p[0], p[1], v))

    def go(self, dest: tuple[float, float], v: float, underground: bool = False, stops_every_m: float = 0.0, stop_s: tuple[int, int] = (0, 0)) -> None:
        d = dist_m(self.pos, dest)
        n = max(1, int(math.ceil(d / v)))
        a = self.pos
        next_stop = stops_every_m
        for k in range(1, n + 1):
            f = k / n
            self.step((a[0] + (dest[0] - a[0]) * f, a[1] + (dest[1] - a[1]) * f), v if k < n else 0.0, underground)
            if stops_every_m and k * v >= next_stop and k < n:
                self.stay(int(self.rng.integers(stop_s[0], stop_s[1] + 1)), underground=underground)
                next_stop += stops_every_m * float(self.rng.uniform(0.7, 1.3))

    def stay(self, seconds: int, wander_mps: float = 0.0, centre: tuple[float, float] | None = None, limit_m: float = 0.0, underground: bool = False) -> None:
        for _ in range(seconds):
            if wander_mps > 0:
                ang = self.rng.uniform(0, 2 * math.pi)
                nxt = offset(self.pos, wander_mps * math.cos(ang), wander_mps * math.sin(ang))
                if centre is not None and dist_m(nxt, centre) > limit_m:
                    nxt = self.pos
                self.step(nxt, wander_mps, underground)
            else:
                self.step(self.pos, 0.0, underground)

    def travel(self, dest: tuple[float, float]) -> None:
        """Some way of getting there, by distance."""
        d = dist_m(self.pos, dest)
        u = self.rng.random()
        if d < 1_500 or u < 0.3:
            self.go(dest, float(self.rng.uniform(1.1, 1.7)), stops_every_m=250, stop_s=(0, 40))
        elif u < 0.5:
            self.go(dest, float(self.rng.uniform(3.5, 6.5)), stops_every_m=600, stop_s=(0, 30))
        elif u < 0.75:
            self.go(dest, float(self.rng.uniform(6, 12)), stops_every_m=float(self.rng.uniform(300, 600)), stop_s=(20, 40))
        else:
            # Walk down, ride in the tunnel, walk up: no fixes underground.
            self.stay(int(self.rng.integers(60, 240)), underground=True)
            self.go(dest, float(self.rng.uniform(12, 20)), underground=True, stops_every_m=1_200, stop_s=(25, 45))
            self.stay(int(self.rng.integers(30, 120)), underground=True)


def day(seed: int, hours: float, pois: list[dict]) -> Day:
    rng = np.random.default_rng(seed)

    def somewhere() -> tuple[float, float]:
        while True:
            p = offset(CENTRE, float(rng.uniform(-SIDE_M / 2, SIDE_M / 2)), float(rng.uniform(-SIDE_M / 2, SIDE_M / 2)))
            if outside_all(p, pois):
                return p

    home, office = somewhere(), somewhere()
    w = Day(rng, home)
    total = int(hours * 3600)
    w.stay(int(rng.uniform(600, 3600)), wander_mps=0.05, centre=home, limit_m=15)
    w.travel(office)
    while len(w.path) < total:
        u = rng.random()
        if u < 0.45:
            q = pois[int(rng.integers(len(pois)))]
            c = (q["lat"], q["lon"])
            if rng.random() < 0.25:
                # A pass-by: through the buffer ring, never the fence.
                miss = q["radius_m"] + rng.uniform(60, q["buffer_m"] * 0.8)
                ang = rng.uniform(0, 2 * math.pi)
                mid = offset(c, miss * math.cos(ang), miss * math.sin(ang))
                a0 = offset(mid, 800 * -math.sin(ang), 800 * math.cos(ang))
                a1 = offset(mid, 800 * math.sin(ang), 800 * -math.cos(ang))
                w.travel(a0)
                v = float(rng.uniform(1.1, 1.7))
                w.go(mid, v)
                w.go(a1, v)
            else:
                ang, rr = rng.uniform(0, 2 * math.pi), q["radius_m"] * 0.6 * math.sqrt(rng.random())
                inside = offset(c, rr * math.cos(ang), rr * math.sin(ang))
                # Arrive on foot for the last few hundred metres.
                ang2 = rng.uniform(0, 2 * math.pi)
                near = offset(c, (q["radius_m"] + 400) * math.cos(ang2), (q["radius_m"] + 400) * math.sin(ang2))
                w.travel(near)
                w.go(inside, float(rng.uniform(1.1, 1.7)))
                stay = int(rng.choice([30, 60, 120, 300, 900, 2400]) * rng.uniform(0.8, 1.2))
                w.stay(stay, wander_mps=0.6, centre=c, limit_m=q["radius_m"] * 0.8)
                w.go(near, float(rng.uniform(1.1, 1.7)))
        elif u < 0.7:
            w.travel(office)
            w.stay(int(rng.uniform(1800, 7200)), wander_mps=0.05, centre=office, limit_m=20)
        elif u < 0.85:
            w.travel(home)
            w.stay(int(rng.uniform(1800, 5400)), wander_mps=0.05, centre=home, limit_m=15)
        else:
            ang = rng.uniform(0, 2 * math.pi)
            n = int(rng.uniform(300, 1200))
            dest = offset(w.pos, 1.4 * n * math.cos(ang), 1.4 * n * math.sin(ang))
            w.go(dest, 1.4, stops_every_m=250, stop_s=(0, 40))
    w.path = w.path[:total]
    return w


def visits(path: list[tuple[float, float, float] | None], pois: list[dict]) -> list[dict]:
    """Noise-free crossings of each fence radius, second by second (a tunnel
    keeps the last position above ground)."""
    last = None
    pts = []
    for p in path:
        last = (p[0], p[1]) if p is not None else last
        pts.append(last if last is not None else CENTRE)
    fences = [(q["id"], q["lat"], q["lon"], q["radius_m"]) for q in pois]
    return crossings(np.array(pts), fences, EPOCH_MS)


def generate(seed: int, hours: float) -> tuple[list[dict], list[dict]]:
    """Returns (events, truth) for one seeded day."""
    pois = city()
    w = day(seed, hours, pois)
    rng = np.random.default_rng(seed + 1_000_000)
    events = []
    bias = (0.0, 0.0)
    multipath_left = 0
    sigma = float(rng.uniform(4, 14))
    for i, p in enumerate(w.path):
        if p is None:
            multipath_left = 0
            continue
        lat, lon, v = p
        if i % 300 == 0:
            sigma = float(rng.uniform(4, 14))
        if multipath_left == 0 and rng.random() < 2.0 / 3600:
            multipath_left = int(rng.uniform(60, 360))
            mag, ang = rng.uniform(40, 150), rng.uniform(0, 2 * math.pi)
            bias = (mag * math.cos(ang), mag * math.sin(ang))
        extra = (0.0, 0.0)
        if multipath_left > 0:
            multipath_left -= 1
            # The bias drifts slowly while it lasts.
            bias = (bias[0] + float(rng.normal(0, 2)), bias[1] + float(rng.normal(0, 2)))
            extra = bias
        nlat, nlon = offset((lat, lon), float(rng.normal(0, sigma)) + extra[0], float(rng.normal(0, sigma)) + extra[1])
        speed_noise = 1.5 if multipath_left > 0 else 0.4
        events.append({
            "ts_ms": EPOCH_MS + i * 1000,
            "type": "location",
            "lat": round(nlat, 7),
            "lon": round(nlon, 7),
            "accuracy_m": round(1.51 * sigma, 1),
            "speed_mps": round(max(0.0, v + float(rng.normal(0, speed_noise))), 2),
        })
    truth = [{"kind": "trace", "start_ms": EPOCH_MS, "end_ms": EPOCH_MS + len(w.path) * 1000}]
    truth += visits(w.path, pois)
    return events, truth


def config(out: Path, feature_spec: str) -> None:
    """A runtime config with the city's points of interest as fences (no
    model); ``feature_spec`` is relative to the config's folder."""
    cfg = {
        "features": feature_spec,
        "geofence": {"fences": city(), "dwell_enter_s": 5, "dwell_exit_s": 30, "exit_margin_m": 25},
    }
    out.write_text(json.dumps(cfg, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--config-out", type=Path, help="also write the runtime config with the city's fences")
    a = ap.parse_args()
    if a.config_out:
        config(a.config_out, "../../models/feature_spec.json")
    events, truth = generate(a.seed, a.hours)
    write_jsonl(a.out, events)
    write_jsonl(a.truth, truth)
    print(f"city_traces: seed {a.seed}: {len(events)} fixes, {sum(t['kind'] == 'visit' for t in truth)} visits -> {a.out}")


if __name__ == "__main__":
    main()
