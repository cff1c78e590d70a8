"""Fit a refresh policy to an app's own logs: traces in, a runnable config out.

    python training/pipeline.py fit --traces DIR --out OUT [--budget-per-hour N]

Steps (nothing here reads a simulator's truth: files named ``*.truth.jsonl``
are skipped, and a folder of traces alone is all it needs):

1. every ``DIR/*.jsonl`` is one user's trace; each is checked line by line
   (a bad line is an error naming the file and the line);
2. the Rust featurizer (``edgeintent featurize``) turns each into one row per
   decision point, with the feature spec of ``--config`` (the shipped one by
   default), so training and serving compute the same features;
3. ``observed_labels.py`` labels every row from what the user did next;
4. users (not rows) are split: every fourth user, by file name, validates;
5. the candidates (logistic regression, LightGBM) are trained on the training
   users and the one with the best validation AUC (against the observed
   labels) is exported as ``OUT/intent.onnx`` with its package metadata;
   with ``--passes 2`` the rows are then featurized again with that model and
   its calibrated policy deciding refreshes, as they will when serving
   (features such as ``since_refresh`` depend on when the policy refreshed),
   and the candidates are trained and calibrated once more (measured effect in
   the README: none on validation AUC, slightly worse on held-out users, so
   one pass is the default);
6. threshold, hysteresis and cooldown are calibrated by replaying the
   validation users through ``edgeintent replay`` for every point of a grid,
   scored on the observed labels: *served* is the share of positive decision
   points at which the policy refreshed, *precision* the share of refreshes
   made at a positive point. With ``--budget-per-hour`` the most-served setting
   within the budget (requests per foreground hour) wins; without it, the one
   with the best harmonic mean of served and precision;
7. ``OUT/config.json`` (the base config with the model and the calibrated
   policy; relative paths, so ``edgeintent replay --config OUT/config.json``
   runs it anywhere), ``OUT/feature_spec.json`` and ``OUT/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import os
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import evaluate_json, requests_saved  # noqa: E402
from model_worth import bootstrap_adds  # noqa: E402
from export import to_onnx  # noqa: E402
from observed_labels import REASONS, label_trace, read_trace  # noqa: E402
from pipeline import candidates as pipeline_candidates  # noqa: E402
from rules_from_logs import (  # noqa: E402
    MAX_RULES, MIN_SUPPORT, MIN_Z, RULE_WINDOW_S, contradicted, learned_rules, rule_stats, write_observed_truth)
from train import feature_matrix, fit_normalization, metrics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIN_USERS = 4
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
HYSTERESES = (None, 0.1, 0.2)
COOLDOWNS_S = (5, 15, 30, 60)
MIN_RECALL = 0.65
MIN_PAGE_SHARE = 0.02
MAX_VOCABULARY = 12
# Do no harm: the model is kept only when it adds at least this much (points
# of requests saved at equal recall) on the validation users, and the lower
# end of its 90% bootstrap interval over users is above zero.
MARGIN = 0.01


class FitError(Exception):
    """A problem with the input that the user can fix; printed without a traceback."""


def say(msg: str) -> None:
    print(f"fit: {msg}", flush=True)


def trace_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FitError(f"{folder}: not a folder of traces")
    files = sorted(p for p in folder.glob("*.jsonl") if not p.name.endswith(".truth.jsonl"))
    if not files:
        raise FitError(f"{folder}: no trace files (*.jsonl, one user each)")
    if len(files) < MIN_USERS:
        raise FitError(f"{folder}: {len(files)} users; at least {MIN_USERS} are needed to train on some and validate on others")
    return files


def candidates() -> dict:
    """The shipped model's candidate families, without the MLP (slow, and never
    chosen on these rows)."""
    return {k: v for k, v in pipeline_candidates().items() if k in ("logreg", "lightgbm")}


def page_vocabulary(traces: list[Path]) -> list[str]:
    """The pages that make up at least ``MIN_PAGE_SHARE`` of the page views
    in ``traces``, most viewed first (at most ``MAX_VOCABULARY``), ``home``
    always among them."""
    counts: dict[str, int] = {}
    for t in traces:
        for e in read_trace(t):
            if e.get("type") == "page_view" and isinstance(e.get("page"), str):
                counts[e["page"]] = counts.get(e["page"], 0) + 1
    total = sum(counts.values()) or 1
    common = sorted((p for p, n in counts.items() if n / total >= MIN_PAGE_SHARE and p != "home"),
                    key=lambda p: (-counts[p], p))
    return ["home"] + common[: MAX_VOCABULARY - 1]


def with_vocabulary(base: dict, base_config: Path, pages: list[str], work: Path) -> Path:
    """A copy of the base config whose spec adds the interval features with
    the app's page vocabulary (``shift_model.spec_v2``)."""
    from shift_model import spec_v2

    folder = base_config.parent
    spec_path = folder / base["features"] if isinstance(base.get("features"), str) else None
    spec = json.loads(spec_path.read_text()) if spec_path else base["features"]
    (work / "fit_spec.json").write_text(json.dumps(spec_v2(spec, pages, spec.get("version", "fit") + "+pages")))
    # Featurized under the rules (the base model was trained on another spec).
    config = {k: v for k, v in base.items() if k != "model"}
    config["features"] = str(work / "fit_spec.json")
    path = work / "fit_base.json"
    path.write_text(json.dumps(config))
    return path


