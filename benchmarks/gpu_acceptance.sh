#!/usr/bin/env bash
# Acceptance of llamadoctor's runner on a CUDA machine (or `--device cpu` here): one verdict line per item.
#   benchmarks/gpu_acceptance.sh [--device cuda|cpu] [--shapes 1.1B 7B] [--dir /fast/disk]
# Needs torch and llamadoctor installed for $PYTHON (default: python3), and this checkout (the random-model
# builders live in tests/). Exits 1 if any item fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/gpu_acceptance.py" "$@"
