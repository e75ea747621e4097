"""The table of methods a peer serves: ``Methods``, a dict of name -> callable with a decorator."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Mapping

RESERVED_PREFIXES = ("rpc.", "$/")  # rpc.*: the spec's; $/*: wsfast.rpc's extensions


class Methods(dict):
    """Methods by name. Register with the decorator, with or without a name::

        methods = Methods()

        @methods.add
        async def add(a, b):
            return a + b

        @methods.add("math.mul")
        def mul(a, b):          # a plain function runs inline, without a task: keep it quick
            return a * b

    A method takes the request's params: by position for an array, by keyword for an object,
    none when params are absent. It may be a coroutine function (run as a task, so it never
    blocks the connection), a plain function, or return an async iterator (a stream).
    """

    def __init__(self, table: Mapping[str, Callable[..., Any]] | Iterable[tuple[str, Callable[..., Any]]] = ()) -> None:
        super().__init__()
        items = table.items() if isinstance(table, Mapping) else table
        for name, func in items:
            self.add(func, name=name)

    def add(self, func: Any = None, *, name: str | None = None) -> Any:
        """``@add``, ``@add("name")``, ``@add(name="name")`` or ``add(func, name=...)``."""
        if isinstance(func, str):
            name, func = func, None
        if func is None:
            return lambda f: self.add(f, name=name)
        if not callable(func):
            raise TypeError(f"a method must be callable, not {type(func).__name__}")
        name = name if name is not None else func.__name__
        if not isinstance(name, str) or not name:
            raise ValueError("a method name must be a non-empty string")
        if name.startswith(RESERVED_PREFIXES):
            raise ValueError(f"method names starting with {' or '.join(RESERVED_PREFIXES)} are reserved: {name!r}")
        self[name] = func
        return func


def methods_of(obj: Any, prefix: str = "") -> Methods:
    """The public methods of ``obj`` (an instance, a class or a module) as a ``Methods``
    table, named ``prefix + name``: ``Methods(methods_of(Calculator(), "calc."))``."""
    table = Methods()
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name)
        if callable(value) and not inspect.isclass(value):
            table.add(value, name=prefix + name)
    return table


def params_fit(func: Callable[..., Any], args: Any) -> bool:
    """Whether ``args`` (a list, a dict or None) binds to ``func``'s signature.

    Called only after ``func`` raised TypeError, to tell wrong params (-32602) from a
    TypeError inside the method (-32603).
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature: assume the params were wrong
        return False
    try:
        if args is None:
            signature.bind()
        elif type(args) is list:
            signature.bind(*args)
        else:
            signature.bind(**args)
    except TypeError:
        return False
    return True