def split(users: list[dict]) -> tuple[list[dict], list[dict]]:
    """(training users, validation users): every fourth user, by file name, validates."""
    return [u for i, u in enumerate(users) if i % 4 != 3], [u for i, u in enumerate(users) if i % 4 == 3]


def serving_config(base: dict, out: Path, policy: dict, rules: list[dict], relative: bool = False,
                   model: bool = True) -> dict:
    """The base config running the model in `out` under `policy` (or, without
    `model`, the rules alone), with the learned `rules` ahead of the base
    config's triggers (the first rule an event matches decides); absolute
    paths unless `relative`."""
    config = {
        **base,
        "model": {**base.get("model", {}), "path": "intent.onnx" if relative else str(out / "intent.onnx"), "required": True},
        "features": "feature_spec.json" if relative else str(out / "feature_spec.json"),
        "policy": policy,
        "triggers": rules + list(base.get("triggers", [])),
    }
    if not model:
        del config["model"]
    return config


def user_rows(trace: Path, events: list[dict], table, identity: dict) -> dict:
    """One user's featurized rows (an Arrow table: ``ts_ms``, ``point``, the
    features), labelled from the trace alone."""
    names = identity["feature_names"]
    ts = table.column("ts_ms").to_numpy().astype(np.int64)
    points = table.column("point").to_pylist()
    x = feature_matrix(table, names)
    y, why = label_trace(events, ts, points)
    return {"trace": trace, "events": events, "ts": ts, "points": points, "x": x, "y": y, "why": why, "names": names, "identity": identity,
            "fg_hours": foreground_ms(events) / 3.6e6}


def featurize_user(config: Path, trace: Path, under_model: bool = False) -> dict:
    """One user's rows from the edgeintent package: the serving featurizer."""
    import edgeintent

    events = read_trace(trace)  # names the file and line of a bad event
    try:
        table = edgeintent.featurize(trace, config, under_model=under_model)
        identity = edgeintent.feature_spec(config)
    except edgeintent.EdgeIntentError as e:
        raise FitError(str(e)) from None
    return user_rows(trace, events, table, identity)


