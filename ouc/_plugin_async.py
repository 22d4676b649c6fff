"""The pytest plugin's asyncio fixtures: ``ouc_async_passive`` and ``ouc_async_active``.

Both hand out endpoints of the asyncio driver (:class:`~ouc.drivers.AsyncPassiveEndpoint`,
:class:`~ouc.drivers.AsyncActiveEndpoint`) to ``async def`` tests, under pytest-asyncio and under
anyio's pytest plugin (asyncio backend) alike::

    async def test_my_client(ouc_async_passive):
        plc = await ouc_async_passive()                 # started, mutual TLS, echo
        reader, writer = await asyncio.open_connection(*plc.address, ssl=...)
        await ouc_async_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=5)

Where the endpoints' event loop runs, and why: in a loop of their own, in a background thread the
fixture starts and stops. The test awaits them through :class:`AsyncPassive` and
:class:`AsyncActive`, typed proxies whose coroutine methods run in that loop and are awaited in the
test's loop (``asyncio.wrap_future(run_coroutine_threadsafe(...))``). The alternative, async
fixtures on the test's own loop, needs a fixture decorator per runner (``pytest_asyncio.fixture``
in strict mode, anyio's ``anyio_backend``) and a teardown on a loop that the runner may already
have closed; a background loop makes the fixtures plain ones, their teardown synchronous and
bounded, and the same code serves every asyncio runner. The price: a behaviour or ``on_event``
callback runs in the endpoints' loop, not the test's, so it must not touch the test loop's futures
or events (use the record log, which is thread-safe, or ``loop.call_soon_threadsafe``). Trio is not
supported: the driver is asyncio.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ouc._faults import Faults, FaultScript
from ouc.errors import ConfigError
from ouc.pytest_plugin import STOP_TIMEOUT, _Factory

if TYPE_CHECKING:
    from ouc.certs import CertStore
    from ouc.conn import BlockOutputs, Connection, StatusEntry
    from ouc.drivers import (
        AsyncActiveEndpoint,
        AsyncPassiveEndpoint,
        EndpointRecord,
        EndpointSpec,
        PeerContext,
        ReceiveEvent,
        RecordKind,
        RecordLog,
    )
    from ouc.drivers._setup import Behaviour
    from ouc.errors import OucError
    from ouc.params import Block
    from ouc.tls import TLSSession
    from ouc.transport import SessionInfo

__all__ = [
    "AsyncActive",
    "AsyncActiveFactory",
    "AsyncEndpoint",
    "AsyncPassive",
    "AsyncPassiveFactory",
    "AsyncRecordLog",
]

T = TypeVar("T")

#: Seconds the fixture's teardown gives the endpoints' loop thread to end, and a call run in
#: that loop at teardown to finish.
LOOP_TIMEOUT = 10.0
#: Seconds the teardown waits for an endpoint's stop() beyond its own ``stop_timeout``.
STOP_GRACE = 5.0
#: Faults the asyncio fixtures apply (the rest need the blocking driver's serving threads).
ASYNC_FAULTS = frozenset(
    {
        "delay",
        "wrong_length",
        "expired_certificate",
        "accept_any_client_cert",
        "handshake_abort",
        "handshake_stall",
    }
)


class LoopThread:
    """An event loop running in a daemon thread; coroutines are submitted from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ouc-async-fixtures", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Run the loop until :meth:`close` stops it, then close it here: a loop that was
        blocked at teardown (a behaviour that waits) first finishes what the teardown asked of
        it, the endpoints' stop(), bounded, so neither tasks nor the loop are left unclosed."""
        loop = self.loop
        try:
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=LOOP_TIMEOUT))
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run ``coro`` in this loop; the result is awaitable in the caller's (asyncio) loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = LOOP_TIMEOUT) -> T:
        """Run ``coro`` in this loop and block until it is done (teardown)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, timeout: float = LOOP_TIMEOUT) -> None:
        """Stop the loop and join the thread (at most ``timeout`` seconds), which closes the
        loop; a blocked loop stops and closes once it is free."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


