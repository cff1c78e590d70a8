"""edgeintent over a fleet's logs on Spark: the device's featurizer and the
refresh evaluation, run where the logs are.

Both take a DataFrame of events with ``user_id``, ``ts_ms`` and either the
event fields as columns (the trace contract's names) or the whole event as
JSON text in a column named ``json``. Rows are spread by user
(``repartition``), ordered by user and time within each partition
(``sortWithinPartitions``: ``user_id``, ``ts_ms``, then ``seq`` when the
DataFrame has it, to keep a log's own order among events of the same
millisecond), and streamed through ``mapInArrow``: each partition builds one
runtime from the config and featurizes one user at a time, so a partition's
memory is bounded by one Arrow batch (``spark.sql.execution.arrow.maxRecordsPerBatch``),
not by its largest user.

The config (and the model it names) must be readable where the executors
run: give a dict, or a path that exists on every worker (``spark-submit
--files``, a shared file system).
"""

from __future__ import annotations

import json as _json
from typing import Any, Sequence

from . import _native, _config_args, feature_columns

__all__ = ["featurize", "evaluate", "feature_schema"]


def feature_schema(config: Any, with_sequence: bool = False):
    """The Spark schema of ``featurize``'s output for ``config``."""
    from pyspark.sql.types import FloatType, LongType, StringType, StructField, StructType

    fields = [
        StructField("user_id", StringType(), True),
        StructField("ts_ms", LongType(), False),
        StructField("point", StringType(), False),
    ]
    fields += [StructField(c, FloatType(), False) for c in feature_columns(config, with_sequence)]
    return StructType(fields)


def _ordered(df, partitions: int | None, extra: Sequence[str] = ()):
    keys = ["user_id", *extra, "ts_ms"] + (["seq"] if "seq" in df.columns else [])
    spread = df.repartition(partitions, "user_id") if partitions else df.repartition("user_id")
    return spread.sortWithinPartitions(*keys)


def _need(df, *cols: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise _native.InputError(
            f"the DataFrame lacks the column(s) {', '.join(missing)}; it has: {', '.join(df.columns)}"
        )


def featurize(
    df,
    config: Any,
    with_sequence: bool = False,
    *,
    under_model: bool = False,
    skip_invalid: bool = False,
    partitions: int | None = None,
):
    """A DataFrame of training rows: ``user_id``, ``ts_ms``, ``point`` and the
    feature columns, the same rows and values as ``edgeintent featurize
    --user-id U`` on each user's trace."""
    _need(df, "user_id", "ts_ms")
    args = _config_args(config)
    schema = feature_schema(config, with_sequence)

    def run(batches):
        # One runtime per partition, restarted for each user.
        f = _native.Featurizer(
            **args, with_sequence=with_sequence, under_model=under_model, skip_invalid=skip_invalid
        )
        for b in batches:
            out = f.feed(b)
            if out.num_rows:
                yield out

    return _ordered(df, partitions).mapInArrow(run, schema)


def _as_json(df, drop: Sequence[str]):
    from pyspark.sql import functions as F

    if "json" in df.columns:
        return F.col("json")
    return F.to_json(F.struct(*[F.col(c) for c in df.columns if c not in drop]))


def evaluate(
    df,
    config: Any,
    truth_df,
    *,
    sweep: Sequence[float] = (),
    closed_loop: bool = False,
    partitions: int | None = None,
) -> dict[str, Any]:
    """The refresh evaluation over every user of ``df`` against ``truth_df``
    (``user_id`` and the truth records, as columns ``kind``, ``start_ms``,
    ``end_ms``, ``ts_ms``... or as JSON text in ``json``): the report
    ``edgeintent evaluate --json`` gives on the same users' traces. Each
    partition scores its users one at a time (one user's events in memory)
    and sends back only summed counts."""
    from pyspark.sql import functions as F

    _need(df, "user_id", "ts_ms")
    _need(truth_df, "user_id")
    args = _config_args(config)
    events = df.select(
        "user_id",
        F.lit("event").alias("record"),
        F.lit(1).alias("_k"),
        F.col("ts_ms").alias("_t"),
        (F.col("seq") if "seq" in df.columns else F.lit(0)).cast("long").alias("_s"),
        _as_json(df, ("user_id", "seq")).alias("json"),
    )
    t_time = [c for c in ("start_ms", "ts_ms") if c in truth_df.columns]
    truth = truth_df.select(
        "user_id",
        F.lit("truth").alias("record"),
        F.lit(0).alias("_k"),
        (F.coalesce(*[F.col(c) for c in t_time]) if t_time else F.lit(0)).cast("long").alias("_t"),
        F.lit(0).cast("long").alias("_s"),
        _as_json(truth_df, ("user_id",)).alias("json"),
    )
    both = events.unionByName(truth)
    spread = both.repartition(partitions, "user_id") if partitions else both.repartition("user_id")
    ordered = spread.sortWithinPartitions("user_id", "_k", "_t", "_s")
    evaluator_args = dict(**args, sweep=list(sweep), closed_loop=closed_loop)

    def run(batches):
        import pyarrow as pa

        ev = _native.Evaluator(**evaluator_args)
        for b in batches:
            ev.feed(b.select(["user_id", "record", "json"]))
        yield pa.RecordBatch.from_pydict({"part": [ev.finish()]})

    parts = [r["part"] for r in ordered.mapInArrow(run, "part string").collect()]
    users = sum(_json.loads(p)["users"] for p in parts)
    report = _native.Evaluator(**evaluator_args).report(parts, [f"{users} users (Spark)"])
    return _json.loads(report)