def featurize_users(config: Path, traces: list[Path], under_model: bool = False, spark=None) -> list[dict]:
    """Every user's rows: one package call per trace, or with ``spark`` (a
    SparkSession) one Spark job over all of them (``edgeintent.spark``),
    the trace's file name standing for the user id."""
    if spark is None:
        users = []
        for k, f in enumerate(traces, 1):
            users.append(featurize_user(config, f, under_model))
            if k % 10 == 0 or k == len(traces):
                say(f"featurized and labelled {k}/{len(traces)} users")
        return users
    import edgeintent
    import edgeintent.spark as eis
    import pyarrow as pa

    events = {f: read_trace(f) for f in traces}
    ids = {f"{k:06d}-{f.stem}": f for k, f in enumerate(traces)}
    table = pa.table({
        "user_id": [u for u, f in ids.items() for _ in events[f]],
        "seq": [i for f in ids.values() for i in range(len(events[f]))],
        "ts_ms": [e["ts_ms"] for f in ids.values() for e in events[f]],
        "json": [json.dumps(e) for f in ids.values() for e in events[f]],
    })
    df = spark.createDataFrame(table.to_pandas())
    try:
        # Rows carry no user id of their own: featurize without buckets, as one call per trace does.
        rows = pa.Table.from_pandas(eis.featurize(df, str(config), under_model=under_model).toPandas(), preserve_index=False)
        identity = edgeintent.feature_spec(config)
    except edgeintent.EdgeIntentError as e:
        raise FitError(str(e)) from None
    users = []
    for u, f in ids.items():
        mine = rows.filter(pa.compute.equal(rows.column("user_id"), u))
        mine = mine.take(pa.compute.sort_indices(mine, sort_keys=[("ts_ms", "ascending")]))
        users.append(user_rows(f, events[f], mine, identity))
    say(f"featurized and labelled {len(users)} users on Spark ({spark.sparkContext.master})")
    return users


def policy_config(base: dict, threshold: float | None, hysteresis: float | None, cooldown_s: float, budget: int | None) -> dict:
    policy = dict(base.get("policy", {}))
    policy.pop("buckets", None)  # one fitted threshold, not the base config's A/B buckets
    policy["cooldown_s"] = cooldown_s
    if threshold is not None:  # None: no model, the threshold does not matter
        policy["threshold"] = threshold
    if hysteresis is None:
        policy.pop("hysteresis", None)
    else:
        policy["hysteresis"] = hysteresis
    if budget is not None:
        policy["budget_per_hour"] = budget
    return policy


def evaluate_observed(config: Path, users: list[dict], truths: list[Path]) -> dict:
    """``edgeintent evaluate`` of one config on ``users`` against ``truths``: our
    requests per hour, recall, and requests saved against the fixed-interval
    curve at equal recall (``None`` when no fixed interval reaches it)."""
    report = evaluate_json(config, [u["trace"] for u in users], truths)
    ours = report["policies"][0]
    return {"requests_per_hour": round(ours["requests_per_hour"], 2), "recall": ours["recall"],
            "saved": requests_saved(report)}


def estimate(config: Path, users: list[dict], truths: list[tuple[Path, Path]]) -> dict:
    """The mean of :func:`evaluate_observed` at both ends of the observed truth
    (``rules_from_logs.observed_truth``); ``saved`` is ``None`` when either end
    has none."""
    ends = [evaluate_observed(config, users, [t[i] for t in truths]) for i in (0, 1)]
    saved = [e["saved"] for e in ends]
    return {"requests_per_hour": ends[0]["requests_per_hour"],
            "recall": round(sum(e["recall"] for e in ends) / 2, 4),
            "recall_at_start": round(ends[0]["recall"], 4), "recall_at_evidence": round(ends[1]["recall"], 4),
            "saved": None if None in saved else round(sum(saved) / 2, 4)}


def foreground_ms(events: list[dict]) -> int:
    total, since = 0, None
    for e in sorted(events, key=lambda e: e["ts_ms"]):
        if e["type"] == "app_foreground" and since is None:
            since = e["ts_ms"]
        elif e["type"] == "app_background" and since is not None:
            total += e["ts_ms"] - since
            since = None
    return total


def _pick(results: list[dict], budget: int | None, min_recall: float) -> dict | None:
    """The grid's choice among ``results`` (see :func:`calibrate`)."""
    if not results:
        return None
    if budget is not None:
        within = [r for r in results if r["requests_per_hour"] <= budget]
        return max(within, key=lambda r: (r["recall"], -r["requests_per_hour"])) if within else None
    reaching = [r for r in results if r["recall"] >= min_recall and r["saved"] is not None]
    if not reaching:
        return max(results, key=lambda r: (r["recall"], -r["requests_per_hour"]))
    return max(reaching, key=lambda r: (r["saved"], -r["requests_per_hour"]))


