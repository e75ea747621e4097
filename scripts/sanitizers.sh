#!/usr/bin/env bash
# Memory-safety check of the Cython kernels: builds them once with clang +
# AddressSanitizer + UndefinedBehaviorSanitizer into a temporary copy of the tree (the
# normal in-place build is untouched), then runs the kernel tests (which include the twin
# parity tests), the sans-I/O protocol tests, the native I/O path's tests (the reactor) and
# a replay of the fuzz corpus against that build. Any ASan or UBSan report is fatal (-fno-sanitize-recover=all, halt_on_error=1)
# and fails the script.
#
# Usage: scripts/sanitizers.sh [extra pytest args]
# Needs clang and its compiler-rt runtime (Debian: clang, libclang-rt-14-dev); as root the
# script installs the runtime if it is missing. Takes about 1-2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
start=$(date +%s)

command -v clang >/dev/null || { echo "sanitizers: clang is not installed" >&2; exit 2; }
asan_rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
if [ ! -f "$asan_rt" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  ver=$(clang -dumpversion | cut -d. -f1)
  echo "sanitizers: installing libclang-rt-$ver-dev (the ASan runtime)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "libclang-rt-$ver-dev" >/dev/null || true
  asan_rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
fi
[ -f "$asan_rt" ] || { echo "sanitizers: no ASan runtime ($asan_rt); install libclang-rt-dev" >&2; exit 2; }

work=$(mktemp -d /tmp/wsfast-asan.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
# A copy of the sources only: no in-place .so or generated .c may leak into the build.
mkdir -p "$work/tree"
tar -C "$ROOT" --exclude='*.so' --exclude='*.c' --exclude='*.html' --exclude='__pycache__' \
  -cf - wsfast tests fuzz setup.py pyproject.toml | tar -C "$work/tree" -xf -
cd "$work/tree"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# One exception, recoverable so that it can be suppressed by name: Cython's argument
# unpacking computes ``args + nargs`` with args NULL and nargs 0 in generated wrappers of
# functions that take no positional argument (``__cinit__``); that is Cython's boilerplate,
# not the kernels. Every other report, pointer overflows elsewhere included, is fatal.
SAN="$SAN -fsanitize-recover=pointer-overflow"
echo "=== building the kernels with clang $SAN ==="
CC=clang LDSHARED="clang -shared" \
  CFLAGS="$SAN -g -O1 -shared-libasan" LDFLAGS="$SAN -shared-libasan" \
  WSFAST_BUILD_EXTENSIONS=yes "$PY" setup.py -q build_ext --inplace --force >build.log 2>&1 \
  || { cat build.log; exit 1; }
# (nm's output is read whole first: with pipefail, `nm | grep -q` fails at random when grep
# exits on its first match while nm is still writing, and nm dies of SIGPIPE.)
for so in wsfast/_speedups/*.so; do
  syms=$(nm -D "$so")
  grep -q __asan_ <<<"$syms" || { echo "$so: not built with ASan" >&2; exit 1; }
  grep -q __ubsan_handle <<<"$syms" || { echo "$so: not built with UBSan" >&2; exit 1; }
done
echo "built in $(( $(date +%s) - start ))s"

export LD_PRELOAD="$asan_rt"
# detect_leaks=0: CPython keeps interned objects and arenas alive at exit by design.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$work/asan"
printf 'pointer-overflow:*__cinit__\n' >"$work/supp.ubsan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$work/supp.ubsan:log_path=$work/ubsan"
export PYTHONMALLOC=malloc  # every Python allocation goes through ASan's allocator
export WSFAST_REQUIRE_EXTENSIONS=1
export PYTHONPATH="$work/tree"

"$PY" -c "import wsfast._impl as i, wsfast._speedups.parser as p; assert i.IMPLEMENTATION == 'cython'; assert p.__file__.startswith('$work'), p.__file__; print('sanitized kernels:', p.__file__)"

status=0
"$PY" -m pytest -q -p no:cacheprovider -c "$work/tree/pyproject.toml" --rootdir "$work/tree" \
  -k "not atheris_short_run and not ten_thousand" tests/kernels tests/protocol \
  tests/reliability/test_fuzz_corpus.py tests/aio/test_native.py "$@" \
  || status=$?

reports=$(ls "$work"/asan.* "$work"/ubsan.* 2>/dev/null || true)
if [ -n "$reports" ]; then
  echo "=== sanitizer reports ==="; cat $reports; status=1
fi
echo "=== sanitizers: $( [ $status = 0 ] && echo 'zero reports' || echo FAILED ) in $(( $(date +%s) - start ))s ==="
exit $status
