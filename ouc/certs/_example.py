"""The standard example every user knows (domain.md §1), built into a store.

CA ID 3 (EC P-256, ECDSA-SHA256) issues the server PLC's certificate ID 9 (IP 192.168.0.1) and
the client PLC's certificate ID 11 (IP 192.168.0.2); device "PLC_1" (server, passive) holds 9 and
3, device "PLC_2" (client, active) holds 11 and 3. The IDs are exact because the blocks of the
example name them: the store's ``create(cert_id=...)`` claims an ID that was never used and fails
when it was, so building the example twice into one store is refused rather than renumbered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ouc.certs._create import Template
from ouc.certs._store import CertStore
from ouc.errors import StoreError

__all__ = [
    "CLIENT_DEVICE",
    "EXAMPLE_CA_ID",
    "EXAMPLE_CLIENT_ID",
    "EXAMPLE_SERVER_ID",
    "SERVER_DEVICE",
    "StandardExample",
    "build_standard_example",
]

EXAMPLE_CA_ID = 3
EXAMPLE_SERVER_ID = 9
EXAMPLE_CLIENT_ID = 11
SERVER_DEVICE = "PLC_1"
CLIENT_DEVICE = "PLC_2"


@dataclass(frozen=True)
class StandardExample:
    """The IDs and devices of the example (all fixed; returned for readability at call sites)."""

    ca_id: int = EXAMPLE_CA_ID
    server_id: int = EXAMPLE_SERVER_ID
    client_id: int = EXAMPLE_CLIENT_ID
    server_device: str = SERVER_DEVICE
    client_device: str = CLIENT_DEVICE


def build_standard_example(
    store: CertStore,
    *,
    now: dt.datetime,
    server_ip: str = "192.168.0.1",
    client_ip: str = "192.168.0.2",
    days: int = 730,
) -> StandardExample:
    """Create CA 3, server certificate 9 and client certificate 11 and assign them.

    Args:
        store: a store in which IDs 3, 9 and 11 were never used (e.g. fresh from ``init``).
        now: validity starts here (the CA for 10 years, the devices for ``days``).
        server_ip / client_ip: the SANs (the defaults are the example's addresses; tests on
            loopback pass 127.0.0.1).

    Raises:
        StoreError: one of the IDs is already used.
    """
    taken = [
        i
        for i in (EXAMPLE_CA_ID, EXAMPLE_SERVER_ID, EXAMPLE_CLIENT_ID)
        if not store.id_available(i)
    ]
    if taken:
        raise StoreError(
            f"the standard example needs IDs 3, 9 and 11; already used: {taken}",
            path=str(store.path),
        )
    store.create(
        common_name="CA 3",
        template=Template.CA,
        key_type="EC-P256",
        now=now,
        cert_id=EXAMPLE_CA_ID,
    )
    for cert_id, name, address in (
        (EXAMPLE_SERVER_ID, SERVER_DEVICE, server_ip),
        (EXAMPLE_CLIENT_ID, CLIENT_DEVICE, client_ip),
    ):
        store.create(
            common_name=name,
            template=Template.TLS_CLIENT_SERVER,
            key_type="EC-P256",
            issuer_id=EXAMPLE_CA_ID,
            ip_sans=[address],
            now=now,
            days=days,
            cert_id=cert_id,
        )
        store.assign(name, [cert_id, EXAMPLE_CA_ID])
    return StandardExample()