def calibrate(base: dict, out: Path, valid: list[dict], rules: list[dict], budget: int | None,
              min_recall: float, work: Path) -> tuple[dict, list[dict]]:
    """Replays the validation users through every setting of the grid (threshold,
    hysteresis, cooldown; the learned rules always on: each passed its
    significance test, and pruning them on a few validation users proved
    noisier than keeping them) with ``edgeintent evaluate``, scored on their
    observed truth, and picks one: within ``budget`` the one
    with the best recall; otherwise the one that saves the most requests
    against the fixed-interval curve at equal recall among those reaching
    ``min_recall`` (or, if none does, the one with the best recall)."""
    truths = [write_observed_truth(u, work) for u in valid]
    # Threshold None: the rules alone, so that the model must earn its place.
    grid = [(t, h, c) for t in THRESHOLDS for h in HYSTERESES for c in COOLDOWNS_S if h is None or h < t]
    grid += [(None, None, c) for c in COOLDOWNS_S]
    results = []
    path = work / "candidate.json"
    for n, (t, h, c) in enumerate(grid, 1):
        config = serving_config(base, out, policy_config(base, t, h, c, budget), rules, model=t is not None)
        path.write_text(json.dumps(config))
        row = {"threshold": t, "hysteresis": h, "cooldown_s": c, **estimate(path, valid, truths)}
        results.append(row)
        if n % 50 == 0 or n == len(grid):
            say(f"calibrating on {len(valid)} validation users: {n}/{len(grid)} settings")
    best = _pick(results, budget, min_recall)
    if best is None:
        raise FitError(f"no setting stays within {budget} requests per hour on the validation users (lowest: {min(r['requests_per_hour'] for r in results)})")
    if budget is None and not any(r["recall"] >= min_recall and r["saved"] is not None for r in results):
        say(f"no setting reaches recall {min_recall} on the validation users' observed truth; taking the best, {best['recall']}")
    return best, results


def worth_on_validation(base: dict, out: Path, valid: list[dict], rules: list[dict], best: dict,
                        budget: int | None, work: Path) -> dict:
    """What the model adds at equal recall on the validation users, under
    the best setting with a model: its threshold curve against the same
    setting without it, on each end of the observed truth (averaged), with a
    bootstrap interval over users."""
    truths = [write_observed_truth(u, work) for u in valid]
    path = work / "worth.json"
    path.write_text(json.dumps(serving_config(
        base, out, policy_config(base, best["threshold"], best["hysteresis"], best["cooldown_s"], budget), rules)))
    ends = []
    for i in (0, 1):
        per_user = [evaluate_json(path, [u["trace"]], [t[i]])["policies"] for u, t in zip(valid, truths)]
        ends.append(bootstrap_adds(per_user))
    if any(e["adds"] is None for e in ends):
        return {"adds": None, "ci90": [None, None], "ends": ends}
    lo = [e["ci90"][0] for e in ends]
    hi = [e["ci90"][1] for e in ends]
    return {"adds": sum(e["adds"] for e in ends) / 2,
            "ci90": [None if None in lo else sum(lo) / 2, None if None in hi else sum(hi) / 2], "ends": ends}


def do_no_harm(worth: dict) -> tuple[bool, str]:
    """Whether to keep the model, and why, in words."""
    adds, (lo, hi) = worth["adds"], worth["ci90"]
    if adds is None:
        return False, "its threshold curve does not reach the recall of the rules alone on the validation users"
    text = f"{adds * 100:+.1f} points (90% interval over users {_pts(lo)} to {_pts(hi)})"
    if adds < MARGIN:
        return False, f"it adds {text}, under the margin of {MARGIN * 100:.0f} point"
    if lo is None or lo <= 0.0:
        return False, f"it adds {text}, but the interval reaches zero"
    return True, f"it adds {text}"


