"""Shared fixtures: import path for training/ and the edgeintent binary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parent.parent
ROOT = TRAINING.parent
sys.path.insert(0, str(TRAINING))


@pytest.fixture(scope="session")
def edgeintent_bin() -> Path:
    """The CLI binary; scripts/test.sh builds it and sets EDGEINTENT_BIN."""
    path = Path(os.environ.get("EDGEINTENT_BIN", ROOT / "target" / "debug" / "edgeintent"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run `cargo build` or scripts/test.sh first")
    return path
