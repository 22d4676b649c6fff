"""ouc.locust: Secure OUC load from one machine or many under Locust (``ouc[locust]`` extra).

:class:`OucUser` is a Locust user that plays the TSEND_C side of a CONNECT block (default: the
standard client block, its client certificate 11 and CA 3 from ``./ouc-store``, device
``PLC_2``) against the peer named by Locust's ``--host HOST:PORT``. Each task is one connection:

1. ``handshake``: TCP connect and the TLS handshake;
2. ``TSEND_C 258 B``: one frame of the data block (default: ``Send_Data``, 258 bytes);
3. ``TRCV_C 258 B`` (when ``reply`` is on): the peer's answer of that length, whatever its
   bytes (a PLC answers with its own data block; ``ouc load``'s echo rows are the ones that
   compare the reply with the frame sent);
4. the peer's verdict (close_notify and FIN out, its close_notify or FIN back; see
   :mod:`ouc.load._client`).

Every step is reported to Locust as a request (type ``ouc``) after the verdict, so a handshake
the peer refused afterwards (TLS 1.3 client certificates) is a failed ``handshake``, never a
success; failures carry the PLC status (``peer sent TLS alert ... (16#80E2)``). Locust's own
master/worker distribution spreads users over processes and machines.

Settings come from class attributes, which the environment variables ``OUC_STORE``,
``OUC_DEVICE``, ``OUC_BLOCK`` (and ``OUC_REPLY=1``) set by default, so one locustfile serves
every worker machine.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

try:
    from locust import User, constant, task
except ImportError as exc:  # the optional extra
    raise ImportError("ouc.locust needs Locust: pip install 'ouc[locust]'") from exc

from ouc.drivers import send_data_layout
from ouc.errors import OucError
from ouc.load._client import LoadClient, Target, is_refusal
from ouc.load._target import TargetRecipe, parse_target

__all__ = ["OucUser"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class OucUser(User):
    """One simulated TSEND_C client per Locust user (subclass it in a locustfile).

    Attributes:
        store / device / block: where the certificates are, whose assignments count and the
            CONNECT block (None: the standard client block); from ``OUC_STORE`` (default
            ``ouc-store``), ``OUC_DEVICE``, ``OUC_BLOCK``.
        frame: the TSEND_C data (default: the ``Send_Data`` data block's 258 start values).
        reply: wait for a TRCV_C answer of ``reply_len`` bytes (default: ``OUC_REPLY``).
        reply_len: None = as long as ``frame``; its content is not compared with ``frame``.
        timeout: seconds for each connect, handshake, reply and verdict.
    """

    abstract = True
    wait_time = constant(0)

    store: ClassVar[str | None] = os.environ.get("OUC_STORE") or "ouc-store"
    device: ClassVar[str | None] = os.environ.get("OUC_DEVICE") or None
    block: ClassVar[str | None] = os.environ.get("OUC_BLOCK") or None
    frame: ClassVar[bytes] = send_data_layout().encode()
    reply: ClassVar[bool] = _flag("OUC_REPLY")
    reply_len: ClassVar[int | None] = None
    timeout: ClassVar[float] = 10.0

    _targets: ClassVar[dict[TargetRecipe, Target]] = {}

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if not self.host:
            raise OucError("no target: give Locust --host HOST:PORT (e.g. 192.0.2.10:2000)")
        host, port = parse_target(self.host, "--host")
        recipe = TargetRecipe(host=host, port=port, store=self.store, block=self.block,
                              device=self.device, timeout=self.timeout)  # fmt: skip
        target = OucUser._targets.get(recipe)
        if target is None:  # one TLS context per process, shared by its users
            target = OucUser._targets[recipe] = recipe.build()
        self._target = target
        self._send_name = f"TSEND_C {len(self.frame)} B"
        self._reply_len = self.reply_len or len(self.frame)
        self._recv_name = f"TRCV_C {self._reply_len} B"

    def _fire(self, name: str, seconds: float, length: int, exc: OucError | None) -> None:
        self.environment.events.request.fire(
            request_type="ouc",
            name=name,
            response_time=seconds * 1000.0,
            response_length=length,
            exception=exc,  # its text ends with the status: '... (16#80E2)'
            context={},
        )

    @task
    def exchange(self) -> None:
        """One connection: handshake, TSEND_C, optional TRCV_C, the peer's verdict."""
        client = LoadClient(self._target)
        clock = time.perf_counter
        start = clock()
        try:
            client.connect()
        except OucError as exc:
            client.abort()
            self._fire("handshake", clock() - start, 0, exc)
            return
        handshake = clock() - start
        done: list[tuple[str, float, int]] = []
        step = self._send_name
        try:
            start = clock()
            client.send(self.frame)
            done.append((step, clock() - start, len(self.frame)))
            if self.reply:
                step = self._recv_name
                start = clock()
                data = client.receive(self._reply_len)
                done.append((step, clock() - start, len(data)))
            step = "close"
            client.confirm()
        except OucError as exc:
            client.abort()
            if is_refusal(exc.status):  # the peer's verdict on the handshake, come late
                self._fire("handshake", handshake, 0, exc)
                return
            self._fire("handshake", handshake, 0, None)
            for name, seconds, length in done:
                self._fire(name, seconds, length, None)
            self._fire(step, 0.0, 0, exc)
            return
        self._fire("handshake", handshake, 0, None)
        for name, seconds, length in done:
            self._fire(name, seconds, length, None)
