"""OpenSSL failures → the PLC's TLS status codes (16#80E0..16#80E7, 16#80C5).

OpenSSL reports a failure as a queue of packed error codes. For libssl the *reason* part is one of
the stable ``SSL_R_*`` numbers (the same in OpenSSL 1.1 through 4.0); a fatal alert received from
the peer appears as ``SSL_AD_REASON_OFFSET + alert description`` (1000 + n). Mapping those numbers,
not the human-readable strings, keeps the mapping independent of the OpenSSL build; the strings are
only used for the message. Layer 2: no I/O.

Source: the codes and their meanings are TCON's table in the TIA help (domain.md §3: 80E0 bad
TLS message, 80E1 handshake failure, 80E2 certificate unsupported/invalid/missing, 80E3
discarded, 80E4 no valid CA, 80E5 expired, 80E6 integrity error, 80E7 unsupported extension).
Which OpenSSL reason or alert falls under which of those meanings is an inference: the help
names the codes, not the failures of a TLS library that produce them.
"""

from __future__ import annotations

from ouc.errors import Status
from ouc.tls import _libssl as _lib
from ouc.tls._libssl import ffi as _ffi

__all__ = ["ALERT_NAMES", "ALERT_STATUS", "REASON_STATUS", "alert_status", "map_error_queue"]

# libssl's library number inside a packed error code (ERR_LIB_SSL).
_ERR_LIB_SSL = 20
# A packed code is (lib << 23) | reason on OpenSSL 3.0+; the reason is the low 23 bits.
_LIB_SHIFT = 23
# Reasons 1000..1255 are fatal alerts received from the peer (SSL_AD_REASON_OFFSET).
_ALERT_OFFSET = 1000

#: TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2) by number.
ALERT_NAMES: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    111: "certificate_unobtainable",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}

#: What a PLC reports when the peer sends a fatal alert (by alert number).
ALERT_STATUS: dict[int, Status] = {
    10: Status.TLS_BAD_MESSAGE,
    20: Status.TLS_INTEGRITY,
    21: Status.TLS_INTEGRITY,
    22: Status.TLS_BAD_MESSAGE,
    30: Status.TLS_BAD_MESSAGE,
    40: Status.TLS_HANDSHAKE_FAILURE,
    41: Status.TLS_CERT_INVALID,
    42: Status.TLS_CERT_INVALID,
    43: Status.TLS_CERT_INVALID,
    44: Status.TLS_CERT_DISCARDED,
    45: Status.TLS_CERT_EXPIRED,
    46: Status.TLS_CERT_INVALID,
    47: Status.TLS_BAD_MESSAGE,
    48: Status.TLS_NO_VALID_CA,
    49: Status.TLS_CERT_INVALID,
    50: Status.TLS_BAD_MESSAGE,
    51: Status.TLS_INTEGRITY,
    60: Status.TLS_HANDSHAKE_FAILURE,
    70: Status.TLS_HANDSHAKE_FAILURE,
    71: Status.TLS_HANDSHAKE_FAILURE,
    80: Status.TLS_HANDSHAKE_FAILURE,
    86: Status.TLS_HANDSHAKE_FAILURE,
    90: Status.PARTNER_CLOSED,
    100: Status.TLS_HANDSHAKE_FAILURE,
    109: Status.TLS_BAD_MESSAGE,
    110: Status.TLS_UNSUPPORTED_EXTENSION,
    111: Status.TLS_CERT_INVALID,
    112: Status.TLS_HANDSHAKE_FAILURE,
    113: Status.TLS_CERT_INVALID,
    114: Status.TLS_CERT_INVALID,
    115: Status.TLS_HANDSHAKE_FAILURE,
    116: Status.TLS_CERT_INVALID,
    120: Status.TLS_HANDSHAKE_FAILURE,
}

