"""The kernel twins under test: the one place the tests (and fuzz/) load them.

wsfast has two implementations of its kernels, the Cython extensions ("cython") and their
pure-Python twins ("python"); ``wsfast._impl`` chooses one for the package and loads either
by name. Tests run on each twin that is here:

* ``names()``: the names to parametrise over (``tests/conftest.py``'s ``impl``,
  ``impl_name``, the ecosystem's ``implementation``...). Those that import here, so that an
  install without the extension (``scripts/test-pure.sh``) runs the pure twin only; every
  name under ``WSFAST_REQUIRE_EXTENSIONS=1`` (CI), where a twin that cannot be loaded fails.
* ``load(name)``: the twin's namespace (``.mask``, ``.utf8``, ``.parser``, ``.builder``,
  ``.conn``, ``.upgrade``, ``.IMPLEMENTATION``), or the test skipped (failed when required) when it is not
  built.
* ``get(name)`` and ``loaded()``: the same namespace (ImportError when it is not built) and
  those of every twin that is here, fastest first, without pytest (for scripts and the fuzz
  targets).
* ``env(name)``: the environment of a subprocess that must run ``name`` with the wsfast under
  test (the source tree, or the pure leg's install).

Other test modules import neither ``wsfast._speedups`` nor ``wsfast._pure`` (tests/test_layout.py
checks it); they put this folder on ``sys.path`` (pytest does it for the test packages).
"""
from __future__ import annotations

import os
from types import ModuleType

import wsfast
from wsfast import _impl

NAMES = ("cython", "python")
# The directory the wsfast under test comes from (the source tree, or an install in the pure
# leg): subprocesses import the very same package.
WSFAST_HOME = os.path.dirname(os.path.dirname(os.path.abspath(wsfast.__file__)))


def required() -> bool:
    """True when every twin must be there (``WSFAST_REQUIRE_EXTENSIONS=1``, as in CI)."""
    return os.environ.get("WSFAST_REQUIRE_EXTENSIONS", "") not in ("", "0")


def names() -> list[str]:
    """The twins to run a test on: those that import here (every one when required)."""
    return list(NAMES) if required() else _impl.available()


def load(name: str) -> ModuleType:
    """The twin ``name``; the calling test is skipped when it is not built (failed when
    required)."""
    import pytest

    try:
        return get(name)
    except ImportError as exc:
        if required():
            pytest.fail(f"{name} kernels are required but cannot be imported: {exc}")
        pytest.skip(f"{name} kernels not built: {exc}")


def get(name: str) -> ModuleType:
    """The twin ``name``; ImportError when it is not built."""
    return _impl.load(name)


def loaded() -> list[ModuleType]:
    """Every twin that is here, fastest first."""
    return [get(name) for name in _impl.available()]


def env(name: str, *path: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) for a subprocess that runs twin ``name`` of the wsfast
    under test: ``WSFAST_NO_EXTENSIONS`` forces the pure twin or is removed, and ``PYTHONPATH``
    starts with that wsfast's directory and then ``path``."""
    if name not in NAMES:
        raise ValueError(f"no twin named {name!r}")
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([WSFAST_HOME, *path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("WSFAST_NO_EXTENSIONS", None)
    if name == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    return env