def _pts(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:+.1f}"


def model_card(path: Path, summary: dict) -> None:
    s = summary
    lines = [
        "# Fitted refresh policy",
        "",
        f"Made by `{s['command']}` from {s['users']} users' traces ({s['train_users']} to train, {s['valid_users']} to validate), {s['rows']} decision points.",
        "Labels come from observable behaviour only (`training/observed_labels.py`); no simulator truth was read.",
        "",
        f"Observed positive rate: {s['positive_rate']:.3f}; positives by rule: " + ", ".join(f"{k} {v}" for k, v in s["reasons"].items()) + ".",
        "",
        "| candidate | validation AUC (observed labels) | log-loss |",
        "|---|---|---|",
    ]
    for name, m in s["candidates"].items():
        mark = f"**{name}**" if name == s["chosen"] else name
        lines.append(f"| {mark} | {m['auc']} | {m['log_loss']} |")
    lines += [
        "",
        f"Event kinds that announce stale content on the training users (the next home view within {RULE_WINDOW_S:g} s labelled stale, "
        f"against {s['home_view_stale_share'] * 100:.1f}% of all home views; top {MAX_RULES} with support >= {MIN_SUPPORT} and a stale share {MIN_Z:g} standard errors above that are rule candidates):",
        "",
        "| event | matches | support | stale share | lift | z |",
        "|---|---|---|---|---|---|",
    ]
    for k in s["event_kinds"][:10]:
        lines.append(f"| {k['event']} | {k['field'] + ' ' + k['value'] if k['field'] else '-'} | {k['support']} | {k['stale_share']} | {k['lift']} | {k['z']} |")
    p = s["policy"]
    rules = ", ".join(f"`{r['event']}{''.join(f' {v}' for v in r.get('when', {}).values())}`" for r in s["rules"]) or "none"
    if s["dropped_base_rules"]:
        lines += ["", "Base-config rules the logs contradict, dropped: " + ", ".join(
            f"`{d['rule']['event']}` (the next home view was stale {d['stale_share'] * 100:.1f}% of {d['support']} times, z {d['z']})"
            for d in s["dropped_base_rules"]) + "."]
    lines += [
        "",
        ("`config.json` runs on the rules alone (`intent.onnx` is kept for reference; see *do no harm* below). "
         if p["threshold"] is None else "")
        + f"Calibrated on the validation users: threshold {p['threshold']}, hysteresis {p['hysteresis']}, cooldown {p['cooldown_s']} s, "
        f"learned `mark_stale` rules: {rules}"
        + (f", within a budget of {s['budget_per_hour']} requests per hour" if s["budget_per_hour"] is not None else f", for recall >= {s['min_recall']}") + ".",
        f"There, scored by `edgeintent evaluate` against their observed truth (`training/rules_from_logs.py`), it made {p['requests_per_hour']} requests "
        f"per foreground hour at recall {p['recall']}, "
        + ("which no fixed interval reaches" if p["saved"] is None else f"{p['saved'] * 100:.1f}% fewer than the fixed-interval curve at equal recall") + ".",
        "These are estimates on labels inferred from behaviour; the judged figures need a truth no app has (see the README's cross-population table).",
        "",
        f"Do no harm: the model is kept only if it adds at least {s['margin'] * 100:.0f} point of requests saved at equal recall on the "
        "validation users (its threshold curve against the same setting without it, both ends of the observed truth) and the "
        f"90% bootstrap interval over users stays above zero. Verdict: {'kept' if s['model_worth']['kept'] else 'left out'}, "
        f"because {s['model_worth']['why']}.",
        "",
    ]
    path.write_text("\n".join(lines))


