"""Featurize throughput on the same simulated users, three ways: the CLI (one
`edgeintent featurize` process per user), the Python package (in-process,
from files and from one Arrow table of every user), and the Spark job in
local mode (`edgeintent.spark.featurize`). Writes evaluation/scale.json.

Usage: python training/scale_bench.py [--users 400] [--days 2] [--binary target/release/edgeintent]

Figures are events per second per core: each way's events over its wall
time, divided by the cores it ran on (1 for the CLI and the package, the
local master's thread count for Spark). The Spark figure excludes the session
start and the DataFrame's creation (cached before timing) and includes the
shuffle (repartition by user, sort within partitions). Each way runs twice;
the faster run is kept (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import Params, generate, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED0 = 20000


def best_of(n: int, f) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def typed_table(all_events: list[list[dict]]):
    """Every user's events as one Arrow column per field (exposure item ids
    as structs, so they share the `items` column with recommendations)."""
    import pyarrow as pa

    rows = []
    for i, ev in enumerate(all_events):
        for e in ev:
            e = dict(e, user_id=f"u{i:04d}")
            if e["type"] == "exposure":
                e["items"] = [{"id": x} for x in e["items"]]
            rows.append(e)
    keys = sorted({k for r in rows for k in r})
    return pa.table({k: [r.get(k) for r in rows] for k in keys})


def partition_memory(spark, config: str, long_days: int) -> dict:
    """Peak memory of the Python worker that featurizes one partition: for
    one partition of short users and for one user of `long_days` days, in
    batches of 10,000 rows."""
    import resource

    import pyarrow as pa

    from edgeintent import _native
    import edgeintent.spark as eis  # noqa: F401

    def job(users: list[list[dict]]) -> dict:
        rows = [(f"u{i}", k, e["ts_ms"], json.dumps(e)) for i, ev in enumerate(users) for k, e in enumerate(ev)]
        df = spark.createDataFrame(rows, "user_id string, seq long, ts_ms long, json string").coalesce(1)

        def run(batches):
            f = _native.Featurizer(config_path=config)
            n = 0
            for b in batches:
                n += f.feed(b).num_rows
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            yield pa.RecordBatch.from_pydict({"rows": [n], "peak_mib": [peak_kib / 1024]})

        r = df.sortWithinPartitions("user_id", "ts_ms", "seq").mapInArrow(run, "rows long, peak_mib double").collect()[0]
        return {"events": len(rows), "users": len(users), "rows": r["rows"], "worker_peak_rss_mib": round(r["peak_mib"], 1)}

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
    short = [generate(SEED0 + 50000 + i, Params(days=2))[0] for i in range(100)]
    long_user = [generate(SEED0 + 60000, Params(days=long_days))[0]]
    return {"many_short_users": job(short), "one_long_user": job(long_user)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "edgeintent")
    ap.add_argument("--config", type=Path, default=ROOT / "models" / "config.json")
    ap.add_argument("--spark-threads", type=int, default=2)
    ap.add_argument("--long-user-days", type=int, default=365, help="days of the one long user of the memory check")
    ap.add_argument("--out", type=Path, default=ROOT / "evaluation" / "scale.json")
    a = ap.parse_args()
    if not a.binary.exists():
        ap.error(f"{a.binary} is missing: cargo build --release --bin edgeintent")
    import pyarrow as pa

    import edgeintent

    with tempfile.TemporaryDirectory(prefix="edgeintent-scale-") as tmp:
        d = Path(tmp)
        paths, all_events = [], []
        for i in range(a.users):
            ev, _ = generate(SEED0 + i, Params(days=a.days))
            p = d / f"u{i:04d}.jsonl"
            write_jsonl(p, ev)
            paths.append(p)
            all_events.append(ev)
        events = sum(len(ev) for ev in all_events)
        print(f"{a.users} users, {events} events", file=sys.stderr)
        config = str(a.config)

        def cli():
            for p in paths:
                subprocess.run([a.binary, "featurize", "--config", config, "--out", d / "out.csv", p],
                               check=True, stderr=subprocess.DEVNULL)

        def package_files():
            for p in paths:
                edgeintent.featurize(p, config)

        table = pa.table({
            "user_id": [f"u{i:04d}" for i, ev in enumerate(all_events) for _ in ev],
            "json": [json.dumps(e) for ev in all_events for e in ev],
        })

        def package_arrow():
            edgeintent.featurize(table, config)

        typed = typed_table(all_events)

        def package_arrow_columns():
            edgeintent.featurize(typed, config)

        figures = {}
        for name, f in (("cli", cli), ("package_files", package_files), ("package_arrow_json", package_arrow),
                        ("package_arrow_columns", package_arrow_columns)):
            s = best_of(2, f)
            figures[name] = {"seconds": round(s, 3), "cores": 1, "events_per_s_per_core": round(events / s)}
            print(f"{name}: {s:.2f} s, {events / s:,.0f} events/s", file=sys.stderr)

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        import edgeintent.spark as eis

        spark = (SparkSession.builder.master(f"local[{a.spark_threads}]").appName("edgeintent-scale")
                 .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                 .config("spark.sql.shuffle.partitions", str(a.spark_threads * 2)).getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        try:
            seqs = pa.array([i for ev in all_events for i in range(len(ev))], type=pa.int64())
            ts = pa.array([e["ts_ms"] for ev in all_events for e in ev], type=pa.int64())
            df = spark.createDataFrame(table.append_column("seq", seqs).append_column("ts_ms", ts).to_pandas()).cache()
            df.count()

            def spark_job():
                eis.featurize(df, config, partitions=a.spark_threads * 2).write.format("noop").mode("overwrite").save()

            s = best_of(2, spark_job)
            figures["spark_local"] = {"seconds": round(s, 3), "cores": a.spark_threads,
                                      "events_per_s_per_core": round(events / s / a.spark_threads)}
            print(f"spark local[{a.spark_threads}]: {s:.2f} s, {events / s / a.spark_threads:,.0f} events/s/core", file=sys.stderr)
        finally:
            spark.stop()
        # Fresh Python workers for each task, so each peak is its own partition's.
        spark = (SparkSession.builder.master("local[1]").appName("edgeintent-memory")
                 .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                 .config("spark.python.worker.reuse", "false").getOrCreate())
        try:
            memory = partition_memory(spark, config, a.long_user_days)
            print(f"partition memory: {memory}", file=sys.stderr)
        finally:
            spark.stop()

    report = {
        "command": "python training/scale_bench.py " + " ".join(sys.argv[1:]),
        "users": a.users, "days": a.days, "events": events,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": figures,
        "partition_memory": memory,
    }
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
