#!/usr/bin/env bash
# One command: install what is needed, build, check the rules of the tree, and run the test
# suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# The rules of the tree (includes by folder, clang-format, docs/architecture.md's table): first,
# as they take seconds.
scripts/check_rules.sh
cd build
ctest --output-on-failure --timeout 600 -j 2 "$@"
