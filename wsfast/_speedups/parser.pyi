from typing_extensions import Buffer

from wsfast.exceptions import RemoteProtocolError

class Parser:
    @property
    def error(self) -> RemoteProtocolError | None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def special(self) -> int: ...
    def __init__(
        self,
        *,
        client: bool,
        max_size: int | None = ...,
        max_compressed_size: int | None = ...,
        max_fragments: int | None = ...,
        rsv_allowed: int = ...,
        decode_text: bool = ...,
    ) -> None: ...
    def feed(self, data: Buffer) -> list[tuple[int, object]]: ...
    def feed_buffer(self, buffer: bytearray, nbytes: int) -> list[tuple[int, object]]: ...
