#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, the Rust tests (unit,
# integration, doc), and the Python tests of training/ in a pinned venv.
# Usage: scripts/test.sh   (from anywhere; needs the Rust toolchain and Python 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Python venv (.venv, pinned by training/requirements.txt)"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# Reinstall only when the pins change.
if ! cmp -s training/requirements.txt .venv/.installed-requirements 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r training/requirements.txt
    cp training/requirements.txt .venv/.installed-requirements
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo build (the binary, and the cdylib the C example links against)"
cargo build --quiet

step "cargo test (unit, integration, doc)"
cargo test --all-targets --quiet
cargo test --doc --quiet

step "pytest training/tests (drives the debug binary cargo test built)"
EDGEINTENT_BIN="$PWD/target/debug/edgeintent" .venv/bin/python -m pytest -q training/tests
