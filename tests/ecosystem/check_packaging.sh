#!/usr/bin/env bash
# Proves the packaging (about a minute; reuses .venv for the build tools, no network):
#   1. `python -m build` makes an sdist and, from that sdist, a wheel with the compiled kernels
#      (WSFAST_BUILD_EXTENSIONS=yes), holding the stubs, py.typed, the demo page and the
#      `wsfast` console script;
#   2. the wheel, installed in a fresh venv, imports the compiled twin ("cython"), and the
#      `wsfast` command runs;
#   3. the sdist installs with WSFAST_BUILD_EXTENSIONS=no (no compiler used) and passes the
#      core suite on the pure twin from that install;
#   4. `cibuildwheel --print-build-identifiers` lists CPython 3.11-3.14 on manylinux and
#      musllinux x86_64/aarch64, macOS x86_64/arm64 and Windows AMD64, no free-threaded build.
# Usage: bash tests/ecosystem/check_packaging.sh      (from anywhere; needs .venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
work=$(mktemp -d /tmp/wsfast-packaging.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "[packaging] $*" >&2; }
start=$(date +%s)

log "1. python -m build (sdist, then the wheel from the sdist)"
WSFAST_BUILD_EXTENSIONS=yes "$PY" -m build --no-isolation --outdir "$work/dist" . >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/wsfast-*.tar.gz)
wheel=$(ls "$work"/dist/wsfast-*.whl)
log "   built $(basename "$sdist") and $(basename "$wheel")"
case "$(basename "$wheel")" in *-py3-none-any.whl) log "the wheel is not platform-specific: no extension"; exit 1;; esac
"$PY" - "$wheel" "$sdist" <<'EOF'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
need = ["wsfast/py.typed", "wsfast/cli/demo/chat.html", "wsfast/asgi/__init__.py", "wsfast/__main__.py"]
need += [f"wsfast/_speedups/{k}.pyi" for k in ("mask", "utf8", "parser", "builder", "upgrade", "reactor")]
need += ["wsfast/_speedups/conn.py", "wsfast/_speedups/conn.pxd"]  # the core's compiled source
missing = [n for n in need if n not in names]
compiled = [n for n in names if n.startswith("wsfast/_speedups/") and n.endswith((".so", ".pyd"))]
entry = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
points = zipfile.ZipFile(wheel).read(entry[0]).decode() if entry else ""
assert not missing, f"wheel lacks {missing}"
assert len(compiled) == 7, f"wheel has compiled kernels {compiled}"
assert "wsfast = wsfast.cli:main" in points, points
src = tarfile.open(sdist).getnames()
for part in ("wsfast/_speedups/parser.pyx", "wsfast/_speedups/upgrade.pyx", "wsfast/_speedups/reactor.pyx", "wsfast/_speedups/reactor.pxd", "wsfast/_pure/conn.py", "wsfast/_speedups/conn.pxd",
             "wsfast/cli/demo/chat.html", "setup.py", "pyproject.toml"):
    assert any(n.endswith(part) for n in src), f"sdist lacks {part}"
print(f"[packaging]    wheel: {len(names)} files, kernels {[n.rsplit('/', 1)[1] for n in compiled]}", file=sys.stderr)
EOF

log "2. the wheel in a fresh venv"
"$PY" -m venv "$work/venv-wheel"
"$work/venv-wheel/bin/pip" install -q --disable-pip-version-check --no-index --no-deps "$wheel"
(cd "$work" && "$work/venv-wheel/bin/python" -c "
import wsfast, sys
assert wsfast.IMPLEMENTATION == 'cython', wsfast.IMPLEMENTATION
assert wsfast.__file__.startswith('$work/venv-wheel'), wsfast.__file__
from wsfast._speedups import parser
assert parser.__file__.endswith('.so'), parser.__file__
print('[packaging]    wheel venv: wsfast', wsfast.__version__, wsfast.IMPLEMENTATION, file=sys.stderr)
")
"$work/venv-wheel/bin/wsfast" --version | grep -q "cython kernels"
(cd "$work" && "$work/venv-wheel/bin/python" -m wsfast serve --help >/dev/null)

log "3. the sdist with WSFAST_BUILD_EXTENSIONS=no, then the core suite on that install"
WSFAST_BUILD_EXTENSIONS=no "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check --no-deps \
  --no-build-isolation --target "$work/site" "$sdist" 2>&1 | grep -v '^WARNING: Location' || true
if ls "$work"/site/wsfast/_speedups/*.so >/dev/null 2>&1; then log "extension built despite =no"; exit 1; fi
cd "$work"
PYTHONPATH="$work/site" "$PY" -c "
import wsfast, sys
assert wsfast.IMPLEMENTATION == 'python', wsfast.IMPLEMENTATION
assert wsfast.__file__.startswith('$work/site'), wsfast.__file__
print('[packaging]    sdist install: wsfast', wsfast.IMPLEMENTATION, 'from', wsfast.__file__, file=sys.stderr)
"
PYTHONPATH="$work/site" "$PY" -m pytest -q -p no:cacheprovider -c "$ROOT/pyproject.toml" --rootdir "$ROOT" \
  -m "not browser" "$ROOT/tests/kernels" "$ROOT/tests/protocol" "$ROOT/tests/handshake" \
  "$ROOT/tests/ecosystem/test_asgi.py" 2>&1 | tail -3
cd "$ROOT"

log "4. cibuildwheel build identifiers"
"$PY" - <<'EOF'
import subprocess, sys
expected = {"linux": 16, "macos": 8, "windows": 4}
for platform, count in expected.items():
    out = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform],
                         capture_output=True, text=True, check=True).stdout.split()
    pythons = sorted({i.split("-")[0] for i in out})
    assert pythons == ["cp311", "cp312", "cp313", "cp314"], (platform, pythons)
    assert not [i for i in out if i.split("-")[0].endswith("t")], f"free-threaded build in {out}"
    if platform == "linux":
        assert {i.split("-", 1)[1] for i in out} == {"manylinux_x86_64", "manylinux_aarch64",
                                                     "musllinux_x86_64", "musllinux_aarch64"}, out
    if platform == "macos":
        assert {i.split("-", 1)[1] for i in out} == {"macosx_x86_64", "macosx_arm64"}, out
    if platform == "windows":
        assert {i.split("-", 1)[1] for i in out} == {"win_amd64"}, out
    assert len(out) == count, (platform, out)
    print(f"[packaging]    {platform}: {len(out)} wheels ({' '.join(out[:2])} ...)", file=sys.stderr)
EOF
log "all packaging checks passed in $(( $(date +%s) - start ))s"
