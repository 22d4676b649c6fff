"""ouc.db is layer 1: no sockets, TLS, event loops, threads or clocks (style.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import ouc.db

FORBIDDEN = {"socket", "ssl", "asyncio", "threading", "time"}


def test_db_modules_import_no_io_or_clock() -> None:
    package = Path(ouc.db.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 5
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            roots = {name.split(".")[0] for name in names}
            assert not roots & FORBIDDEN, f"{module.name} imports {roots & FORBIDDEN}"
            for name in names:  # only lower layers of ouc itself
                assert not name.startswith(("ouc.tls", "ouc.conn", "ouc.drivers", "ouc.cli")), name
