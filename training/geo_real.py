"""Geofences on real phone and GNSS recordings, not only simulators.

The source archive of the PyPI package ``tracklib`` (0.8.4.2) holds real
recordings: ``data/sep/raw/*.gpx`` and ``*.pos`` (walks recorded at once by
several devices, a phone among them), ``data/*.pos`` (RTKLIB solutions with
per-fix deviations), ``data/gpx/*.gpx`` and ``data/230923.gpx``.
It is downloaded at run time into a cache (``pip download``) and never
committed; without a network the command says so and exits 2 (the tests
skip). ``data/mopsi`` is kept for acceptance and never read here.

From each route dense enough to sample (a median of at most 10 s between
fixes, at least 20 minutes):

* **truth**: the track with spikes removed (a fix that would need more than
  ``SPIKE_MPS`` from the previous kept fix is dropped) and smoothed (median
  of 7 fixes); a visit starts when it crosses into a fence's radius and
  ends when it goes past the radius and the exit margin (the engine's
  contract), merged across absences under ``MERGE_S``;
* **fences**: one where the person stopped (stayed within ``STOP_M`` for at
  least ``STOP_S``), one on the path every ``PATH_EVERY_M`` (a pass
  through), and one beside the path, ``BESIDE_M`` from it and never within
  its radius of the truth (any entry is a false card);
* **fixes**: the raw recorded positions, spikes included, with no speed;
  ``accuracy_m`` from a ``.pos`` file's deviations (1.51 σ), else
  ``ACCURACY_M`` (GPX records none).

Then ``edgeintent geo-eval`` runs adaptive sampling and fixed 10 s and 60 s
intervals over them, with the city set's sampling settings.

    .venv/bin/python training/geo_real.py [--bin target/release/edgeintent] [--cache DIR] [--json OUT]

What it cannot show: the fences are placed from the same tracks they are
judged on (where the person really stopped or passed); the recordings carry
neither accuracy nor speed, nor the phone's own motion signals; a few hours
of a few people.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tracklib==0.8.4.2"
ARCHIVE = "tracklib-0.8.4.2.tar.gz"
# Which recordings form the set; data/mopsi is kept for acceptance.
MEMBERS = ("data/sep/raw/", "data/gpx/", "data/230923.gpx")
CITY_CONFIG = ROOT / "fixtures" / "geo" / "city_config.json"

SPIKE_MPS = 50.0
STOP_M = 30.0
STOP_S = 120.0
FENCE_M = 100.0
BUFFER_M = 300.0
PATH_EVERY_M = 1500.0
BESIDE_M = 300.0
ACCURACY_M = 15.0
MAX_MEDIAN_GAP_S = 10.0
MIN_ROUTE_S = 1200.0


class Unavailable(Exception):
    """The recordings could not be fetched (offline, or PyPI refused)."""


def fetch(cache: Path) -> Path:
    """The tracklib source archive, downloaded into ``cache`` once."""
    path = cache / ARCHIVE
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", PACKAGE, "-d", str(cache)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"pip download {PACKAGE}: {e}") from e
    if r.returncode != 0 or not path.exists():
        raise Unavailable(f"pip download {PACKAGE} failed: {r.stderr.strip()[-300:]}")
    return path


def parse_time(text: str) -> float:
    """Seconds since the epoch of a GPX time (Z or an offset, any fraction)."""
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def parse_gpx(data: bytes) -> np.ndarray:
    """Rows of (t_s, lat, lon), sorted by time, one per distinct time."""
    rows = []
    for el in ET.parse(io.BytesIO(data)).getroot().iter():
        if not el.tag.endswith("trkpt"):
            continue
        t = next((c.text for c in el if c.tag.endswith("time") and c.text), None)
        if t is None:
            continue
        rows.append((parse_time(t), float(el.get("lat")), float(el.get("lon"))))
    if not rows:
        return np.zeros((0, 3))
    a = np.array(sorted(rows))
    keep = np.concatenate([[True], np.diff(a[:, 0]) > 0])
    return a[keep]


def ecef_to_llh(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 latitude and longitude (degrees) of ECEF metres (Bowring)."""
    a, f = 6_378_137.0, 1 / 298.257223563
    b = a * (1 - f)
    e2, ep2 = f * (2 - f), (a * a - b * b) / (b * b)
    p = np.hypot(x, y)
    th = np.arctan2(z * a, p * b)
    lat = np.arctan2(z + ep2 * b * np.sin(th) ** 3, p - e2 * a * np.cos(th) ** 3)
    return np.degrees(lat), np.degrees(np.arctan2(y, x))


