"""Seeded location trajectories around real airports, with ground truth, for the
geofence evaluation (``edgeintent geo-eval``).

Generative story (one ``numpy.random.Generator`` per seed):

* The user lives near a randomly chosen airport of ``fixtures/geo/airports.json``
  and moves among the airports within ``REGION_KM`` of it.
* Activities follow one another until the trace is ``hours`` long:
  a **visit** (drive at 12–30 m/s to a point inside an airport's fence, stay for a
  length drawn from 20 s to 1 h, wander slowly inside, drive away), a **pass-by**
  (drive through an airport's buffer ring without entering the fence),
  **stationary** time (5–60 min), or a **walk** (10–30 min at 1.4 m/s).
* Fixes come every second (the dense ground truth a sampler picks from), with
  Gaussian error of σ per axis, σ drawn per activity from 5 to 50 m (or fixed
  by ``--noise-m``), and reported ``accuracy_m`` = 1.51 σ (the 68% radius, as
  Android reports it). ``speed_mps`` is the true speed plus noise.

Ground truth (``--truth``), JSON Lines:

* ``{"kind": "trace", "start_ms", "end_ms"}``
* ``{"kind": "visit", "fence", "enter_ms", "exit_ms"}``: the noise-free position
  crossed into the fence radius and out again.

The fences (radius ``FENCE_M``, buffer ``BUFFER_M``) are written into a runtime
config by ``--config-out``.

Usage: ``python training/geo_traces.py --seed 9100 --hours 8 --out t.jsonl --truth g.jsonl
[--config-out fixtures/geo/config.json]``
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from generate import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
AIRPORTS = ROOT / "fixtures" / "geo" / "airports.json"
EARTH_M = 6_371_008.8
FENCE_M = 1200.0
BUFFER_M = 1500.0
REGION_KM = 60.0
# 2026-03-02 08:00 UTC.
EPOCH_MS = 1_772_438_400_000


def load_airports() -> list[dict]:
    return json.loads(AIRPORTS.read_text())["airports"]


def dist_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def offset(p: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat = p[0] + math.degrees(north_m / EARTH_M)
    lon = p[1] + math.degrees(east_m / (EARTH_M * math.cos(math.radians(p[0]))))
    return lat, lon


class Walker:
    """The true position over time, one point per second, and the fixes."""

    def __init__(self, rng: np.random.Generator, start: tuple[float, float], noise_m: float | None):
        self.rng = rng
        self.pos = start
        self.t = 0
        self.fixed_noise = noise_m
        self.sigma = 10.0
        self.path: list[tuple[float, float, float]] = []  # (lat, lon, speed)
        self.sigmas: list[float] = []

    def new_activity(self) -> None:
        self.sigma = self.fixed_noise if self.fixed_noise is not None else float(self.rng.uniform(5, 50))

    def step(self, to: tuple[float, float], speed: float) -> None:
        self.pos = to
        self.path.append((to[0], to[1], speed))
        self.sigmas.append(self.sigma)
        self.t += 1

    def go(self, dest: tuple[float, float], speed: float) -> None:
        d = dist_m(self.pos, dest)
        n = max(1, int(math.ceil(d / speed)))
        a = self.pos
        for k in range(1, n + 1):
            f = k / n
            self.step((a[0] + (dest[0] - a[0]) * f, a[1] + (dest[1] - a[1]) * f), speed if k < n else 0.0)

    def stay(self, seconds: int, wander_mps: float = 0.0, centre: tuple[float, float] | None = None, limit_m: float = 0.0) -> None:
        for _ in range(seconds):
            if wander_mps > 0:
                ang = self.rng.uniform(0, 2 * math.pi)
                nxt = offset(self.pos, wander_mps * math.cos(ang), wander_mps * math.sin(ang))
                if centre is not None and dist_m(nxt, centre) > limit_m:
                    nxt = self.pos
                self.step(nxt, wander_mps)
            else:
                self.step(self.pos, 0.0)


def trajectory(seed: int, hours: float, airports: list[dict], noise_m: float | None):
    rng = np.random.default_rng(seed)
    home = airports[int(rng.integers(len(airports)))]
    hp = (home["lat"], home["lon"])
    local = [a for a in airports if dist_m(hp, (a["lat"], a["lon"])) <= REGION_KM * 1000]
    ang = rng.uniform(0, 2 * math.pi)
    r = rng.uniform(5_000, 30_000)
    w = Walker(rng, offset(hp, r * math.cos(ang), r * math.sin(ang)), noise_m)
    total = int(hours * 3600)
    while w.t < total:
        w.new_activity()
        u = rng.random()
        if u < 0.6:
            a = local[int(rng.integers(len(local)))]
            c = (a["lat"], a["lon"])
            ang, rr = rng.uniform(0, 2 * math.pi), FENCE_M * 0.6 * math.sqrt(rng.random())
            w.go(offset(c, rr * math.cos(ang), rr * math.sin(ang)), float(rng.uniform(12, 30)))
            stay = int(rng.choice([20, 45, 90, 300, 900, 3600]) * rng.uniform(0.8, 1.2))
            w.stay(stay, wander_mps=0.8, centre=c, limit_m=FENCE_M * 0.8)
            ang, rr = rng.uniform(0, 2 * math.pi), rng.uniform(2_000, 8_000)
            w.go(offset(c, rr * math.cos(ang), rr * math.sin(ang)), float(rng.uniform(12, 30)))
        elif u < 0.75:
            a = local[int(rng.integers(len(local)))]
            c = (a["lat"], a["lon"])
            miss = FENCE_M + rng.uniform(200, BUFFER_M)
            ang = rng.uniform(0, 2 * math.pi)
            # A chord of the buffer ring that stays `miss` metres from the centre.
            mid = offset(c, miss * math.cos(ang), miss * math.sin(ang))
            far = 8_000.0
            a0 = offset(mid, far * -math.sin(ang), far * math.cos(ang))
            a1 = offset(mid, far * math.sin(ang), far * -math.cos(ang))
            v = float(rng.uniform(12, 30))
            w.go(a0, v)
            w.go(mid, v)
            w.go(a1, v)
        elif u < 0.9:
            w.stay(int(rng.uniform(300, 3600)))
        else:
            ang = rng.uniform(0, 2 * math.pi)
            n = int(rng.uniform(600, 1800))
            w.go(offset(w.pos, 1.4 * n * math.cos(ang), 1.4 * n * math.sin(ang)), 1.4)
    return w, rng


def crossings(pts: np.ndarray, fences: list[tuple[str, float, float, float]], epoch_ms: int) -> list[dict]:
    """Visits of the noise-free positions ``pts`` (one row of lat, lon per
    second) to each fence ``(id, lat, lon, radius_m)``: every crossing into
    the radius and out again, sorted by entry."""
    out = []
    for fid, lat, lon, radius in fences:
        c = (lat, lon)
        # Cheap prefilter in degrees before exact distances.
        near = np.abs(pts[:, 0] - c[0]) < 0.05
        if not near.any():
            continue
        inside = np.zeros(len(pts), dtype=bool)
        for i in np.nonzero(near)[0]:
            inside[i] = dist_m((pts[i, 0], pts[i, 1]), c) <= radius
        start = None
        for i, v in enumerate(inside):
            if v and start is None:
                start = i
            elif not v and start is not None:
                out.append({"kind": "visit", "fence": fid, "enter_ms": epoch_ms + start * 1000, "exit_ms": epoch_ms + i * 1000})
                start = None
        if start is not None:
            out.append({"kind": "visit", "fence": fid, "enter_ms": epoch_ms + start * 1000, "exit_ms": epoch_ms + len(inside) * 1000})
    return sorted(out, key=lambda v: v["enter_ms"])


def visits(path: list[tuple[float, float, float]], airports: list[dict]) -> list[dict]:
    """Noise-free crossings of each airport's fence radius, second by second."""
    pts = np.array([(p[0], p[1]) for p in path])
    return crossings(pts, [(a["iata"], a["lat"], a["lon"], FENCE_M) for a in airports], EPOCH_MS)


