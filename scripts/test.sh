#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (with and without default
# features), the Rust tests (unit, integration, doc), the device library alone,
# valgrind memcheck of the release cdylib, the timeline page in Chromium
# (installed with apt-get, playwright-core with npm ci, when missing), and the
# Python package (bindings/python, a maturin wheel) and the Python tests of
# training/ (PySpark in local mode included) in a pinned venv.
# Usage: scripts/test.sh   (from anywhere; needs the Rust toolchain, Python 3.11,
# a C compiler, a JDK for the Java binding's test, and Node.js with npm). Each step prints its duration; a long step reports every
# minute that it is still running; the last lines sum up steps and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
LOG_DIR="$TARGET_DIR/test-logs"
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/test.log"
: >"$LOG"
T0=$SECONDS
STEPS_OK=0
STEPS_TOTAL=12
# What the tree looked like before: the tests must leave it as they found it.
STATUS_BEFORE=$(git status --porcelain 2>/dev/null || true)

dur() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Sums the closing lines of cargo test and pytest in the log.
summarise() {
    python3 - "$LOG" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
rp = rf = ri = 0
for m in re.finditer(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text, re.M):
    rp, rf, ri = rp + int(m[1]), rf + int(m[2]), ri + int(m[3])
pp = pf = ps = 0
for line in re.findall(r"^=*\s*(\d+ (?:passed|failed|skipped|error)[^\n]* in [\d.]+s)", text, re.M):
    for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?)", line):
        if what == "passed": pp += int(n)
        elif what == "skipped": ps += int(n)
        else: pf += int(n)
print(f"{rp + pp} {rf + pf} {ri + ps} {rp} {rf} {ri} {pp} {pf} {ps}")
PY
}

finish() {
    local rc=$1
    read -r p f s rp rf ri pp pf ps < <(summarise)
    # A step that failed outside a test runner (fmt, clippy, a build) is a failure too.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    printf '\ntest.sh: %d of %d steps passed in %s (Rust: %d passed, %d failed, %d ignored; pytest: %d passed, %d failed, %d skipped); log: %s\n' \
        "$STEPS_OK" "$STEPS_TOTAL" "$(dur $((SECONDS - T0)))" "$rp" "$rf" "$ri" "$pp" "$pf" "$ps" "$LOG"
    printf 'test.sh: %d passed, %d failed, %d skipped\n' "$p" "$f" "$s"
    exit "$rc"
}

# step NAME COMMAND...: runs the command with its output on the terminal and
# in the log, a heartbeat every minute, and the duration at the end.
step() {
    local name=$1
    shift
    local start=$SECONDS
    printf '\n==> [%d/%d] %s\n' $((STEPS_OK + 1)) "$STEPS_TOTAL" "$name" | tee -a "$LOG"
    (
        while sleep 60; do
            printf '    ... %s: still running, %s\n' "$name" "$(dur $((SECONDS - start)))"
        done
    ) &
    local beat=$!
    # errexit must hold inside the step (a `||` here would switch it off for
    # every command the step runs), so run it plainly with errexit paused here.
    set +e
    (
        set -e
        "$@"
    ) 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    set -e
    kill "$beat" 2>/dev/null || true
    wait "$beat" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        printf '<== %s: FAILED (exit %d) after %s\n' "$name" "$rc" "$(dur $((SECONDS - start)))"
        finish "$rc"
    fi
    STEPS_OK=$((STEPS_OK + 1))
    printf '<== %s: ok in %s\n' "$name" "$(dur $((SECONDS - start)))"
}

venv() {
    local py="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv
    fi
    # Reinstall only when the pins change.
    if ! cmp -s training/requirements.txt .venv/.installed-requirements 2>/dev/null; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -r training/requirements.txt
        cp training/requirements.txt .venv/.installed-requirements
    fi
    echo "venv ready: $(.venv/bin/python --version)"
}

clippy_both() {
    # Every crate with its default features, then the device library and the
    # C library the way phones build them (no tract), and with tract.
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo clippy -p edgeintent --all-targets --no-default-features --quiet -- -D warnings
    cargo clippy -p edgeintent --all-targets --features tract --quiet -- -D warnings
    cargo clippy -p edgeintent-ffi --all-targets --no-default-features --quiet -- -D warnings
}

rust_tests() {
    cargo test --workspace --exclude edgeintent-python --all-targets --quiet
    cargo test --workspace --exclude edgeintent-python --doc --quiet
}

docs() {
    # Public docs build without warnings (broken or private links).
    # The C library's crate is named `edgeintent` too (hosts link
    # libedgeintent): its docs are checked in a run of their own.
    RUSTDOCFLAGS="-D warnings" cargo doc -p edgeintent -p edgeintent-offline --no-deps --quiet
    RUSTDOCFLAGS="-D warnings" cargo doc -p edgeintent-ffi --no-deps --quiet
}

