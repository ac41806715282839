#!/usr/bin/env bash
# Installs what mergeforge needs on a bare Debian machine: the C++ toolchain and libraries (Debian packages)
# and, with --test, the Python side of the test suite (torch first, pinned, so nothing pulls a CUDA build).
# --bench adds what bench/run.sh needs: Google Benchmark, and the --test Python packages (MergeKit, torch).
# --fuzz adds clang and its sanitizer / libFuzzer runtime for scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_bench=0
want_fuzz=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --bench) want_bench=1; want_test=1 ;;
    --fuzz) want_fuzz=1 ;;
    *) echo "install-deps.sh: ignoring unknown option $arg" >&2 ;;
  esac
done

apt_packages=(g++ cmake ninja-build pkg-config libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev clang-format libhwy-dev)
# The crash-safety tests watch a merge's syncs and renames with strace and its peak memory with GNU time.
((want_test)) && apt_packages+=(strace time)
((want_bench)) && apt_packages+=(libbenchmark-dev)
# Debian 12's clang is clang 14; libFuzzer and the sanitizer runtimes are in libclang-rt-14-dev.
((want_fuzz)) && apt_packages+=(clang libclang-rt-14-dev)
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

if ((want_test)); then
  PY=${PYTHON:-python3}
  # torch first and exactly this version: a range would fetch a multi-gigabyte CUDA build.
  $PY -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null ||
    $PY -m pip install -q torch==2.13.0
  $PY -m pip install -q -r tests/requirements.txt
fi
