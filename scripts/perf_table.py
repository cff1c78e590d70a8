#!/usr/bin/env python3
"""Regenerates the README's performance table from `edgeintent bench --json`.

    .venv/bin/python scripts/perf_table.py [--iters 20000]

Builds the release CLI with the `ort-compare` feature, benchmarks each model
with ONNX Runtime side by side in the same process (interleaved), measures the
stripped sizes of the CLI and the cdylib, and rewrites the block between the
`<!-- perf-table -->` markers of README.md. The raw JSON goes to
`benchmarks/latest.json`. Nothing in the table is typed by hand.

    .venv/bin/python scripts/perf_table.py --sizes-only

measures only the stripped sizes (CLI; cdylib with default features and the
device library alone, `--no-default-features`) and rewrites the
`<!-- sizes -->` block of README.md and the `sizes` of `benchmarks/latest.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"
SIZES_START, SIZES_END = "<!-- sizes:start -->", "<!-- sizes:end -->"

# (label, model, target ratio against ONNX Runtime or None)
MODELS = [
    ("LightGBM 100 trees × 31 leaves, binary", "fixtures/families/lightgbm_binary_nozipmap.onnx", "≤ 1.0 (stretch 0.5)"),
    ("LightGBM 40 × 3 classes", "fixtures/families/lightgbm_multi.onnx", "≤ 1.0 (stretch 0.5)"),
    ("XGBoost 60 trees, depth 4, binary", "fixtures/families/xgboost_binary.onnx", "≤ 1.0 (stretch 0.5)"),
    ("scikit-learn RandomForest 30 × depth 6", "fixtures/families/sklearn_random_forest_binary.onnx", "≤ 1.0 (stretch 0.5)"),
    ("scikit-learn GradientBoosting 50 × depth 3", "fixtures/families/sklearn_gradient_boosting_binary.onnx", "≤ 1.0 (stretch 0.5)"),
    ("shipped intent model (LightGBM 100 × 15)", "models/intent.onnx", "≤ 1.0 (stretch 0.5)"),
    ("MLP 48-64-32-1 (Gemm/Relu/Sigmoid)", "fixtures/bench/mlp_48_64_32_1.onnx", "≤ 0.8 (stretch 0.5)"),
    ("scikit-learn MLPClassifier (with label path, ZipMap)", "fixtures/families/sklearn_mlp_binary.onnx", "≤ 0.8 (stretch 0.5)"),
    ("scikit-learn LogisticRegression", "fixtures/families/sklearn_logreg_binary_nozipmap.onnx", None),
    ("GRU hidden 32, full window of 32 events", "fixtures/bench/gru_window.onnx", None),
    ("GRU hidden 32, one step with state in/out", "fixtures/bench/gru_step.onnx", None),
]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def ort_lib() -> Path:
    import onnxruntime

    capi = Path(onnxruntime.__file__).parent / "capi"
    libs = sorted(capi.glob("libonnxruntime.so.*"))
    if not libs:
        sys.exit(f"perf_table: no libonnxruntime.so.* in {capi}")
    return libs[-1]


def stripped_size(path: Path) -> int:
    tmp = path.with_suffix(path.suffix + ".stripped")
    shutil.copy(path, tmp)
    run(["strip", str(tmp)])
    size = tmp.stat().st_size
    tmp.unlink()
    return size


def sizes() -> dict:
    """Stripped release sizes: the CLI, the cdylib as built by default, and the
    cdylib of the device library alone (no CLI, no offline tools)."""
    run(["cargo", "build", "--release", "--quiet", "--bin", "edgeintent"])
    cli = stripped_size(ROOT / "target/release/edgeintent")
    run(["cargo", "build", "--release", "--quiet", "--lib"])
    full = stripped_size(ROOT / "target/release/libedgeintent.so")
    run(["cargo", "build", "--release", "--quiet", "--lib", "--no-default-features"])
    device = stripped_size(ROOT / "target/release/libedgeintent.so")
    return {"cli_stripped_bytes": cli, "cdylib_stripped_bytes": full, "device_cdylib_stripped_bytes": device}


def sizes_block(sz: dict) -> str:
    mib = lambda b: f"{b / 2**20:.1f} MiB"  # noqa: E731
    return "\n".join([
        SIZES_START,
        f"Sizes (release, stripped, {platform.machine()}, measured by `scripts/perf_table.py --sizes-only` on {date.today()}): "
        f"CLI {mib(sz['cli_stripped_bytes'])}; library as cdylib {mib(sz['cdylib_stripped_bytes'])} with default features, "
        f"{mib(sz['device_cdylib_stripped_bytes'])} as the device library alone (`--no-default-features`).",
        SIZES_END,
    ])


def replace_block(text: str, start: str, end: str, block: str) -> str:
    if start not in text or end not in text:
        sys.exit(f"perf_table: README.md lacks the {start} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + block + tail


def sizes_only() -> None:
    sz = sizes()
    latest = ROOT / "benchmarks" / "latest.json"
    raw = json.loads(latest.read_text()) if latest.exists() else {}
    raw["sizes"] = sz
    raw["sizes_date"] = str(date.today())
    latest.write_text(json.dumps(raw, indent=1) + "\n")
    readme = ROOT / "README.md"
    readme.write_text(replace_block(readme.read_text(), SIZES_START, SIZES_END, sizes_block(sz)))
    print(f"perf_table: sizes {sz}; README.md and benchmarks/latest.json updated")


def us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=20000)
    ap.add_argument("--sizes-only", action="store_true", help="measure and record only the library and CLI sizes")
    a = ap.parse_args()
    if a.sizes_only:
        sizes_only()
        return
    run(["cargo", "build", "--release", "--quiet", "--features", "ort-compare", "--bin", "edgeintent"])
    binary = ROOT / "target/release/edgeintent"
    lib = ort_lib()
    rows, raw = [], {}
    for label, model, target in MODELS:
        cmd = [str(binary), "bench", "--model", model, "--iters", str(a.iters), "--ort-lib", str(lib), "--json"]
        r = json.loads(run(cmd, capture_output=True, text=True).stdout)
        raw[model] = r
        rows.append((label, model, target, r))
        print(f"perf_table: {label}: {r['p50_ns']} ns vs {r['ort_p50_ns']} ns ({r['ratio_p50']:.2f})")
    sz = sizes()
    step, window = raw["fixtures/bench/gru_step.onnx"], raw["fixtures/bench/gru_window.onnx"]
    step_ratio = step["p50_ns"] / window["p50_ns"]

    out = ROOT / "benchmarks"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"date": str(date.today()), "machine": platform.machine(), "onnxruntime_lib": lib.name, "iters": a.iters, "results": raw, "sizes": sz}, indent=1) + "\n")

    lines = [
        START,
        f"Generated by `scripts/perf_table.py` on {date.today()} ({platform.machine()}, {a.iters} runs per engine, interleaved in one process, one thread each, {lib.name}); raw JSON in `benchmarks/latest.json`.",
        "",
        "| model | edgeintent p50 | ONNX Runtime p50 | ratio p50 | ratio p99 | allocations / run | target | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, model, target, r in rows:
        cmd = f"`edgeintent bench --model {model} --ort-lib $ORT`"
        lines.append(
            f"| {label} | {us(r['p50_ns'])} | {us(r['ort_p50_ns'])} | {r['ratio_p50']:.2f} | {r['ratio_p99']:.2f} | {r['allocs_per_run']:.0f} | {target or '-'} | {cmd} |"
        )
    lines += [
        "",
        f"Recurrent stepping: one GRU step costs {step_ratio:.2f}× a full-window re-run ({us(step['p50_ns'])} against {us(window['p50_ns'])}; target ≤ 0.25×).",
        "",
        "ONNX Runtime comparison (`ort-compare`) is an optional feature and not in the default build.",
        END,
    ]
    readme = replace_block((ROOT / "README.md").read_text(), START, END, "\n".join(lines))
    readme = replace_block(readme, SIZES_START, SIZES_END, sizes_block(sz))
    (ROOT / "README.md").write_text(readme)
    print("perf_table: README.md updated")


if __name__ == "__main__":
    main()
