"""Suite-wide test settings.

Hypothesis runs without per-example deadlines: this suite runs on 2 noisy cores, and a deadline
would turn scheduler noise into flaky failures. ``HYPOTHESIS_PROFILE=thorough`` runs more examples.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ouc.certs import PrivateKey, generate_key

# The comparison suite (benchmarks/) is not installed with the package: it is imported from this
# clone. The clone's root is on sys.path only while importing it and during the tests that spawn
# its server processes (fixture below): left there for every test, it would also expose the
# clone's build metadata (ouc.egg-info) to pytest runs started inside tests.
_REPO = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, _REPO)
try:
    import benchmarks  # noqa: F401
finally:
    sys.path.remove(_REPO)


@pytest.fixture(scope="module")
def ca_keys() -> tuple[PrivateKey, PrivateKey]:
    """The default CA 1/2 keys (RSA-2048, slow to make) for the example stores: once per
    module (the channel tests share one set for the session)."""
    return generate_key("RSA-2048"), generate_key("RSA-2048")


@pytest.fixture
def benchmarks_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clone's root on sys.path, so spawned suite processes can import ``benchmarks``."""
    monkeypatch.syspath_prepend(_REPO)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_children() -> Iterator[None]:
    """Children start with Ctrl-C working even when pytest itself ignores it: a shell starts a
    background job (``pytest &``) with SIGINT ignored, children inherit an ignored signal, and
    the tests that press Ctrl-C on an ``ouc`` process would see it do nothing. A handler,
    unlike an ignore, is reset to the default by exec."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class RawTls:
    """A TLS client that does what no ouc endpoint does: write frames and its close_notify in
    one ``sendall`` (one TCP segment on loopback), so the partner reads them in one go.

    Python's ``ssl`` over memory BIOs, so the bytes are built before anything is written:
    ``unwrap()`` on a socket could write the close_notify in a segment of its own.
    """

    def __init__(self, wait: float = 10.0) -> None:
        self.wait = wait

    @staticmethod
    def context(
        ca: Path, cert: Path, key: Path, version: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        """A client context trusting ``ca`` with ``cert``/``key`` as the client certificate;
        no host name check (the example's certificates name 192.168.0.1, we dial 127.0.0.1)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        if version is not None:
            ctx.minimum_version = ctx.maximum_version = version
        return ctx

    def send_then_close(
        self,
        ctx: ssl.SSLContext,
        address: tuple[str, int],
        data: bytes,
        *,
        source: str = "127.0.0.2",
    ) -> bytes:
        """Connect from ``source``, handshake, then ``data`` and close_notify in one write;
        returns every plaintext byte the partner sent until it closed (bounded reads)."""
        raw = socket.create_connection(address, timeout=self.wait, source_address=(source, 0))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing)
        with raw:
            for _ in range(20):  # the handshake, flight by flight (bounded)
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    received = raw.recv(65536)
                    assert received, "the server closed during the handshake"
                    incoming.write(received)
            raw.sendall(outgoing.read())
            tls.write(data)
            with pytest.raises(ssl.SSLWantReadError):
                tls.unwrap()  # our close_notify; the partner's has not come yet
            raw.sendall(outgoing.read())  # the frames' records and close_notify: one write
            plaintext = b""
            for _ in range(100):
                received = raw.recv(65536)
                if not received:
                    break
                incoming.write(received)
                try:
                    while chunk := tls.read(65536):
                        plaintext += chunk
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    pass
            return plaintext


def _open_sockets() -> set[str]:
    """The sockets this process holds open, as ``socket:[inode]``."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since the listing
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                held.add(target)
    return held


@pytest.fixture
def open_sockets() -> Callable[[], set[str]]:
    """The sockets the test process holds open, for leak checks: ``before = open_sockets()``,
    later ``open_sockets() - before``. A socket's inode is never reused while it is open, so a
    socket opened during the test is never mistaken for one closed meanwhile — unlike a count
    of open files, which also changes when a file or socket of an earlier test is closed while
    this one runs (a lingering thread of its own ending, the garbage collector)."""
    return _open_sockets


@pytest.fixture
def raw_tls() -> RawTls:
    """:class:`RawTls` (importlib mode: tests cannot import from conftest)."""
    return RawTls()


settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile(
    "thorough", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=1000
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
