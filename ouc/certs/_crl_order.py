"""Which of two revocation lists of one CA is newer (RFC 5280 5.2.3: the CRL number increases
with every list a CA issues). An imported list older than the stored one would silently take
back revocations, so the store refuses it."""

from __future__ import annotations

from cryptography import x509

from ouc.errors import CertError

__all__ = ["check_newer", "crl_number"]


def crl_number(crl: x509.CertificateRevocationList) -> int | None:
    """The list's CRL number extension, None when it has none."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def check_newer(
    crl: x509.CertificateRevocationList,
    stored: x509.CertificateRevocationList | None,
    *,
    ca_id: int,
    where: str,
) -> bool:
    """Refuse ``crl`` when it is not newer than ``stored`` (the CRL number decides; without
    numbers, thisUpdate). False when it is that very list (importing it changes nothing).

    Raises:
        CertError: the list is older than or as old as the stored one; the line names both.
    """
    if stored is None:
        return True
    if stored == crl:
        return False
    old, new = crl_number(stored), crl_number(crl)
    if old is not None and new is not None:
        if new <= old:
            raise CertError(
                f"this revocation list of CA {ca_id} is number {new}, not newer than the "
                f"stored number {old}; an older list would take back revocations: import "
                "the CA's latest list",
                path=where,
            )
    elif crl.last_update_utc <= stored.last_update_utc:
        raise CertError(
            f"this revocation list of CA {ca_id} is of {crl.last_update_utc:%Y-%m-%d %H:%M}Z, "
            f"not newer than the stored one of {stored.last_update_utc:%Y-%m-%d %H:%M}Z "
            "(one of them has no CRL number); import the CA's latest list",
            path=where,
        )
    return True
