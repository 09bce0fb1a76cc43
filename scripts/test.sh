#!/usr/bin/env bash
# The README's test command: set up .venv, lint and type-check, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv.sh"
cd "$ROOT"
# Static checks first (configured in pyproject.toml): any finding fails the run before the tests.
ruff check .
mypy
# Each test run gets its own ROS domain so parallel runs on one host do not cross-talk.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 100) + 100 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
exec python -m pytest "$@"
