"""Old import paths and names, kept working with a DeprecationWarning.

Modules that were renamed or moved are listed in ``MODULES`` (old dotted name -> new one): a
meta path finder, installed by ``wsfast/__init__.py``, answers an import of the old name with
the new module and warns. Names that moved out of a package's namespace are listed in
``NAMES`` and forwarded by that package's ``__getattr__``. Nothing inside wsfast uses an old
name (``tests/test_layout.py`` checks it), so this module is the only place that knows them.
"""
from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Sequence

MODULES = {
    "wsfast.asyncio.hub": "wsfast.brokers.hub",
    "wsfast.asyncio.timers": "wsfast.asyncio.loop_state",
    "wsfast.asyncio.compact": "wsfast.asyncio.lean_handshake",
    "wsfast.asyncio.compression": "wsfast.extensions.compression",
    "wsfast.asyncio.fastnet": "wsfast.asyncio.aiofastnet_support",
    "wsfast.asyncio.writev": "wsfast.asyncio.sendmsg",
    "wsfast.asyncio.spin": "wsfast.asyncio.busy_polling",
    "wsfast.asgi.protocol": "wsfast.asgi.uvicorn_protocol",
}

# (package, name) -> (module that holds it now, its name there)
NAMES = {
    ("wsfast.asyncio", "Hub"): ("wsfast.brokers", "Hub"),
    ("wsfast.asyncio", "LocalBroker"): ("wsfast.brokers", "LocalBroker"),
    ("wsfast.limits", "Limits"): ("wsfast.asyncio.options", "ConnectionOptions"),
    ("wsfast.events", "Event"): ("wsfast.events", "ProtocolEvent"),
}


def _warn(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def forward(package: str, name: str) -> Any:
    """The value of a moved ``package.name`` (for that package's ``__getattr__``)."""
    target = NAMES.get((package, name))
    if target is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    module, attr = target
    _warn(f"{package}.{name}", f"{module}.{attr}", stacklevel=4)
    return getattr(importlib.import_module(module), attr)


# The finder and loader follow importlib's protocols without deriving from importlib.abc,
# which would import importlib.resources and pathlib into every process that imports wsfast.


class _AliasLoader:
    def __init__(self, new: str) -> None:
        self.new = new
        self.real_spec: ModuleSpec | None = None

    def create_module(self, spec: Any) -> ModuleType:
        _warn(spec.name, self.new)
        module = importlib.import_module(self.new)
        self.real_spec = module.__spec__
        sys.modules[spec.name] = module
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The new module is already executed; importlib has just set its __spec__ to the
        # alias's: give it its own back.
        module.__spec__ = self.real_spec


class _AliasFinder:
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        new = MODULES.get(fullname)
        if new is None:
            return None
        return ModuleSpec(fullname, _AliasLoader(new))  # type: ignore[arg-type]


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
