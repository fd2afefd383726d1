#!/usr/bin/env bash
# Regenerates test/fixtures/demo-quick-run/: the events.jsonl and summary.json of a real
# `alol demo --quick --seed 1` run, which the dashboard tests render. Run from the repo root after
# `npm run build`; takes about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
node bin/alol.js demo --quick --seed 1 --out "$tmp/run" >/dev/null
mkdir -p test/fixtures/demo-quick-run
cp "$tmp/run/events.jsonl" "$tmp/run/summary.json" test/fixtures/demo-quick-run/
rm -rf "$tmp"
echo "wrote test/fixtures/demo-quick-run/ ($(wc -l < test/fixtures/demo-quick-run/events.jsonl) events)"
