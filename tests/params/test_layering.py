"""ouc.params is layer 1: no sockets, TLS, threads or clocks; construct only in _schema.py."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import ouc.params
import ouc.strategies

PACKAGE = Path(ouc.params.__file__).parent
FORBIDDEN = {"socket", "ssl", "asyncio", "OpenSSL", "threading", "time", "selectors"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_params_imports_no_io_tls_threads_or_clock() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        assert not _imports(path) & FORBIDDEN, path.name


def test_construct_stays_in_the_schema_module() -> None:
    users = {p.name for p in PACKAGE.glob("*.py") if "construct" in _imports(p)}
    assert users == {"_schema.py"}


def test_params_imports_nothing_above_layer_1() -> None:
    allowed = {"ouc.errors", "ouc.device", "ouc._notation", "ouc._input"}  # layer 0
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ouc."):
                module = node.module or ""
                assert module in allowed or module.startswith("ouc.params"), (path.name, module)


def test_public_surface_is_listed_and_documented() -> None:
    for module in (ouc.params, ouc.strategies):
        for name in module.__all__:
            assert hasattr(module, name), name
    for name in ("parse", "build", "to_dict", "from_dict", "load", "validate", "check"):
        assert getattr(ouc.params, name).__doc__, name


def test_docstring_examples_run() -> None:
    for module in (ouc.params, ouc.strategies):
        result = doctest.testmod(module, verbose=False)
        assert result.failed == 0
    assert doctest.testmod(ouc.params).attempted >= 2
