"""The field names of every JSON document the command line prints, one name per meaning.

``FIELDS`` lists each name with what it means wherever it appears; ``SYNONYMS`` maps names a
command once used (or a newcomer would reach for) to the one in use. The vocabulary test walks
every command's ``--json`` output against both, so a new field is added here on purpose and a
second name for a known meaning fails.

Values follow :mod:`ouc._notation`: STATUS as ``16#7004``, STATUS sequences as lists of such
strings, times as ISO 8601 UTC (``2026-12-06T08:30:00.123Z``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FIELDS", "STATUS_FIELDS", "SYNONYMS", "TIME_FIELDS", "problems"]

# Names taken from TIA Portal (TCON fields, block names, LEN/RCVD_LEN) keep their spelling.
_TIA = {
    "InterfaceId": "TCON field",
    "ID": "TCON field",
    "ConnectionType": "TCON field",
    "ActiveEstablished": "TCON field",
    "RemoteAddress": "TCON field",
    "RemoteQDN": "TCON field",
    "RemotePort": "TCON field",
    "LocalPort": "TCON field",
    "RemoteTSelector": "TCON field",
    "LocalTSelector": "TCON field",
    "TSelLength": "TCON field",
    "TSel": "TCON field",
    "ConnPara": "TCON field",
    "ActivateSecureConn": "TCON field",
    "TLSServerReqClientCert": "TCON field",
    "ExtTLSCapabilities": "TCON field",
    "TLSServerCertRef": "TCON field",
    "TLSClientCertRef": "TCON field",
    "ForceConnectionState": "WinCC connection tag",
    "UseAlternativeAddress": "WinCC connection tag",
    "AlternativeAddress": "WinCC connection tag",
    "TSEND_C": "the TSEND_C block: its STATUS, or its STATUS sequence (a list)",
    "TRCV_C": "the TRCV_C block: its STATUS, or its STATUS sequence (a list)",
}

FIELDS: dict[str, str] = {
    **_TIA,
    # Endpoint records and events (serve, connect, demo, channel run).
    "event": "what happened: listening, connected, frame, closed, ...",
    "device": "the emulated device's name (PLC_1) or the device a store assignment is for",
    "block": "the instruction: TSEND_C or TRCV_C",
    "db": "the data block whose values were sent or received (Send_Data)",
    "status": "a STATUS word, 16#7004 (null: no PLC status applies)",
    "sequences": "block name -> that block's STATUS sequence, a list of 16#xxxx",
    "peer": "the partner's plant address:port (its certificate's subject: peer_subject)",
    "local": "our own address:port",
    "reason": "one sentence on why or how it happened",
    "message": "the text of an error or finding",
    "connection": (
        "the serial number of a TCP connection within an endpoint (under --processes: within "
        "the worker that the line's worker names)"
    ),
    "reset": "the connection was reset (RST) rather than closed",
    "time": "when it happened, ISO 8601 UTC",
    "len": "LEN: the bytes a TSEND_C sent",
    "rcvd_len": "RCVD_LEN: the bytes a TRCV_C received",
    "values": "variable name -> value of a data block (the user's names inside)",
    "hex": "raw bytes as hex",
    "error": "why the bytes could not be decoded",
    "path": "a file, socket or field path",
    "worker": "the worker process number (serve --processes)",
    "pid": "a process ID",
    "pids": "process IDs",
    "processes": "how many processes",
    "spread": "which worker takes a connection: cpu (the receiving CPU's) or hash",
    "max_connections": "the connection limit",
    "control": "the control socket's path",
    # TLS, in records and in the demo.
    "tls": "the negotiated TLS parameters",
    "tls_text": "the same in one line",
    "secure": "TLS on (ActivateSecureConn)",
    "version": "the TLS version",
    "cipher": "the cipher suite",
    "group": "the key-exchange group",
    "peer_subject": "the subject of the partner's certificate",
    "peer_anchor_id": "the store ID of the CA that validated the partner's certificate",
    "peer_cert_id": "the store ID of the partner's certificate",
    "own_cert_id": "the store ID of the certificate this side presented",
    "resumed": "the TLS session was resumed",
    "insecure": "verification was switched off",
    "sees": "what one side sees of the other's certificate",
    # ouc demo.
    "ok": "the run did what it should",
    "seconds": "a duration in seconds",
    "store": "the certificate store's folder",
    "server": "the server (passive) side",
    "client": "the client (active) side",
    "plant": "the plant address(:port) a side has in the example",
    "listening": "the local address:port the server listens on",
    "sent": "what was sent",
    "received": "what was received",
    "kept": "the store was kept",
    # ouc plc.
    "cpu": "the CPU's operating state: RUN or STOP",
    "cont": "the CONT input",
    "en_r": "the EN_R input",
    "state": "a connection's or link's state",
    "connections": "an endpoint's connections, ended ones included (ouc plc)",
    "ended_connections": "how many connections ended with a --processes worker that died",
    "live": "how many of an endpoint's connections are up or coming up (ouc plc)",
    "established": "how many times a channel link was established",
    "certificates": "what a certificate download changed",
    # ouc certs.
    "id": "a certificate's store ID",
    "ids": "certificate store IDs",
    "common_name": "a certificate's CN",
    "serial": "a certificate's serial number, hex",
    "previous_serial": "the serial number before a certificate reload, hex",
    "mode": "how certificates reach a running endpoint: live or download (--cert-reload)",
    "requested": "a download was asked for (SIGHUP, ouc plc download) rather than seen live",
    "hint": "what to do next, in a sentence",
    "how": "how a --processes worker ended (exit status or signal)",
    "issuer": "the issuer's CN",
    "issuer_dn": "the issuer's distinguished name",
    "issuer_id": "the store ID of the issuing CA",
    "subject": "a certificate's subject",
    "valid_from": "start of validity, ISO 8601 UTC",
    "valid_to": "end of validity, ISO 8601 UTC",
    "used_as": "TIA's 'used as' column",
    "private_key": "the store holds the private key",
    "key_encrypted": "the private key is stored encrypted",
    "signature_algorithm": "TIA's name of the signature algorithm",
    "key_length": "key size in bits (null: unknown, the certificate does not read)",
    "key_type": "RSA-2048, EC-P256, ...",
    "legacy": "a legacy (SHA-1) certificate",
    "revoked": "the certificate is revoked (null: unknown, the certificate does not read)",
    "deleted": "the certificate was deleted",
    "problem": "why a store entry cannot be read",
    "sans": "subject alternative names",
    "key_usage": "key usage bits",
    "extended_key_usage": "extended key usages",
    "is_ca": "a CA certificate",
    "fingerprint_sha256": "SHA-256 fingerprint",
    "devices": "devices a certificate is assigned to",
    "template": "the template a certificate was made from",
    "pem": "the certificate as PEM",
    "files": "files written",
    # ouc params.
    "type": "a block type (TCON_IP_V4_SEC) or an S7 data type (Bool)",
    "file": "the input file (<stdin> for -)",
    "family": "the CPU family: S7-1200 or S7-1500",
    "firmware": "the firmware version: V3.1",
    "findings": "rule violations",
    "rule": "the name of a broken rule",
    "system_ports": "ports the CPU's own services hold",
    "service": "a CPU service",
    "ports": "port numbers",
    "setting": "the device setting that switches a service",
    "flag": "the command-line flag of a setting",
    "on": "the service is on",
    "inferred": "an inference, not documented by Siemens",
    "source": "where a fact comes from",
    "bool_form": "how the two TLS Bools are stored: bytes or bits",
    # ouc db.
    "name": "a name: a layout's, a load row's, a channel connection's (WinCC's)",
    "size": "a size in bytes",
    "entries": "a layout's variables",
    "offset": "a byte.bit offset",
    "bits": "a size in bits",
    "start": "a variable's start value",
    # ouc load.
    "target": "where the load (or a channel link) connects",
    "accepted_when": "when an operation counts as accepted",
    "settings": "the run's settings",
    "max_ops": "operations per row at most",
    "concurrency": "clients at once",
    "sizes": "frame sizes",
    "rows": "result rows",
    "interrupted": "the run was stopped with Ctrl-C before its last row (rows: those measured)",
    "description": "what a row measures",
    "accepted": "operations the peer accepted",
    "rate": "operations per second",
    "mb_s": "megabytes per second",
    "p50_ms": "50th percentile latency by nearest rank (one of the samples), ms",
    "p99_ms": "99th percentile latency by nearest rank (one of the samples), ms",
    "clients": "clients per process",
    "failed": "operations that failed",
    "failures": "failures by STATUS",
    "kind": "a failure's kind: status (a PLC STATUS), timeout (the client's limit) or error",
    "count": "how many",
    # ouc channel.
    "via_alternative": "the link uses the alternative address",
    "security": "the link's TLS version, or plain",
    "peer_valid_to": "end of the partner certificate's validity, ISO 8601 UTC",
    "peer_expired": "the partner's certificate has expired",
    "attempts": "connection attempts",
    "names": "channel connection names",
}

SYNONYMS: dict[str, str] = {
    "own_certificate_id": "own_cert_id",
    "own_id": "own_cert_id",
    "certificate_id": "peer_cert_id",
    "cert_id": "id",
    "trusted_through_ca": "peer_anchor_id",
    "text": "reason",
    "timestamp": "time",
    "ts": "time",
    "at": "time",
    "when": "time",
    "code": "status",
    "status_code": "status",
    "status_text": "status",
    "sequence": "sequences",
    "rcvdlen": "rcvd_len",
    "length": "len",
    "device_name": "device",
    "plc_time": "time",
    "not_after": "valid_to",
    "not_before": "valid_from",
    "cn": "common_name",
}
"""Names not used, and the name in use for that meaning."""

STATUS_FIELDS = frozenset({"status", "TSEND_C", "TRCV_C"})
"""Fields whose string value is a STATUS word (16#xxxx), or a list of them."""

TIME_FIELDS = frozenset({"time", "valid_from", "valid_to", "peer_valid_to"})
"""Fields whose value is an ISO 8601 UTC time with milliseconds and a Z."""

STATUS = re.compile(r"16#[0-9A-F]{4}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def problems(doc: Any, where: str = "") -> list[str]:
    """Everything in one JSON document that speaks another dialect than the shared one: a
    synonym or an unlisted field name, a STATUS not as 16#xxxx, a STATUS sequence that is
    not a list, a time that is not ISO 8601 UTC. Each problem names its place (``where.a.b``).
    The user's own names (a data block's ``values``) are not looked into."""
    found: list[str] = []

    def status_ok(value: Any) -> bool:
        if isinstance(value, list):
            return all(isinstance(v, str) and STATUS.fullmatch(v) for v in value)
        return value is None or (isinstance(value, str) and bool(STATUS.fullmatch(value)))

    def walk(node: Any, trail: str) -> None:
        if isinstance(node, str) and "→" in node:
            found.append(f"{trail}: an arrow-joined sequence in JSON: {node!r}")
        if isinstance(node, list):
            for item in node:
                walk(item, trail + "[]")
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            here = f"{trail}.{key}"
            if key in SYNONYMS:
                found.append(f"{here}: say {SYNONYMS[key]!r}")
            elif key not in FIELDS:
                found.append(f"{here}: not in the shared field list (ouc/cli/_vocabulary.py)")
            if key in STATUS_FIELDS and not status_ok(value):
                found.append(f"{here}: STATUS not as 16#xxxx: {value!r}")
            if key in TIME_FIELDS and not (value is None or ISO.fullmatch(str(value))):
                found.append(f"{here}: not an ISO 8601 UTC time: {value!r}")
            if key == "sequences":
                if not isinstance(value, dict):
                    found.append(f"{here}: not block -> list of 16#xxxx: {value!r}")
                elif not all(isinstance(v, list) for v in value.values()):
                    found.append(f"{here}: a STATUS sequence that is not a list")
                elif not all(map(status_ok, value.values())):
                    found.append(f"{here}: not block -> list of 16#xxxx: {value!r}")
                continue
            if key != "values":  # the user's own variable names inside
                walk(value, here)

    walk(doc, where)
    return found
