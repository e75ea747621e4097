"""Where aiofastnet (an optional extra: compiled socket and TLS transports) is looked up.

Server and client use its ``create_server`` / ``create_connection`` instead of the event
loop's when it is installed and the caller did not say otherwise: the protocol objects are
the same, only the transport under them changes (writes queued as buffers and sent with
writev, reads into the protocol's buffer without a Python frame per read).
``WSFAST_NO_AIOFASTNET=1`` makes "auto" mean the event loop's transports even when it is
installed (the test suite's second leg runs that way, so both transports stay tested).
"""
from __future__ import annotations

import os
from typing import Any

_MODULE: Any = False  # not looked up yet


def aiofastnet() -> Any:
    """The aiofastnet module if it is installed and not turned off, else None (looked up once)."""
    global _MODULE
    if _MODULE is False:
        module: Any = None
        if os.environ.get("WSFAST_NO_AIOFASTNET", "") in ("", "0"):
            try:
                import aiofastnet as module
            except ImportError:
                pass
        _MODULE = module
    return _MODULE


def require() -> Any:
    """The aiofastnet module for ``use_aiofastnet=True``: an explicit request is honoured even
    when WSFAST_NO_AIOFASTNET turned "auto" off; ImportError if it is not installed."""
    try:
        import aiofastnet as module
    except ImportError:
        raise ImportError(
            "use_aiofastnet=True needs the aiofastnet package (pip install 'wsfast[fast]')"
        ) from None
    return module
