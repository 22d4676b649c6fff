"""Every control request gets an answer: a control that overruns its time fails with
WaitTimeoutError (no PLC status: the PLC program's block would keep waiting) and is cancelled
(not carried out later), and an unexpected error still answers ``ok: false`` over the control
socket instead of leaving the client with no answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.drivers import PlcControl, PlcControlServer, control_request
from ouc.drivers import _plc_control as plc_control
from ouc.errors import OucError, WaitTimeoutError

WAIT = 10.0  # seconds any one wait may take (generous for a loaded 2-core machine)


class Endpoint:
    """An endpoint's control face whose controls misbehave on purpose."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.cancelled = threading.Event()
        self.finished = threading.Event()

    async def com_rst(self) -> None:  # never finishes in time
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished.set()

    def cpu_stop(self) -> None:
        raise RuntimeError("a bug in the endpoint")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(WAIT)
    loop.close()


def test_a_control_that_overruns_times_out_without_a_status_and_is_cancelled(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plc_control, "CONTROL_TIMEOUT", 0.2)
    endpoint = Endpoint(loop)
    with pytest.raises(TimeoutError) as caught:
        PlcControl(endpoint, loop).do("com_rst")
    assert isinstance(caught.value, WaitTimeoutError) and caught.value.status is None
    assert endpoint.cancelled.wait(WAIT)
    assert not endpoint.finished.is_set()


def test_an_unexpected_error_is_answered_ok_false(tmp_path: Path) -> None:
    server = PlcControlServer(PlcControl(Endpoint()), tmp_path / "c.sock", name="ouc serve")
    with server, pytest.raises(OucError) as caught:
        control_request(tmp_path / "c.sock", {"op": "stop"}, timeout=WAIT)
    assert "internal error in ouc serve: RuntimeError: a bug in the endpoint" in str(caught.value)
    assert caught.value.path == "control"


def test_an_overrun_reaches_the_client_as_a_timeout_without_a_status(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plc_control, "CONTROL_TIMEOUT", 0.2)
    endpoint: Any = Endpoint(loop)
    server = PlcControlServer(PlcControl(endpoint, loop), tmp_path / "c.sock", name="ouc serve")
    with server, pytest.raises(WaitTimeoutError) as caught:
        control_request(tmp_path / "c.sock", {"op": "com_rst"}, timeout=WAIT)
    assert caught.value.status is None and isinstance(caught.value, TimeoutError)
    assert "did not finish within 0.2 s" in caught.value.message
    assert endpoint.cancelled.wait(WAIT)
