"""WebSocket extensions: the interface (``base``) and permessage-deflate (``permessage_deflate``)."""
from .base import ClientExtensionFactory, Extension, ExtensionParameter, ServerExtensionFactory

__all__ = ["ClientExtensionFactory", "Extension", "ExtensionParameter", "ServerExtensionFactory"]