class AsyncEndpoint:
    """An endpoint of the asyncio driver seen from the test's event loop (the base of
    :class:`AsyncPassive` and :class:`AsyncActive`, which the fixtures return).

    Each coroutine method runs in the endpoints' loop and is awaited in the test's; properties
    and plain methods read the endpoint directly. ``endpoint`` is the driver's object itself,
    for anything not forwarded here (its coroutines then need the endpoints' loop:
    ``asyncio.run_coroutine_threadsafe(coro, endpoint.loop)``).
    """

    def __init__(self, endpoint: Any, runner: LoopThread) -> None:
        self.endpoint = endpoint
        self._runner = runner

    def _run(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        return self._runner.submit(coro)

    @property
    def spec(self) -> EndpointSpec:
        """The endpoint's setup (block, device, TLS context, timeouts)."""
        spec: EndpointSpec = self.endpoint.spec
        return spec

    @property
    def cpu_running(self) -> bool:
        """The emulated CPU's operating state: RUN (True) or STOP."""
        return bool(self.endpoint.cpu_running)

    @property
    def cont(self) -> bool:
        """CONT of the endpoint's block."""
        return bool(self.endpoint.cont)

    @property
    def en_r(self) -> bool:
        """EN_R of TRCV_C."""
        return bool(self.endpoint.en_r)

    @property
    def read_pauses(self) -> int:
        """Times reading paused for backpressure."""
        return int(self.endpoint.read_pauses)

    async def cpu_stop(self) -> None:
        """The CPU goes to STOP: every connection ends and the endpoint stays down."""
        await self._run(self.endpoint.cpu_stop())

    async def cpu_run(self) -> None:
        """The CPU goes to RUN again."""
        await self._run(self.endpoint.cpu_run())

    async def set_cont(self, on: bool) -> None:
        """CONT of the block: 1→0 closes in order, 0→1 sets up again."""
        await self._run(self.endpoint.set_cont(on))

    async def enable_receive(self, on: bool) -> None:
        """EN_R of TRCV_C: with 0, received frames wait."""
        await self._run(self.endpoint.enable_receive(on))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"


class AsyncPassive(AsyncEndpoint):
    """A mock server PLC of ``ouc_async_passive``: the
    :class:`~ouc.drivers.AsyncPassiveEndpoint` ``endpoint``, its coroutines awaitable in the
    test's loop."""

    endpoint: AsyncPassiveEndpoint

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        return self.endpoint.address

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self.endpoint.port

    @property
    def connection_count(self) -> int:
        """Connections being served right now (handshaking or established)."""
        return self.endpoint.connection_count

    @property
    def refused(self) -> int:
        """Peers refused by the partner check (16#80C9) or the limit (16#8087)."""
        return self.endpoint.refused

    @property
    def served_total(self) -> int:
        """Connections served so far."""
        return self.endpoint.served_total

    def peers(self) -> list[PeerContext]:
        """The partners of the connections being served right now."""
        return self.endpoint.peers()

    async def com_rst(self) -> int:
        """COM_RST 0→1: reset every established connection; returns how many."""
        return await self._run(self.endpoint.com_rst())

    async def send(self, data: bytes, length: int = 0) -> int:
        """The server's TSEND_C on every established connection; returns on how many.

        Raises:
            FramingError: LEN beyond the limit (16#8085) or beyond DATA (16#8088).
            OucConnectionError: 16#80A3 when no connection is established.
        """
        return await self._run(self.endpoint.send(data, length))

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting and close every connection (the fixture does it after the test)."""
        await self._run(self.endpoint.stop(timeout))


class AsyncActive(AsyncEndpoint):
    """A mock client PLC of ``ouc_async_active``: the :class:`~ouc.drivers.AsyncActiveEndpoint`
    ``endpoint``, its coroutines awaitable in the test's loop."""

    endpoint: AsyncActiveEndpoint

    @property
    def connected(self) -> bool:
        """True while a connection is established."""
        return self.endpoint.connected

    @property
    def info(self) -> SessionInfo | None:
        """What the current (or last) connection negotiated: TLS version, cipher, peer."""
        return self.endpoint.info

    @property
    def connection(self) -> Connection | None:
        """The current (or last) sans-I/O connection."""
        return self.endpoint.connection

    @property
    def session(self) -> TLSSession | None:
        """The TLS session offered on the next connection (None until a ticket arrived)."""
        return self.endpoint.session

    @property
    def peer_text(self) -> str:
        """The partner as the records name it: ``plant-address:port``."""
        return self.endpoint.peer_text

    @property
    def last_error(self) -> OucError | None:
        """Why the last connection attempt or connection failed."""
        return self.endpoint.last_error

    @property
    def local_address(self) -> str | None:
        """Our ``host:port`` of the current connection."""
        return self.endpoint.local_address

    @property
    def serial(self) -> int:
        """The current connection's number within the endpoint (0 while down)."""
        return self.endpoint.serial

    @property
    def tsend(self) -> BlockOutputs | None:
        """TSEND_C's outputs (DONE, BUSY, ERROR, STATUS)."""
        return self.endpoint.tsend

    @property
    def trcv(self) -> BlockOutputs | None:
        """TRCV_C's outputs (with RCVD_LEN)."""
        return self.endpoint.trcv

    @property
    def reconnects(self) -> int:
        """Re-establishments after a drop."""
        return self.endpoint.reconnects

    @property
    def connections(self) -> int:
        """TCP connections established (handshake complete)."""
        return self.endpoint.connections

    def target(self) -> tuple[str, int]:
        """Where the next connection attempt goes."""
        return self.endpoint.target()

    def status_history(self) -> list[StatusEntry]:
        """Every STATUS change of every connection so far, oldest first."""
        return self.endpoint.status_history()

    def status_sequence(self, block: str = "TSEND_C") -> list[int]:
        """The STATUS values ``block`` went through across connections (repeats folded)."""
        return self.endpoint.status_sequence(block)

    def format_sequence(self, block: str = "TSEND_C") -> str:
        """``7000 → 7001 → 7004 → 7005 → 0000`` across connections."""
        return self.endpoint.format_sequence(block)

    async def connect(self, timeout: float | None = None) -> SessionInfo:
        """CONT 0→1 and wait until the connection is established (the fixture connects
        unless ``connect=False``)."""
        return await self._run(self.endpoint.connect(timeout))

    async def send(self, data: bytes, length: int = 0, *, timeout: float | None = None) -> None:
        """TSEND_C: send ``length`` bytes of ``data`` (0: all of it)."""
        await self._run(self.endpoint.send(data, length, timeout=timeout))

    async def receive(self, timeout: float | None = None) -> bytes:
        """TRCV_C: the next received frame."""
        return await self._run(self.endpoint.receive(timeout))

    async def receive_event(self, timeout: float | None = None) -> ReceiveEvent:
        """TRCV_C: the next received frame with its outputs."""
        return await self._run(self.endpoint.receive_event(timeout))

    async def com_rst(self) -> None:
        """COM_RST 0→1: reset the connection; the endpoint re-establishes it."""
        await self._run(self.endpoint.com_rst())

    async def disconnect(self) -> None:
        """CONT 1→0: close the connection in order."""
        await self._run(self.endpoint.disconnect())

    async def close(self) -> None:
        """Disconnect and end the endpoint (the fixture does it after the test)."""
        await self._run(self.endpoint.close())


class AsyncRecordLog:
    """An endpoint's :class:`~ouc.drivers.RecordLog` with an awaitable :meth:`wait_for`."""

    def __init__(self, log: RecordLog) -> None:
        self.log = log

    @property
    def records(self) -> list[EndpointRecord]:
        """A copy of the records kept, oldest first."""
        return self.log.records

    def of(self, kind: RecordKind) -> list[EndpointRecord]:
        """The records of one kind, oldest first."""
        return self.log.of(kind)

    async def wait_for(
        self,
        match: RecordKind | Callable[[EndpointRecord], bool],
        *,
        timeout: float,
        count: int = 1,
    ) -> EndpointRecord:
        """Wait (without blocking the test's loop) until ``count`` records match.

        Raises:
            WaitTimeoutError: fewer matched within ``timeout`` seconds (a ``TimeoutError``; the
                message lists what came).
        """
        return await self.log.wait_for_async(match, timeout=timeout, count=count)


def _check_async_faults(faults: Faults | FaultScript | None, what: str) -> None:
    if not faults:
        return
    if isinstance(faults, FaultScript):
        raise ConfigError(
            f"{what}() takes Faults(...); scripted faults need ouc_passive", path="faults"
        )
    other = sorted(set(faults.names) - ASYNC_FAULTS)
    if other:
        raise ConfigError(
            f"{what}() applies {', '.join(sorted(ASYNC_FAULTS))}; {', '.join(other)} need the "
            f"blocking driver's fixtures (ouc_passive / ouc_active)",
            path="faults",
        )


def _async_answer_faults(behaviour: Any, faults: Faults | None) -> Any:
    """Wrap ``behaviour``: each answer ``delay`` seconds late (without holding the loop) and
    ``wrong_length`` bytes off."""
    if not faults or not (faults.delay or faults.wrong_length):
        return behaviour

    async def faulty(frame: Any, peer: Any) -> bytes | None:
        answer = behaviour(frame, peer)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            return None
        if faults.delay:
            await asyncio.sleep(faults.delay)
        return faults.shape(answer)

    return faulty


class _AsyncFactory(_Factory):
    """The blocking factories' bookkeeping (endpoints, logs, behaviour errors failing the test
    at teardown), with the endpoints' loop and an awaitable log."""

    def __init__(self, store: CertStore, runner: LoopThread) -> None:
        super().__init__(store)
        self.runner = runner

    def log(self, endpoint: AsyncEndpoint) -> AsyncRecordLog:  # type: ignore[override]
        """Every status record of ``endpoint``; ``await .wait_for(kind, timeout=...)``."""
        return AsyncRecordLog(self._logs[id(endpoint)])

    def _guard_async(self, behaviour: Any, check: bool) -> Any:
        """``behaviour`` (plain or ``async``), with what it raises kept for
        :meth:`check_errors` and re-raised (the endpoint records it as a PLC would)."""
        if not check:
            return behaviour
        errors = self.errors

        async def awaited(answer: Awaitable[bytes | None]) -> bytes | None:
            try:
                return await answer
            except Exception as exc:
                errors.append(exc)
                raise

        def guarded(frame: Any, peer: Any) -> Any:
            try:
                answer = behaviour(frame, peer)
            except Exception as exc:
                errors.append(exc)
                raise
            return awaited(answer) if inspect.isawaitable(answer) else answer

        return guarded


class AsyncPassiveFactory(_AsyncFactory):
    """``ouc_async_passive``: ``await ouc_async_passive(block=None, behaviour=None,
    faults=None, *, partner="127.0.0.1", store=None, **options)`` starts a mock server PLC on
    the asyncio driver, as ``ouc_passive`` does on the blocking one (same defaults: the standard
    example's block, echo, PLC_1 at 192.168.0.1, LEN 258); stopped after the test.

    ``behaviour`` may be ``async def``; what it raises or answers that cannot be sent fails the
    test at teardown (``check_errors=False`` allows it), so does an endpoint that does not stop
    within ``stop_timeout`` seconds (default 5). Faults: ``delay``, ``wrong_length``, the
    certificate and the handshake ones; ``close_after_handshake``, ``reset_mid_frame``,
    ``pause_receiving`` and scripted faults (``Faults.script/first/when``) need ``ouc_passive``.
    Returns an :class:`AsyncPassive` around the :class:`~ouc.drivers.AsyncPassiveEndpoint`.
    """

    async def __call__(
        self,
        block: Block | None = None,
        behaviour: Behaviour | Callable[..., Awaitable[bytes | None]] | None = None,
        faults: Faults | None = None,
        *,
        partner: str | None = "127.0.0.1",
        store: CertStore | None = None,
        check_errors: bool = True,
        stop_timeout: float = STOP_TIMEOUT,
        **options: Any,
    ) -> AsyncPassive:
        from ouc.certs import SERVER_DEVICE
        from ouc.drivers import AddressMap, AsyncPassiveEndpoint, EndpointSpec, RecordLog, echo
        from ouc.drivers._faults import chain
        from ouc.drivers._handshake_faults import with_handshake_fault
        from ouc.params import STANDARD_SERVER
        from ouc.pytest_plugin import PassiveFactory, _prepare

        self._check_stop_timeout(stop_timeout)
        _check_async_faults(faults, "ouc_async_passive")
        block = STANDARD_SERVER if block is None else block
        spec_options, endpoint_options = _prepare(
            block,
            options,
            AsyncPassiveEndpoint,
            "ouc_async_passive",
            device=(SERVER_DEVICE, "192.168.0.1"),
            store=self.store if store is None else store,
            faults=faults,
        )
        log = RecordLog()
        endpoint_options["on_event"] = chain(
            log, self._watch(check_errors), endpoint_options.pop("on_event", None)
        )
        if "address_map" not in endpoint_options:
            endpoint_options["address_map"] = PassiveFactory._partner_map(
                block, partner, AddressMap
            )
        endpoint_options.setdefault("listen", ("127.0.0.1", 0))
        spec = with_handshake_fault(EndpointSpec.from_block(block, **spec_options), faults)
        endpoint = AsyncPassiveEndpoint(
            spec,
            behaviour=_async_answer_faults(
                self._guard_async(echo() if behaviour is None else behaviour, check_errors), faults
            ),
            **endpoint_options,
        )
        proxy = AsyncPassive(endpoint, self.runner)
        self._keep(proxy, log, stop_timeout)
        await self.runner.submit(endpoint.start())
        return proxy

    def stop_all(self) -> None:
        """Stop every endpoint, each within its ``stop_timeout``; an endpoint whose stop() does
        not end (a behaviour that blocks the loop) is noted for :meth:`check_errors`."""
        if self.stuck:
            return  # the loop is blocked already (closing a mock client PLC timed out)
        for proxy in reversed(self.endpoints):
            timeout = self.stop_timeout(proxy)
            try:
                self.runner.run(proxy.endpoint.stop(timeout), timeout + STOP_GRACE)
            except TimeoutError:
                self.stuck.append(
                    f"{proxy!r}: stop() did not end {timeout + STOP_GRACE:g} s later: the "
                    "endpoints' event loop is blocked (a plain def behaviour that waits? make "
                    "it async def and await)"
                )
                return  # the loop runs nothing more


class AsyncActiveFactory(_AsyncFactory):
    """``ouc_async_active``: ``await ouc_async_active(target=None, block=None, faults=None, *,
    connect=True, store=None, **options)`` a mock client PLC on the asyncio driver, as
    ``ouc_active`` (target default: the last ``ouc_async_passive`` endpoint of the test, else
    an :class:`AsyncPassive`, a blocking ``PassiveEndpoint``, ``"HOST:PORT"`` or
    ``(host, port)``); closed after the test. Faults: the certificate and the handshake ones.
    Returns an :class:`AsyncActive` around the :class:`~ouc.drivers.AsyncActiveEndpoint`
    (``await plc.send(...)``, ``await plc.receive(timeout=5)``).
    """

    def __init__(self, store: CertStore, runner: LoopThread, passive: AsyncPassiveFactory) -> None:
        super().__init__(store, runner)
        self.passive = passive

    async def __call__(
        self,
        target: Any = None,
        block: Block | None = None,
        faults: Faults | None = None,
        *,
        connect: bool = True,
        store: CertStore | None = None,
        **options: Any,
    ) -> AsyncActive:
        from ouc.certs import CLIENT_DEVICE
        from ouc.drivers import AsyncActiveEndpoint, EndpointSpec, RecordLog
        from ouc.drivers._faults import chain
        from ouc.drivers._handshake_faults import with_handshake_fault
        from ouc.params import STANDARD_CLIENT
        from ouc.pytest_plugin import _prepare

        _check_async_faults(faults, "ouc_async_active")
        if faults and (faults.delay or faults.wrong_length):
            raise ConfigError(
                "ouc_async_active() applies the certificate faults only; delay and "
                "wrong_length on sends need ouc_active",
                path="faults",
            )
        block = STANDARD_CLIENT if block is None else block
        spec_options, endpoint_options = _prepare(
            block,
            options,
            AsyncActiveEndpoint,
            "ouc_async_active",
            device=(CLIENT_DEVICE, "192.168.0.2"),
            store=self.store if store is None else store,
            faults=faults,
        )
        endpoint_options.setdefault("connect_to", self._target(target))
        log = RecordLog()
        endpoint_options["on_event"] = chain(log, endpoint_options.pop("on_event", None))
        spec = with_handshake_fault(EndpointSpec.from_block(block, **spec_options), faults)

        async def build() -> AsyncActiveEndpoint:  # it makes its loop objects: build it there
            return AsyncActiveEndpoint(spec, **endpoint_options)

        endpoint = await self.runner.submit(build())
        proxy = AsyncActive(endpoint, self.runner)
        self._keep(proxy, log)
        if connect:
            await self.runner.submit(endpoint.connect())
        return proxy

    def _target(self, target: Any) -> tuple[str, int]:
        from ouc.drivers import split_host_port

        if target is None:
            if not self.passive.endpoints:
                raise ConfigError(
                    "ouc_async_active() needs a target: an endpoint, 'HOST:PORT' or (host, port) "
                    "(or start one with ouc_async_passive first)",
                    path="target",
                )
            target = self.passive.endpoints[-1]
        if isinstance(target, str):
            host, port = split_host_port(target, "target")
            if port is None:
                raise ConfigError(f"target {target!r} needs a port (HOST:PORT)", path="target")
            return host, port
        if isinstance(target, tuple):
            return target[0], int(target[1])
        address: tuple[str, int] = target.address
        return address

    def close_all(self) -> None:
        """Close every endpoint; a close that does not end (the loop is blocked) is noted for
        the passive factory's :meth:`check_errors`, which fails the test."""
        for proxy in reversed(self.endpoints):
            try:
                self.runner.run(proxy.endpoint.close(), STOP_TIMEOUT + STOP_GRACE)
            except TimeoutError:
                self.passive.stuck.append(
                    f"{proxy!r}: close() did not end {STOP_TIMEOUT + STOP_GRACE:g} s later: the "
                    "endpoints' event loop is blocked (a plain def behaviour that waits? make "
                    "it async def and await)"
                )
                return
