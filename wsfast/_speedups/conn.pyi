from typing import Any

class ConnectionCore:
    transport: Any
    _proto: Any
    _parser: Any
    _out: list[Any] | None
    _on_message: Any
    _messages: Any
    _recv_waiter: Any
    _direct_recv: bool
    _reading_paused: bool
    _corked: bool
    _flush_scheduled: bool
    _corked_bytes: int
    _tcp_closing: bool
    last_received: float
    unsent_bytes: int
    messages_in_text: int
    messages_in_binary: int
    bytes_in: int
    messages_out_text: int
    messages_out_binary: int
    bytes_out: int
    _wheel: Any
    def _init_core(self, wheel: Any, on_message: Any, messages: Any) -> None: ...
    def _attach(self, proto: Any) -> None: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def data_received(self, data: Any) -> None: ...
    async def recv(self) -> str | bytes: ...
    async def send(self, message: Any) -> None: ...
    def send_nowait(self, message: Any) -> None: ...
    def _flush_soon(self) -> None: ...
    def _flush(self) -> None: ...