def train_and_export(users: list[dict], out: Path) -> tuple[str, dict]:
    """Trains the candidates on the training users, exports the best by
    validation AUC as ``out/intent.onnx``; returns its name and every result."""
    train, valid = split(users)
    xt = np.concatenate([u["x"] for u in train])
    yt = np.concatenate([u["y"] for u in train])
    xv = np.concatenate([u["x"] for u in valid])
    yv = np.concatenate([u["y"] for u in valid])
    for name, y in (("training", yt), ("validation", yv)):
        if len(set(y.tolist())) < 2:
            raise FitError(f"the {name} users' decision points are all labelled {int(y[0]) if len(y) else '-'}: their traces show no sign of wanting fresh content, or nothing else")
    mean, scale = fit_normalization(xt)
    identity = users[0]["identity"]
    results, models = {}, {}
    for name, make in candidates().items():
        clf = make().fit((xt - mean) / scale, yt)
        results[name] = metrics(clf.predict_proba((xv - mean) / scale)[:, 1], yv)
        models[name] = clf
        say(f"trained {name}: validation AUC {results[name]['auc']}")
    chosen = max(results, key=lambda n: (results[n]["auc"], -results[n]["log_loss"]))
    onx = to_onnx(models[chosen], identity, mean, scale, f"fitted-{chosen}", results[chosen])
    onnx.save(onx, str(out / "intent.onnx"))
    (out / "feature_spec.json").write_text(json.dumps(identity["spec"], indent=2) + "\n")
    return chosen, results


