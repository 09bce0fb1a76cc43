#!/usr/bin/env bash
# Re-run every benchmark behind docs/benchmarks.md, one after the other (never in parallel:
# they time each other otherwise), logging each to OUT/<name>.md. Takes ~15 minutes on 2 cores.
# Usage: benchmarks/run_all.sh [OUT]   (default output/benchmarks)
# Each benchmark is a plain script (python benchmarks/<name>.py) that imports the installed
# library (pip install -e ., which scripts/venv.sh does): no path set-up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv.sh"
cd "$ROOT"
OUT="${1:-output/benchmarks}"
mkdir -p "$OUT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 100) + 100 ))}"
{
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  python -c 'import torch, onnxruntime, cv2; print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, opencv {cv2.__version__}, CUDA: {torch.cuda.is_available()}")'
} | tee "$OUT/machine.txt"
run() {
  local name=$1; shift
  echo "== $name: $*"
  python "$@" 2>&1 | tee "$OUT/$name.md"
}
run interpolation benchmarks/interpolation.py
run classical benchmarks/classical.py
run local_fill_bound benchmarks/local_fill_bound.py --data ../shared/data/7scenes_redkitchen --frames 220:300
run node_profile benchmarks/node_profile.py
run model_speed benchmarks/model_speed.py
run node_latency_640 benchmarks/node_latency.py --sizes 640x480 --methods classical model --duration 60
run node_latency_large benchmarks/node_latency.py --sizes 1280x720 1920x1080 --methods classical --duration 20
echo "logs in $OUT"
