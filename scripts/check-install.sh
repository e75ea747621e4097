#!/usr/bin/env bash
# Proves the packaging: in fresh venvs, `pip install .` builds the extension (IMPLEMENTATION
# "cython") and `WSFAST_BUILD_EXTENSIONS=no pip install .` gives a working pure install.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
work=$(mktemp -d /tmp/wsfast-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
PY=${PYTHON:-python3}
check() {  # venv-name, expected implementation, extra env
  local name=$1 expected=$2; shift 2
  "$PY" -m venv "$work/$name"
  env "$@" "$work/$name/bin/pip" install -q --disable-pip-version-check "$ROOT" 2>&1 | grep -v '^WARNING: Location' || true
  (cd "$work" && "$work/$name/bin/python" -c "
import wsfast
assert wsfast.IMPLEMENTATION == '$expected', wsfast.IMPLEMENTATION
from wsfast.protocol import Protocol, Side
p = Protocol(Side.SERVER)
p.receive_data(bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]))
assert [e.data for e in p.events_received()] == ['Hello']
print('$name: wsfast', wsfast.__version__, wsfast.IMPLEMENTATION, 'from', wsfast.__file__)
")
}
check built cython
check pure python WSFAST_BUILD_EXTENSIONS=no
