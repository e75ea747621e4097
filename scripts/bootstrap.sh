#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine, idempotently:
#   - Debian packages: chromium + chromium-driver (browser tests), build tools;
#   - .venv with the dev requirements (Cython, pytest, peers for interop and benchmarks);
#   - the Cython extensions built in place (WSFAST_BUILD_EXTENSIONS=yes: a failure is loud).
# Usage: scripts/bootstrap.sh            (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[bootstrap] $*" >&2; }

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)   # Hub broker tests
command -v clang >/dev/null 2>&1 || need_apt+=(clang)                 # sanitizer build
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)       # tests/metrics scrape with a real one
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    log "not root: skipping Debian packages ${need_apt[*]} (browser tests will be skipped)"
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing Python requirements"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import Cython, pytest, websockets" || { log "requirements failed"; exit 1; }
  echo "$want" > "$stamp"
fi

log "building the Cython extensions in place"
WSFAST_BUILD_EXTENSIONS=yes .venv/bin/python setup.py -q build_ext --inplace >/dev/null
.venv/bin/python -c "import wsfast; assert wsfast.IMPLEMENTATION == 'cython', wsfast.IMPLEMENTATION; print('[bootstrap] wsfast', wsfast.IMPLEMENTATION)" >&2

# --- wsfast.rpc (issue 22): npm packages of the Node JSON-RPC interop test --------------------
# tests/rpc/node/package.json (json-rpc-2.0, ws), pinned by its package-lock.json; only when
# npm is on the machine (the test skips where node/npm are absent).
if [ ! -d tests/rpc/node/node_modules ] && command -v npm >/dev/null 2>&1; then
  log "installing the Node packages of tests/rpc/node"
  (cd tests/rpc/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || log "npm ci in tests/rpc/node failed: the Node interop test will try again"
fi
