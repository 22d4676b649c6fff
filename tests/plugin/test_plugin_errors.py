"""Bad input to the plugin's helpers is an :class:`~ouc.errors.OucError` whose one line names
the argument (and the file) and says what to do next, never a raw ``OSError`` or ``ssl`` error."""

from __future__ import annotations

import contextlib
import socket
import ssl

import pytest

from ouc.drivers import RecordKind
from ouc.errors import CertError, ConfigError, Status
from ouc.pytest_plugin import present, trust

WAIT = 10.0


def test_a_missing_pem_file_names_the_argument_and_the_file(ouc_passive, ouc_pem, tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(
        ConfigError, match=r"server_cert=.*certificate file '.*missing\.pem'"
    ) as info:
        ouc_passive(server_cert=(missing, ouc_pem.server_key))
    assert info.value.path == "server_cert"
    assert "No such file or directory" in str(info.value)
    with pytest.raises(ConfigError, match=r"server_cert=.*key file '.*missing\.pem'"):
        ouc_passive(server_cert=(ouc_pem.server_cert, missing))
    assert ouc_passive.endpoints == []


def test_a_pem_file_of_the_wrong_kind_is_a_cert_error(ouc_passive, ouc_pem) -> None:
    with pytest.raises(CertError, match=r"server_cert: .*server-9\.key: .*no CERTIFICATE block"):
        ouc_passive(server_cert=(ouc_pem.server_key, ouc_pem.server_key))
    with pytest.raises(ConfigError, match=r"server_cert: .*server-9\.pem: not a private key"):
        ouc_passive(server_cert=(ouc_pem.server_cert, ouc_pem.server_cert))


def test_present_refuses_what_it_cannot_present(ouc_store) -> None:
    ctx = ssl.create_default_context()
    with pytest.raises(ConfigError, match=r"present\(\) takes a BadCert.*cert='11'"):
        present(ctx, "11")
    with pytest.raises(ConfigError, match=r"present\(\) takes a BadCert.*store="):
        present(ctx, 11)  # a store ID without the store


def test_a_sha1_certificate_says_how_to_lower_the_security_level(
    ouc_passive, ouc_store, ouc_bad_certs
) -> None:
    sha1 = ouc_bad_certs.sha1_signed()
    ctx = trust(ssl.create_default_context(), ouc_store)
    # OpenSSL 3 (Python's ssl here) refuses SHA-1 signatures at its default level 1.
    with pytest.raises(CertError, match=r"security level refuses .*SHA-1.*SECLEVEL=0") as info:
        present(ctx, sha1)
    assert "CA_MD_TOO_WEAK" in str(info.value)
    # The advice works: the certificate is presented and the mock PLC refuses it (16#80E2).
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    present(ctx, sha1)
    plc = ouc_passive()
    with (
        contextlib.suppress(ssl.SSLError, OSError),  # TLS 1.3: an alert or a reset
        socket.create_connection(plc.address, timeout=WAIT) as raw,
        ctx.wrap_socket(raw, server_hostname="192.168.0.1") as tls,
    ):
        tls.sendall(bytes(258))
        tls.recv(258)
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == Status.TLS_CERT_INVALID == sha1.expected_status
