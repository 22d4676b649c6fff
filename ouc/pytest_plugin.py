"""pytest plugin: a mock PLC in a fixture, ready to misbehave (loaded through ``pytest11``).

Installing ouc is enough; every fixture name starts with ``ouc_``:

* ``ouc_store`` — a temporary certificate store with the standard example (CA 3, server
  certificate 9 for PLC_1 at 192.168.0.1, client certificate 11 for PLC_2 at 192.168.0.2);
  keys and certificates are made once per test run and copied per test, so a test may renew,
  replace or delete freely. Everything is valid from 30 days ago.
* ``ouc_pem`` — the example's certificates and keys as PEM files for your own client or server
  (``ca``, ``server_cert``, ``server_key``, ``client_cert``, ``client_key``).
* ``ouc_passive`` — ``ouc_passive(block=STANDARD_SERVER, behaviour=echo(), faults=None, **kw)``
  starts a mock server PLC (blocking driver) on 127.0.0.1 port 0, stopped after the test.
* ``ouc_active`` — ``ouc_active(target=None, block=STANDARD_CLIENT, faults=None, connect=True,
  **kw)`` a mock client PLC aimed at a passive endpoint or ``"HOST:PORT"``, closed after the test.
* ``ouc_async_passive`` / ``ouc_async_active`` — their counterparts on the asyncio driver for
  ``async def`` tests (pytest-asyncio or anyio): ``plc = await ouc_async_passive()``; ``await
  ouc_async_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=5)``. They refuse the faults
  that need the blocking driver's threads (``close_after_handshake``, ``reset_mid_frame``,
  ``pause_receiving``, scripted faults) and ``server_cert``/``client_cert``; annotate with
  :class:`AsyncPassiveFactory` / :class:`AsyncActiveFactory` (importable from here).
* ``ouc_bad_certs`` — a :class:`~ouc.certs.BadCertFactory` under the store's CA 3.

:class:`Faults` (``from ouc.pytest_plugin import Faults``) makes an endpoint misbehave:
``Faults(close_after_handshake=True)``, ``reset_mid_frame``, ``delay=0.2``, ``wrong_length=+N``,
``pause_receiving=S``, ``expired_certificate``, ``accept_any_client_cert``,
``handshake_abort=POINT``, ``handshake_stall=POINT``.

Importing this module is cheap on purpose (it loads in every pytest run of every project that
installed ouc): the heavy modules are imported inside the fixtures.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import shutil
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ouc._faults import Faults, FaultScript
from ouc._plugin_certs import present, trust

if TYPE_CHECKING:
    from ouc._plugin_async import (
        AsyncActive,
        AsyncActiveFactory,
        AsyncEndpoint,
        AsyncPassive,
        AsyncPassiveFactory,
        AsyncRecordLog,
    )
    from ouc.certs import BadCertFactory, CertStore
    from ouc.drivers import (
        ActiveEndpoint,
        Behaviour,
        EndpointRecord,
        EventCallback,
        PassiveEndpoint,
        RecordLog,
    )
    from ouc.params import Block

__all__ = [
    "STOP_TIMEOUT",
    "STORE_AGE",
    "ActiveFactory",
    "AsyncActive",
    "AsyncActiveFactory",
    "AsyncEndpoint",
    "AsyncPassive",
    "AsyncPassiveFactory",
    "AsyncRecordLog",
    "FaultScript",
    "Faults",
    "PassiveFactory",
    "PemFiles",
    "ouc_active",
    "ouc_async_active",
    "ouc_async_passive",
    "ouc_bad_certs",
    "ouc_passive",
    "ouc_pem",
    "ouc_store",
    "ouc_store_template",
    "present",
    "trust",
]

#: The example's certificates start this long before the test run (so a test can present one
#: that already expired, and a PLC clock set a little back still accepts them).
STORE_AGE = dt.timedelta(days=30)
#: TRCV_C LEN of the fixtures' endpoints unless given: the example's 258-byte data block.
DEFAULT_LEN = 258
#: Seconds the fixtures' teardown gives each endpoint to stop (``stop_timeout=`` changes it).
STOP_TIMEOUT = 5.0
#: The plant addresses of the standard example's PLCs (server PLC_1, client PLC_2).
SERVER_ADDRESS = "192.168.0.1"
CLIENT_ADDRESS = "192.168.0.2"


#: The asyncio fixtures' types, importable from here for annotations
#: (``ouc_async_passive: AsyncPassiveFactory``) and loaded only when asked for, so that
#: importing the plugin stays cheap.
_ASYNC_TYPES = frozenset(name for name in __all__ if name.startswith("Async"))


def __getattr__(name: str) -> Any:
    if name in _ASYNC_TYPES:
        from ouc import _plugin_async

        return getattr(_plugin_async, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- certificates


@pytest.fixture(scope="session")
def ouc_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard example's store, built once per test run (``ouc_store`` copies it).

    Under pytest-xdist the workers share it: the first to take the lock builds it in the run's
    folder, the others wait and reuse it, so the default CAs' RSA-2048 keys (the slow part) are
    made once per run, not once per worker.
    """
    import fcntl

    from ouc.drivers import example_store

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, shared by all its workers
    folder = root / "ouc-store-template"
    with open(root / "ouc-store-template.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "store" / "index.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a half-built one from a crashed worker
            building = root / f"ouc-store-template.{os.getpid()}"
            example_store(building / "store", now=_now() - STORE_AGE)
            building.rename(folder)
    return folder / "store"


@pytest.fixture
def ouc_store(ouc_store_template: Path, tmp_path: Path) -> CertStore:
    """A temporary certificate store with the standard example, this test's own copy."""
    from ouc.certs import CertStore

    path = tmp_path / "ouc-store"
    shutil.copytree(ouc_store_template, path)
    return CertStore(path)


@dataclass(frozen=True)
class PemFiles:
    """The standard example as PEM files (for clients and servers that read files)."""

    ca: Path  # CA 3: the trust anchor for both sides
    server_cert: Path  # certificate 9 (PLC_1, IP SAN 192.168.0.1)
    server_key: Path
    client_cert: Path  # certificate 11 (PLC_2, IP SAN 192.168.0.2)
    client_key: Path


@pytest.fixture
def ouc_pem(ouc_store: CertStore, tmp_path: Path) -> PemFiles:
    """CA 3, certificate 9 and 11 with their keys, exported as PEM files (keys unencrypted)."""
    from cryptography.hazmat.primitives import serialization

    from ouc.certs import EXAMPLE_CA_ID, EXAMPLE_CLIENT_ID, EXAMPLE_SERVER_ID
    from ouc.certs._atomic import write_atomic

    folder = tmp_path / "ouc-pem"
    folder.mkdir()

    def cert(cert_id: int, name: str) -> Path:
        path = folder / name
        pem = ouc_store.certificate(cert_id).public_bytes(serialization.Encoding.PEM)
        path.write_bytes(pem)
        return path

    def key(cert_id: int, name: str) -> Path:
        private = ouc_store.private_key(cert_id)
        assert private is not None, f"the store has no key for {cert_id}"
        path = folder / name
        secret = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_atomic(path, secret, mode=0o600)  # 0600 from the start, never widened
        return path

    return PemFiles(
        ca=cert(EXAMPLE_CA_ID, "ca-3.pem"),
        server_cert=cert(EXAMPLE_SERVER_ID, "server-9.pem"),
        server_key=key(EXAMPLE_SERVER_ID, "server-9.key"),
        client_cert=cert(EXAMPLE_CLIENT_ID, "client-11.pem"),
        client_key=key(EXAMPLE_CLIENT_ID, "client-11.key"),
    )


@pytest.fixture
def ouc_bad_certs(ouc_store: CertStore) -> BadCertFactory:
    """Bad certificates (expired, wrong SAN, unknown CA, ...) issued under the store's CA 3 for
    the server PLC's plant address 192.168.0.1 (``.for_address(...)`` for another) and the
    current time. Each says the status a PLC reports: ``.expected_status`` under the defaults
    (0: accepted), ``.status(role, ext_tls_capabilities=, crls=)`` for a role and configuration
    (a wrong SAN is refused, 16#80E1, only by an active side with ExtTLSCapabilities bit 0; a
    revoked one, 16#80E3, only where revocation lists count: a PLC has none). Present one with
    ``ouc_passive(server_cert=ouc_bad_certs.expired())``."""
    from ouc.certs import EXAMPLE_CA_ID, BadCertFactory

    key = ouc_store.private_key(EXAMPLE_CA_ID)
    assert key is not None
    return BadCertFactory(
        ouc_store.certificate(EXAMPLE_CA_ID), key, now=_now(), address=SERVER_ADDRESS
    )


# --------------------------------------------------------------------------- endpoints


def _split_options(
    options: dict[str, Any], endpoint_class: type, what: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword options → (``EndpointSpec.from_block`` ones, endpoint constructor ones)."""
    from ouc.drivers import EndpointSpec

    spec_names = set(inspect.signature(EndpointSpec.from_block).parameters) - {"block"}
    endpoint_names = set(inspect.signature(endpoint_class).parameters) - {"spec"}
    unknown = sorted(set(options) - spec_names - endpoint_names)
    if unknown:
        raise TypeError(
            f"{what}() got unknown options {unknown}; it takes EndpointSpec.from_block's and "
            f"{endpoint_class.__name__}'s keyword arguments"
        )
    spec = {k: v for k, v in options.items() if k in spec_names}
    endpoint = {k: v for k, v in options.items() if k in endpoint_names}
    return spec, endpoint


def _prepare(
    block: Block,
    options: dict[str, Any],
    endpoint_class: type,
    what: str,
    *,
    device: tuple[str, str],
    store: CertStore,
    faults: Faults | FaultScript | None,
    own_cert: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the options and fill in the defaults both factories share: the device (name and
    plant address), LEN 258, the store for a secure block, the certificate it presents, and the
    certificate faults."""
    from ouc._plugin_certs import _presenting
    from ouc.device import Device
    from ouc.drivers._faults import certificate_options

    spec_options, endpoint_options = _split_options(options, endpoint_class, what)
    name, address = device
    spec_options.setdefault("device", Device(name=name, own_addresses=(address,)))
    spec_options.setdefault("device_name", spec_options["device"].name)
    spec_options.setdefault("receive_len", DEFAULT_LEN)
    if own_cert is not None:
        spec_options["resolved"] = _presenting(
            own_cert, block, store, spec_options["device_name"], what, now=_now()
        )
    if block.secure and "resolved" not in spec_options:
        spec_options["store"] = store
    if faults:
        certificate_options(
            faults,
            spec_options=spec_options,
            store=store,
            block=block,
            device_name=spec_options["device_name"],
            now=_now(),
        )
    return spec_options, endpoint_options


def _is_async(behaviour: Any) -> bool:
    """Whether ``behaviour`` is ``async def`` (a function, a partial of one, or an object with
    an ``async def __call__``): calling it only makes a coroutine."""
    return inspect.iscoroutinefunction(behaviour) or inspect.iscoroutinefunction(
        inspect.getattr_static(type(behaviour), "__call__", None)
    )


def _name(behaviour: Any) -> str:
    return getattr(behaviour, "__qualname__", None) or type(behaviour).__qualname__


class _Factory:
    """What both factories keep: the endpoints they made, each one's status log, and what went
    wrong in the mock PLC's behaviours (to fail the test at teardown)."""

    def __init__(self, store: CertStore) -> None:
        self.store = store
        self.endpoints: list[Any] = []
        self._logs: dict[int, RecordLog] = {}
        #: Exceptions the mock PLC's behaviours raised (with their tracebacks), to fail the test.
        self.errors: list[BaseException] = []
        #: The ``behaviour-failed`` records of the endpoints that check errors: a behaviour that
        #: raised, returned something other than bytes or None, or whose answer a fault could
        #: not shape. A client that merely timed out would otherwise pass.
        self.failures: list[EndpointRecord] = []
        #: One line per endpoint that did not stop in time (threads or tasks left running).
        self.stuck: list[str] = []
        self._stop_timeouts: dict[int, float] = {}

    def _guard(self, behaviour: Behaviour, check: bool) -> Behaviour:
        """``behaviour``, with what it raises kept for :meth:`check_errors` (then re-raised,
        so the endpoint records it as a PLC would)."""
        if not check:
            return behaviour
        from ouc.drivers import ResetConnection

        def guarded(frame: Any, peer: Any) -> bytes | None:
            try:
                return behaviour(frame, peer)
            except ResetConnection:
                raise  # a requested reset (Faults(reset_mid_frame=True)), not an error
            except Exception as exc:
                self.errors.append(exc)
                raise

        return guarded

    def _watch(self, check: bool) -> EventCallback | None:
        """An ``on_event`` hook that keeps the endpoint's ``behaviour-failed`` records for
        :meth:`check_errors` (None with ``check_errors=False``). The records, not only the
        exceptions :meth:`_guard` sees, because the driver also refuses answers that are not
        bytes (a ``str``, a coroutine) without anything being raised in the behaviour."""
        if not check:
            return None
        from ouc.drivers import RecordKind

        failures = self.failures

        def watch(record: EndpointRecord) -> None:
            if record.kind is RecordKind.BEHAVIOUR_FAILED:
                failures.append(record)

        return watch

    def check_errors(self) -> None:
        """Fail the test when a behaviour raised or answered something the endpoint could not
        send (a client that merely timed out would otherwise pass), or when an endpoint did not
        stop in time (its threads would run on into the next test). Called at teardown."""
        if self.stuck:
            lines = "\n".join(f"  {line}" for line in self.stuck)
            pytest.fail(
                f"the mock PLC did not stop in time:\n{lines}\n(most likely a behaviour that "
                "blocks: let it return, waiting with a timeout shorter than stop_timeout; or "
                "pass a longer stop_timeout= to the fixture call)",
                pytrace=False,
            )
        if not self.errors and not self.failures:
            return
        parts = []
        if self.errors:
            trace = "".join(traceback.format_exception(self.errors[0]))
            parts.append(
                f"the mock PLC's behaviour raised {len(self.errors)} time(s); the first:\n{trace}"
            )
        if self.failures:
            lines = "\n".join(f"  {record.line()}" for record in self.failures[:5])
            more = len(self.failures) - 5
            parts.append(
                f"the mock PLC recorded {len(self.failures)} behaviour-failed record(s):\n{lines}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\n"
            )
        pytest.fail(
            "".join(parts) + "(fix the behaviour: it must return bytes or None; or pass "
            "check_errors=False to the fixture call to allow it)",
            pytrace=False,
        )

    @staticmethod
    def _check_stop_timeout(stop_timeout: float) -> None:
        if not stop_timeout > 0:
            from ouc.errors import ConfigError

            raise ConfigError(
                f"stop_timeout={stop_timeout!r}: give the seconds an endpoint may take to stop, "
                f"more than 0 (default {STOP_TIMEOUT:g})",
                path="stop_timeout",
            )

    def _keep(self, endpoint: Any, log: RecordLog, stop_timeout: float = STOP_TIMEOUT) -> None:
        self._logs[id(endpoint)] = log
        self._stop_timeouts[id(endpoint)] = stop_timeout
        self.endpoints.append(endpoint)

    def stop_timeout(self, endpoint: Any) -> float:
        """The seconds ``endpoint`` may take to stop at teardown (``stop_timeout=``)."""
        return self._stop_timeouts.get(id(endpoint), STOP_TIMEOUT)

    def log(self, endpoint: PassiveEndpoint | ActiveEndpoint) -> RecordLog:
        """Every status record of ``endpoint`` (wait with ``.wait_for(kind, timeout=...)``)."""
        return self._logs[id(endpoint)]


class PassiveFactory(_Factory):
    """``ouc_passive``: starts mock server PLCs; each is stopped after the test.

    Call it as ``ouc_passive(block=None, behaviour=None, faults=None, *, partner="127.0.0.1",
    store=None, server_cert=None, check_errors=True, stop_timeout=5.0, **options)``:

    * ``block`` — the CONNECT block (default :data:`ouc.params.STANDARD_SERVER`: mutual TLS,
      server certificate 9, client CA 3, partner 192.168.0.2, LocalPort 2000);
    * ``behaviour`` — what to do with each frame, a plain function returning bytes or None
      (default :func:`ouc.drivers.echo`; ``async def`` ones need ``ouc_async_passive``);
    * ``faults`` — a :class:`Faults` (or :class:`FaultScript`) to misbehave;
    * ``partner`` — the local address the block's partner (RemoteAddress) connects from: a
      client on 127.0.0.1 counts as 192.168.0.2 for the partner check (16#80C9). None: no map;
    * ``store`` — another certificate store (default ``ouc_store``);
    * ``server_cert`` — the certificate the PLC presents instead of the block's, whatever its
      validity: a BadCert from ``ouc_bad_certs``, a store ID or ``(cert.pem, key.pem)``;
    * ``check_errors`` — fail the test at teardown when the behaviour raised or answered
      something other than bytes or None (a ``behaviour-failed`` record); False allows it;
    * ``stop_timeout`` — seconds the endpoint may take to stop at teardown; threads still
      running then (a behaviour that blocks) fail the test;
    * ``options`` — :meth:`EndpointSpec.from_block` and :class:`PassiveEndpoint` keywords
      (``receive_len`` default 258 fixed, ``device`` default PLC_1 at 192.168.0.1,
      ``handshake_timeout``, ``idle_timeout``, ``max_connections``, ``on_event``, ...).

    Returns the started :class:`~ouc.drivers.PassiveEndpoint` (``.address``, ``.port``);
    :meth:`log` gives its :class:`~ouc.drivers.RecordLog` (every status record).
    """

    def __call__(
        self,
        block: Block | None = None,
        behaviour: Behaviour | None = None,
        faults: Faults | FaultScript | None = None,
        *,
        partner: str | None = "127.0.0.1",
        store: CertStore | None = None,
        server_cert: Any = None,
        check_errors: bool = True,
        stop_timeout: float = STOP_TIMEOUT,
        **options: Any,
    ) -> PassiveEndpoint:
        from ouc.certs import SERVER_DEVICE
        from ouc.drivers import AddressMap, EndpointSpec, PassiveEndpoint, RecordLog, echo
        from ouc.drivers._faults import apply_passive, chain
        from ouc.drivers._handshake_faults import with_handshake_fault
        from ouc.errors import ConfigError
        from ouc.params import STANDARD_SERVER

        self._check_stop_timeout(stop_timeout)
        if behaviour is not None and _is_async(behaviour):
            raise ConfigError(
                f"ouc_passive(behaviour={_name(behaviour)}) is async def: the blocking endpoint "
                "cannot await it; use the ouc_async_passive fixture, or make it a plain def",
                path="behaviour",
            )
        block = STANDARD_SERVER if block is None else block
        spec_options, endpoint_options = _prepare(
            block,
            options,
            PassiveEndpoint,
            "ouc_passive",
            device=(SERVER_DEVICE, SERVER_ADDRESS),
            store=self.store if store is None else store,
            faults=faults,
            own_cert=server_cert,
        )
        log = RecordLog()
        behaviour, on_event, bind = apply_passive(
            faults,
            behaviour=self._guard(echo() if behaviour is None else behaviour, check_errors),
            on_event=chain(log, self._watch(check_errors), endpoint_options.pop("on_event", None)),
        )
        if "address_map" not in endpoint_options:
            endpoint_options["address_map"] = self._partner_map(block, partner, AddressMap)
        endpoint_options.setdefault("listen", ("127.0.0.1", 0))
        spec = with_handshake_fault(EndpointSpec.from_block(block, **spec_options), faults)
        endpoint = PassiveEndpoint(
            spec,
            behaviour=behaviour,
            on_event=on_event,
            **endpoint_options,
        )
        bind(endpoint)
        self._keep(endpoint, log, stop_timeout)
        return endpoint.start()

    @staticmethod
    def _partner_map(block: Block, partner: str | None, map_class: Any) -> Any:
        remote = block.remote_address
        if partner is None or not remote or remote == "0.0.0.0":
            return map_class({})
        return map_class({(remote, None): (partner, None)})

    def stop_all(self) -> None:
        """Stop every endpoint, each within its ``stop_timeout``; note those whose threads are
        still running then (:meth:`check_errors` fails the test for them)."""
        for endpoint in reversed(self.endpoints):
            timeout = self.stop_timeout(endpoint)
            endpoint.stop(timeout)
            left = _threads_left(endpoint)
            if left:
                self.stuck.append(
                    f"{endpoint!r}: thread(s) {', '.join(left)} still running {timeout:g} s "
                    "after stop()"
                )


def _threads_left(endpoint: PassiveEndpoint) -> list[str]:
    """The names of ``endpoint``'s serving threads still alive. The driver's thread set is
    read directly: stop() only logs what it left behind, which a passing test hides."""
    with endpoint._lock:
        return sorted(thread.name for thread in endpoint._threads if thread.is_alive())


@pytest.fixture
def ouc_passive(ouc_store: CertStore) -> Iterator[PassiveFactory]:
    """Factory of mock server PLCs on 127.0.0.1 port 0 (see :class:`PassiveFactory`)."""
    factory = PassiveFactory(ouc_store)
    yield factory
    factory.stop_all()
    factory.check_errors()


class ActiveFactory(_Factory):
    """``ouc_active``: mock client PLCs; each is closed after the test.

    Call it as ``ouc_active(target=None, block=None, faults=None, *, connect=True,
    store=None, **options)``:

    * ``target`` — a :class:`~ouc.drivers.PassiveEndpoint`, ``"HOST:PORT"`` or ``(host, port)``
      (default: the last ``ouc_passive`` endpoint of this test);
    * ``block`` — the CONNECT block (default :data:`ouc.params.STANDARD_CLIENT`: client
      certificate 11, server CA 3; its RemoteAddress stays the plant address the SAN check uses);
    * ``faults`` — a :class:`Faults` (``reset_mid_frame`` and ``pause_receiving`` are
      passive-only);
    * ``connect`` — connect (and complete the handshake) before returning; a failure raises;
    * ``options`` — :meth:`EndpointSpec.from_block` and :class:`ActiveEndpoint` keywords
      (``receive_len`` default 258, ``device`` default PLC_2 at 192.168.0.2, ``on_event``, ...).

    :meth:`log` gives the endpoint's :class:`~ouc.drivers.RecordLog`.
    """

    def __init__(self, store: CertStore, passive: PassiveFactory) -> None:
        super().__init__(store)
        self.passive = passive

    def __call__(
        self,
        target: PassiveEndpoint | str | tuple[str, int] | None = None,
        block: Block | None = None,
        faults: Faults | None = None,
        *,
        connect: bool = True,
        store: CertStore | None = None,
        client_cert: Any = None,
        **options: Any,
    ) -> ActiveEndpoint:
        from ouc.certs import CLIENT_DEVICE
        from ouc.drivers import ActiveEndpoint, EndpointSpec, RecordLog
        from ouc.drivers._faults import FaultyActiveEndpoint, apply_active, chain
        from ouc.drivers._handshake_faults import with_handshake_fault
        from ouc.params import STANDARD_CLIENT

        apply_active(faults)
        block = STANDARD_CLIENT if block is None else block
        spec_options, endpoint_options = _prepare(
            block,
            options,
            ActiveEndpoint,
            "ouc_active",
            device=(CLIENT_DEVICE, CLIENT_ADDRESS),
            store=self.store if store is None else store,
            faults=faults,
            own_cert=client_cert,
        )
        endpoint_options.setdefault("connect_to", self._target(target))
        log = RecordLog()
        on_event = chain(log, endpoint_options.pop("on_event", None))
        spec = with_handshake_fault(EndpointSpec.from_block(block, **spec_options), faults)
        endpoint: ActiveEndpoint
        if faults:
            endpoint = FaultyActiveEndpoint(
                spec, faults=faults, on_event=on_event, **endpoint_options
            )
        else:
            endpoint = ActiveEndpoint(spec, on_event=on_event, **endpoint_options)
        self._keep(endpoint, log)
        if connect:
            endpoint.connect()
        return endpoint

    def _target(self, target: PassiveEndpoint | str | tuple[str, int] | None) -> tuple[str, int]:
        from ouc.drivers import split_host_port
        from ouc.errors import ConfigError

        if target is None:
            started = self.passive.endpoints
            if not started:
                raise ConfigError(
                    "ouc_active() needs a target: a PassiveEndpoint, 'HOST:PORT' or (host, port) "
                    "(or start one with ouc_passive first)",
                    path="target",
                )
            target = started[-1]
        if isinstance(target, str):
            host, port = split_host_port(target, "target")
            if port is None:
                raise ConfigError(f"target {target!r} needs a port (HOST:PORT)", path="target")
            return host, port
        if isinstance(target, tuple):
            return target[0], int(target[1])
        return target.address

    def close_all(self) -> None:
        for endpoint in reversed(self.endpoints):
            endpoint.close()


@pytest.fixture
def ouc_active(ouc_store: CertStore, ouc_passive: PassiveFactory) -> Iterator[ActiveFactory]:
    """Factory of mock client PLCs (see :class:`ActiveFactory`); closed before the passive
    endpoints stop, so they do not try to re-establish against a stopped server."""
    factory = ActiveFactory(ouc_store, ouc_passive)
    yield factory
    factory.close_all()


# --------------------------------------------------------------------------- asyncio


@pytest.fixture
def ouc_async_passive(ouc_store: CertStore) -> Iterator[AsyncPassiveFactory]:
    """Factory of mock server PLCs on the asyncio driver, for ``async def`` tests under
    pytest-asyncio or anyio: ``plc = await ouc_async_passive(...)`` (see
    :class:`AsyncPassiveFactory`; the endpoints run in a loop of their own,
    in a background thread, stopped after the test)."""
    from ouc._plugin_async import LOOP_TIMEOUT, AsyncPassiveFactory, LoopThread

    runner = LoopThread()
    factory = AsyncPassiveFactory(ouc_store, runner)
    try:
        yield factory
        factory.stop_all()
    finally:
        runner.close(0.0 if factory.stuck else LOOP_TIMEOUT)  # a blocked loop will not end
    factory.check_errors()


@pytest.fixture
def ouc_async_active(
    ouc_store: CertStore, ouc_async_passive: AsyncPassiveFactory
) -> Iterator[AsyncActiveFactory]:
    """Factory of mock client PLCs on the asyncio driver: ``plc = await ouc_async_active()``
    (see :class:`AsyncActiveFactory`); closed before the passive ones stop."""
    from ouc._plugin_async import AsyncActiveFactory

    factory = AsyncActiveFactory(ouc_store, ouc_async_passive.runner, ouc_async_passive)
    yield factory
    factory.close_all()
