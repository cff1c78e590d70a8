#!/usr/bin/env bash
# Bundles the timeline page's charting library into crates/edgeintent-offline/assets/timeline/, which
# the CLI embeds at build time (include_str!), so neither the CLI nor the page
# needs Node.js or a network at run time. Run after changing the uplot pin in
# package.json (then commit package-lock.json and crates/edgeintent-offline/assets/timeline/).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css ../crates/edgeintent-offline/assets/timeline/
cp node_modules/uplot/LICENSE ../crates/edgeintent-offline/assets/timeline/uPlot.LICENSE
echo "bundled uplot $(node -p 'require("./node_modules/uplot/package.json").version') into crates/edgeintent-offline/assets/timeline/"
