#!/usr/bin/env bash
# The README's main command: set up .venv, then run the streaming demo (synthetic RGB-D
# sequence -> rosbag2 -> depth_completion_node -> recorded output, panels, GIF, metrics).
# No download, no GPU. Extra arguments go to `depth-completion demo` (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv.sh"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# A run of its own: never cross-talk with a robot's ROS graph on the same machine.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 100) + 100 ))}"
OUT="${DEMO_OUTPUT:-output/demo-$(date +%Y%m%d-%H%M%S)}"
exec depth-completion demo --output "$OUT" "$@"
