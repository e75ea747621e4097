"""Extension list and build options only; metadata lives in pyproject.toml.

WSFAST_BUILD_EXTENSIONS=auto|yes|no (default auto):
  auto - build the Cython extensions; fall back to a pure install if compiling fails,
  yes  - build them and fail loudly if anything goes wrong,
  no   - skip them (the pure-Python twin is used at run time).
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("WSFAST_BUILD_EXTENSIONS", "auto").strip().lower()
if MODE not in ("auto", "yes", "no"):
    sys.exit(f"WSFAST_BUILD_EXTENSIONS must be auto, yes or no, not {MODE!r}")

KERNELS = ["mask", "utf8", "parser", "builder", "conn", "upgrade", "reactor"]

# -O3 for the kernels; boundscheck/wraparound are switched off per function in the .pyx
# files, only where the code checks its own bounds.
COMPILE_ARGS = [] if sys.platform == "win32" else ["-O3", "-fno-strict-aliasing"]
DIRECTIVES = {"language_level": "3", "cdivision": True, "initializedcheck": False}


class OptionalBuildExt(build_ext):
    """In `auto` mode a failed compile leaves a working pure install instead of an error."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure
            if MODE == "yes":
                raise
            print(f"wsfast: building the extensions failed ({exc}); installing pure Python")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            if MODE == "yes":
                raise
            print(f"wsfast: could not build {ext.name} ({exc}); it will run pure Python")


# The connection core has one source, wsfast/_pure/conn.py (the pure twin), compiled in
# Cython's pure-Python mode: copied next to wsfast/_speedups/conn.pxd, which types it.
PURE_MODE = {"conn"}


def _source(name):
    if name not in PURE_MODE:
        return f"wsfast/_speedups/{name}.pyx"
    source, copy = f"wsfast/_pure/{name}.py", f"wsfast/_speedups/{name}.py"
    with open(source, "rb") as f:
        text = f.read()
    if not os.path.exists(copy) or open(copy, "rb").read() != text:
        with open(copy, "wb") as f:  # rewritten only when changed: no needless rebuild
            f.write(text)
    return copy


def extensions():
    if MODE == "no":
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        if MODE == "yes":
            raise
        print("wsfast: Cython is not available; installing pure Python")
        return []
    exts = [
        Extension(
            f"wsfast._speedups.{name}",
            [_source(name)],
            extra_compile_args=COMPILE_ARGS,
        )
        for name in KERNELS
    ]
    try:
        return cythonize(exts, compiler_directives=DIRECTIVES, quiet=True)
    except Exception:
        if MODE == "yes":
            raise
        print("wsfast: cythonize failed; installing pure Python")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
