"""``fit`` on production-like logs, judged on other users: the fitted config
with and without its model, open and closed loop, at equal recall.

    python training/fit_worth.py [--simulators a,b,c] [--fit-users 16] [--test-users 12]

Fit users: production-like logs (``app_logs.py``: the app refreshed at 30%
of home views, a ``recommendations`` record for each) of seeds from the
training and validation range (A 3100.., B 6100.., C 7100..), 5 days; test
users: the held-out seeds (A 9000.., B 9500.., C 9700..), as in
``model_worth.py``. Prints the do-no-harm verdict ``fit`` reached, and the
figures ``model_worth.py`` measures on the test users.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_logs import app_log  # noqa: E402
from fit import fit  # noqa: E402
from generate import write_jsonl  # noqa: E402
from model_worth import adds_text, closed_loop, load_library, open_loop, pct  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIT_SEED0 = {"a": 3100, "b": 6100, "c": 7100}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--simulators", default="a,b,c")
    ap.add_argument("--fit-users", type=int, default=16)
    ap.add_argument("--test-users", type=int, default=12)
    ap.add_argument("--closed", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--lib", type=Path, default=ROOT / "target" / "release" / "libedgeintent.so")
    ap.add_argument("--out", type=Path, help="JSON report")
    a = ap.parse_args()
    lib = load_library(a.lib) if a.closed else None
    report = {"command": "python training/fit_worth.py " + " ".join(sys.argv[1:]), "rows": {}}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for sim in a.simulators.split(","):
            logs = d / f"logs_{sim}"
            for s in range(FIT_SEED0[sim], FIT_SEED0[sim] + a.fit_users):
                events, _ = app_log(sim, s, 5)
                write_jsonl(logs / f"{sim}_{s}.jsonl", events)
            out = d / f"fit_{sim}"
            summary = fit(logs, out, ROOT / "models" / "config.json", None)
            worth = summary["model_worth"]
            config = out / "config.json"
            if not worth["kept"]:
                # Judge the model anyway: the same fitted config with it.
                cfg = json.loads(config.read_text())
                cfg["model"] = {"path": "intent.onnx", "required": True}
                config = out / "config_with_model.json"
                config.write_text(json.dumps(cfg))
            row = {"fit_verdict": worth, "open": open_loop(config, sim, a.test_users, d)}
            if lib is not None:
                row["closed"] = closed_loop(config, sim, a.test_users, d / f"closed_{sim}", lib)
            report["rows"][sim] = row
            o = row["open"]
            line = (f"{sim.upper()}: fit kept the model: {worth['kept']} ({worth['why']}); on test users, open: "
                    f"with model {pct(o['ours']['saved'])}% at {o['ours']['recall']:.3f}, without "
                    f"{pct(o['no_model']['saved'])}% at {o['no_model']['recall']:.3f}, {adds_text(o)}")
            if "closed" in row:
                c = row["closed"]
                line += (f" | closed: with {pct(c['ours']['saved'])}% at {c['ours']['recall']:.3f}, without "
                         f"{pct(c['no_model']['saved'])}% at {c['no_model']['recall']:.3f}, {adds_text(c)}")
            print(line, flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
