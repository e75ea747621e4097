"""Chooses the kernel implementation: the Cython extensions or their pure-Python twins.

This is the only module that imports ``wsfast._speedups`` or ``wsfast._pure`` (the layout
test checks it). Everything else takes the kernels from here:

    from wsfast._impl import mask, utf8, parser, builder, conn, upgrade, IMPLEMENTATION

One rule decides: the Cython twin when all of its modules import, else the pure twin for all
of them (never a mix). Setting ``WSFAST_NO_EXTENSIONS=1`` (any non-empty value but ``0``)
forces the pure twin, as does an install without a compiler. ``IMPLEMENTATION`` is
``"cython"`` or ``"python"``. ``load(name)`` returns one implementation explicitly; tests
use it to run both twins.
"""
from __future__ import annotations

import importlib
import os
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType
from typing import TYPE_CHECKING

KERNELS = ("mask", "utf8", "parser", "builder", "conn", "upgrade", "reactor")


def _extensions_disabled() -> bool:
    value = os.environ.get("WSFAST_NO_EXTENSIONS", "")
    return value not in ("", "0")


def load(implementation: str) -> ModuleType:
    """Return a namespace with the kernel modules of ``implementation`` (``KERNELS``).

    ``implementation`` is ``"cython"`` or ``"python"``. Raises ImportError when the
    Cython extension is not built. The caller uses ``ns.mask``, ``ns.utf8``... as it would
    the module-level names below.
    """
    package = {"cython": "wsfast._speedups", "python": "wsfast._pure"}[implementation]
    ns = ModuleType(f"wsfast._impl[{implementation}]")
    for name in KERNELS:
        module = importlib.import_module(f"{package}.{name}")
        if implementation == "cython" and not (module.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES)):
            # wsfast/_speedups/conn.py is the build's copy of the pure source: not compiled
            raise ImportError(f"{package}.{name} is not compiled ({module.__file__})")
        setattr(ns, name, module)
    setattr(ns, "IMPLEMENTATION", implementation)
    return ns


def connection_core(implementation: str | None = None) -> type:
    """Return the ``ConnectionCore`` class of ``implementation`` (default: the chosen one).

    The asyncio ``Connection`` derives from it.
    """
    if implementation is None:
        return conn.ConnectionCore  # type: ignore[no-any-return]
    return load(implementation).conn.ConnectionCore  # type: ignore[no-any-return]


def available() -> list[str]:
    """The implementations that can be loaded here, fastest first."""
    found = []
    for implementation in ("cython", "python"):
        try:
            load(implementation)
        except ImportError:
            continue
        found.append(implementation)
    return found


def _choose() -> ModuleType:
    if not _extensions_disabled():
        try:
            return load("cython")
        except ImportError:
            pass
    return load("python")


_chosen = _choose()
IMPLEMENTATION: str = _chosen.IMPLEMENTATION
mask = _chosen.mask
utf8 = _chosen.utf8
parser = _chosen.parser
builder = _chosen.builder
conn = _chosen.conn
upgrade = _chosen.upgrade  # the server's upgrade-request head parser (wsfast.http11, handshake)
reactor = _chosen.reactor

if TYPE_CHECKING:
    from ._pure.conn import ConnectionCore  # the twins have the same fields and methods
else:
    ConnectionCore = conn.ConnectionCore  # the base class of wsfast.asyncio's Connection
