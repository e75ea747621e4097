#!/usr/bin/env bash
# The README's test command: sets everything up, then runs every test leg.
#   1. the whole suite with the Cython extension built, each kernel/protocol test on both twins;
#   2. a leg where the extension is not built at all (a pure install of the package);
#   3. the Autobahn|Testsuite conformance run (both modes, both twins) when available;
# plus the benchmark harness's own tests, mypy, fuzzing, sanitizers and packaging.
# Servers run on the native I/O path (wsfast.asyncio.native) in legs 1 and 2, and on the event
# loop's transports in leg 1b.
# Usage: scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
start=$(date +%s)
bash scripts/bootstrap.sh

echo "=== leg 1: suite with the Cython extension (both twins) ==="
WSFAST_REQUIRE_EXTENSIONS=1 .venv/bin/python -m pytest -q -p no:cacheprovider "$@" tests

echo "=== leg 1b: the same suite with servers on the loop's transports (WSFAST_IO=transports) ==="
# Leg 1 serves on the native I/O path (the default); the sans-I/O kernel and protocol tests
# do not depend on the I/O path and are not repeated.
WSFAST_IO=transports WSFAST_REQUIRE_EXTENSIONS=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  --ignore=tests/kernels --ignore=tests/protocol "$@" tests

echo "=== leg 2: suite on a pure install (extension not built) ==="
bash scripts/test-pure.sh

echo "=== benchmark harness: the load generator's checking modes (no timings) ==="
.venv/bin/python -m pytest -q -p no:cacheprovider bench/test_loadgen_deflate.py bench/test_loadgen_spin.py bench/test_loadgen_game.py

echo "=== types: mypy on the package ==="
.venv/bin/python -m mypy

echo "=== fuzzing: differential atheris targets (frames, handshake, upgrade, deflate, reactor), 20 s each ==="
.venv/bin/python fuzz/run.py --seconds 20

echo "=== memory safety: kernels under AddressSanitizer + UndefinedBehaviorSanitizer ==="
bash scripts/sanitizers.sh

echo "=== packaging: sdist and wheel build, fresh-venv installs, cibuildwheel identifiers ==="
bash tests/ecosystem/check_packaging.sh

# WSFAST_AUTOBAHN=0 skips the conformance leg on a developer's machine; CI never sets it.
if [ "${WSFAST_AUTOBAHN:-1}" != 0 ]; then
  echo "=== leg 3: Autobahn|Testsuite conformance (all cases, server and client, both twins) ==="
  .venv/bin/python tests/conformance/run_autobahn.py --markdown reports/autobahn.md
fi
echo "=== all legs passed in $(( $(date +%s) - start ))s ==="
