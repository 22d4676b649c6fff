"""A TLS scanner's view of ``ouc serve``: what sslyze reports about the mock PLC on loopback.

sslyze cannot be a test extra: it pins cryptography < 47, and ouc runs on cryptography 50 with
its bundled OpenSSL 4.0. CI installs it into a tool environment of its own and exports
``OUC_SSLYZE``; locally, ``sslyze`` on PATH works too. The scans answer what a plant's security
review asks: only TLS 1.2/1.3 (1.3 only where the firmware has it), only ECDHE with AES-GCM or
ChaCha20 and the three TLS 1.3 suites, no compression, no client-initiated renegotiation, the
classic curves only, and the expected server certificate (ID 9: CN PLC_1, IP SAN 192.168.0.1).

The sample server block requests client certificates (mutual TLS). sslyze still completes every
scan but the renegotiation one without a client certificate (``CLIENT_CERTIFICATE_NEEDED``):
the server certificate and the cipher suites come before client authentication. With client
certificate 11 (``--cert/--key``) the renegotiation scan runs too.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from ouc.certs import EXAMPLE_CLIENT_ID, EXAMPLE_SERVER_ID, CertStore

SSLYZE = os.environ.get("OUC_SSLYZE") or shutil.which("sslyze")
pytestmark = pytest.mark.skipif(
    SSLYZE is None,
    reason="sslyze not found: OUC_SSLYZE is unset and sslyze is not on PATH (install it in a "
    "venv of its own, it pins cryptography < 47: python3 -m venv .venv-sslyze && "
    ".venv-sslyze/bin/pip install sslyze && export OUC_SSLYZE=$PWD/.venv-sslyze/bin/sslyze)",
)

SCANS = (
    "--certinfo",
    "--sslv2",
    "--sslv3",
    "--tlsv1",
    "--tlsv1_1",
    "--tlsv1_2",
    "--tlsv1_3",
    "--reneg",
    "--compression",
    "--elliptic_curves",
)
OLD_VERSIONS = ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1")
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
STARTUP_TIMEOUT = 20.0
SCAN_TIMEOUT = 90.0


@dataclass
class Server:
    """An ``ouc serve --json`` process and the JSON records it printed so far."""

    proc: subprocess.Popen[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def drain(self) -> None:
        # Read every line (a scan makes hundreds of connections: an unread pipe would fill up
        # and block the server) and signal the listening record.
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.records.append(record)
            if record.get("event") == "listening":
                self.port = int(record["local"].rsplit(":", 1)[1])
                self.listening.set()


@pytest.fixture
def serve(ouc_store: CertStore) -> Iterator[Any]:
    servers: list[tuple[Server, threading.Thread]] = []

    def start(*options: str) -> Server:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ouc",
                "serve",
                "--store",
                str(ouc_store.path),
                "--port",
                "0",
                # The sample block's partner is 192.168.0.2; sslyze connects from 127.0.0.1.
                "--map",
                "192.168.0.2=127.0.0.1",
                "--json",
                *options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = Server(proc)
        reader = threading.Thread(target=server.drain, daemon=True)
        reader.start()
        servers.append((server, reader))
        if not server.listening.wait(STARTUP_TIMEOUT):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"ouc serve did not start listening: {err}")
        return server

    yield start
    for server, reader in servers:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
        reader.join(timeout=10)
        assert server.proc.stdout is not None and server.proc.stderr is not None
        server.proc.stdout.close()
        errors = server.proc.stderr.read()
        server.proc.stderr.close()
        assert "Traceback" not in errors, errors


def scan(port: int, tmp_path: Path, *extra: str) -> dict[str, Any]:
    """Run sslyze against 127.0.0.1:``port``; the scan results by scan command."""
    assert SSLYZE is not None
    out = tmp_path / f"sslyze-{port}-{len(extra)}.json"
    done = subprocess.run(
        [
            SSLYZE,
            "--mozilla_config",
            "disable",
            *SCANS,
            *extra,
            f"--json_out={out}",
            "--quiet",
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    [result] = report["server_scan_results"]
    assert result["connectivity_status"] == "COMPLETED", result.get("connectivity_error_trace")
    assert result["scan_status"] == "COMPLETED"
    return dict(result["scan_result"])


def completed(results: dict[str, Any], name: str) -> dict[str, Any]:
    entry = results[name]
    assert entry["status"] == "COMPLETED", f"{name}: {entry['status']} {entry['error_reason']}"
    return dict(entry["result"])


def accepted(results: dict[str, Any], version: str) -> set[str]:
    result = completed(results, f"{version}_cipher_suites")
    names = {s["cipher_suite"]["name"] for s in result["accepted_cipher_suites"]}
    assert result["is_tls_version_supported"] == bool(names)
    return names


def client_credentials(store: CertStore, folder: Path) -> tuple[str, ...]:
    cert, key = folder / "client-11.pem", folder / "client-11.key"
    cert.write_bytes(store.certificate(EXAMPLE_CLIENT_ID).public_bytes(serialization.Encoding.PEM))
    private = store.private_key(EXAMPLE_CLIENT_ID)
    assert private is not None
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ("--cert", str(cert), "--key", str(key))


def check_common(results: dict[str, Any], store: CertStore) -> None:
    """What every firmware profile must show: no old versions, no weak suites, no compression,
    no client renegotiation, the classic curves, certificate 9."""
    for version in OLD_VERSIONS:
        assert accepted(results, version) == set(), f"{version} accepted"
    tls12 = accepted(results, "tls_1_2")
    assert tls12, "TLS 1.2 must be accepted"
    for suite in tls12:
        assert suite.startswith("TLS_ECDHE_"), f"{suite}: no forward secrecy"
        assert "_GCM_" in suite or "CHACHA20_POLY1305" in suite, f"{suite}: weak"
    assert completed(results, "tls_compression")["supports_compression"] is False
    curves = completed(results, "elliptic_curves")["supported_curves"]
    assert {c["name"] for c in curves} <= {"X25519", "secp256r1", "secp384r1"}
    info = completed(results, "certificate_info")
    [deployment] = info["certificate_deployments"]
    leaf = deployment["received_certificate_chain"][0]
    cert9 = store.certificate(EXAMPLE_SERVER_ID)
    assert leaf["subject"]["rfc4514_string"] == "CN=PLC_1"
    assert leaf["subject_alternative_name"]["ip_addresses"] == ["192.168.0.1"]
    assert base64.b64decode(leaf["fingerprint_sha256"]) == cert9.fingerprint(hashes.SHA256())


def test_v31_offers_tls12_and_13_and_nothing_weak(
    serve: Any, ouc_store: CertStore, tmp_path: Path
) -> None:
    server = serve("--firmware", "V3.1")
    results = scan(server.port, tmp_path, *client_credentials(ouc_store, tmp_path))
    check_common(results, ouc_store)
    assert accepted(results, "tls_1_3") == TLS13_SUITES
    reneg = completed(results, "session_renegotiation")
    assert reneg["is_vulnerable_to_client_renegotiation_dos"] is False
    assert reneg["client_renegotiations_success_count"] == 0
    assert reneg["supports_secure_renegotiation"] is True  # RFC 5746: no insecure legacy kind
    # The endpoint logged the scan's connections and stayed up.
    assert server.proc.poll() is None
    assert any(r["event"] == "connected" for r in server.records)


def test_v28_has_no_tls13(serve: Any, ouc_store: CertStore, tmp_path: Path) -> None:
    server = serve("--firmware", "V2.8")
    results = scan(server.port, tmp_path, *client_credentials(ouc_store, tmp_path))
    check_common(results, ouc_store)
    assert accepted(results, "tls_1_3") == set()
    completed(results, "session_renegotiation")
    assert server.proc.poll() is None


def test_mutual_tls_server_scans_without_a_client_certificate(
    serve: Any, ouc_store: CertStore, tmp_path: Path
) -> None:
    server = serve()
    results = scan(server.port, tmp_path)
    # Everything but renegotiation runs: suites and certificate come before client auth.
    check_common(results, ouc_store)
    assert accepted(results, "tls_1_3") == TLS13_SUITES
    assert results["session_renegotiation"]["status"] == "ERROR"
    assert results["session_renegotiation"]["error_reason"] == "CLIENT_CERTIFICATE_NEEDED"
    # And the server reported the client certificate it did not get.
    failed = [r for r in server.records if r["event"] == "failed"]
    assert any(r["status"].startswith("16#80E") for r in failed)
