"""The test kit as a peer's own test suite uses it: only public names (``ouc.pytest_plugin``,
``ouc.certs``, ``ouc.drivers``), a Python ``ssl`` client standing in for the peer under test.

Each test answers a question a peer developer asks: can the mock PLC present a bad
certificate (also one not valid yet: clock skew)? Can its first connections fail so my retry
logic runs? Does a bug in my mock's behaviour fail my test? Can I set up my own ``ssl``
context from the store in one call?
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

import pytest
from cryptography import x509

from ouc.drivers import RecordKind
from ouc.errors import OucError
from ouc.pytest_plugin import Faults, present, trust

PLC_1 = "192.168.0.1"  # the server PLC's plant address: its certificate's IP SAN
FRAME = b"\x01" + bytes(257)  # Send_Data: Var1 TRUE, Var2 ''


def client_context(ouc_store, ouc_pem) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    """The peer's context: trusts CA 3, presents certificate 11, checks the PLC's IP SAN."""
    ctx = trust(ssl.create_default_context(), ouc_store)
    ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
    return ctx


def echo_once(ctx: ssl.SSLContext, address: tuple[str, int]) -> bytes:
    with (
        socket.create_connection(address, timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=PLC_1) as tls,
    ):
        tls.sendall(FRAME)
        data = b""
        while len(data) < len(FRAME):
            chunk = tls.recv(len(FRAME) - len(data))
            if not chunk:
                break
            data += chunk
        return data


# --- presenting a bad certificate ----------------------------------------------------------


def test_the_plc_presents_a_good_certificate_for_its_plant_address(
    ouc_passive, ouc_store, ouc_pem
) -> None:
    plc = ouc_passive()
    assert echo_once(client_context(ouc_store, ouc_pem), plc.address) == FRAME


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("expired", "certificate has expired"),
        ("not_yet_valid", "certificate is not yet valid"),  # the PLC's clock is ahead
        ("wrong_san", "IP address mismatch"),
        ("unknown_ca", "unable to get local issuer certificate"),
        ("self_signed_unknown", "self-signed certificate"),
    ],
)
def test_my_client_refuses_each_bad_plc_certificate(
    ouc_passive, ouc_bad_certs, ouc_store, ouc_pem, kind: str, message: str
) -> None:
    plc = ouc_passive(server_cert=getattr(ouc_bad_certs, kind)())
    with pytest.raises(ssl.SSLCertVerificationError, match=message):
        echo_once(client_context(ouc_store, ouc_pem), plc.address)


def test_bad_certificates_for_another_address(ouc_bad_certs) -> None:
    other = ouc_bad_certs.for_address("10.1.2.3").expired()
    san = other.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert other.expected_status == 0x80E5


def test_the_plc_presents_a_store_certificate_by_id(ouc_passive, ouc_store, ouc_pem) -> None:
    # Certificate 11 is PLC_2's (IP SAN 192.168.0.2): a client connecting to PLC_1 refuses it.
    plc = ouc_passive(server_cert=11)
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        echo_once(client_context(ouc_store, ouc_pem), plc.address)


def test_the_plc_presents_a_pem_pair(ouc_passive, ouc_store, ouc_pem) -> None:
    plc = ouc_passive(server_cert=(ouc_pem.server_cert, ouc_pem.server_key))
    assert echo_once(client_context(ouc_store, ouc_pem), plc.address) == FRAME


def test_a_mock_client_presents_an_expired_certificate(ouc_passive, ouc_active, ouc_bad_certs):
    plc = ouc_passive()
    client = ouc_active(plc, client_cert=ouc_bad_certs.expired(), connect=False)
    # TLS 1.3: the refusal may reach the client only after its own handshake ended.
    with contextlib.suppress(OucError):
        client.connect(timeout=10)
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=10)
    assert failed.status == 0x80E5


# --- scripted faults: retry logic ---------------------------------------------------------


def test_my_client_retries_until_the_third_connection_works(
    ouc_passive, ouc_store, ouc_pem
) -> None:
    plc = ouc_passive(faults=Faults.first(2, Faults(close_after_handshake=True)))
    ctx = client_context(ouc_store, ouc_pem)
    outcomes = []
    for _attempt in range(5):  # the peer's retry loop, bounded
        try:
            answer = echo_once(ctx, plc.address)
        except (ssl.SSLError, OSError):
            answer = b""
        outcomes.append(answer == FRAME)
        if outcomes[-1]:
            break
    assert outcomes == [False, False, True]


def test_a_script_per_connection_then_the_rest(ouc_passive, ouc_store, ouc_pem) -> None:
    plc = ouc_passive(
        faults=Faults.script([Faults(wrong_length=-8), Faults()], then=Faults(wrong_length=+2))
    )
    ctx = client_context(ouc_store, ouc_pem)
    lengths = []
    for _ in range(3):
        with (
            socket.create_connection(plc.address, timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=PLC_1) as tls,
        ):
            tls.sendall(FRAME)
            want, data = len(FRAME) + 2, b""
            deadline = time.monotonic() + 10
            while len(data) < want and time.monotonic() < deadline:
                # The answer may be slow to start on a loaded machine; once it has come, a
                # pause of 0.5 s means it was short (it is one write, so one TLS record).
                tls.settimeout(0.5 if data else 10)
                try:
                    chunk = tls.recv(want - len(data))
                except TimeoutError:
                    break  # a short answer: nothing more comes
                if not chunk:
                    break
                data += chunk
            lengths.append(len(data))
    assert lengths == [250, 258, 260]


def test_a_predicate_on_the_frame_number(ouc_passive, ouc_store, ouc_pem) -> None:
    plc = ouc_passive(
        faults=Faults.when(lambda connection, frame: frame == 2, Faults(reset_mid_frame=True))
    )
    ctx = client_context(ouc_store, ouc_pem)
    with (
        socket.create_connection(plc.address, timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=PLC_1) as tls,
    ):
        tls.sendall(FRAME)
        first = b""
        while len(first) < len(FRAME):
            first += tls.recv(len(FRAME) - len(first))
        tls.sendall(FRAME)
        with pytest.raises((ConnectionResetError, ssl.SSLError)):
            second = b""
            while len(second) < len(FRAME):
                chunk = tls.recv(len(FRAME))
                if not chunk:
                    raise ConnectionResetError("closed")
                second += chunk
    assert first == FRAME


def test_certificate_faults_cannot_be_scripted() -> None:
    from ouc.errors import ConfigError

    with pytest.raises(ConfigError, match="expired_certificate applies to the endpoint"):
        Faults.first(1, Faults(expired_certificate=True))


# --- the mock's own errors fail the test --------------------------------------------------


def test_a_behaviour_that_raises_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import socket, ssl, pytest
        from ouc.pytest_plugin import trust

        def broken(frame, peer):
            return 1 / 0  # a bug in the test's own mock behaviour

        @pytest.mark.parametrize("check", [True, False])
        def test_client(ouc_passive, ouc_store, ouc_pem, check):
            plc = ouc_passive(behaviour=broken, check_errors=check)
            ctx = trust(ssl.create_default_context(), ouc_store)
            ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
            raw = socket.create_connection(plc.address)
            with ctx.wrap_socket(raw, server_hostname="192.168.0.1") as tls:
                tls.sendall(bytes(258))
                tls.settimeout(2)
                try:
                    tls.recv(258)
                except (TimeoutError, OSError):
                    pass  # the client sees no answer: that alone would let the test pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*the mock PLC's behaviour raised 1 time(s)*", "*ZeroDivisionError*"]
    )


# --- one call to set up the peer's own ssl context ----------------------------------------


def test_trust_and_present_set_up_an_ssl_context(ouc_passive, ouc_store) -> None:
    plc = ouc_passive()
    ctx = present(trust(ssl.create_default_context(), ouc_store), 11, ouc_store)
    assert echo_once(ctx, plc.address) == FRAME


def test_present_a_bad_client_certificate(ouc_passive, ouc_store, ouc_bad_certs) -> None:
    plc = ouc_passive()
    ctx = present(trust(ssl.create_default_context(), ouc_store), ouc_bad_certs.expired())
    with contextlib.suppress(ssl.SSLError, OSError):  # TLS 1.3: an alert or a reset
        echo_once(ctx, plc.address)
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=10)
    assert failed.status == 0x80E5


# --- pytest-xdist: the store template is built once per run ---------------------------------


def test_workers_share_one_store_template(pytester: pytest.Pytester) -> None:
    """Two workers, four tests: every test sees the same default CA key, so the slow RSA keys
    were made once for the run, not once per worker."""
    seen = pytester.path / "seen"
    seen.mkdir()
    pytester.makepyfile(
        test_user=f"""
        import os, pathlib, pytest
        from cryptography.hazmat.primitives import hashes

        @pytest.mark.parametrize("n", range(4))
        def test_store(ouc_store, n):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            fingerprint = ouc_store.certificate(1).fingerprint(hashes.SHA256()).hex()
            pathlib.Path({str(seen)!r}, f"{{n}}-{{worker}}").write_text(fingerprint)
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    files = sorted(seen.iterdir())
    assert len(files) == 4
    assert {path.name.split("-")[1] for path in files} == {"gw0", "gw1"}
    assert len({path.read_text() for path in files}) == 1
