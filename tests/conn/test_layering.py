"""Layer rules (style.md): framing and conn never import I/O, threads or clocks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ouc

FORBIDDEN = {"socket", "ssl", "asyncio", "threading", "time", "selectors", "construct"}
PACKAGES = ("framing", "conn")
FILES = sorted(p for name in PACKAGES for p in (Path(ouc.__file__).parent / name).glob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_forbidden_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


def test_the_scan_sees_both_packages() -> None:
    assert {p.parent.name for p in FILES} == set(PACKAGES)
    assert len(FILES) >= 8
