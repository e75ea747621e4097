"""HTTP header fields: the ``Headers`` multi-dict and the parsers of the WebSocket headers.

``Headers`` keeps every field in arrival order with its original case and looks names up
case-insensitively. The ``parse_*`` functions read the comma-separated token lists of the
handshake headers (RFC 7230 section 7 ``#rule``, RFC 6455 sections 4 and 9.1); the
``build_*`` functions write them.

Every parser runs in time linear in the length of its input, whatever the input: it walks
the value once with a position, and the regular expressions it uses are single character
classes or a quoted-string with possessive quantifiers, matched at that position, so none
can backtrack. A parser raises InvalidHeader carrying the header's name on bad syntax.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TypeVar, Union

from .exceptions import InvalidHeader
from .extensions.base import ExtensionParameter

__all__ = [
    "Headers",
    "HeadersLike",
    "parse_connection",
    "parse_upgrade",
    "parse_subprotocols",
    "parse_extensions",
    "build_extensions",
    "build_subprotocols",
    "is_token",
]

# RFC 7230 3.2.6: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]++")
# Optional whitespace, and a run of list separators (commas and whitespace, RFC 7230 7).
_OWS = re.compile(r"[ \t]*+")
_SEPARATORS = re.compile(r"[ \t,]*+")
# quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
_QUOTED = re.compile(r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*+"')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# Characters that may not appear in a header value we send (CTLs but HTAB).
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def is_token(value: str) -> bool:
    """Return whether ``value`` is an RFC 7230 token (1*tchar)."""
    return _TOKEN.fullmatch(value) is not None


# ------------------------------------------------------------------------------- Headers


class Headers:
    """A case-insensitive multi-dict of header fields, keeping their order and original case.

    ``headers[name]`` and ``get(name)`` return the first value of ``name`` (KeyError / the
    default when absent); ``get_all(name)`` returns every value. Setting ``headers[name] =
    value`` adds a field like ``add`` (it does not replace: ``del headers[name]`` first for
    that). ``items()`` yields ``(lower-case name, value)``; ``raw_items()`` the fields with
    the names as received or added. ``serialize()`` returns the header block's bytes
    (without the blank line that ends a head).
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: HeadersLike | None = None) -> None:
        self._fields: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        if fields is not None:
            self.update(fields)

    @classmethod
    def _from_parsed(cls, fields: list[tuple[str, str]]) -> Headers:
        """Build from fields the HTTP parser already validated (no checks, no copies)."""
        headers = cls.__new__(cls)
        headers._fields = fields
        index: dict[str, list[str]] = {}
        for name, value in fields:
            key = name.lower()
            values = index.get(key)
            if values is None:
                index[key] = [value]
            else:
                values.append(value)
        headers._index = index
        return headers

    # -- writing

    def add(self, name: str, value: str) -> None:
        """Append a field. Raises ValueError for a name that is not a token or a value with
        CR, LF or another control character (header injection) or outside Latin-1."""
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"invalid header name: {name!r}")
        if _BAD_VALUE.search(value) is not None or not value.isascii() and max(value) > "\xff":
            raise ValueError(f"invalid header value for {name}: {value!r}")
        self._fields.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    __setitem__ = add

    def update(self, fields: HeadersLike) -> None:
        """Add every field of a Headers, a mapping, or an iterable of (name, value) pairs."""
        if isinstance(fields, Headers):
            pairs: Iterable[tuple[str, str]] = fields.raw_items()
        elif isinstance(fields, Mapping):
            pairs = fields.items()
        else:
            pairs = fields
        for name, value in pairs:
            self.add(name, value)

    def __delitem__(self, name: str) -> None:
        """Remove every field called ``name``; KeyError if there is none."""
        key = name.lower()
        del self._index[key]
        self._fields = [f for f in self._fields if f[0].lower() != key]

    # -- reading

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower())
        if values is None:
            raise KeyError(name)
        return values[0]

    def get(self, name: str, default: _T = None) -> str | _T:  # type: ignore[assignment]
        """Return the first value of ``name``, or ``default``."""
        values = self._index.get(name.lower())
        return default if values is None else values[0]

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name`` in order (an empty list if there is none)."""
        return list(self._index.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[str]:
        """Iterate over the distinct names, lower-case, in order of first appearance."""
        return iter(self._index)

    def keys(self) -> list[str]:
        """The distinct names, lower-case, in order of first appearance."""
        return list(self._index)

    def items(self) -> list[tuple[str, str]]:
        """Every field as ``(lower-case name, value)``, in order."""
        return [(name.lower(), value) for name, value in self._fields]

    def raw_items(self) -> list[tuple[str, str]]:
        """Every field as ``(name as given, value)``, in order."""
        return list(self._fields)

    def copy(self) -> Headers:
        return Headers._from_parsed(list(self._fields))

    def serialize(self) -> bytes:
        """Return ``Name: value\\r\\n`` for every field, Latin-1 encoded."""
        return "".join([f"{name}: {value}\r\n" for name, value in self._fields]).encode("latin-1")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self.items() == other.items()
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


_T = TypeVar("_T")
HeadersLike = Union[Headers, Mapping[str, str], Iterable[tuple[str, str]]]


# ------------------------------------------------------------------------------- parsers


def _parse_list(
    value: str, name: str, parse_item: Callable[[str, int, str], tuple[_T, int]]
) -> list[_T]:
    """Parse an RFC 7230 ``1#element`` list, calling ``parse_item(value, pos, name)`` for
    each element; it returns (element, position after it). Empty elements are skipped; a
    list with none at all is invalid.
    """
    items: list[_T] = []
    size = len(value)
    pos = _SEPARATORS.match(value).end()  # type: ignore[union-attr]
    while pos < size:
        item, pos = parse_item(value, pos, name)
        items.append(item)
        pos = _OWS.match(value, pos).end()  # type: ignore[union-attr]
        if pos == size:
            break
        if value[pos] != ",":
            raise InvalidHeader(name, value)
        pos = _SEPARATORS.match(value, pos).end()  # type: ignore[union-attr]
    if not items:
        raise InvalidHeader(name, value)
    return items


def _token_at(value: str, pos: int, name: str) -> tuple[str, int]:
    match = _TOKEN.match(value, pos)
    if match is None:
        raise InvalidHeader(name, value)
    return match.group(), match.end()


def _protocol_at(value: str, pos: int, name: str) -> tuple[str, int]:
    """RFC 7230 6.7: protocol = protocol-name ["/" protocol-version]."""
    token, pos = _token_at(value, pos, name)
    if pos < len(value) and value[pos] == "/":
        version, pos = _token_at(value, pos + 1, name)
        token = f"{token}/{version}"
    return token, pos


def parse_connection(value: str, name: str = "Connection") -> list[str]:
    """Parse a Connection header value into its options, lower-cased (they are
    case-insensitive). The caller checks for ``"upgrade"``."""
    return [token.lower() for token in _parse_list(value, name, _token_at)]


def parse_upgrade(value: str, name: str = "Upgrade") -> list[str]:
    """Parse an Upgrade header value into its protocols (``name`` or ``name/version``),
    lower-cased. The caller checks for ``"websocket"``."""
    return [token.lower() for token in _parse_list(value, name, _protocol_at)]


def parse_subprotocols(value: str, name: str = "Sec-WebSocket-Protocol") -> list[str]:
    """Parse a Sec-WebSocket-Protocol value into its subprotocol tokens, case kept."""
    return _parse_list(value, name, _token_at)


# One extension parameter, from the ";" before it: OWS ";" OWS token [OWS "=" OWS value].
# Each part is possessive and the optional value can only fail back to the end of the name.
_PARAM = re.compile(
    r"[ \t]*+;[ \t]*+(%s)(?:[ \t]*+=[ \t]*+(?:(%s)|(%s)))?"
    % (_TOKEN.pattern, _TOKEN.pattern, _QUOTED.pattern)
)


def _extension_at(
    value: str, pos: int, name: str
) -> tuple[tuple[str, list[ExtensionParameter]], int]:
    """extension = extension-token *( ";" extension-param ), OWS allowed around ";" and
    "="; extension-param = token [ "=" (token | quoted-string) ], and a quoted value must
    unquote to a token (RFC 6455 9.1). Stops at the first character that does not continue
    the extension; the list parser rejects it unless it is a comma."""
    ext_name, pos = _token_at(value, pos, name)
    params: list[ExtensionParameter] = []
    match_param = _PARAM.match
    while (match := match_param(value, pos)) is not None:
        param, token_value, quoted_value = match.groups()
        if quoted_value is not None:
            token_value = _QUOTED_PAIR.sub(r"\1", quoted_value[1:-1])
            if _TOKEN.fullmatch(token_value) is None:
                raise InvalidHeader(name, value)
        params.append((param, token_value))
        pos = match.end()
    return (ext_name, params), pos


def parse_extensions(
    value: str, name: str = "Sec-WebSocket-Extensions"
) -> list[tuple[str, list[ExtensionParameter]]]:
    """Parse a Sec-WebSocket-Extensions value into ``[(extension name, [(param, value or
    None), ...]), ...]`` in order, quoted values unquoted. The caller negotiates them."""
    return _parse_list(value, name, _extension_at)


# -------------------------------------------------------------------------------- builders


def _quote_if_needed(value: str) -> str:
    if _TOKEN.fullmatch(value) is not None:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_extensions(extensions: Sequence[tuple[str, Sequence[ExtensionParameter]]]) -> str:
    """Return a Sec-WebSocket-Extensions value for ``[(name, params), ...]``. Values that
    are not tokens are quoted (RFC 6455 requires them to unquote to a token anyway).
    Raises ValueError for a name or parameter name that is not a token."""
    parts = []
    for ext_name, params in extensions:
        if _TOKEN.fullmatch(ext_name) is None:
            raise ValueError(f"invalid extension name: {ext_name!r}")
        items = [ext_name]
        for param, param_value in params:
            if _TOKEN.fullmatch(param) is None:
                raise ValueError(f"invalid extension parameter: {param!r}")
            items.append(param if param_value is None else f"{param}={_quote_if_needed(param_value)}")
        parts.append("; ".join(items))
    return ", ".join(parts)


def build_subprotocols(subprotocols: Sequence[str]) -> str:
    """Return a Sec-WebSocket-Protocol value. Raises ValueError for a non-token name."""
    for subprotocol in subprotocols:
        if _TOKEN.fullmatch(subprotocol) is None:
            raise ValueError(f"invalid subprotocol: {subprotocol!r}")
    return ", ".join(subprotocols)
