"""The pytest plugin's asyncio fixtures: ``ouc_async_passive`` and ``ouc_async_active``.

Both hand out endpoints of the asyncio driver (:class:`~ouc.drivers.AsyncPassiveEndpoint`,
:class:`~ouc.drivers.AsyncActiveEndpoint`) to ``async def`` tests, under pytest-asyncio and under
anyio's pytest plugin (asyncio backend) alike::

    async def test_my_client(ouc_async_passive):
        plc = await ouc_async_passive()                 # started, mutual TLS, echo
        reader, writer = await asyncio.open_connection(*plc.address, ssl=...)
        await ouc_async_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=5)

Where the endpoints' event loop runs, and why: in a loop of their own, in a background thread
the fixture starts and stops. The test awaits them through :class:`AsyncEndpoint`, a proxy whose
coroutine methods run in that loop and are awaited in the test's loop
(``asyncio.wrap_future(run_coroutine_threadsafe(...))``). The alternative, async fixtures on the
test's own loop, needs a fixture decorator per runner (``pytest_asyncio.fixture`` in strict mode,
anyio's ``anyio_backend``) and a teardown on a loop that the runner may already have closed; a
background loop makes the fixtures plain ones, their teardown synchronous and bounded, and the
same code serves every asyncio runner. The price: a behaviour or ``on_event`` callback runs in
the endpoints' loop, not the test's, so it must not touch the test loop's futures or events (use
the record log, which is thread-safe, or ``loop.call_soon_threadsafe``). Trio is not supported:
the driver is asyncio.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ouc._faults import Faults, FaultScript
from ouc.errors import ConfigError
from ouc.pytest_plugin import _Factory

if TYPE_CHECKING:
    from ouc.certs import CertStore
    from ouc.drivers import EndpointRecord, RecordKind, RecordLog
    from ouc.drivers._setup import Behaviour
    from ouc.params import Block

__all__ = ["AsyncActiveFactory", "AsyncEndpoint", "AsyncPassiveFactory", "AsyncRecordLog"]

T = TypeVar("T")

#: Seconds the fixture's teardown gives each endpoint to stop, and the loop thread to end.
STOP_TIMEOUT = 10.0
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
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="ouc-async-fixtures", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run ``coro`` in this loop; the result is awaitable in the caller's (asyncio) loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = STOP_TIMEOUT) -> T:
        """Run ``coro`` in this loop and block until it is done (teardown)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop, join the thread (bounded) and close the loop."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


class AsyncEndpoint:
    """An asyncio endpoint seen from the test's event loop.

    Every coroutine method of the endpoint (``send``, ``receive``, ``stop``, ``com_rst``,
    ``set_cont``, ...) is awaitable here and runs in the endpoints' loop; properties and plain
    methods (``address``, ``port``, ``peers()``, ``status_sequence()``) are read directly.
    ``endpoint`` is the driver's object itself.
    """

    def __init__(self, endpoint: Any, runner: LoopThread) -> None:
        self.endpoint = endpoint
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.endpoint, name)
        if not inspect.iscoroutinefunction(value):
            return value
        runner = self._runner

        @functools.wraps(value)
        def proxied(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            return runner.submit(value(*args, **kwargs))

        return proxied

    def __repr__(self) -> str:
        return f"AsyncEndpoint({self.endpoint!r})"


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

    def log(self, endpoint: Any) -> AsyncRecordLog:  # type: ignore[override]
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

    ``behaviour`` may be ``async def``; what it raises fails the test at teardown
    (``check_errors=False`` allows it). Faults: ``delay``, ``wrong_length``, the certificate
    and the handshake ones. Returns an :class:`AsyncEndpoint` around the
    :class:`~ouc.drivers.AsyncPassiveEndpoint`.
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
        **options: Any,
    ) -> AsyncEndpoint:
        from ouc.certs import SERVER_DEVICE
        from ouc.drivers import AddressMap, AsyncPassiveEndpoint, EndpointSpec, RecordLog, echo
        from ouc.drivers._faults import chain
        from ouc.drivers._handshake_faults import with_handshake_fault
        from ouc.params import STANDARD_SERVER
        from ouc.pytest_plugin import PassiveFactory, _prepare

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
        proxy = AsyncEndpoint(endpoint, self.runner)
        self._keep(proxy, log)
        await self.runner.submit(endpoint.start())
        return proxy

    def stop_all(self) -> None:
        for proxy in reversed(self.endpoints):
            self.runner.run(proxy.endpoint.stop())


class AsyncActiveFactory(_AsyncFactory):
    """``ouc_async_active``: ``await ouc_async_active(target=None, block=None, faults=None, *,
    connect=True, store=None, **options)`` a mock client PLC on the asyncio driver, as
    ``ouc_active`` (target default: the last ``ouc_async_passive`` endpoint of the test, else
    an :class:`AsyncEndpoint`, a blocking ``PassiveEndpoint``, ``"HOST:PORT"`` or
    ``(host, port)``); closed after the test. Faults: the certificate and the handshake ones.
    Returns an :class:`AsyncEndpoint` around the :class:`~ouc.drivers.AsyncActiveEndpoint`
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
    ) -> AsyncEndpoint:
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

        async def build() -> Any:  # the endpoint makes its loop objects: build it in that loop
            return AsyncActiveEndpoint(spec, **endpoint_options)

        endpoint = await self.runner.submit(build())
        proxy = AsyncEndpoint(endpoint, self.runner)
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
        for proxy in reversed(self.endpoints):
            self.runner.run(proxy.endpoint.close())
