#!/usr/bin/env bash
# Installs what mergeforge needs on a bare Debian machine: the C++ toolchain and libraries (Debian packages)
# and, with --test, the Python side of the test suite (torch first, pinned, so nothing pulls a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(g++ cmake ninja-build pkg-config libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

if [ "${1:-}" = "--test" ]; then
  PY=${PYTHON:-python3}
  # torch first and exactly this version: a range would fetch a multi-gigabyte CUDA build.
  $PY -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null ||
    $PY -m pip install -q torch==2.13.0
  $PY -m pip install -q -r tests/requirements.txt
fi
