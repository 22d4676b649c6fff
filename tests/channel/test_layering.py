"""The channel's core is sans-I/O: no sockets, threads or clocks, nothing of the drivers.

``_link`` (the rules, state and timer), ``_state`` (rows and events), ``_settings``,
``_address`` and ``_trust`` (the trust decisions; they read certificate files, as the layer-1
stores do) decide; only the runner (``_channel``), the control socket (``_control``) and the
shared CA list (``_cas``, locked for threads) touch threads or sockets.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ouc.channel

PACKAGE = Path(ouc.channel.__file__).parent
CORE = ("_link.py", "_state.py", "_settings.py", "_address.py", "_trust.py")
FORBIDDEN = {"socket", "ssl", "asyncio", "OpenSSL", "threading", "time", "selectors"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_imports_no_io_threads_clocks_or_drivers() -> None:
    for name in CORE:
        imports = _imports(PACKAGE / name)
        assert not {i.split(".")[0] for i in imports} & FORBIDDEN, name
        assert not any(i.startswith(("ouc.drivers", "ouc.channel._channel")) for i in imports), name


def test_no_channel_module_is_over_700_lines() -> None:
    for path in [*PACKAGE.glob("*.py"), PACKAGE.parent / "cli" / "_channel.py"]:
        assert len(path.read_text().splitlines()) <= 700, path.name
