#!/usr/bin/env bash
# The decision timeline page in a real browser (issue 24). Installs what it
# needs when missing (Debian's chromium, nodejs and npm with apt-get,
# playwright-core from timeline/package-lock.json with npm ci), writes the pages of the example
# trace and of a seeded day of events with the debug CLI, and runs
# timeline/test.mjs on both (the day's page must render within 2 s and say
# that it thinned points). Outputs, screenshots included, go to
# target/timeline/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="${EDGEINTENT_BIN:-$ROOT/target/debug/edgeintent}"
OUT="$ROOT/target/timeline"
mkdir -p "$OUT"

# Debian packages for what is missing: the browser, and Node.js with npm.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Reinstall only when the lock file changes.
if ! cmp -s timeline/package-lock.json timeline/node_modules/.installed-lock 2>/dev/null; then
    (cd timeline && npm ci --no-audit --no-fund --silent)
    cp timeline/package-lock.json timeline/node_modules/.installed-lock
fi

(cd models && "$BIN" replay --config config.json --timeline "$OUT/example.html" \
    --trace-events "$OUT/example.trace.json" ../fixtures/example_trace.jsonl \
    >"$OUT/example.decisions.jsonl" 2>/dev/null)
node timeline/test.mjs "$OUT/example.html" "$OUT/example.decisions.jsonl" "$OUT/example.png"

node timeline/day_trace.mjs "$OUT/day.jsonl"
(cd models && "$BIN" replay --config config.json --timeline "$OUT/day.html" "$OUT/day.jsonl" \
    >"$OUT/day.decisions.jsonl" 2>/dev/null)
node timeline/test.mjs "$OUT/day.html" "$OUT/day.decisions.jsonl" "$OUT/day.png" \
    --max-render-ms 2000 --expect-thinned
