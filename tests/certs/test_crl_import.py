"""An imported revocation list must be newer than the one the store holds for its CA: an older
list would silently take back revocations (RFC 5280 5.2.3: the CRL number increases with each
list a CA issues). A list whose signature does not verify names its file and the CA."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ouc.certs import CertStore, PrivateKey, generate_key
from ouc.cli import main
from ouc.errors import CertError

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _crl(
    store: CertStore,
    tmp_path: Path,
    *,
    number: int | None,
    revoked: tuple[int, ...] = (),
    at: dt.datetime = NOW,
    key: PrivateKey | None = None,
) -> Path:
    """CA 3's list (signed with its key from the store, or ``key``), written as a .crl file."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(store.certificate(3).subject)
        .last_update(at)
        .next_update(at + dt.timedelta(days=30))
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for cert_id in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(store.certificate(cert_id).serial_number)
            .revocation_date(at)
            .build()
        )
    signer = key or store.private_key(3)
    assert signer is not None
    path = tmp_path / f"ca3-{number}-{len(revoked)}-{at:%H%M}.crl"
    path.write_bytes(builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    return path


def test_an_older_list_cannot_take_back_a_revocation(
    example: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = ["--store", str(example.path)]
    assert (
        main(["certs", "import", str(_crl(example, tmp_path, number=5, revoked=(11,))), *cli]) == 0
    )
    assert CertStore(example.path).is_revoked(11)
    capsys.readouterr()

    older = _crl(example, tmp_path, number=1)
    assert main(["certs", "import", str(older), *cli]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"ouc: error: {older}: this revocation list of CA 3 is number 1, not newer than the "
        "stored number 5; an older list would take back revocations: import the CA's latest list"
    ]
    same = _crl(example, tmp_path, number=5)  # the same number, other content: not newer
    with pytest.raises(CertError, match="is number 5, not newer than the stored number 5"):
        CertStore(example.path).import_file(same)
    assert CertStore(example.path).is_revoked(11)

    # The list itself again changes nothing; a newer list is taken as it is.
    assert CertStore(example.path).import_file(tmp_path / "ca3-5-1-1200.crl") == [3]
    assert CertStore(example.path).import_file(_crl(example, tmp_path, number=6)) == [3]
    assert not CertStore(example.path).is_revoked(11)


def test_without_crl_numbers_the_date_decides(example: CertStore, tmp_path: Path) -> None:
    later = NOW + dt.timedelta(hours=1)
    example.import_file(_crl(example, tmp_path, number=None, revoked=(11,), at=later))
    with pytest.raises(CertError, match=r"not newer than the stored one of .* no CRL number"):
        example.import_file(_crl(example, tmp_path, number=None, at=NOW))
    assert example.is_revoked(11)


def test_a_list_signed_by_another_key_names_the_ca_and_the_file(
    example: CertStore, tmp_path: Path
) -> None:
    forged = _crl(example, tmp_path, number=9, key=generate_key("EC-P256"))
    with pytest.raises(CertError) as caught:
        example.import_file(forged)
    assert str(caught.value) == (
        f"{forged}: the signature of the revocation list of CN=CA 3 does not verify with "
        "CA 3's key; import the list that CA signed"
    )
    assert example.crl(3) is None


def test_a_crl_number_beyond_20_octets_is_refused_and_the_store_stays_readable(
    example: CertStore, tmp_path: Path
) -> None:
    """RFC 5280 5.2.3: at most 20 octets. The largest number is taken; the next list the store
    would write (a revoke) and a list numbered beyond it are refused before anything is written,
    so the store never holds a number its own index check refuses."""
    top = 2**159 - 1
    assert example.import_file(_crl(example, tmp_path, number=top)) == [3]
    with pytest.raises(CertError, match=r"beyond the 20 octets RFC 5280 allows"):
        CertStore(example.path).revoke(11, now=NOW)
    with pytest.raises(CertError, match=r"beyond the 20 octets RFC 5280 allows"):
        CertStore(example.path).import_file(_crl(example, tmp_path, number=top + 1))
    reopened = CertStore(example.path)  # the index check passes: nothing out of range written
    assert not reopened.is_revoked(11) and reopened.ids()
