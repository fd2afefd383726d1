#!/usr/bin/env bash
# Soak test of the webview and end-to-end suites: builds and packages once, then runs every suite N
# times in a row (with --load: while two busy processes hog both cores) and prints each test's pass
# rate. A tool for finding flaky tests; .ci/run does not call it.
#
# Usage: scripts/ci-soak.sh N [--load] [--only PATTERN]     e.g. scripts/ci-soak.sh 10; scripts/ci-soak.sh 5 --load
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/package-vsix.mjs >/dev/null
npm run --silent build:webview >/dev/null
bash scripts/e2e-setup.sh >/dev/null
exec node scripts/ci-soak.mjs "$@"
