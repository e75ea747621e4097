"""wsfast for ASGI servers.

``WSFastProtocol`` is a WebSocket protocol class for uvicorn: its HTTP protocol hands every
upgrade request to it, and the connection then runs on wsfast's handshake and kernels::

    uvicorn.run(app, ws=WSFastProtocol)                    # or: uvicorn app:app --ws wsfast.asgi:WSFastProtocol
    uvicorn.run(app, ws=WSFastProtocol.configure(implementation="python", compression=None))

The ASGI application is unchanged (FastAPI / Starlette ``WebSocket`` endpoints, plain ASGI).
"""
from .uvicorn_protocol import ClientDisconnected, WSFastProtocol

__all__ = ["ClientDisconnected", "WSFastProtocol"]