#: Locally detected libssl failures by ``SSL_R_*`` reason number (name in the comment).
REASON_STATUS: dict[int, Status] = {
    # Nothing both sides can agree on: version, cipher suite, group, signature algorithm.
    101: Status.TLS_HANDSHAKE_FAILURE,  # no suitable key share
    102: Status.TLS_HANDSHAKE_FAILURE,  # bad dh value
    118: Status.TLS_HANDSHAKE_FAILURE,  # no suitable signature algorithm
    181: Status.TLS_HANDSHAKE_FAILURE,  # no ciphers available
    191: Status.TLS_HANDSHAKE_FAILURE,  # no protocols available
    193: Status.TLS_HANDSHAKE_FAILURE,  # no shared cipher
    209: Status.TLS_HANDSHAKE_FAILURE,  # missing supported groups extension
    241: Status.TLS_HANDSHAKE_FAILURE,  # insufficient security
    258: Status.TLS_HANDSHAKE_FAILURE,  # unsupported protocol
    259: Status.TLS_HANDSHAKE_FAILURE,  # unsupported ssl version
    295: Status.TLS_HANDSHAKE_FAILURE,  # no suitable groups
    315: Status.TLS_HANDSHAKE_FAILURE,  # unsupported elliptic curve
    339: Status.TLS_HANDSHAKE_FAILURE,  # no renegotiation
    373: Status.TLS_HANDSHAKE_FAILURE,  # inappropriate fallback
    376: Status.TLS_HANDSHAKE_FAILURE,  # no shared signature algorithms
    378: Status.TLS_HANDSHAKE_FAILURE,  # wrong curve
    396: Status.TLS_HANDSHAKE_FAILURE,  # version too low
    166: Status.TLS_HANDSHAKE_FAILURE,  # version too high
    410: Status.TLS_HANDSHAKE_FAILURE,  # no shared groups
    420: Status.TLS_HANDSHAKE_FAILURE,  # missing supported versions extension
    # Certificates: missing, refused by verification, unusable.
    134: Status.TLS_CERT_INVALID,  # certificate verify failed
    176: Status.TLS_CERT_INVALID,  # no certificates returned
    199: Status.TLS_CERT_INVALID,  # peer did not return a certificate
    247: Status.TLS_CERT_INVALID,  # unknown certificate type
    304: Status.TLS_CERT_INVALID,  # bad ecc cert
    318: Status.TLS_CERT_INVALID,  # ecc cert not for signing
    348: Status.TLS_CERT_INVALID,  # bad certificate
    383: Status.TLS_CERT_INVALID,  # wrong certificate type
    397: Status.TLS_CERT_INVALID,  # ca key too small
    398: Status.TLS_CERT_INVALID,  # ca md too weak
    399: Status.TLS_CERT_INVALID,  # ee key too small
    # Integrity: a record or handshake signature that does not check out.
    123: Status.TLS_INTEGRITY,  # bad signature
    129: Status.TLS_INTEGRITY,  # block cipher pad is wrong
    147: Status.TLS_INTEGRITY,  # decryption failed
    149: Status.TLS_INTEGRITY,  # digest check failed
    253: Status.TLS_INTEGRITY,  # binder does not verify
    281: Status.TLS_INTEGRITY,  # decryption failed or bad record mac
    # Bytes that are not (well-formed) TLS.
    115: Status.TLS_BAD_MESSAGE,  # bad packet length
    116: Status.TLS_BAD_MESSAGE,  # bad protocol version number
    146: Status.TLS_BAD_MESSAGE,  # data length too long (a record above the maximum)
    152: Status.TLS_BAD_MESSAGE,  # excessive message size
    153: Status.TLS_BAD_MESSAGE,  # extra data in message
    155: Status.TLS_BAD_MESSAGE,  # https proxy request
    156: Status.TLS_BAD_MESSAGE,  # http request
    159: Status.TLS_BAD_MESSAGE,  # length mismatch
    160: Status.TLS_BAD_MESSAGE,  # length too short
    198: Status.TLS_BAD_MESSAGE,  # packet length too long
    205: Status.TLS_BAD_MESSAGE,  # invalid alert
    213: Status.TLS_BAD_MESSAGE,  # record length mismatch
    240: Status.TLS_BAD_MESSAGE,  # bad packet
    244: Status.TLS_BAD_MESSAGE,  # unexpected message
    245: Status.TLS_BAD_MESSAGE,  # unexpected record
    246: Status.TLS_BAD_MESSAGE,  # unknown alert type
    252: Status.TLS_BAD_MESSAGE,  # unknown protocol
    254: Status.TLS_BAD_MESSAGE,  # unknown ssl version
    266: Status.TLS_BAD_MESSAGE,  # wrong ssl version
    267: Status.TLS_BAD_MESSAGE,  # wrong version number
    271: Status.TLS_BAD_MESSAGE,  # bad length
    293: Status.TLS_BAD_MESSAGE,  # mixed handshake and non handshake data
    298: Status.TLS_BAD_MESSAGE,  # record too small
    317: Status.TLS_BAD_MESSAGE,  # invalid record
    332: Status.TLS_BAD_MESSAGE,  # bad handshake length
    443: Status.TLS_BAD_MESSAGE,  # bad record type
    # Unsupported extensions.
    110: Status.TLS_UNSUPPORTED_EXTENSION,  # bad extension
    217: Status.TLS_UNSUPPORTED_EXTENSION,  # unsolicited extension
    # The peer went away mid-stream.
    294: Status.PARTNER_CLOSED,  # unexpected eof while reading
}


def alert_status(alert: int) -> Status:
    """The status for a fatal alert received from the peer (unknown alerts: 16#80E1)."""
    return ALERT_STATUS.get(alert, Status.TLS_HANDSHAKE_FAILURE)


def _reason_text(code: int) -> str:
    text = _lib.ERR_reason_error_string(code)
    if text == _ffi.NULL:
        return f"error {code:#x}"
    return _ffi.string(text).decode("ascii", "replace")


def map_error_queue(handshaking: bool) -> tuple[Status, str]:
    """Drain this thread's OpenSSL error queue and map it to ``(status, reason)``.

    The first libssl entry with a known mapping decides; alerts received from the peer are named.
    Anything unknown is "bad TLS message" (16#80E0) after the handshake, and "handshake failure"
    (16#80E1) during it, where most unnamed failures are negotiation failures.

    Args:
        handshaking: True while the handshake is still running.
    """
    codes: list[int] = []
    while True:
        code = _lib.ERR_get_error()
        if code == 0:
            break
        codes.append(code)
    fallback = Status.TLS_HANDSHAKE_FAILURE if handshaking else Status.TLS_BAD_MESSAGE
    for code in codes:
        if code >> _LIB_SHIFT != _ERR_LIB_SSL:
            continue
        reason = _lib.ERR_GET_REASON(code)
        alert = reason - _ALERT_OFFSET
        if 0 <= alert <= 255:
            name = ALERT_NAMES.get(alert, f"alert {alert}")
            return alert_status(alert), f"peer sent TLS alert {name}"
        status = REASON_STATUS.get(reason)
        if status is not None:
            return status, _reason_text(code)
    if codes:
        return fallback, "; ".join(_reason_text(code) for code in codes)
    return fallback, "TLS failure without an OpenSSL reason"
