"""Maps the ``compression`` option of ``serve`` and ``connect`` to extension factories."""
from __future__ import annotations

from typing import Any


def _extensions(compression: Any, factory_name: str, deflate_options: dict[str, Any]) -> list[Any]:
    """Factories for ``compression``: "deflate" (a new ``factory_name`` from the
    permessage-deflate module), None (none), or factories given as such (one or a list)."""
    if isinstance(compression, (list, tuple)):
        return list(compression)
    if hasattr(compression, "process_request_params") or hasattr(compression, "get_request_params"):
        return [compression]
    if compression is None:
        return []
    if compression != "deflate":
        raise ValueError(f"compression must be 'deflate', None or extension factories, not {compression!r}")
    from ..extensions import permessage_deflate

    return [getattr(permessage_deflate, factory_name)(**deflate_options)]


def server_extensions(compression: Any, **deflate_options: Any) -> list[Any]:
    """Server extension factories for ``compression``: "deflate", None, or factories
    (e.g. ``ServerPerMessageDeflateFactory(shared_compressor=True)``) used as they are."""
    return _extensions(compression, "ServerPerMessageDeflateFactory", deflate_options)


def client_extensions(compression: Any, **deflate_options: Any) -> list[Any]:
    """Client extension factories for ``compression``: "deflate", None, or factories."""
    return _extensions(compression, "ClientPerMessageDeflateFactory", deflate_options)
