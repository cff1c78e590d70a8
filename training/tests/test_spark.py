"""edgeintent.spark in local mode on 200 simulated users: the featurized rows
equal the CLI's per user, and the evaluation equals `edgeintent evaluate`."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

if shutil.which("java") is None:
    pytest.skip("no Java on this machine: PySpark needs a JVM (JDK 17)", allow_module_level=True)
pytest.importorskip("pyspark", reason="pyspark is not installed (scripts/test.sh installs it)")
edgeintent = pytest.importorskip("edgeintent", reason="the edgeintent wheel is not installed")
import edgeintent.spark as eis  # noqa: E402

CONFIG = ROOT / "models" / "config.json"
USERS = 200
SEED0 = 9000


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("edgeintent-test")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        # Small batches: users straddle batches, as they do at scale.
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "500")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """200 users of one simulated day each: a trace and a truth file per user."""
    from generate import Params, generate

    d = tmp_path_factory.mktemp("fleet")
    users = []
    for i in range(USERS):
        ev, truth = generate(SEED0 + i, Params(days=1))
        uid = f"u{i:03d}"
        (d / f"{uid}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ev))
        (d / f"{uid}.truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
        users.append((uid, ev, truth))
    return d, users


def events_df(spark, users):
    import pandas as pd

    rows = [(uid, seq, e["ts_ms"], json.dumps(e)) for uid, ev, _ in users for seq, e in enumerate(ev)]
    pdf = pd.DataFrame(rows, columns=["user_id", "seq", "ts_ms", "json"])
    return spark.createDataFrame(pdf.sample(frac=1.0, random_state=7))  # shuffled: Spark must order them


def test_spark_featurize_equals_the_cli_per_user(spark, fleet, edgeintent_bin, tmp_path):
    d, users = fleet
    out = eis.featurize(events_df(spark, users), str(CONFIG), partitions=4)
    table = out.toPandas()
    assert list(table.columns[:3]) == ["user_id", "ts_ms", "point"]
    assert table["user_id"].nunique() == USERS
    for uid, _, _ in users:
        csv_path = tmp_path / f"{uid}.csv"
        subprocess.run(
            [edgeintent_bin, "featurize", "--config", CONFIG, "--user-id", uid, "--out", csv_path, d / f"{uid}.jsonl"],
            check=True, capture_output=True,
        )
        with open(csv_path, newline="") as f:
            rows = list(csv.reader(f))
        header, rows = rows[0], rows[1:]
        mine = table[table["user_id"] == uid].sort_values(["ts_ms"], kind="stable")
        assert list(mine.columns[1:]) == header
        assert len(mine) == len(rows), uid
        assert mine["ts_ms"].tolist() == [int(r[0]) for r in rows], uid
        assert mine["point"].tolist() == [r[1] for r in rows], uid
        for j, name in enumerate(header[2:], start=2):
            np.testing.assert_array_equal(
                mine[name].to_numpy(dtype=np.float32), np.array([r[j] for r in rows], dtype=np.float32), err_msg=f"{uid} {name}"
            )


def test_spark_evaluate_equals_the_cli(spark, fleet, edgeintent_bin):
    import pandas as pd

    d, users = fleet
    truth = pd.DataFrame([(uid, json.dumps(t)) for uid, _, tr in users for t in tr], columns=["user_id", "json"])
    ours = eis.evaluate(events_df(spark, users), str(CONFIG), spark.createDataFrame(truth), partitions=4)
    args = [edgeintent_bin, "evaluate", "--json", "--config", CONFIG]
    for uid, _, _ in users:
        args += ["--truth", d / f"{uid}.truth.jsonl"]
    args += [d / f"{uid}.jsonl" for uid, _, _ in users]
    theirs = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    assert ours["events"] == theirs["events"]
    assert ours["policies"] == theirs["policies"]
    assert ours["comparison"] == theirs["comparison"]


def test_spark_needs_users_and_times(spark):
    df = spark.createDataFrame([(1, "x")], ["ts_ms", "json"])
    with pytest.raises(edgeintent.InputError, match="user_id"):
        eis.featurize(df, str(CONFIG))
