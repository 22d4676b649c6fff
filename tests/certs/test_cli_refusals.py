"""``ouc certs``: what a newcomer gets wrong is refused in one line that names the flag or file
and says what to do next (exit 2, store unchanged), and what the tool reports is what it did."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from cryptography import x509

from ouc.certs import CertStore
from ouc.cli import main
from ouc.errors import CertError

NOW_TEXT = "2026-01-01T12:00:00"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["certs", *argv])
    except SystemExit as exc:  # argparse's own exits
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must be refused; returns its one error line."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("ouc: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    return err.strip()


@pytest.fixture
def cli(example: CertStore) -> tuple[str, ...]:
    """The common flags for the standard example store (CA 3, server 9, client 11)."""
    return ("--store", str(example.path), "--now", NOW_TEXT)


def _snapshot(store: Path) -> dict[str, bytes]:
    return {
        p.relative_to(store).as_posix(): p.read_bytes() for p in store.rglob("*") if p.is_file()
    }


# -- replace keeps what the ID stands for ---------------------------------------------------------


def test_replace_without_the_new_key_is_refused_rather_than_losing_the_key(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replacing ID 9 with a certificate whose key the store lacks would drop ID 9's key (a
    later serve would fail with 16#80E2): refused, pointing to --key and .p12."""
    argv = ("create", "--template", "tls", "--cn", "other", "--issuer", "3", "--ip", "10.0.0.7")
    assert run(capsys, *argv, *cli)[:2] == (0, "created ID 12\n")
    pem = tmp_path / "other.pem"
    assert run(capsys, "export", "12", str(pem), *cli)[0] == 0
    before = _snapshot(example.path)
    line = refused(capsys, "replace", "9", str(pem), *cli)
    assert line.startswith("ouc: error: ID 9: the stored private key does not match")
    assert "--key FILE" in line and ".p12" in line and "--drop-key" in line
    assert _snapshot(example.path) == before

    code, out, _ = run(capsys, "replace", "9", str(pem), "--drop-key", *cli)
    assert (code, out) == (0, f"replaced ID 9 from {pem}; private key dropped\n")
    assert not CertStore(example.path).has_private_key(9)


