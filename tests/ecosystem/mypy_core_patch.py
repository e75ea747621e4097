import sys, re
root = sys.argv[1]
def sub(path, old, new, count=1, optional=False):
    p = f"{root}/{path}"
    s = open(p).read()
    if optional and old not in s:
        return
    assert s.count(old) >= 1, (path, old)
    s = s.replace(old, new, count)
    open(p, "w").write(s)
sub("wsfast/_impl.py", "    ns.IMPLEMENTATION = implementation\n", '    setattr(ns, "IMPLEMENTATION", implementation)\n')
sub("wsfast/extensions/permessage_deflate.py", "from typing import Sequence\n", "from typing import Any, Sequence\n")
sub("wsfast/extensions/permessage_deflate.py", "        self._decompressor = None\n", "        self._decompressor: Any = None  # zlib decompressobj, created on first use\n")
sub("wsfast/_pure/parser.py", "        self._fin = True\n", "        self._fin: bool | int = True\n")
sub("wsfast/_pure/parser.py", "        self._key = None            # mask key, or None\n", "        self._key: bytes | None = None  # mask key, or None\n")
sub("wsfast/_pure/parser.py", "        self._msg_buf = None        # bytearray", "        self._msg_buf: bytearray | None = None  # bytearray")
sub("wsfast/_pure/parser.py", "        self._validator = None      # Utf8Validator", "        self._validator: Any = None  # Utf8Validator")
sub("wsfast/_pure/parser.py", "        self._ctrl = None           # bytearray", "        self._ctrl: bytearray | None = None  # bytearray")
sub("wsfast/protocol.py", "__all__: Iterable[str] = [", "__all__ = [")
s = open(f"{root}/wsfast/_pure/parser.py").read()
first = re.search(r"^(from|import) (?!__future__).*$", s, re.M)
s = s[:first.start()] + "from typing import Any\n" + s[first.start():]
open(f"{root}/wsfast/_pure/parser.py", "w").write(s)
sub("wsfast/asyncio/connection.py", "        self._on_message = getattr(callbacks", "        self._on_message: Any = getattr(callbacks")
sub("wsfast/asyncio/connection.py", "                iterator = iter(fragments)  # type: ignore[arg-type]\n", "                iterator = iter(fragments)  # type: ignore[arg-type, assignment]\n")
sub("wsfast/asyncio/server.py", "        self._handshake = ServerHandshake(**server.handshake_options)\n", "        self._handshake: Any = ServerHandshake(**server.handshake_options)  # None once open\n")
sub("wsfast/asyncio/client.py", "        self._handshake = handshake\n", "        self._handshake: Any = handshake  # None once open\n")
sub("wsfast/asyncio/client.py", "        data = _read_buffer()[:nbytes]\n        if self._proto is None:\n            data = bytes(data)", "        data: Any = _read_buffer()[:nbytes]\n        if self._proto is None:\n            data = bytes(data)", optional=True)
sub("wsfast/asyncio/connection.py", "        data = self._wheel.read_view[:nbytes]\n", "        data: Any = self._wheel.read_view[:nbytes]\n", optional=True)
sub("wsfast/asyncio/workers.py", "    ctx = multiprocessing.get_context(start_method)\n", "    ctx: Any = multiprocessing.get_context(start_method)\n")
