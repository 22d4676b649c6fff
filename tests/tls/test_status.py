"""The OpenSSL error → PLC status table, checked entry by entry through the real error queue."""

from __future__ import annotations

from typing import Any

import pytest

from ouc.errors import Status
from ouc.tls import ALERT_NAMES, ALERT_STATUS, TLSContext, alert_status
from ouc.tls._libssl import binding
from ouc.tls._status import REASON_STATUS, map_error_queue

lib = binding()

Kit = Any

_ERR_LIB_SSL = 20


@pytest.fixture(autouse=True)
def ssl_strings_loaded(kit: Kit, pki: Any) -> None:
    """libssl loads its reason strings with the first context; do that, start with no errors."""
    TLSContext.build(kit.client_endpoint(pki), kit.V31)
    lib.ERR_clear_error()


def put(reason: int, library: int = _ERR_LIB_SSL) -> None:
    lib.ERR_put_error(library, 0, reason, b"test.c", 1)


@pytest.mark.parametrize(
    ("alert", "status"),
    [
        ("bad_certificate", Status.TLS_CERT_INVALID),
        ("unsupported_certificate", Status.TLS_CERT_INVALID),
        ("certificate_unknown", Status.TLS_CERT_INVALID),
        ("certificate_required", Status.TLS_CERT_INVALID),
        ("unknown_ca", Status.TLS_NO_VALID_CA),
        ("certificate_expired", Status.TLS_CERT_EXPIRED),
        ("certificate_revoked", Status.TLS_CERT_DISCARDED),
        ("handshake_failure", Status.TLS_HANDSHAKE_FAILURE),
        ("protocol_version", Status.TLS_HANDSHAKE_FAILURE),
        ("insufficient_security", Status.TLS_HANDSHAKE_FAILURE),
        ("bad_record_mac", Status.TLS_INTEGRITY),
        ("decrypt_error", Status.TLS_INTEGRITY),
        ("decode_error", Status.TLS_BAD_MESSAGE),
        ("unexpected_message", Status.TLS_BAD_MESSAGE),
        ("unsupported_extension", Status.TLS_UNSUPPORTED_EXTENSION),
    ],
)
def test_received_alert_maps_to_status(alert: str, status: Status) -> None:
    number = {name: n for n, name in ALERT_NAMES.items()}[alert]
    assert alert_status(number) == status
    put(1000 + number)  # SSL_AD_REASON_OFFSET + alert description
    assert map_error_queue(handshaking=True) == (status, f"peer sent TLS alert {alert}")


def test_every_named_fatal_alert_has_a_status() -> None:
    assert set(ALERT_NAMES) - {0} == set(ALERT_STATUS)
    assert all(s == 0x80C5 or 0x80E0 <= s <= 0x80E7 for s in ALERT_STATUS.values())
    assert alert_status(254) == Status.TLS_HANDSHAKE_FAILURE  # unknown alerts


@pytest.mark.parametrize(("reason", "status"), sorted(REASON_STATUS.items()))
def test_local_reason_maps_to_status(reason: int, status: Status) -> None:
    put(reason)
    got, text = map_error_queue(handshaking=True)
    assert got == status
    assert text and not text.startswith("error 0x")  # OpenSSL's own words, not a number


def test_named_reasons_read_as_expected() -> None:
    for reason, words in [
        (193, "no shared cipher"),
        (199, "peer did not return a certificate"),
        (267, "wrong version number"),
        (281, "decryption failed or bad record mac"),
        (410, "no shared groups"),
    ]:
        put(reason)
        assert map_error_queue(handshaking=True)[1] == words


def test_unknown_reasons_fall_back_by_phase() -> None:
    put(5, library=6)  # an EVP error: not libssl
    status, text = map_error_queue(handshaking=True)
    assert status == Status.TLS_HANDSHAKE_FAILURE and text
    put(5, library=6)
    assert map_error_queue(handshaking=False)[0] == Status.TLS_BAD_MESSAGE


def test_first_known_entry_wins_and_the_queue_is_drained() -> None:
    put(5, library=6)
    put(1045)  # certificate_expired alert
    put(193)
    assert map_error_queue(handshaking=True)[0] == Status.TLS_CERT_EXPIRED
    assert lib.ERR_peek_error() == 0


def test_empty_queue() -> None:
    assert map_error_queue(handshaking=False) == (
        Status.TLS_BAD_MESSAGE,
        "TLS failure without an OpenSSL reason",
    )
