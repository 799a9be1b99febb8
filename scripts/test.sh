#!/usr/bin/env bash
# Install replikv with its test dependencies into ./.venv and run the test suite.
# Used as-is by .ci/run; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1 \
   || ! command -v redis-server >/dev/null 2>&1 || ! command -v etcd >/dev/null 2>&1; then
  # redis-cli / redis-benchmark drive the Redis-compatibility tests; redis-server and
  # etcd (etcd-server) are the peers `replikv bench --compare` starts and drives.
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools redis-server etcd-server >/dev/null) \
      || echo "warning: could not install redis-tools, redis-server, etcd-server; tests that need them will be skipped" >&2
  fi
fi
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # headless Chromium renders `replikv compare --html` (tests/report/test_html_browser.py)
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test of the HTML report will be skipped" >&2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]' -e tests/testkit  # the test kit: planted-bug and toy schemes (tests only)
.venv/bin/ruff check src tests
exec .venv/bin/python -m pytest -m "not slow" "$@"
