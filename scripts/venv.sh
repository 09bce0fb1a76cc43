#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv) and install the package with
# everything the demo and the tests need. Sourced by scripts/demo.sh and scripts/test.sh.
# Re-installs only when setup.py changed since the last install (a stamp file records it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DC_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  for candidate in python3.11 "$HOME/.pyenv/versions/3.11"*/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  echo "error: ROS 2 Kilted's PyPI wheels need CPython 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.depth_completion_ros.stamp"
WANT="$(cat "$ROOT/setup.py" "$ROOT/scripts/venv.sh" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[setup] installing depth_completion_ros and its dependencies (first run takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch is pinned to one version; where pip is set up with the CPU wheel on local disk it
  # takes that. On a GPU machine install the CUDA build of the same version first: it is kept.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e "$ROOT[ros,export,test,fusion]"
  echo "$WANT" > "$STAMP"
fi
# Open3D (the fusion extra) loads Debian's libusb-1.0-0; without it the fusion tests skip.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so\.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing libusb-1.0-0 for Open3D"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
  else
    echo "[setup] warning: libusb-1.0-0 is missing (Open3D needs it): apt-get install libusb-1.0-0" >&2
  fi
fi
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
