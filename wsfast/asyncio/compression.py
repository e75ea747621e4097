"""Maps the ``compression`` option of ``serve`` and ``connect`` to extension factories."""
from __future__ import annotations

from typing import Any


def _check(compression: str | None) -> None:
    if compression not in (None, "deflate"):
        raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")


def server_extensions(compression: str | None, **deflate_options: Any) -> list[Any]:
    """Server extension factories for ``compression`` ("deflate" or None)."""
    _check(compression)
    if compression is None:
        return []
    from ..extensions.permessage_deflate import ServerPerMessageDeflateFactory

    return [ServerPerMessageDeflateFactory(**deflate_options)]


def client_extensions(compression: str | None, **deflate_options: Any) -> list[Any]:
    """Client extension factories for ``compression`` ("deflate" or None)."""
    _check(compression)
    if compression is None:
        return []
    from ..extensions.permessage_deflate import ClientPerMessageDeflateFactory

    return [ClientPerMessageDeflateFactory(**deflate_options)]
