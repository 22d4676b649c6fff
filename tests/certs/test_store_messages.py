"""Store messages that say what to do next: .p12 passwords, a key for a keyless ID, a key that
does not belong to its certificate, MD5 by name, a writer waiting for the store's lock, and a store
file that does not read."""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ouc.certs import CertStore
from ouc.cli import main
from ouc.errors import StoreError

WAIT = 60.0  # seconds the lock test waits for the other process at most
OPENSSL = shutil.which("openssl")


def _err_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "internal error" not in lines[0]
    return lines[0]


def _p12(example: CertStore, tmp_path: Path, password: bytes | None) -> Path:
    key = example.private_key(11)
    assert key is not None
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path = tmp_path / "plc2.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(b"x", key, example.certificate(11), None, encryption)
    )
    return path


def test_a_p12_password_problem_points_to_password_env(
    example: CertStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p12 = _p12(example, tmp_path, b"secret")
    common = ["--store", str(example.path)]
    line = _err_line(capsys, ["certs", "import", str(p12), *common])
    assert line == (
        f"ouc: error: {p12}: not a PKCS#12 file, or it is encrypted: give its password "
        "(--password-env VAR)"
    )
    monkeypatch.setenv("P12_PW", "wrong")
    line = _err_line(capsys, ["certs", "import", str(p12), "--password-env", "P12_PW", *common])
    assert line == f"ouc: error: {p12}: not a PKCS#12 file, or the password is wrong"


def test_a_p12_with_the_key_of_a_keyless_id_suggests_replace(
    example: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p12 = _p12(example, tmp_path, None)
    pem = tmp_path / "plc2.pem"
    example.export(11, pem)
    fresh = tmp_path / "fresh"
    shutil.copytree(example.path, fresh)
    store = CertStore(fresh)
    store.delete(11)
    keyless = store.import_file(pem)[0]
    assert not store.has_private_key(keyless)
    line = _err_line(capsys, ["certs", "import", str(p12), "--store", str(fresh)])
    assert line == (
        f"ouc: error: {p12}: this certificate is already in the store as ID {keyless}, without "
        f"the private key this file holds; 'ouc certs replace {keyless} {p12}' adds it under "
        "the same ID"
    )
    # The suggested command does what it says.
    assert main(["certs", "replace", str(keyless), str(p12), "--store", str(fresh)]) == 0
    assert CertStore(fresh).has_private_key(keyless)


def test_a_key_that_is_not_the_certificates_is_one_line_never_used(
    example: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ID 11's key file swapped for ID 9's on disk: a .p12 export was an internal error, and
    # renew re-issued ID 11 with ID 9's public key.
    keys = example.path / "keys"
    (keys / "0011-r1.key").write_bytes((keys / "0009-r1.key").read_bytes())
    common = ["--store", str(example.path)]
    expected = (
        "ouc: error: ID 11: the private key in keys/0011-r1.key does not belong to the "
        "certificate (their public keys differ); give the ID its own key: 'ouc certs export 11 "
        "C.pem', then 'ouc certs replace 11 C.pem --key KEY'"
    )
    os.environ["OUC_TEST_P12"] = "pw"
    try:
        export = ["certs", "export", "11", str(tmp_path / "x.p12"), "--key"]
        assert _err_line(capsys, [*export, "--password-env", "OUC_TEST_P12", *common]) == expected
    finally:
        del os.environ["OUC_TEST_P12"]
    before = CertStore(example.path).certificate(11)
    assert _err_line(capsys, ["certs", "renew", "11", *common]) == expected
    assert CertStore(example.path).certificate(11) == before


@pytest.mark.openssl
@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not on PATH")
def test_an_md5_signature_is_listed_by_name(example: CertStore, tmp_path: Path) -> None:
    cert, key = tmp_path / "md5.pem", tmp_path / "md5.key"
    subprocess.run(
        [str(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-md5", "-nodes", "-subj",
         "/CN=md5", "-days", "30", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=WAIT,
    )  # fmt: skip
    (new_id,) = example.import_file(cert)
    row = {r.id: r for r in example.rows()}[new_id]
    assert row.signature_algorithm == "md5RSA"


def test_a_writer_says_once_that_it_waits_for_the_lock(example: CertStore) -> None:
    fd = os.open(example.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ouc", "certs", "assign", "PLC_1", "3", "--store",
             str(example.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stderr, selectors.EVENT_READ)
                assert sel.select(timeout=WAIT), "the waiting writer said nothing"
            line = proc.stderr.readline()
            assert line == f"ouc: warning: waiting for another ouc writing {example.path}\n"
            assert proc.poll() is None  # it really waits
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            out, err = proc.communicate(timeout=WAIT)
    finally:
        os.close(fd)
    assert proc.returncode == 0 and err == ""
    assert "PLC_1" in out


def test_a_damaged_certificate_can_still_be_replaced_keeping_its_key(example: CertStore) -> None:
    # The key check compares with the certificate; a damaged one has nothing to compare, and
    # replacing it (the fix its message names) must keep working.
    good = example.certificate(11)
    (example.path / example.entry(11).cert_file).write_text("-----BEGIN CERTIFICATE-----\n")
    reopened = CertStore(example.path)
    assert reopened.replace(11, good) == "kept"
    assert CertStore(example.path).certificate(11) == good


def _unreadable(file: Path) -> None:
    """Make a store file unreadable even for root: a folder where the file was."""
    file.unlink()
    file.mkdir()


def test_an_unreadable_certificate_is_listed_as_unknown_not_as_made_up_values(
    capsys: pytest.CaptureFixture[str], example: CertStore
) -> None:
    """A certificate file that does not read gives a row with no bits and no revocation state
    ('-' and null: they come from the certificate), and a line naming the whole file and what
    to do."""
    file = example.path / example.entry(11).cert_file
    _unreadable(file)
    path = str(example.path)
    assert main(["certs", "list", "--json", "--store", path]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["id"] == 11)
    assert row["used_as"] == "DAMAGED"
    assert row["key_length"] is None and row["revoked"] is None
    assert row["problem"].startswith(f"cannot read {file}: ")
    assert "ouc certs replace 11 FILE" in row["problem"]
    assert main(["certs", "list", "--store", path]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("11 "))
    assert line.split()[-1] == "-"  # Bits
    assert f"ID 11: cannot read {file}: " in out


def test_an_unreadable_key_names_the_file_and_how_to_mend_it(example: CertStore) -> None:
    key_file = example.entry(11).key_file
    assert key_file is not None
    _unreadable(example.path / key_file)
    with pytest.raises(StoreError) as info:
        CertStore(example.path).private_key(11)
    assert info.value.path == "ID 11"
    assert f"cannot read {example.path / key_file}: " in info.value.message
    assert "ouc certs replace 11 C.pem --key KEY" in info.value.message