device_library() {
    # The device crate alone, as `cargo add edgeintent` gives it (no default
    # features: no tract), then with tract; its dependency tree holds none
    # of the offline tools' crates.
    cargo test -p edgeintent --lib --quiet
    cargo test -p edgeintent --lib --features tract --quiet
    if cargo tree -p edgeintent -e normal --prefix none | grep -E '^(clap|indicatif|zip|ort|jni|pyo3|tract-onnx) '; then
        echo "the device crate depends on one of clap, indicatif, zip, ort, jni, pyo3, tract-onnx" >&2
        return 1
    fi
    echo "the device crate builds and passes alone; its tree has no offline, CLI, JNI or Python crate"
    # The crates meant for crates.io package cleanly (their manifests, files
    # and versions; the full build is the test steps').
    cargo publish --dry-run --no-verify --quiet --allow-dirty -p edgeintent -p edgeintent-ffi -p edgeintent-offline
    echo "cargo publish --dry-run: edgeintent, edgeintent-ffi, edgeintent-offline package"
    # Issue 19: the device cdylib (no tract; the native executor and .eim
    # packages), its size bound, and the C example on it deciding exactly as
    # the CLI does with the shipped model.
    cargo build --profile device -p edgeintent-ffi --no-default-features --quiet
    local so="$TARGET_DIR/device/libedgeintent.so" limit=$((5 * 1024 * 1024 / 2))
    local size
    # What a host links: every symbol table stripped (cargo's strip leaves .symtab in a cdylib).
    strip -o "$TARGET_DIR/device/libedgeintent.stripped.so" "$so"
    size=$(stat -c %s "$TARGET_DIR/device/libedgeintent.stripped.so")
    echo "device cdylib, stripped: $size bytes (limit $limit)"
    if [ "$size" -gt "$limit" ]; then
        echo "the device cdylib is over 2.5 MiB" >&2
        return 1
    fi
    local dev
    dev="$(cd "$TARGET_DIR/device" && pwd)"
    cc examples/c/replay.c -Iinclude -L"$dev" -ledgeintent -Wl,-rpath,"$dev" -Wall -Wextra -Werror -o "$dev/replay-c"
    (cd models && "$dev/replay-c" config.device.json ../fixtures/example_trace.jsonl) > "$dev/replay-c.jsonl" 2>/dev/null
    "$TARGET_DIR/debug/edgeintent" replay --config models/config.json fixtures/example_trace.jsonl > "$dev/replay-cli.jsonl" 2>/dev/null
    cmp "$dev/replay-c.jsonl" "$dev/replay-cli.jsonl"
    echo "the device library replays the example trace on models/intent.eim exactly as the CLI on intent.onnx"
}

release_memcheck() {
    # Issue 15: valgrind on the optimised cdylib, not only the debug one.
    # Built together with the Python package (as maturin will build it), so
    # their shared dependencies resolve to the same features and tract is
    # compiled in release once, not once per package.
    cargo build --release -p edgeintent-ffi -p edgeintent-python --features pyo3/extension-module --quiet
    EDGEINTENT_RELEASE_LIB="$(cd "$TARGET_DIR" && pwd)/release" \
        cargo test -p edgeintent-ffi --lib --quiet -- --exact tests::hosts::the_c_example_is_memcheck_clean_with_the_release_library --nocapture
}

python_package() {
    # Issue 23: the wheel (maturin, PyO3), built in release like a user's
    # install and put into the venv the Python tests use.
    rm -f "$TARGET_DIR"/wheels/edgeintent-*.whl
    .venv/bin/maturin build --release --quiet -m bindings/python/Cargo.toml -o "$TARGET_DIR/wheels"
    .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$TARGET_DIR"/wheels/edgeintent-*.whl
    .venv/bin/python -c "import edgeintent; print('edgeintent', edgeintent.__version__, 'is installed in .venv')"
}

pytests() {
    # pytest drives the debug binary that cargo test built.
    EDGEINTENT_BIN="$(cd "$TARGET_DIR" && pwd)/debug/edgeintent" .venv/bin/python -m pytest -q training/tests
}

tree_unchanged() {
    local after
    after=$(git status --porcelain 2>/dev/null || true)
    if [ "$after" != "$STATUS_BEFORE" ]; then
        echo "the tests changed the working tree:" >&2
        diff <(echo "$STATUS_BEFORE") <(echo "$after") >&2 || true
        return 1
    fi
    echo "unchanged"
}

step "Python venv (.venv, pinned by training/requirements.txt)" venv
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings (all targets; device library without default features)" clippy_both
step "cargo build (the CLI, and the cdylib and staticlib the C example links against)" cargo build --quiet
step "cargo test (unit, integration, doc)" rust_tests
step "cargo doc, warnings denied" docs
step "device crate alone, packaging, the device cdylib" device_library
step "release cdylib under valgrind memcheck" release_memcheck
step "Python package: maturin wheel installed into .venv" python_package
step "timeline page in Chromium (playwright-core)" timeline/check.sh
step "pytest training/tests" pytests
step "git status: the tests left the tree as they found it" tree_unchanged
finish 0
