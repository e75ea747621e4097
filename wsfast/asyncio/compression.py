"""Maps the ``compression`` option of ``serve`` and ``connect`` to extension factories."""
from __future__ import annotations

from typing import Any


def _check(compression: Any) -> None:
    if compression not in (None, "deflate"):
        raise ValueError(f"compression must be 'deflate', None or extension factories, not {compression!r}")


def _factories(compression: Any) -> list[Any] | None:
    """Extension factories given as such (one or a list), else None."""
    if isinstance(compression, (list, tuple)):
        return list(compression)
    if hasattr(compression, "process_request_params") or hasattr(compression, "get_request_params"):
        return [compression]
    return None


def server_extensions(compression: Any, **deflate_options: Any) -> list[Any]:
    """Server extension factories for ``compression``: "deflate", None, or factories
    (e.g. ``ServerPerMessageDeflateFactory(shared_compressor=True)``) used as they are."""
    factories = _factories(compression)
    if factories is not None:
        return factories
    _check(compression)
    if compression is None:
        return []
    from ..extensions.permessage_deflate import ServerPerMessageDeflateFactory

    return [ServerPerMessageDeflateFactory(**deflate_options)]


def client_extensions(compression: Any, **deflate_options: Any) -> list[Any]:
    """Client extension factories for ``compression``: "deflate", None, or factories."""
    factories = _factories(compression)
    if factories is not None:
        return factories
    _check(compression)
    if compression is None:
        return []
    from ..extensions.permessage_deflate import ClientPerMessageDeflateFactory

    return [ClientPerMessageDeflateFactory(**deflate_options)]
