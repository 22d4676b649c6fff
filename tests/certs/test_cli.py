"""``ouc certs``: the standard example built with the CLI alone, listing, errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs import CertStore, resolve
from ouc.cli import main
from ouc.device import Role
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER

NOW_TEXT = "2026-01-01T12:00:00"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["certs", *argv])
    except SystemExit as exc:  # argparse's own exits: usage errors, bad typed values
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store made with ``ouc certs init`` plus the standard example, CLI only (once: RSA)."""
    store = tmp_path_factory.mktemp("cli") / "ouc-store"
    common = ("--store", str(store), "--now", NOW_TEXT)
    steps = [
        ("init",),
        ("create", "--id", "3", "--template", "ca", "--key", "EC-P256", "--cn", "CA 3"),
        ("create", "--id", "9", "--template", "tls", "--cn", "PLC_1", "--issuer", "3",
         "--ip", "192.168.0.1", "--assign", "PLC_1"),
        ("create", "--id", "11", "--template", "tls", "--cn", "PLC_2", "--issuer", "3",
         "--ip", "192.168.0.2", "--assign", "PLC_2"),
        ("assign", "PLC_1", "3"),
        ("assign", "PLC_2", "3"),
    ]  # fmt: skip
    for step in steps:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["certs", *step, *common])
        assert code == 0, err.getvalue()
    return store


@pytest.fixture
def cli_store(built_store: Path, tmp_path: Path) -> str:
    """A private copy of the CLI-built store for one test."""
    return str(shutil.copytree(built_store, tmp_path / "ouc-store"))


def test_standard_example_with_the_cli_alone_resolves(cli_store: str) -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    store = CertStore(cli_store)
    server = resolve(store, STANDARD_SERVER, device="PLC_1", now=now)
    client = resolve(store, STANDARD_CLIENT, device="PLC_2", now=now)
    assert (server.role, server.own_id, server.anchor_ids) == (Role.PASSIVE, 9, (3,))
    assert (client.role, client.own_id, client.anchor_ids) == (Role.ACTIVE, 11, (3,))
    ca = store.certificate(3)
    assert ca.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256