def generate(seed: int, hours: float, noise_m: float | None = None) -> tuple[list[dict], list[dict]]:
    """Returns (events, truth) for one seeded trajectory."""
    airports = load_airports()
    w, rng = trajectory(seed, hours, airports, noise_m)
    events = []
    for i, ((lat, lon, v), s) in enumerate(zip(w.path, w.sigmas)):
        nlat, nlon = offset((lat, lon), float(rng.normal(0, s)), float(rng.normal(0, s)))
        events.append({
            "ts_ms": EPOCH_MS + i * 1000,
            "type": "location",
            "lat": round(nlat, 7),
            "lon": round(nlon, 7),
            "accuracy_m": round(1.51 * s, 1),
            "speed_mps": round(max(0.0, v + float(rng.normal(0, 0.3))), 2),
        })
    truth = [{"kind": "trace", "start_ms": EPOCH_MS, "end_ms": EPOCH_MS + len(w.path) * 1000}]
    truth += visits(w.path, airports)
    return events, truth


def config(out: Path, feature_spec: str) -> None:
    """A runtime config with every airport as a fence (no model);
    `feature_spec` is relative to the config's folder."""
    fences = [
        {"id": a["iata"], "lat": a["lat"], "lon": a["lon"], "radius_m": FENCE_M, "buffer_m": BUFFER_M, "category": "airport"}
        for a in load_airports()
    ]
    cfg = {
        "features": feature_spec,
        "geofence": {"fences": fences, "dwell_enter_s": 5, "dwell_exit_s": 30, "exit_margin_m": 25},
    }
    out.write_text(json.dumps(cfg, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--noise-m", type=float, help="fixed GPS noise σ (default: 5-50 m per activity)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--config-out", type=Path, help="also write the runtime config with the airport fences")
    a = ap.parse_args()
    if a.config_out:
        config(a.config_out, "../../models/feature_spec.json")
    events, truth = generate(a.seed, a.hours, a.noise_m)
    write_jsonl(a.out, events)
    write_jsonl(a.truth, truth)
    print(f"geo_traces: seed {a.seed}: {len(events)} fixes, {sum(t['kind'] == 'visit' for t in truth)} visits -> {a.out}")


if __name__ == "__main__":
    main()
