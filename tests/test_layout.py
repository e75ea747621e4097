"""The package's layering rules, read from the source with ``ast`` (docs/architecture.md).

* kernels (``wsfast/_pure``, ``wsfast/_speedups``) import only each other's twin modules,
  ``wsfast.exceptions``, ``wsfast.limits`` and the leaf ``wsfast.wire``;
* only ``wsfast._impl`` imports a twin from outside the kernel packages;
* the sans-I/O core imports neither asyncio, socket, ssl nor anything above it;
* the asyncio layer imports no integration (brokers, asgi, cli, rpc, metrics);
* no import circle between the package's modules (imports anywhere in them);
* ``wsfast/wire.pxd`` gives Cython the same numbers as ``wsfast/wire.py``;
* nothing in the package uses an old module path of ``wsfast/_aliases.py``;
* the tests, fuzz/ and bench/ take the twins from one helper, ``tests/twins.py``: no other
  module imports ``wsfast._speedups`` or ``wsfast._pure``, nor loads a twin through
  ``wsfast._impl`` (but the test of the chooser itself).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from wsfast import _aliases, _impl, wire

ROOT = Path(__file__).resolve().parent.parent / "wsfast"

KERNEL_PACKAGES = ("wsfast._pure", "wsfast._speedups")
KERNEL_MAY_IMPORT = {"wsfast.exceptions", "wsfast.limits", "wsfast.wire"}
# wsfast.limits' __getattr__ forwards a deprecated name through wsfast._aliases, which imports
# nothing of wsfast at module level.
SANS_IO_CORE = {
    "wsfast.wire", "wsfast.exceptions", "wsfast.limits", "wsfast.close", "wsfast.opcodes",
    "wsfast.events", "wsfast.protocol", "wsfast.handshake", "wsfast.headers", "wsfast.http11",
    "wsfast.uri", "wsfast._impl",
}
SANS_IO_FORBIDDEN = ("asyncio", "socket", "ssl", "selectors")
INTEGRATIONS = ("wsfast.brokers", "wsfast.asgi", "wsfast.cli", "wsfast.feeds", "wsfast.rpc", "wsfast.metrics")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*")):
        if path.suffix in (".py", ".pyx") and "demo" not in path.parts:
            found[module_name(path)] = path
    return found


MODULES = sources()
_CIMPORT = re.compile(r"^\s*(?:from\s+(\S+)\s+cimport|cimport\s+(\S+))", re.M)


def imports(name: str) -> set[str]:
    """The absolute names ``name`` imports, anywhere in it but under ``if TYPE_CHECKING:``
    (``from a.b import c`` gives a.b and a.b.c)."""
    path = MODULES[name]
    text = path.read_text()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    if path.suffix == ".pyx":
        for m in _CIMPORT.finditer(text):
            found.add(_absolute(m.group(1) or m.group(2), package))
        text = "\n".join(line for line in text.splitlines() if not _is_cython_only(line))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return found | _import_lines(text, package)
    else:
        tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []  # for the type checker only: never run
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute("." * node.level + (node.module or ""), package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _is_cython_only(line: str) -> bool:
    return bool(re.match(r"\s*(cdef|cpdef|cimport|from\s+\S+\s+cimport|ctypedef|@cython)", line))


def _import_lines(text: str, package: str) -> set[str]:
    found = set()
    for m in re.finditer(r"^\s*(?:from\s+(\S+)\s+import\s+\(?([\w ,]+)|import\s+(\S+))", text, re.M):
        if m.group(3):
            found.add(m.group(3))
        else:
            base = _absolute(m.group(1), package)
            found.add(base)
            found.update(f"{base}.{n.strip()}" for n in m.group(2).split(",") if n.strip())
    return found


def _absolute(name: str, package: str) -> str:
    if not name.startswith("."):
        return name
    level = len(name) - len(name.lstrip("."))
    base = package.split(".")
    if level > 1:
        base = base[: -(level - 1)]
    rest = name[level:]
    return ".".join(base + ([rest] if rest else []))


def wsfast_modules(names: set[str]) -> set[str]:
    """The package modules among ``names`` (``a.b.c`` where ``c`` is a name in ``a.b``: a.b)."""
    return {n for n in names if n in MODULES}


def test_every_module_is_read():
    assert "wsfast._speedups.conn" in MODULES and "wsfast._pure.conn" in MODULES
    assert all(imports(name) is not None for name in MODULES)


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith(KERNEL_PACKAGES)])
def test_kernels_import_only_exceptions_limits_and_the_leaf(name):
    package = ".".join(name.split(".")[:2])
    extra = {n for n in wsfast_modules(imports(name)) if n.startswith("wsfast")}
    extra -= KERNEL_MAY_IMPORT | {"wsfast", package}
    extra = {n for n in extra if not n.startswith(package + ".")}
    assert not extra, f"{name} imports {sorted(extra)}"


@pytest.mark.parametrize("name", [n for n in MODULES
                                  if n != "wsfast._impl" and not n.startswith(KERNEL_PACKAGES)])
def test_only_the_chooser_imports_a_twin(name):
    twins = {n for n in imports(name) if n.startswith(KERNEL_PACKAGES)}
    assert not twins, f"{name} imports {sorted(twins)}: take kernels from wsfast._impl"


@pytest.mark.parametrize("name", sorted(SANS_IO_CORE))
def test_the_sans_io_core_does_no_io_and_imports_nothing_above_it(name):
    names = imports(name)
    io = {n for n in names if n.split(".")[0] in SANS_IO_FORBIDDEN}
    assert not io, f"{name} imports {sorted(io)}"
    above = {n for n in wsfast_modules(names) if n.startswith("wsfast")}
    above -= SANS_IO_CORE | {"wsfast", "wsfast.extensions", "wsfast.extensions.base"}
    if name in ("wsfast.limits", "wsfast.events"):
        above -= {"wsfast._aliases"}  # their __getattr__ forwards an old name (Limits, Event)
    above = {n for n in above if not n.startswith(KERNEL_PACKAGES)}
    assert not above, f"{name} imports {sorted(above)}"


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("wsfast.asyncio")])
def test_the_asyncio_layer_imports_no_integration(name):
    names = imports(name)
    bad = {n for n in names if n.startswith(INTEGRATIONS)}
    assert not bad, f"{name} imports {sorted(bad)}"
    if name == "wsfast.asyncio":
        return  # its __getattr__ forwards the moved names through wsfast._aliases
    assert "wsfast._aliases" not in names, f"{name} uses a deprecated alias"


def test_no_import_circle():
    graph = {name: wsfast_modules(imports(name)) - {name} for name in MODULES}
    # The chooser imports the twins by name (importlib), which ast cannot see.
    graph["wsfast._impl"] |= {f"{p}.{k}" for p in KERNEL_PACKAGES for k in _impl.KERNELS}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if _is_parent(nxt, node):
                continue  # importing a submodule runs its package first: not an edge back
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt):] + [nxt])
                return True
            if state.get(nxt) is None and visit(nxt, stack):
                return True
        stack.pop()
        state[node] = 2
        return False

    for name in sorted(graph):
        if state.get(name) is None and visit(name, []):
            break
    assert not cycle, " -> ".join(cycle)


def _is_parent(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def test_the_cython_leaf_matches_the_python_leaf():
    text = (ROOT / "wire.pxd").read_text()
    declared = dict(re.findall(r"^\s+(\w+) = (-?(?:0x)?[0-9A-Fa-f]+)$", text, re.M))
    assert declared
    for name, value in declared.items():
        assert getattr(wire, name) == int(value, 0), name


def test_item_kinds_are_named():
    assert {k.name for k in wire.ItemKind} >= {"TEXT", "BINARY", "CLOSE", "PING", "PONG", "FAILURE"}
    assert wire.next_state(wire.State.OPEN, wire.Transition.CLOSE_STARTED) is wire.State.CLOSING
    assert wire.next_state(wire.State.CLOSED, wire.Transition.CLOSE_STARTED) is wire.State.CLOSED


def test_nothing_in_the_package_uses_an_old_path():
    old = set(_aliases.MODULES)
    for name in MODULES:
        used = imports(name) & old
        assert not used, f"{name} imports the deprecated {sorted(used)}"


@pytest.mark.parametrize("old", sorted(_aliases.MODULES))
def test_old_module_paths_still_import_with_a_warning(old):
    import importlib
    import sys

    new = importlib.import_module(_aliases.MODULES[old])
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=old):
        module = importlib.import_module(old)
    assert module is new and module.__spec__.name == new.__name__


@pytest.mark.parametrize("package, name", sorted(_aliases.NAMES))
def test_moved_names_still_resolve_with_a_warning(package, name):
    import importlib

    module, attr = _aliases.NAMES[(package, name)]
    with pytest.warns(DeprecationWarning, match=f"{package}.{name}"):
        value = getattr(importlib.import_module(package), name)
    assert value is getattr(importlib.import_module(module), attr)


# Methods of the connection core that the asyncio layer provides or extends, and why:
# bytes before the handshake and fragmented sends need the handshake and asyncio.Lock; the
# idle-timeout client watches messages on their way to the queue.
CORE_METHODS_PROVIDED_ABOVE = {
    "_handshake_data", "_send_fragments", "_dispatch_queue",
}


def test_the_connection_core_has_one_source():
    """``wsfast/_pure/conn.py`` is the connection core's only source: the compiled build is
    a copy of it made by setup.py and typed by ``_speedups/conn.pxd``, never a .pyx."""
    speedups = ROOT / "_speedups"
    assert not (speedups / "conn.pyx").exists()
    assert (speedups / "conn.pxd").exists()
    copy = speedups / "conn.py"
    if copy.exists():
        assert copy.read_bytes() == (ROOT / "_pure" / "conn.py").read_bytes(), (
            "wsfast/_speedups/conn.py differs from wsfast/_pure/conn.py: rebuild (setup.py)")
    setup = (ROOT.parent / "setup.py").read_text()
    assert re.search(r'PURE_MODE = \{"conn"\}', setup)


def _methods(path: Path, bases: str = "") -> dict[str, set[str]]:
    """Class name -> its methods, for the classes of ``path`` with a base naming ``bases``."""
    tree = ast.parse(path.read_text())
    return {node.name: {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
            for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
            and any(bases in ast.unparse(b) for b in node.bases or [ast.Name("object")])}


def test_the_asyncio_layer_overrides_only_the_documented_core_methods():
    """Nothing above the core replaces its message path: a subclass provides only the
    methods listed in CORE_METHODS_PROVIDED_ABOVE (the core calls no other hook)."""
    core = _methods(ROOT / "_pure" / "conn.py")["ConnectionCore"]
    assert "_deliver" in core and "send_nowait" in core
    for path in [*sorted((ROOT / "asyncio").glob("*.py")), *sorted((ROOT / "asgi").glob("*.py"))]:
        for cls, methods in _methods(path, "Connection").items():
            overridden = (methods & core) - CORE_METHODS_PROVIDED_ABOVE
            assert not overridden, f"{path.name}:{cls} overrides core methods {sorted(overridden)}"


# ------------------------------------------------------------------ the tests' own rules

REPO = ROOT.parent
TWIN_HELPER = "tests/twins.py"
# Tests the chooser's own rule (which twin ``_impl`` picks when the core is not built), so it
# calls ``_impl`` by itself.
LOADS_THROUGH_THE_CHOOSER = {"tests/kernels/test_conn_core.py"}
_IMPL_LOADERS = {"load", "available", "connection_core"}


def _outside_sources() -> list[str]:
    return sorted(str(p.relative_to(REPO)) for d in ("tests", "fuzz", "bench")
                  for p in (REPO / d).rglob("*.py") if "node_modules" not in p.parts)


def _uses(path: str) -> tuple[set[str], set[str]]:
    """(the wsfast modules ``path`` imports, the ``wsfast._impl`` loaders it calls)."""
    tree = ast.parse((REPO / path).read_text())
    modules: set[str] = set()
    loaders: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
            if node.module == "wsfast._impl":
                loaders.update(alias.name for alias in node.names if alias.name in _IMPL_LOADERS)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "_impl" and node.attr in _IMPL_LOADERS):
            loaders.add(node.attr)
    return {m for m in modules if m.startswith(KERNEL_PACKAGES)}, loaders


def test_the_tests_read_their_sources():
    sources = _outside_sources()
    assert TWIN_HELPER in sources and "fuzz/targets.py" in sources and "tests/conftest.py" in sources
    assert _uses(TWIN_HELPER)[1] == {"load", "available"}


@pytest.mark.parametrize("path", [p for p in _outside_sources() if p != TWIN_HELPER])
def test_only_the_twin_helper_imports_a_twin(path):
    twins, loaders = _uses(path)
    assert not twins, f"{path} imports {sorted(twins)}: take the twins from {TWIN_HELPER}"
    if path not in LOADS_THROUGH_THE_CHOOSER:
        assert not loaders, f"{path} calls wsfast._impl's {sorted(loaders)}: use {TWIN_HELPER}"
    # A test parametrized over twins by a literal list fails on a pure install (no Cython twin).
    literal = re.search(r"parametrize\([^)]*\[\s*[\"']cython[\"']", (REPO / path).read_text())
    assert literal is None, f"{path} lists the twins by hand: use {TWIN_HELPER}'s names()"
