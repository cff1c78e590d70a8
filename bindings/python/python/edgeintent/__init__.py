"""edgeintent in Python: the device's featurizer, runtime, replay and
evaluation, computed by the same Rust code the app embeds.

Events go in as a trace file path, a list of event dicts, or Arrow data (a
``pyarrow.Table`` or ``RecordBatch``) with either one column per event field
(``ts_ms``, ``type``, ``page``, ``dy_px``, ``slot``, ``items``, ...; see the
README's trace contract) or the whole event as JSON text in a column named
``json``. An optional ``user_id`` column splits the rows into users, each
featurized from a fresh state, in the order the rows come.

Arrow data crosses into Rust through the Arrow C data interface, with no
Python object per row; long calls release the GIL. Errors are
``EdgeIntentError`` subclasses carrying the runtime's message.
"""

from __future__ import annotations

import json as _json
import os
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa

from . import _native
from ._native import (
    ConfigError,
    EdgeIntentError,
    EventError,
    InputError,
    ModelError,
    UpdateError,
)

__version__: str = _native.version()

__all__ = [
    "__version__",
    "featurize",
    "feature_columns",
    "feature_spec",
    "Runtime",
    "replay",
    "evaluate",
    "predict",
    "EdgeIntentError",
    "ConfigError",
    "EventError",
    "InputError",
    "ModelError",
    "UpdateError",
]

PathLike = str | os.PathLike


def _config_args(config: PathLike | Mapping[str, Any] | None) -> dict[str, Any]:
    """The native constructors' config arguments for a path, dict or JSON text."""
    if config is None:
        raise InputError(
            "give a config: a path to a config file (models/config.json is the shipped one), "
            "or the config as a dict"
        )
    if isinstance(config, Mapping):
        return {"config_json": _json.dumps(config), "base_dir": os.getcwd()}
    text = os.fspath(config)
    if text.lstrip().startswith("{"):
        return {"config_json": text, "base_dir": os.getcwd()}
    return {"config_path": text}


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _as_arrow(events: Any) -> Any:
    """Arrow data for the native side: dict lists become a ``json`` column."""
    if hasattr(events, "__arrow_c_stream__") or hasattr(events, "__arrow_c_array__"):
        return events
    if isinstance(events, Iterable) and not isinstance(events, (str, bytes, Mapping)):
        lines = [e if isinstance(e, str) else _json.dumps(e) for e in events]
        return pa.table({"json": pa.array(lines, type=pa.string())})
    raise InputError(
        f"events must be a trace file path, a list of event dicts, or Arrow data, not {type(events).__name__}"
    )


def _grouped_by_user(table: Any) -> Any:
    """The rows of each user together, in their original order (a stable sort)."""
    if not isinstance(table, (pa.Table, pa.RecordBatch)) or "user_id" not in table.column_names:
        return table
    order = pa.compute.sort_indices(table, sort_keys=[("user_id", "ascending")])
    return table.take(order)


def feature_columns(config: PathLike | Mapping[str, Any], with_sequence: bool = False) -> list[str]:
    """The value columns ``featurize`` writes for ``config``, after ``ts_ms`` and ``point``."""
    return _native.feature_columns(**_config_args(config), with_sequence=with_sequence)