def parse_pos(text: str) -> np.ndarray:
    """Rows of (t_s, lat, lon, accuracy_m) of an RTKLIB solution file in
    latitude/longitude or ECEF (relative baselines carry no position: none).
    The accuracy is the 68% horizontal radius, 1.51 σ, with σ from the
    north and east deviations (for ECEF, from all three: an approximation)."""
    header = next((l for l in text.splitlines() if l.startswith("%") and "GPST" in l and "(m)" in l), "")
    llh, ecef = "latitude(deg)" in header, "x-ecef(m)" in header
    if not (llh or ecef):
        return np.zeros((0, 4))
    rows = []
    for line in text.splitlines():
        if line.startswith("%") or not line.strip():
            continue
        parts = line.split()
        try:
            t = datetime.strptime(f"{parts[0]} {parts[1]}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
            a, b, c = float(parts[2]), float(parts[3]), float(parts[4])
            sd = [float(v) for v in parts[7:10]]
        except (ValueError, IndexError):
            continue
        sigma = math.sqrt((sd[0] ** 2 + sd[1] ** 2) / 2) if llh else math.sqrt(sum(v * v for v in sd) / 3)
        rows.append((t, a, b, c, 1.51 * sigma))
    if not rows:
        return np.zeros((0, 4))
    r = np.array(sorted(rows))
    r = r[np.concatenate([[True], np.diff(r[:, 0]) > 0])]
    if llh:
        return r[:, [0, 1, 2, 4]]
    lat, lon = ecef_to_llh(r[:, 1], r[:, 2], r[:, 3])
    return np.column_stack([r[:, 0], lat, lon, r[:, 4]])


def in_set(name: str) -> bool:
    """Whether an archive member is one of the set's recordings."""
    if name.startswith("data/mopsi"):
        return False  # kept for acceptance
    if name.endswith(".pos"):
        return name.count("/") == 1 or name.startswith("data/sep/raw/")
    if not name.endswith(".gpx"):
        return False
    if name.startswith("data/gpx/") and name.count("/") > 2:
        return False  # data/gpx/geo/: other people's old uploads, not in the set
    return any(name.startswith(p) if p.endswith("/") else name == p for p in MEMBERS)


def routes(archive: Path) -> dict[str, np.ndarray]:
    """Every recording of the set, by its name in the archive: rows of
    (t_s, lat, lon, accuracy_m), the accuracy NaN where none was recorded."""
    out = {}
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            name = m.name.split("/", 1)[-1]
            if not (m.isfile() and in_set(name)):
                continue
            f = tar.extractfile(m)
            if f is None:
                continue
            data = f.read()
            if name.endswith(".pos"):
                out[name] = parse_pos(data.decode("utf-8", "replace"))
            else:
                g = parse_gpx(data)
                out[name] = np.column_stack([g, np.full(len(g), np.nan)])
    return out


def dist_m(lat1, lon1, lat2, lon2):
    """Haversine distance in metres (arrays or scalars)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def unusable(track: np.ndarray) -> str | None:
    """Why a recording cannot be sampled from (too sparse, short or not in
    degrees), or None."""
    if len(track) < 100:
        return f"{len(track)} timed fixes"
    if np.abs(track[:, 1]).max() > 90 or np.abs(track[:, 2]).max() > 180:
        return "projected coordinates, not degrees"
    gap = float(np.median(np.diff(track[:, 0])))
    if gap > MAX_MEDIAN_GAP_S:
        return f"a median of {gap:g} s between fixes"
    if track[-1, 0] - track[0, 0] < MIN_ROUTE_S:
        return f"{(track[-1, 0] - track[0, 0]) / 60:.0f} minutes long"
    return None


def despike(track: np.ndarray) -> np.ndarray:
    """Drops fixes that would need more than ``SPIKE_MPS`` from the last kept one."""
    keep = [0]
    for i in range(1, len(track)):
        t0, la0, lo0 = track[keep[-1], :3]
        t, la, lo = track[i, :3]
        if dist_m(la0, lo0, la, lo) <= SPIKE_MPS * max(t - t0, 1e-3):
            keep.append(i)
    return track[keep]


def truth_track(track: np.ndarray) -> np.ndarray:
    """The spike-filtered track, smoothed by a running median of 7 fixes."""
    t = despike(track)
    if len(t) < 7:
        return t
    pad = np.pad(t[:, 1:3], ((3, 3), (0, 0)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 7, axis=0)
    return np.column_stack([t[:, 0], np.median(win, axis=-1)])


def stops(truth: np.ndarray) -> list[tuple[float, float]]:
    """Centres of the places the person stayed within ``STOP_M`` for ``STOP_S``."""
    out, i = [], 0
    while i < len(truth):
        j = i
        while j + 1 < len(truth) and dist_m(truth[i, 1], truth[i, 2], truth[j + 1, 1], truth[j + 1, 2]) <= STOP_M:
            j += 1
        if truth[j, 0] - truth[i, 0] >= STOP_S:
            out.append((float(np.mean(truth[i : j + 1, 1])), float(np.mean(truth[i : j + 1, 2]))))
            i = j + 1
        else:
            i += 1
    return out


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def place_fences(truths: dict[str, np.ndarray]) -> list[dict]:
    """Fences at the routes' stops, on their paths and beside them; one set
    for all routes (several devices recorded the same walks), none within
    two radii of another, none "beside" that any route comes near."""
    out: list[dict] = []
    every = np.concatenate([t[:, 1:3] for t in truths.values()])

    def add(tag: str, kind: str, lat: float, lon: float) -> None:
        if kind == "beside" and dist_m(every[:, 0], every[:, 1], lat, lon).min() <= FENCE_M + 50.0:
            return  # a route comes near it: not a clean pass-by
        if any(dist_m(f["lat"], f["lon"], lat, lon) < 2 * FENCE_M for f in out):
            return
        out.append({"id": f"{tag}-{kind}{len(out)}", "lat": round(lat, 7), "lon": round(lon, 7), "radius_m": FENCE_M, "buffer_m": BUFFER_M, "category": kind})

    for name, truth in truths.items():
        tag = Path(name).stem
        for lat, lon in stops(truth):
            add(tag, "stop", lat, lon)
    for name, truth in truths.items():
        tag = Path(name).stem
        step = dist_m(truth[:-1, 1], truth[:-1, 2], truth[1:, 1], truth[1:, 2])
        along = np.concatenate([[0.0], np.cumsum(step)])
        mark = PATH_EVERY_M / 2
        while mark < along[-1]:
            i = int(np.searchsorted(along, mark))
            j, h = min(i + 5, len(truth) - 1), max(i - 5, 0)
            lat, lon = truth[i, 1], truth[i, 2]
            add(tag, "path", lat, lon)
            # Perpendicular to the local heading.
            dn = (truth[j, 1] - truth[h, 1]) * 111_320.0
            de = (truth[j, 2] - truth[h, 2]) * 111_320.0 * math.cos(math.radians(lat))
            norm = math.hypot(dn, de) or 1.0
            add(tag, "beside", *offset(lat, lon, -de / norm * BESIDE_M, dn / norm * BESIDE_M))
            mark += PATH_EVERY_M
    return out


MERGE_S = 60.0
EXIT_MARGIN_M = 25.0  # the city config's geofence.exit_margin_m


def visits(truth: np.ndarray, fences: list[dict]) -> list[dict]:
    """Crossings of the truth track into each fence's radius and out; a
    person out for under ``MERGE_S`` (walking along the edge) never left."""
    out = []
    for f in fences:
        d = dist_m(truth[:, 1], truth[:, 2], f["lat"], f["lon"])
        start = None
        for k, dk in enumerate(d):
            if dk <= f["radius_m"] and start is None:
                start = k
            # Out past the exit margin, as the engine's contract has it.
            elif dk > f["radius_m"] + EXIT_MARGIN_M and start is not None:
                out.append({"kind": "visit", "fence": f["id"], "enter_ms": int(truth[start, 0] * 1000), "exit_ms": int(truth[k, 0] * 1000)})
                start = None
        if start is not None:
            out.append({"kind": "visit", "fence": f["id"], "enter_ms": int(truth[start, 0] * 1000), "exit_ms": int(truth[-1, 0] * 1000)})
    merged: list[dict] = []
    for v in sorted(out, key=lambda v: (v["fence"], v["enter_ms"])):
        last = merged[-1] if merged else None
        if last and last["fence"] == v["fence"] and v["enter_ms"] - last["exit_ms"] < MERGE_S * 1000:
            last["exit_ms"] = v["exit_ms"]
        else:
            merged.append(dict(v))
    return sorted(merged, key=lambda v: v["enter_ms"])


def accuracy_m(acc: float) -> float:
    """The ``accuracy_m`` a fix is given: from a ``.pos`` file's deviations,
    else ``ACCURACY_M`` (GPX records none)."""
    return ACCURACY_M if math.isnan(acc) else round(max(float(acc), 1.0), 1)


DWELL_ENTER_S = 5.0  # the city config's geofence.dwell_enter_s
MATCH_S = 60.0  # geo-eval takes an ENTER from a minute before entry to a minute after exit


def undetectable(track: np.ndarray, vs: list[dict], fences: list[dict]) -> list[dict]:
    """The long visits that no sampler can turn into an ENTER: even every
    recorded fix never shows the device inside under the engine's contract
    (distance + accuracy within the radius) for the entry dwell. They skim
    the edge; a miss of one says nothing about sampling."""
    by_id = {f["id"]: f for f in fences}
    acc = np.array([accuracy_m(a) for a in track[:, 3]])
    out = []
    for v in vs:
        if v["exit_ms"] - v["enter_ms"] < 60_000:
            continue
        f = by_id[v["fence"]]
        t = track[:, 0] * 1000
        k = (t >= v["enter_ms"] - MATCH_S * 1000) & (t <= v["exit_ms"] + MATCH_S * 1000)
        inside = dist_m(track[k, 1], track[k, 2], f["lat"], f["lon"]) + acc[k] <= f["radius_m"]
        times, since, seen = t[k] / 1000, None, False
        for ts, ok in zip(times, inside):
            since = (since if since is not None else ts) if ok else None
            if since is not None and ts - since >= DWELL_ENTER_S:
                seen = True
                break
        if not seen:
            out.append(v)
    return out


def build(archive: Path, folder: Path) -> tuple[list[str], list[str], Path, dict]:
    """Writes each usable route's fixes and truth, and one config with every
    fence, into ``folder``; returns (traces, truths, config, summary)."""
    folder.mkdir(parents=True, exist_ok=True)
    traces, truths, summary = [], [], {"routes": {}, "skipped": {}}
    tracks, truth_of, seen = {}, {}, {}
    for name, track in sorted(routes(archive).items()):
        key = hash(np.round(track[:, :3], 7).tobytes())
        if len(track) and key in seen:
            summary["skipped"][name] = f"the same fixes as {seen[key]}"
            continue
        seen[key] = name
        why = unusable(track)
        if why is not None:
            summary["skipped"][name] = why
            continue
        tracks[name], truth_of[name] = track, truth_track(track)
    fences = place_fences(truth_of)
    summary["undetectable"] = []
    for name, track in tracks.items():
        vs = visits(truth_of[name], fences)
        summary["undetectable"] += [f"{name}: {v['fence']} at {v['enter_ms']}" for v in undetectable(track, vs, fences)]
        stem = name.replace("/", "_").removesuffix(".gpx")
        events = [
            {"ts_ms": int(t * 1000), "type": "location", "lat": round(la, 7), "lon": round(lo, 7),
             "accuracy_m": accuracy_m(acc)}
            for t, la, lo, acc in track
        ]
        (folder / f"{stem}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        records = [{"kind": "trace", "start_ms": events[0]["ts_ms"], "end_ms": events[-1]["ts_ms"]}, *vs]
        (folder / f"{stem}.truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        traces.append(f"{stem}.jsonl")
        truths.append(f"{stem}.truth.jsonl")
        summary["routes"][name] = {
            "fixes": len(track),
            "hours": round((track[-1, 0] - track[0, 0]) / 3600, 2),
            "spikes_dropped": len(track) - len(despike(track)),
            "visits": len(vs),
            "long_visits": sum(v["exit_ms"] - v["enter_ms"] >= 60_000 for v in vs),
        }
    summary["fences"] = {k: sum(f["category"] == k for f in fences) for k in ("stop", "path", "beside")}
    config = json.loads(CITY_CONFIG.read_text())
    config["features"] = str((CITY_CONFIG.parent / config["features"]).resolve())
    config["geofence"]["fences"] = fences
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=1))
    return traces, truths, path, summary


def evaluate(binary: Path, archive: Path, folder: Path) -> tuple[str, dict]:
    traces, truths, config, summary = build(archive, folder)
    if not traces:
        raise SystemExit("no usable route in the archive")
    args = [str(binary.resolve()), "geo-eval", "--config", str(config)]
    for t in truths:
        args += ["--truth", t]
    args += traces
    table = subprocess.run(args, capture_output=True, text=True, check=True, cwd=folder).stdout
    report = json.loads(subprocess.run([*args, "--json"], capture_output=True, text=True, check=True, cwd=folder).stdout)
    report["set"] = summary
    return table, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--cache", type=Path, default=ROOT / "target" / "cache" / "tracklib")
    ap.add_argument("--traces", type=Path, default=ROOT / "target" / "geo-real")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if not a.bin.exists():
        ap.error(f"{a.bin} is missing: run `cargo build --release` first")
    try:
        archive = fetch(a.cache)
    except Unavailable as e:
        print(f"geo_real: the recordings are unavailable: {e}", file=sys.stderr)
        return 2
    table, report = evaluate(a.bin, archive, a.traces)
    s = report["set"]
    hours = sum(r["hours"] for r in s["routes"].values())
    print(f"== real recordings ({PACKAGE}): {len(s['routes'])} routes, {hours:.1f} h; skipped {len(s['skipped'])}")
    for name, why in s["skipped"].items():
        print(f"   skipped {name}: {why}")
    for name, r in s["routes"].items():
        print(f"   {name}: {r['fixes']} fixes, {r['hours']} h, {r['spikes_dropped']} spikes dropped, {r['visits']} visits ({r['long_visits']} of 60 s or more)")
    print(f"   fences: {s['fences']}")
    long_visits = sum(r["long_visits"] for r in s["routes"].values())
    print(f"   long visits the fixes themselves never show inside (no sampler can see them): {len(s['undetectable'])} of {long_visits}")
    print(table)
    if a.json:
        report["command"] = "python training/geo_real.py --json " + str(a.json)
        a.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
