"""The example blocks every user knows (domain.md §1), plus a QDN_SEC and an ISO-on-TCP one.

``STANDARD_SERVER`` and ``STANDARD_CLIENT`` are the two sides of Siemens' standard Secure OUC
example, field for field: server PLC 192.168.0.1 (passive, TRCV_C, port 2000, own certificate 9,
client CA 3), client PLC 192.168.0.2 (active, TSEND_C, server CA 3, own certificate 11). The
addresses are plant addresses; an address map elsewhere runs them on loopback.
``samples/*.json`` and ``samples/*.bin`` are these constants written out (a test keeps them equal).
"""

from __future__ import annotations

from ouc.params._types import (
    Block,
    TconIpRfc,
    TconIpV4,
    TconIpV4Sec,
    TconQdn,
    TconQdnSec,
    TSelector,
)

__all__ = ["ISO_ON_TCP_EXAMPLE", "QDN_SEC_EXAMPLE", "SAMPLES", "STANDARD_CLIENT", "STANDARD_SERVER"]

STANDARD_SERVER = TconIpV4Sec(
    ConnPara=TconIpV4(
        InterfaceId=64,
        ID=1,
        ConnectionType=11,
        ActiveEstablished=False,
        RemoteAddress="192.168.0.2",
        RemotePort=0,
        LocalPort=2000,
    ),
    ActivateSecureConn=True,
    TLSServerReqClientCert=True,
    ExtTLSCapabilities=0,
    TLSServerCertRef=9,
    TLSClientCertRef=3,
)
"""The passive side (TLS server, TRCV_C) of the standard example, on PLC 192.168.0.1."""

STANDARD_CLIENT = TconIpV4Sec(
    ConnPara=TconIpV4(
        InterfaceId=64,
        ID=1,
        ConnectionType=11,
        ActiveEstablished=True,
        RemoteAddress="192.168.0.1",
        RemotePort=2000,
        LocalPort=0,
    ),
    ActivateSecureConn=True,
    TLSServerReqClientCert=False,
    ExtTLSCapabilities=0,
    TLSServerCertRef=3,
    TLSClientCertRef=11,
)
"""The active side (TLS client, TSEND_C) of the standard example, on PLC 192.168.0.2."""

QDN_SEC_EXAMPLE = TconQdnSec(
    ConnPara=TconQdn(
        InterfaceId=64,
        ID=2,
        ConnectionType=11,
        ActiveEstablished=True,
        RemoteQDN="plc-1.plant.example.",
        RemotePort=2000,
        LocalPort=0,
    ),
    ActivateSecureConn=True,
    TLSServerReqClientCert=False,
    ExtTLSCapabilities=0x0001,
    TLSServerCertRef=3,
    TLSClientCertRef=11,
)
"""An active secure connection to a partner named by DNS, checking the server's subjectAltName
(ExtTLSCapabilities bit 0) against the name, with the standard example's certificate IDs."""

ISO_ON_TCP_EXAMPLE = TconIpRfc(
    InterfaceId=64,
    ID=3,
    ConnectionType=12,
    ActiveEstablished=False,
    RemoteAddress="192.168.0.2",
    RemoteTSelector=TSelector.of("OUC-CLI"),
    LocalTSelector=TSelector.of("OUC-SRV"),
)
"""A passive ISO-on-TCP (RFC 1006) connection on PLC 192.168.0.1 with ASCII TSAPs: it accepts
192.168.0.2 calling TSAP 'OUC-SRV' from its own TSAP 'OUC-CLI'. Never secure."""

SAMPLES: dict[str, Block] = {
    "standard_server": STANDARD_SERVER,
    "standard_client": STANDARD_CLIENT,
    "qdn_sec": QDN_SEC_EXAMPLE,
    "iso_on_tcp": ISO_ON_TCP_EXAMPLE,
}
"""File stem under ``samples/`` → block."""