def feature_spec(config: PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """The feature spec's identity (``feature_spec_hash``, ``feature_spec_version``,
    ``feature_names``, ``sequence_length``) and the spec itself (``spec``): what
    ``edgeintent featurize`` writes beside its CSV, and what an exported model
    must carry."""
    return _json.loads(_native.spec_identity(**_config_args(config)))


def featurize(
    events: Any,
    config: PathLike | Mapping[str, Any] | None = None,
    with_sequence: bool = False,
    *,
    under_model: bool = False,
    skip_invalid: bool = False,
    user_id: str | None = None,
) -> pa.Table:
    """Training rows, one per decision point: the columns and values of
    ``edgeintent featurize`` (``ts_ms``, ``point``, then the features as
    float32, then ``seq_0..`` with ``with_sequence``), with ``user_id`` first
    when the events have that column. ``user_id`` names the user of a
    single-user input (it picks the A/B bucket when the policy has buckets)."""
    f = _native.Featurizer(
        **_config_args(config),
        with_sequence=with_sequence,
        under_model=under_model,
        skip_invalid=skip_invalid,
    )
    if _is_path(events):
        batch = f.feed_file(os.fspath(events), user_id=user_id)
        return pa.Table.from_batches([batch])
    data = _as_arrow(events)
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if user_id is not None:
        if isinstance(data, pa.Table) and "user_id" in data.column_names:
            raise InputError("user_id is given twice: as an argument and as a column")
        data = data.append_column("user_id", pa.array([user_id] * data.num_rows, type=pa.string()))
        batch = f.feed(data)
        return pa.Table.from_batches([batch]).drop_columns(["user_id"])
    batch = f.feed(_grouped_by_user(data))
    return pa.Table.from_batches([batch])


class Runtime:
    """The on-device runtime for one user: ``push`` events, ``tick`` time on,
    ``poll`` decisions, read ``stats``. Pickling rebuilds it from its config
    (a fresh state, as a device starts without a snapshot)."""

    def __init__(self, config: PathLike | Mapping[str, Any], user_id: str | None = None):
        self._config = config if isinstance(config, Mapping) else os.fspath(config)
        self._user_id = user_id
        self._rt = _native.Runtime(**_config_args(config), user_id=user_id)

    def __reduce__(self):
        return (Runtime, (self._config, self._user_id))

    def push(self, event: Mapping[str, Any] | str) -> bool:
        """Processes one event (a dict, or its JSON text). False when its
        ``type`` is unknown to this version (skipped, as on a device)."""
        return self._rt.push_json(event if isinstance(event, str) else _json.dumps(event))

    def push_arrow(self, events: Any, skip_invalid: bool = False) -> int:
        """Processes every event of Arrow data in order; returns how many were accepted."""
        return self._rt.push_arrow(_as_arrow(events), skip_invalid=skip_invalid)

    def tick(self, now_ms: int) -> None:
        """Moves time on without an event."""
        self._rt.tick(now_ms)

    def next_wakeup_ms(self) -> int | None:
        """When the runtime next needs a tick, if ever."""
        return self._rt.next_wakeup_ms()

    def poll(self) -> dict[str, Any] | None:
        """The next decision (the contract's JSON object), or None."""
        line = self._rt.poll_json()
        return None if line is None else _json.loads(line)

    def poll_all(self) -> list[dict[str, Any]]:
        """Every decision waiting."""
        out = []
        while (d := self.poll()) is not None:
            out.append(d)
        return out

    def stats(self) -> dict[str, Any]:
        """Counters, model status, monitors and versions in force."""
        return _json.loads(self._rt.stats_json())

    def update_config(self, package: bytes) -> str:
        """Applies a signed config update; raises UpdateError when refused."""
        return self._rt.update_config(package)

    def update_model(self, package: bytes) -> str:
        """Applies a signed model update; raises UpdateError when refused."""
        return self._rt.update_model(package)


def replay(
    events: Any,
    config: PathLike | Mapping[str, Any] | None = None,
    *,
    user_id: str | None = None,
    updates: PathLike | None = None,
    arm: str | None = None,
    skip_invalid: bool = False,
) -> tuple[pa.Table, dict[str, Any]]:
    """Replays a trace through a fresh runtime, as ``edgeintent replay``:
    the decisions (``ts_ms``, ``action``, ``reason``, and ``json``, the
    contract line) and the summary."""
    kwargs: dict[str, Any] = dict(
        **_config_args(config),
        user_id=user_id,
        updates=None if updates is None else os.fspath(updates),
        arm=arm,
        skip_invalid=skip_invalid,
    )
    if _is_path(events):
        batch, summary = _native.replay(path=os.fspath(events), **kwargs)
    else:
        batch, summary = _native.replay(events=_as_arrow(events), **kwargs)
    return pa.Table.from_batches([batch]), _json.loads(summary)


def _truth_text(truth: Any) -> str:
    if _is_path(truth):
        with open(truth, encoding="utf-8") as f:
            return f.read()
    return "".join((t if isinstance(t, str) else _json.dumps(t)) + "\n" for t in truth)


def evaluate(
    traces: Sequence[Any],
    truths: Sequence[Any],
    config: PathLike | Mapping[str, Any] | None = None,
    *,
    sweep: Sequence[float] = (),
    user_id: str | None = None,
    updates: PathLike | None = None,
    closed_loop: bool = False,
    skip_invalid: bool = False,
) -> dict[str, Any]:
    """The refresh policy against ground truth and the baselines, as
    ``edgeintent evaluate --json``: each trace (a path, dicts or Arrow
    events) with its truth (a path or a list of records)."""
    if len(traces) != len(truths):
        raise InputError(f"{len(traces)} traces but {len(truths)} truths: give one truth per trace")
    ev = _native.Evaluator(
        **_config_args(config),
        sweep=list(sweep),
        user_id=user_id,
        updates=None if updates is None else os.fspath(updates),
        closed_loop=closed_loop,
    )
    names = []
    for trace, truth in zip(traces, truths):
        if _is_path(trace) and _is_path(truth):
            ev.add_files(os.fspath(trace), os.fspath(truth), skip_invalid=skip_invalid)
            names.append(os.fspath(trace))
        else:
            ev.add_user(_as_arrow(trace), _truth_text(truth))
            names.append(f"trace {len(names)}")
    return _json.loads(ev.report([ev.finish()], names))


def predict(model_path: PathLike, x: Any, raw: bool = False) -> dict[str, Any]:
    """Runs an ONNX model on the rows of ``x`` (2-D, float32), with the model
    package's normalisation unless ``raw``: each output's name with its
    values shaped as the model gives them."""
    import numpy as np

    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2:
        raise InputError(f"predict needs a 2-D array of rows, got {arr.ndim} dimensions")
    out = {}
    for name, (values, shape) in _native.predict(os.fspath(model_path), arr, raw).items():
        out[name] = np.asarray(values).reshape(shape) if not isinstance(values, list) else np.array(values, dtype=object).reshape(shape)
    return out