def test_list_table_and_json(cli_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--store", cli_store)
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["ID", "Common", "name"]
    assert [line.split()[0] for line in lines] == ["1", "2", "3", "9", "11"]
    assert "legacy" in lines[0] and "sha1RSA" in lines[0]
    code, out, _ = run(capsys, "list", "--store", cli_store, "--json", "--device", "PLC_1")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [3, 9]
    assert rows[1]["issuer"] == "CA 3" and rows[1]["private_key"] is True
    assert rows[1]["key_length"] == 256 and rows[1]["signature_algorithm"] == "sha256ECDSA"


def test_show(cli_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "9", "--store", cli_store, "--pem")
    assert code == 0
    assert "IP:192.168.0.1" in out and "(ID 3)" in out and "BEGIN CERTIFICATE" in out
    code, out, _ = run(capsys, "show", "9", "--store", cli_store, "--json")
    assert json.loads(out)["devices"] == ["PLC_1"]


def test_renew_revoke_delete_export_import(
    cli_store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = ("--store", cli_store, "--now", NOW_TEXT)
    before = CertStore(cli_store).certificate(9)
    assert run(capsys, "renew", "9", "--days", "10", *s)[0] == 0
    assert CertStore(cli_store).certificate(9) != before
    assert run(capsys, "revoke", "11", *s)[0] == 0
    assert run(capsys, "export", "3", str(tmp_path / "ca3.crl"), *s)[0] == 0
    monkeypatch.setenv("P12_PW", "pw")
    out_file = tmp_path / "plc1.p12"
    code, out, _ = run(
        capsys,
        "export",
        "9",
        str(out_file),
        "--key",
        "--chain",
        "--password-env",
        "P12_PW",
        "--json",
        *s,
    )
    assert code == 0 and json.loads(out)["files"] == [str(out_file)]
    assert run(capsys, "replace", "9", str(out_file), "--password-env", "P12_PW", *s)[0] == 0
    code, out, _ = run(capsys, "import", str(out_file), "--password-env", "P12_PW", *s)
    assert code == 2  # the same certificate is already ID 9
    assert run(capsys, "delete", "11", *s)[0] == 0
    code, out, _ = run(capsys, "assign", "PLC_2", "--json", *s)
    assert json.loads(out) == {"device": "PLC_2", "ids": [3]}


@pytest.mark.parametrize(
    "argv",
    [
        ("show", "99"),
        ("create", "--cn", "x", "--template", "tls"),
        ("create", "--cn", "x", "--template", "nope"),
        ("create", "--cn", "x", "--template", "ca", "--key", "RSA-4096", "--family", "S7-1200"),
        ("delete", "1"),
        ("delete", "3"),  # the CA of 9 and 11
        ("export", "9", "x.p12", "--key"),
        ("export", "9", "x.p12", "--key", "--password-env", "OUC_TEST_UNSET_VAR"),
        ("renew", "9", "--now", "yesterday"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    cli_store: str,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OUC_TEST_UNSET_VAR", raising=False)
    monkeypatch.chdir(tmp_path)  # nothing may be written, but never into the source tree
    CertStore(cli_store).assign("PLC_1", [1])  # makes "delete 1" a referenced default CA
    code, out, err = run(capsys, *argv, "--store", cli_store)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.match(r"ouc( certs \w+)?: error: ", lines[0])
    assert "Traceback" not in err
    assert not (tmp_path / "x.p12").exists()


def test_missing_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "--store", str(tmp_path / "none"))
    assert code == 2 and "ouc certs init" in err


def test_through_a_subprocess(cli_store: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ouc", "certs", "list", "--store", cli_store, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [1, 2, 3, 9, 11]


def _certs_with_stdin(store: str, data: bytes, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """``ouc certs ARGV`` in a process of its own, ``data`` on a real stdin pipe."""
    return subprocess.run(
        [sys.executable, "-m", "ouc", "certs", *argv, "--store", store, "--now", NOW_TEXT],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_import_and_replace_from_stdin(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-`` reads the certificate from stdin, its format named by --format (stdin has no
    suffix): a PEM with its key replaces ID 9, a CRL and a DER certificate are imported."""
    s = ("--store", cli_store, "--now", NOW_TEXT)
    other = tmp_path / "other"
    shutil.copytree(cli_store, other)
    assert run(capsys, "renew", "9", "--new-key", "--store", str(other), "--now", NOW_TEXT)[0] == 0
    assert (
        run(capsys, "export", "9", str(tmp_path / "new9.pem"), "--key", "--store", str(other))[0]
        == 0
    )
    assert run(capsys, "export", "11", str(tmp_path / "c11.der"), *s)[0] == 0
    assert run(capsys, "revoke", "11", *s)[0] == 0
    assert run(capsys, "export", "3", str(tmp_path / "ca3.crl"), *s)[0] == 0

    pem = (tmp_path / "new9.pem").read_bytes()  # certificate and key in one PEM
    done = _certs_with_stdin(cli_store, pem, "replace", "9", "-", "--format", "pem", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"id": 9}
    assert CertStore(cli_store).certificate(9) == CertStore(str(other)).certificate(9)
    new_key = CertStore(cli_store).private_key(9).public_key()
    assert new_key == CertStore(str(other)).private_key(9).public_key()  # the key came along

    crl = (tmp_path / "ca3.crl").read_bytes()
    done = _certs_with_stdin(cli_store, crl, "import", "-", "--format", "crl", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ids": [], "issuer_id": 3}

    der = (tmp_path / "c11.der").read_bytes()
    done = _certs_with_stdin(cli_store, der, "import", "-", "--format", "der")
    assert done.returncode == 2  # the same certificate is already ID 11
    assert done.stderr.decode().count("\n") == 1 and "<stdin>" in done.stderr.decode()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("import", "-"), "reading stdin needs --format"),
        (("replace", "9", "-"), "reading stdin needs --format"),
        (("import", "-", "--format", "der"), "<stdin>"),  # PEM text is not DER
        (("replace", "9", "-", "--format", "p12"), "<stdin>"),
    ],
)
def test_stdin_certificate_errors(
    cli_store: str, tmp_path: Path, argv: tuple[str, ...], says: str
) -> None:
    """Stdin without --format, or bytes not in the named format: one line, exit 2."""
    pem = CertStore(cli_store).certificate(11).public_bytes(serialization.Encoding.PEM)
    done = _certs_with_stdin(cli_store, pem, *argv)
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_a_certificate_with_one_bad_field_names_the_field(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    """A real certificate whose notBefore is broken: the error names the field that did not
    parse, in dotted words, instead of calling it "not DER" or dumping the parser's state."""
    import base64

    cert = CertStore(cli_store).certificate(11)
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    not_before = cert.not_valid_before_utc.strftime("%y%m%d%H%M%SZ").encode()  # its UTCTime
    der[der.index(not_before)] = ord("X")
    if encoding == "der":
        data = bytes(der)
    else:
        body = base64.encodebytes(bytes(der))
        data = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    bad = tmp_path / f"bad.{encoding}"
    bad.write_bytes(data)
    code, _, err = run(capsys, "import", str(bad), "--store", cli_store)
    assert code == 2 and err.count("\n") == 1, err
    assert "(at tbs_cert.validity.not_before.UtcTime: InvalidValue)" in err, err


def test_format_is_for_stdin_only(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "import", str(tmp_path / "x.pem"), "--format", "pem", "--store", cli_store
    )
    assert code == 2 and "--format is for stdin" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"garbage\n", "not PEM (no -----BEGIN line) and not a DER X.509 certificate (too"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "a CERTIFICATE block is not a DER X.509 certificate (",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "the PEM data holds no CERTIFICATE block (PEM blocks: PRIVATE KEY)",
        ),
    ],
    ids=["garbage", "bad-der-in-pem", "key-only"],
)
def test_an_unreadable_certificate_file_is_named_once_in_plain_words(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, says: str
) -> None:
    """The file is named once (the error's path is not repeated before its message) and the
    reason is a sentence, not the ASN.1 parser's debug dump."""
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    code, _, err = run(capsys, "import", str(bad), "--store", cli_store)
    assert code == 2 and err.count("\n") == 1, err
    assert err.count(str(bad)) == 1 and says in err and "ParseError" not in err, err