def fit(traces: Path, out: Path, base_config: Path, budget: int | None, n_passes: int = 1,
        min_recall: float = MIN_RECALL, spark=None) -> dict:
    traces, out, base_config = traces.resolve(), out.resolve(), base_config.resolve()
    files = trace_files(traces)
    if budget is not None and budget < 1:
        raise FitError(f"--budget-per-hour {budget}: must be at least 1")
    if not 0.0 < min_recall <= 1.0:
        raise FitError(f"--min-recall {min_recall}: must be in (0, 1]")
    base = json.loads(base_config.read_text())
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgeintent-fit-") as tmp:
        work = Path(tmp)
        # The app's own page names, learned on the training users, go into
        # the spec (pages outside them share one bucket when serving).
        pages = page_vocabulary([f for i, f in enumerate(files) if i % 4 != 3])
        base_config = with_vocabulary(base, base_config, pages, work)
        say(f"page vocabulary from the training users: {', '.join(pages)}")
        users = featurize_users(base_config, files, spark=spark)
        base_rate, stats = rule_stats(split(users)[0])
        rules = learned_rules(stats)
        dropped = contradicted(base.get("triggers", []), split(users)[0], base_rate)
        if dropped:
            base = {**base, "triggers": [t for t in base["triggers"] if all(t is not d["rule"] for d in dropped)]}
            say("the logs contradict base rules, dropped: " + ", ".join(
                f"{d['rule']['event']} (next home view stale {d['stale_share'] * 100:.0f}% of {d['support']}, z {d['z']})" for d in dropped))
        say(f"{len(rules)} event kinds announce stale content on the training users (z >= {MIN_Z}): "
            + (", ".join(f"{r['event']}{''.join(f' {v}' for v in r.get('when', {}).values())}" for r in rules) or "none"))
        passes = []
        for p in range(1, n_passes + 1):
            if p > 1 and best["threshold"] is None:
                say(f"pass {p}: skipped, the rules alone serve (no model to featurize under)")
                break
            if p > 1:
                # Featurize again with the last pass's model and calibrated
                # policy deciding refreshes, as they will when serving.
                serving = work / "serving.json"
                policy = policy_config(base, best["threshold"], best["hysteresis"], best["cooldown_s"], budget)
                serving.write_text(json.dumps(serving_config(base, out, policy, rules)))
                users = featurize_users(serving, [u["trace"] for u in users], under_model=True, spark=spark)
                say(f"pass {p}: featurized {len(users)} users under the pass-{p - 1} model and policy")
            chosen, results = train_and_export(users, out)
            best, grid = calibrate(base, out, split(users)[1], rules, budget, min_recall, work)
            passes.append({"pass": p, "chosen": chosen, "candidates": results, "policy": best})
        # Do no harm: the model must add at least the margin on the
        # validation users, or the config runs on the rules alone.
        with_model = [r for r in grid if r["threshold"] is not None]
        rules_alone = [r for r in grid if r["threshold"] is None]
        pick = _pick(with_model, budget, min_recall)
        worth = worth_on_validation(base, out, split(users)[1], rules, pick, budget, work) if pick else \
            {"adds": None, "ci90": [None, None]}
        keep, why = do_no_harm(worth)
        worth["kept"], worth["why"] = keep, why
        best = pick if keep else _pick(rules_alone, budget, min_recall) or best
        say(("keeping the model: " if keep else "the rules alone: the model is left out because ") + why)
    policy = policy_config(base, best["threshold"], best["hysteresis"], best["cooldown_s"], budget)
    config = serving_config(base, out, policy, rules, relative=True, model=best["threshold"] is not None)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    train, valid = split(users)
    reasons = {r: sum(w == r for u in users for w in u["why"]) for r in REASONS}
    summary = {
        "command": "python training/pipeline.py fit " + " ".join(sys.argv[2:]),
        "users": len(users), "train_users": len(train), "valid_users": len(valid),
        "rows": int(sum(len(u["y"]) for u in users)),
        "positive_rate": float(np.concatenate([u["y"] for u in users]).mean()),
        "reasons": reasons, "candidates": passes[-1]["candidates"], "chosen": passes[-1]["chosen"], "passes": passes,
        "home_view_stale_share": round(base_rate, 4), "event_kinds": [{k: v for k, v in s.items() if k != "views"} for s in stats], "rules": rules,
        "dropped_base_rules": dropped, "policy": best, "budget_per_hour": budget, "min_recall": min_recall, "grid": grid,
        "model_worth": worth, "margin": MARGIN,
    }
    (out / "fit.json").write_text(json.dumps(summary, indent=2) + "\n")
    model_card(out / "MODEL_CARD.md", summary)
    if best["threshold"] is None:
        say(f"config.json runs on the rules alone ({out / 'intent.onnx'} is kept for reference)")
    say(f"wrote {out / 'config.json'} (threshold {best['threshold']}, hysteresis {best['hysteresis']}, cooldown {best['cooldown_s']} s, "
        f"{len(rules)} learned rules), {out / 'intent.onnx'} ({passes[-1]['chosen']}), {out / 'MODEL_CARD.md'}")
    return summary


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pipeline.py fit", description=__doc__.split("\n")[0])
    ap.add_argument("--traces", type=Path, required=True, help="folder of trace files (*.jsonl), one user each")
    ap.add_argument("--out", type=Path, required=True, help="where config.json, intent.onnx and the model card go")
    ap.add_argument("--budget-per-hour", type=int, help="most refresh requests per foreground hour")
    ap.add_argument("--config", type=Path, default=ROOT / "models" / "config.json", help="base config: feature spec, triggers, other policy settings")
    ap.add_argument("--spark", nargs="?", const="local[2]", metavar="MASTER",
                    help="featurize on a Spark session (default master local[2]; or e.g. spark://host:7077, yarn)")
    ap.add_argument("--passes", type=int, default=1, choices=[1, 2, 3], help="featurize-and-train passes; later ones featurize under the previous model")
    ap.add_argument("--min-recall", type=float, default=MIN_RECALL, help="without a budget: the recall (on observed labels) the calibrated policy must reach")
    a = ap.parse_args(argv)
    try:
        import edgeintent  # noqa: F401
    except ImportError:
        ap.error("the edgeintent package is missing: scripts/test.sh installs it into .venv (maturin build of bindings/python)")
    spark = None
    if a.spark:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master(a.spark).appName("edgeintent-fit").getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    try:
        fit(a.traces, a.out, a.config, a.budget_per_hour, a.passes, a.min_recall, spark=spark)
    except (FitError, ValueError) as e:
        print(f"fit: error: {e}", file=sys.stderr)
        return 1
    finally:
        if spark is not None:
            spark.stop()
    return 0
