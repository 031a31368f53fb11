#!/usr/bin/env bash
# One command: install what is needed, build, and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/dsq local "$@"
