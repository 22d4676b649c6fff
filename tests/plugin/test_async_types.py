"""The asyncio fixtures are typed for a peer's suite: the factories' types come from
``ouc.pytest_plugin`` and ``mypy --strict`` sees what an awaited mock PLC has, so a typo'd method
is an error before the test runs (the proxies have no ``__getattr__`` returning ``Any``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import ouc

USER_SUITE = """
from ouc.pytest_plugin import AsyncActiveFactory, AsyncPassiveFactory
from ouc.transport import SessionInfo


async def test_client(
    ouc_async_passive: AsyncPassiveFactory, ouc_async_active: AsyncActiveFactory
) -> None:
    plc = await ouc_async_passive()
    client = await ouc_async_active(plc)
    reset: int = await plc.com_rst()
    sent: int = await plc.send(bytes(258))
    data: bytes = await client.receive(timeout=5)
    info: SessionInfo = await client.connect(timeout=5)
    address: tuple[str, int] = plc.address
    sequence: list[int] = client.status_sequence("TSEND_C")
    await plc.com_rsst()
    await client.sendd(data)
    wrong: str = await plc.com_rst()
"""


@pytest.mark.slow
def test_mypy_strict_sees_the_async_endpoints(tmp_path: Path) -> None:
    user = tmp_path / "test_user.py"
    user.write_text(USER_SUITE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",  # only the user's file is judged
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(user),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"MYPYPATH": str(Path(ouc.__file__).parents[1]), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    errors = re.findall(r"test_user\.py:(\d+): error: (.*)", done.stdout)
    expected = [
        ("17", '"AsyncPassive" has no attribute "com_rsst"'),
        ("18", '"AsyncActive" has no attribute "sendd"'),
        ("19", 'Incompatible types in assignment (expression has type "int", variable has type'),
    ]
    assert len(errors) == len(expected), done.stdout + done.stderr  # the correct lines pass
    for (line, text), (want_line, want) in zip(errors, expected, strict=True):
        assert line == want_line and want in text, done.stdout


def test_the_async_types_come_from_the_plugin_module() -> None:
    from ouc import _plugin_async, pytest_plugin

    for name in _plugin_async.__all__:
        assert name in pytest_plugin.__all__
        assert getattr(pytest_plugin, name) is getattr(_plugin_async, name)
    with pytest.raises(AttributeError, match="has no attribute 'AsyncNothing'"):
        pytest_plugin.AsyncNothing  # noqa: B018
