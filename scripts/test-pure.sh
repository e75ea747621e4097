#!/usr/bin/env bash
# Installs wsfast with WSFAST_BUILD_EXTENSIONS=no into a separate site dir and runs the suite
# against that install, from outside the source tree, so the in-place extension cannot leak in.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
work=$(mktemp -d /tmp/wsfast-pure.XXXXXX)
trap 'rm -rf "$work"' EXIT
WSFAST_BUILD_EXTENSIONS=no .venv/bin/pip wheel -q --no-deps --no-build-isolation \
  --disable-pip-version-check -w "$work/dist" . >/dev/null
.venv/bin/pip install -q --no-deps --disable-pip-version-check --target "$work/site" "$work"/dist/*.whl
cd "$work"
PYTHONPATH="$work/site" WSFAST_EXPECT_IMPLEMENTATION=python "$ROOT/.venv/bin/python" -c \
  "import wsfast, sys; assert wsfast.IMPLEMENTATION == 'python'; assert wsfast.__file__.startswith('$work/site'), wsfast.__file__; print('pure install:', wsfast.__file__)"
# This leg also keeps the event loop's own transports under the server and the wss://
# client (leg 1 runs on aiofastnet's, the default when it is installed).
PYTHONPATH="$work/site" WSFAST_EXPECT_IMPLEMENTATION=python WSFAST_NO_AIOFASTNET=1 "$ROOT/.venv/bin/python" -m pytest -q \
  -p no:cacheprovider -c "$ROOT/pyproject.toml" --rootdir "$ROOT" "$ROOT/tests" -m "not browser"
