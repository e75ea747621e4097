"""UTF-8 validation, pure-Python twin of ``wsfast._speedups.utf8``.

CPython's own UTF-8 decoder does the work: it runs in C, and its incremental form keeps an
incomplete trailing sequence for the next chunk. Its error positions are mapped onto the
fail-fast index both twins report (the first byte at which the input can no longer be
valid):

* "invalid start byte" (a stray continuation byte, C0, C1, F5-FF): ``err.start``;
* "invalid continuation byte": ``err.end``, the byte that broke the sequence;
* positions count the carried-over bytes of an earlier chunk first, so the carried length is
  subtracted (a carried prefix was already checked, so the result is never negative).

One gap is filled by hand: while a sequence is still incomplete CPython accepts ``ED A0-BF``
(the start of a UTF-16 surrogate), so the carried-over bytes are checked for it.
"""
from __future__ import annotations

import codecs

__all__ = ["validate", "Utf8Validator"]

_utf8_decode = codecs.utf_8_decode
_Decoder = codecs.getincrementaldecoder("utf-8")


def validate(data) -> bool:
    """Return True if the whole buffer ``data`` is valid UTF-8 (no sequence left incomplete).

    ``data`` is any C-contiguous buffer.
    """
    try:
        _utf8_decode(data, "strict", True)
    except UnicodeDecodeError:
        return False
    return True


class Utf8Validator:
    """Incremental UTF-8 validator for a message arriving in chunks.

    ``feed(chunk)`` returns -1 while the input so far can still be valid, else the index in
    *this chunk* of the first byte that makes it invalid (it never points into an earlier
    chunk). Once failed it stays failed: every later ``feed`` returns 0 and ``finish`` False.
    At the end of the message the caller calls ``finish()``: True if valid and complete.
    ``reset()`` starts a new message.
    """

    __slots__ = ("_decode", "_getstate", "_reset", "_carried", "_failed")

    def __init__(self) -> None:
        decoder = _Decoder()
        self._decode = decoder.decode
        self._getstate = decoder.getstate
        self._reset = decoder.reset
        self._carried = 0  # bytes of an incomplete sequence kept from earlier chunks
        self._failed = False

    def feed(self, data) -> int:
        """Validate the next chunk; return -1, or the index of the failing byte in it."""
        if self._failed:
            return 0
        try:
            self._decode(data)
        except UnicodeDecodeError as exc:
            self._failed = True
            pos = exc.start if exc.reason == "invalid start byte" else exc.end
            return max(pos - self._carried, 0)
        carried = self._getstate()[0]
        n = len(carried)
        if n >= 2 and carried[0] == 0xED and carried[1] >= 0xA0:
            # ED A0-BF starts a surrogate; carried[1] is in this chunk (else it failed before).
            self._failed = True
            return memoryview(data).nbytes - n + 1
        self._carried = n
        return -1

    def finish(self) -> bool:
        """True if nothing failed and no sequence is left incomplete (call at message end)."""
        return not self._failed and not self._carried

    def reset(self) -> None:
        """Forget everything: ready for a new message."""
        self._reset()
        self._carried = 0
        self._failed = False

    @property
    def failed(self) -> bool:
        """True once invalid input has been seen."""
        return self._failed
