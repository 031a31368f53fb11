#!/usr/bin/env bash
# One command: install what is needed, build, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 600 -j 2 "$@"
