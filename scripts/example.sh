#!/usr/bin/env bash
# Builds mergeforge and merges the small example models shipped in examples/models.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/mergeforge plan examples/ties.yml
build/mergeforge merge examples/ties.yml build/example-ties
echo "merged model written to build/example-ties:"
ls -l build/example-ties
