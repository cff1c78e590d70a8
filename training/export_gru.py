"""Optional PyTorch path: a GRU over the last-N event types, exported twice:

* ``gru_window.onnx``: input ``sequence`` [1, N] (event-type ids as floats,
  oldest first), output ``score`` [1, 1]: re-runs the whole window per call;
* ``gru_step.onnx``: inputs ``event`` [1, 1] (one event-type id) and ``h_in``
  [1, 1, H]; outputs ``score`` [1, 1] and ``h_out`` [1, 1, H]: the recurrent
  state is an explicit input/output pair, so a runtime can step the model once
  per event and carry the state itself.

The batch is fixed to 1 and ``h_in`` is always given: tract cannot run a GRU
with a symbolic batch and no initial state (see ENGINE-NOTES).

Training data: ``edgeintent featurize --with-sequence`` (the runtime's own
sequence, ids 1..13, 0 = padding) and the labels of ``labels.py``.

    python training/export_gru.py --out-dir training/data/gru

PyTorch is a multi-gigabyte install and not in requirements.txt. Without it
this script says so and exits with status 0 (a skip, not a failure).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
N_TYPES = 14  # 13 event types + padding
SKIP_MESSAGE = "export_gru: PyTorch is not installed; skipping (pip install torch to use this path)"


def torch_available() -> bool:
    """Whether PyTorch can be imported."""
    return importlib.util.find_spec("torch") is not None


def sequences(binary: Path, seeds: range, data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids [rows, N], labels [rows]) from featurized seeded traces."""
    import csv
    import subprocess

    from labels import label, load_truth
    from pipeline import make_trace

    xs, ys = [], []
    for s in seeds:
        trace, truth = make_trace(s, 4, data, f"gru-{s}")
        out = trace.with_suffix(".seq.csv")
        subprocess.run([str(binary), "featurize", "--with-sequence", "--out", str(out), str(trace)], check=True, stderr=subprocess.DEVNULL)
        with out.open() as f:
            reader = csv.reader(f)
            header = next(reader)
            cols = [i for i, h in enumerate(header) if h.startswith("seq_")]
            rows = list(reader)
        ts = np.array([int(r[0]) for r in rows])
        xs.append(np.array([[float(r[i]) for i in cols] for r in rows], dtype=np.float32))
        ys.append(label(ts, load_truth(truth)))
    return np.concatenate(xs), np.concatenate(ys)


def build_models(hidden: int):
    """(window model, step model) sharing one set of weights."""
    import torch
    from torch import nn

    class Core(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(N_TYPES, 8)
            self.gru = nn.GRU(8, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

    class Window(nn.Module):
        def __init__(self, core: Core) -> None:
            super().__init__()
            self.core = core

        def forward(self, sequence: torch.Tensor) -> torch.Tensor:
            h0 = torch.zeros(1, sequence.shape[0], hidden)
            out, _ = self.core.gru(self.core.embed(sequence.long()), h0)
            return torch.sigmoid(self.core.head(out[:, -1]))

    class Step(nn.Module):
        def __init__(self, core: Core) -> None:
            super().__init__()
            self.core = core

        def forward(self, event: torch.Tensor, h_in: torch.Tensor):
            out, h_out = self.core.gru(self.core.embed(event.long()), h_in)
            return torch.sigmoid(self.core.head(out[:, -1])), h_out

    core = Core()
    return Window(core), Step(core)


def main() -> int:
    ap = argparse.ArgumentParser(description="Export a GRU intent model (window and one-step forms).")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "training" / "data" / "gru")
    ap.add_argument("--binary", type=Path)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    if not torch_available():
        print(SKIP_MESSAGE)
        return 0
    import onnxruntime as ort
    import torch

    from pipeline import build_binary

    torch.manual_seed(0)
    binary = a.binary or build_binary()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    x, y = sequences(binary, range(4000, 4012), a.out_dir)
    window, step = build_models(a.hidden)
    opt = torch.optim.Adam(window.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)).unsqueeze(1)
    for epoch in range(a.epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 256):
            idx = perm[i : i + 256]
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy(window(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        print(f"export_gru: epoch {epoch} loss {loss.item():.4f}")

    window.eval()
    step.eval()
    n = x.shape[1]
    win_path, step_path = a.out_dir / "gru_window.onnx", a.out_dir / "gru_step.onnx"
    with torch.no_grad():
        torch.onnx.export(window, (torch.zeros(1, n),), str(win_path), input_names=["sequence"], output_names=["score"], opset_version=17, dynamo=False)
        torch.onnx.export(step, (torch.zeros(1, 1), torch.zeros(1, 1, a.hidden)), str(step_path), input_names=["event", "h_in"], output_names=["score", "h_out"], opset_version=17, dynamo=False)

    # Stepping event by event must give the window's score.
    win = ort.InferenceSession(str(win_path), providers=["CPUExecutionProvider"])
    stp = ort.InferenceSession(str(step_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for row in x[:32]:
        h = np.zeros((1, 1, a.hidden), dtype=np.float32)
        for v in row:
            score, h = stp.run(None, {"event": np.array([[v]], dtype=np.float32), "h_in": h})
        want = win.run(None, {"sequence": row[None, :]})[0]
        worst = max(worst, float(abs(score - want).max()))
    print(f"export_gru: wrote {win_path} and {step_path}; step vs window max |diff| {worst:.2e}")
    return 0 if worst < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