def test_replace_with_a_matching_certificate_keeps_the_key_and_says_so(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "nine.pem"
    assert run(capsys, "export", "9", str(pem), *cli)[0] == 0
    assert run(capsys, "renew", "9", *cli)[0] == 0  # same key, new serial
    code, out, _ = run(capsys, "replace", "9", str(pem), *cli)
    assert (code, out) == (0, f"replaced ID 9 from {pem}; private key kept\n")
    store = CertStore(example.path)
    key = store.private_key(9)
    assert key is not None and key.public_key() == store.certificate(9).public_key()


def test_replace_of_a_tls_certificate_by_a_ca_needs_change_use(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replacing TLS certificate 11 with CA 3's certificate would turn ID 11 into a CA: refused
    without --change-use."""
    pem = tmp_path / "ca3.pem"
    assert run(capsys, "export", "3", str(pem), "--key", *cli)[0] == 0
    before = _snapshot(example.path)
    line = refused(capsys, "replace", "11", str(pem), *cli)
    assert line == (
        "ouc: error: ID 11: holds an end-entity certificate and the new one is a CA "
        "certificate; pass --change-use if that is meant, or import it under a new ID "
        "('ouc certs import')"
    )
    assert _snapshot(example.path) == before
    assert run(capsys, "replace", "11", str(pem), "--change-use", *cli)[0] == 0
    rows = {r.id: r for r in CertStore(example.path).rows()}
    assert rows[11].used_as == "CA" and rows[11].private_key


def _without_ip_san(store: CertStore, cert_id: int, path: Path) -> Path:
    """ID ``cert_id``'s certificate reissued by CA 3 with the same key and a DNS SAN only."""
    from cryptography.hazmat.primitives import serialization

    from ouc.certs._create import reissue

    old, ca_key = store.certificate(cert_id), store.private_key(3)
    assert ca_key is not None
    cert = reissue(
        old,
        signer=ca_key,
        issuer_name=store.certificate(3).subject,
        public_key=old.public_key(),
        not_before=old.not_valid_before_utc,
        not_after=old.not_valid_after_utc,
        replace=[x509.SubjectAlternativeName([x509.DNSName("plc-1.plant.example")])],
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_replace_refuses_a_tls_server_certificate_without_ip_san_as_create_does(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """domain.md §7: for a TLS server the IP SAN is mandatory; create refuses one without it
    (16#80E2), so replace does too, and a running serve never gets to present it."""
    line = refused(capsys, "create", "--template", "tls", "--cn", "x", "--issuer", "3", *cli)
    assert "needs an IP SAN (16#80E2)" in line
    nosan = _without_ip_san(example, 9, tmp_path / "srv_nosan.pem")
    before = _snapshot(example.path)
    line = refused(capsys, "replace", "9", str(nosan), *cli)
    assert line == (
        "ouc: error: ID 9: the new certificate is a TLS Client/Server certificate, a TLS server "
        "certificate, and needs an IP SAN as at 'ouc certs create --ip': reissue it with the "
        "device's address (16#80E2)"
    )
    assert _snapshot(example.path) == before
    with pytest.raises(CertError) as info:
        CertStore(example.path).replace(9, x509.load_pem_x509_certificate(nosan.read_bytes()))
    assert (info.value.status, info.value.path) == (0x80E2, "ID 9")


def test_replace_takes_a_client_only_certificate_without_ip_san(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TLS Client certificate (clientAuth only) needs no IP SAN, at create as at replace."""
    argv = ("create", "--template", "tls-client", "--cn", "client", "--issuer", "3", *cli)
    assert run(capsys, *argv)[:2] == (0, "created ID 12\n")
    nosan = _without_ip_san(example, 12, tmp_path / "client.pem")
    code, out, _ = run(capsys, "replace", "12", str(nosan), *cli)
    assert (code, out) == (0, f"replaced ID 12 from {nosan}; private key kept\n")


# -- errors in the user's words -------------------------------------------------------------------


def test_a_certificate_imported_as_crl_says_what_it_is(
    example: CertStore,
    cli: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    der = tmp_path / "nine.der"
    assert run(capsys, "export", "9", str(der), *cli)[0] == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(der.read_bytes())))
    line = refused(capsys, "import", "--format", "crl", "-", *cli)
    assert line == (
        "ouc: error: <stdin>: not a revocation list: it is an X.509 certificate (import it as "
        ".der, or from stdin with --format der)"
    )
    cut = tmp_path / "cut.crl"
    cut.write_bytes(der.read_bytes()[:40])
    line = refused(capsys, "import", str(cut), *cli)
    assert "ParseError" not in line and "not a DER X.509 revocation list (too short)" in line


def test_an_index_holding_a_list_is_reported_as_damaged(
    example: CertStore, cli: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    (example.path / "index.json").write_text("[]\n")
    line = refused(capsys, "list", *cli)
    assert "has no attribute" not in line
    assert "the store's index is damaged (a JSON list where an object belongs)" in line
    assert "restore index.json from a backup" in line


def test_an_id_in_use_names_the_id_flag(
    example: CertStore, cli: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "create", "--id", "3", "--template", "ca", "--cn", "X", *cli)
    assert line.startswith("ouc: error: --id: certificate ID 3 is already used")
    assert "leave it out for the next free ID" in line
    assert CertStore(example.path).ids() == [1, 2, 3, 9, 11]


def test_a_file_as_store_names_the_store_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_bytes(b"mine")
    expected = (
        f"ouc: error: --store: {afile} is a file, not a folder; give --store a store's folder, "
        "or a new or empty one for 'ouc certs init'"
    )
    assert refused(capsys, "init", "--store", str(afile)) == expected
    assert refused(capsys, "list", "--store", str(afile)) == expected
    assert afile.read_bytes() == b"mine"


# -- facts ----------------------------------------------------------------------------------------


def test_exporting_the_crl_of_a_certificate_that_is_no_ca_says_so(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "export", "9", str(tmp_path / "x.crl"), *cli)
    assert line == (
        "ouc: error: ID 9: not a CA, so it has no revocation list; export its issuing CA's: "
        "'ouc certs export 3 FILE.crl'"
    )


def test_a_ca_that_revoked_nothing_exports_an_empty_list(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engineering tool exports CRLs, empty ones included (domain.md §7): CA 3 signs an
    empty list (CRL number 1); after a revocation the next list names it (number 2)."""
    ca = example.certificate(3)
    for revoked, number in ((0, 1), (1, 2)):
        target = tmp_path / f"ca3-{number}.crl"
        assert run(capsys, "export", "3", str(target), *cli)[:2] == (0, f"wrote {target}\n")
        crl = x509.load_der_x509_crl(target.read_bytes())
        assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        assert len(list(crl)) == revoked
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number
        assert crl.last_update_utc.isoformat().startswith("2026-01-01T12:00")  # --now
        if not revoked:
            assert run(capsys, "revoke", "11", *cli)[0] == 0


def test_a_ca_without_a_key_or_a_list_cannot_export_one(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    assert run(capsys, "init", "--store", str(other))[0] == 0
    pem = tmp_path / "ca2.pem"
    assert run(capsys, "export", "2", str(pem), "--store", str(other))[0] == 0
    code, out, _ = run(capsys, "import", str(pem), *cli)
    assert code == 0
    new_id = out.split()[-1]
    line = refused(capsys, "export", new_id, str(tmp_path / "x.crl"), *cli)
    assert f"ID {new_id}: a CA with no revocation list and no key in the store" in line
    assert not (tmp_path / "x.crl").exists()


def test_importing_a_crl_names_its_ca_not_an_id(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crl = tmp_path / "ca3.crl"
    assert run(capsys, "revoke", "11", *cli)[0] == 0
    assert run(capsys, "export", "3", str(crl), *cli)[0] == 0
    code, out, _ = run(capsys, "import", str(crl), *cli)
    assert code == 0
    assert out == "imported the revocation list of CA 3 (1 revoked); it has no ID of its own\n"
    line = refused(capsys, "import", str(crl), "--assign", "PLC_9", *cli)
    assert line.startswith("ouc: error: --assign: a revocation list is not a certificate")
    assert "PLC_9" not in CertStore(example.path).devices()
    key = tmp_path / "k.pem"
    key.write_text("not read")
    line = refused(capsys, "import", str(crl), "--key", str(key), *cli)
    assert line.startswith("ouc: error: --key: a revocation list has no key and no password")


# -- nothing silently accepted --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad name!", "plc_1.example", "-plc", "a..b"])
def test_an_invalid_dns_name_is_refused(
    example: CertStore, cli: tuple[str, ...], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    argv = ("create", "--template", "tls", "--cn", "d", "--ip", "10.0.0.5", f"--dns={name}")
    line = refused(capsys, *argv, *cli)
    assert line.startswith(f"ouc: error: --dns: {name!r} is not a DNS name: ")
    assert CertStore(example.path).ids() == [1, 2, 3, 9, 11]


def test_firmware_without_family_is_refused(
    example: CertStore, cli: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("create", "--template", "tls", "--cn", "f", "--ip", "10.0.0.5", "--firmware", "V4.6")
    line = refused(capsys, *argv, *cli)
    assert line.startswith("ouc: error: --firmware: needs --family S7-1200 or S7-1500")
    assert CertStore(example.path).ids() == [1, 2, 3, 9, 11]


def test_listing_a_device_with_nothing_assigned_is_an_error(
    example: CertStore, cli: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "list", "--device", "NOPE", *cli)
    assert line.startswith("ouc: error: --device: no certificates are assigned to device NOPE")
    assert "PLC_1" in line and "'ouc certs assign NOPE ID'" in line
    code, out, _ = run(capsys, "list", "--device", "PLC_1", *cli)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["3", "9"]


def test_a_key_of_another_certificate_names_where_it_came_from(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nine, eleven = tmp_path / "nine.der", tmp_path / "eleven.pem"
    assert run(capsys, "export", "9", str(nine), "--key", *cli)[0] == 0  # also nine.key
    assert run(capsys, "export", "11", str(eleven), *cli)[0] == 0
    key = tmp_path / "nine.key"
    line = refused(capsys, "replace", "11", str(eleven), "--key", str(key), *cli)
    assert line.startswith(f"ouc: error: --key {key}: the private key does not belong to")
    assert line.endswith("give the certificate's own key")


@pytest.mark.parametrize("flag", ["--key", "--chain", "--password-env=PW"])
def test_exporting_a_crl_refuses_certificate_flags(
    example: CertStore,
    cli: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
) -> None:
    assert run(capsys, "revoke", "11", *cli)[0] == 0
    line = refused(capsys, "export", "3", str(tmp_path / "ca3.crl"), flag, *cli)
    name = flag.split("=")[0]
    assert line.startswith(f"ouc: error: {name}: a revocation list has no key, chain or password")
    assert not (tmp_path / "ca3.crl").exists()


def test_store_errors_name_the_id_once(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "revoke", "3", *cli)  # CA 3 is self-signed
    assert line.startswith("ouc: error: ID 3: no issuing CA in the store (it is self-signed")
    assert line.endswith("'ouc certs delete 3' removes it") and line.count("ID 3") == 1
    assert (
        run(capsys, "replace", "9", str(_export(capsys, cli, tmp_path)), "--drop-key", *cli)[0] == 0
    )
    line = refused(capsys, "export", "9", str(tmp_path / "x.pem"), "--key", *cli)
    assert line == (
        "ouc: error: ID 9: the store has no private key for it to export; leave --key out"
    )


def _export(capsys: pytest.CaptureFixture[str], cli: tuple[str, ...], tmp_path: Path) -> Path:
    """ID 11's certificate as a PEM file, without its key."""
    pem = tmp_path / "eleven.pem"
    assert run(capsys, "export", "11", str(pem), *cli)[0] == 0
    return pem


def _no_eku(store: CertStore, cert_id: int, path: Path, days: int) -> Path:
    """ID ``cert_id``'s key in a certificate from CA 3 without ExtendedKeyUsage, a DNS SAN only,
    valid for ``days`` (as third-party client certificates often come)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization

    ca_key = store.private_key(3)
    assert ca_key is not None
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "third party")]))
        .issuer_name(store.certificate(3).subject)
        .public_key(store.certificate(cert_id).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("client.plant.example")]), critical=False
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_replace_needs_an_ip_san_without_eku_only_where_the_id_had_one(
    example: CertStore, cli: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ExtendedKeyUsage makes a certificate "TLS Client/Server" by the listing, but whether
    it is a server's is what the ID stood for: ID 9 had an IP SAN (refused without one); an ID
    imported without one is replaced as it was imported."""
    first = _no_eku(example, 11, tmp_path / "short.pem", days=30)
    code, out, _ = run(capsys, "import", str(first), "--json", *cli)
    assert code == 0, out
    (new_id,) = json.loads(out)["ids"]
    longer = _no_eku(example, 11, tmp_path / "long.pem", days=365)
    assert run(capsys, "replace", str(new_id), str(longer), *cli)[0] == 0
    server = _no_eku(example, 9, tmp_path / "server.pem", days=365)
    line = refused(capsys, "replace", "9", str(server), *cli)
    assert "needs an IP SAN" in line and line.endswith("(16#80E2)")
