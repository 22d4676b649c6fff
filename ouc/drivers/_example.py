"""The standard example (domain.md §1) as two ready endpoints on loopback.

Server PLC_1 (192.168.0.1, passive, port 2000, certificate 9) and client PLC_2 (192.168.0.2,
active, certificate 11), both trusting CA 3, run on this host through an address map: the server
listens on 127.0.0.1 (a free port, entered into the map once bound) and the client binds
127.0.0.2, so the server's partner check sees the plant address 192.168.0.2 it expects. The
client's SAN check still uses 192.168.0.1, which is what certificate 9 carries. ``ouc demo``,
the tests and the pytest fixtures build on this.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ouc.certs import (
    CLIENT_DEVICE,
    SERVER_DEVICE,
    CertStore,
    PrivateKey,
    build_standard_example,
)
from ouc.certs._atomic import write_atomic
from ouc.db import Layout, parse_scl
from ouc.device import Device
from ouc.drivers._setup import AddressMap, Clock, EndpointSpec, system_clock
from ouc.errors import StoreError
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER

__all__ = [
    "CLIENT_IP",
    "LOOPBACK_MAP",
    "RECEIVED_DATA_SCL",
    "SEND_DATA_SCL",
    "SERVER_IP",
    "ExamplePem",
    "ExampleSetup",
    "example_pem",
    "example_store",
    "received_data_layout",
    "send_data_layout",
    "standard_example",
]

SERVER_IP = "192.168.0.1"
CLIENT_IP = "192.168.0.2"

#: The example's plant addresses on loopback: the server on 127.0.0.1 (port 0: any free port,
#: entered into the map when it is bound), the client on 127.0.0.2.
LOOPBACK_MAP = ("192.168.0.1:2000=127.0.0.1:0", "192.168.0.2=127.0.0.2")

#: The client's ``Send_Data`` block (domain.md §1, ``samples/send_data.scl``): 258 bytes.
SEND_DATA_SCL = "Var1 : Bool := TRUE;\nVar2 : String := 'Hello World!';\n"
#: The server's ``Received_Data`` block: the same layout without start values.
RECEIVED_DATA_SCL = "Var1 : Bool;\nVar2 : String;\n"


def send_data_layout() -> Layout:
    """``Send_Data {Var1 : Bool := TRUE; Var2 : String := 'Hello World!'}`` (258 bytes)."""
    return parse_scl(SEND_DATA_SCL, "Send_Data")


def received_data_layout() -> Layout:
    """``Received_Data {Var1 : Bool; Var2 : String}`` (258 bytes)."""
    return parse_scl(RECEIVED_DATA_SCL, "Received_Data")


@dataclass(frozen=True)
class ExampleSetup:
    """The two endpoint setups of the standard example and the map that joins them.

    Attributes:
        store: the certificate store holding CA 3, server certificate 9, client certificate 11.
        server: PLC_1's passive endpoint (``PassiveEndpoint(setup.server, address_map=...)``).
        client: PLC_2's active endpoint (``ActiveEndpoint(setup.client, address_map=...)``).
        address_map: a fresh map for this pair (the server enters its real port into it).
    """

    store: CertStore
    server: EndpointSpec
    client: EndpointSpec
    address_map: AddressMap


def example_store(
    path: str | os.PathLike[str],
    *,
    now: dt.datetime,
    default_ca_keys: tuple[PrivateKey, PrivateKey] | None = None,
) -> CertStore:
    """Create a store at ``path`` with the standard example's certificates (CA 3, 9, 11).

    ``default_ca_keys`` (two RSA-2048 keys) skips generating the default CAs' keys, the slow
    part, for tests that make many stores.
    """
    store = CertStore.init(Path(path), now=now, default_ca_keys=default_ca_keys)
    build_standard_example(store, now=now)
    return store


@dataclass(frozen=True)
class ExamplePem:
    """The example's certificates as PEM files, for other TLS stacks (openssl, ``ssl``)."""

    ca: Path  # CA 3
    server_cert: Path  # 9, PLC_1
    server_key: Path
    client_cert: Path  # 11, PLC_2
    client_key: Path


def example_pem(store: CertStore, folder: str | os.PathLike[str]) -> ExamplePem:
    """Write CA 3, certificate 9 and 11 with their keys (unencrypted, mode 0600) to ``folder``."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)

    def cert(cert_id: int) -> Path:
        path = target / f"cert{cert_id}.pem"
        path.write_bytes(store.certificate(cert_id).public_bytes(serialization.Encoding.PEM))
        return path

    def key(cert_id: int) -> Path:
        private = store.private_key(cert_id)
        if private is None:
            raise StoreError(f"certificate {cert_id} has no private key", path=str(store.path))
        path = target / f"key{cert_id}.pem"
        # Written to a new 0600 file and renamed over: never readable by others, not even
        # for a moment, whatever mode a file already there had.
        secret = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_atomic(path, secret, mode=0o600)
        return path

    return ExamplePem(cert(3), cert(9), key(9), cert(11), key(11))


def standard_example(
    store: CertStore,
    *,
    clock: Clock = system_clock,
    receive_len: int = 258,
    adhoc: bool = False,
    server_options: Mapping[str, Any] | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> ExampleSetup:
    """The example's two endpoint setups over ``store`` (which holds the example).

    Args:
        store: e.g. from :func:`example_store`.
        clock: the emulated PLC clock of both devices.
        receive_len / adhoc: TRCV_C LEN and ADHOC of both sides (258: ``Send_Data``).
        server_options / client_options: further :meth:`EndpointSpec.from_block` arguments
            (``profile``, ``idle_timeout``, ``keylog_file``, ...); they override the above.

    Raises:
        OucError: the store lacks the example's certificates (16#80ED, ...).
    """
    common: dict[str, Any] = {"receive_len": receive_len, "adhoc": adhoc, "clock": clock}
    server = EndpointSpec.from_block(
        STANDARD_SERVER,
        store=store,
        device=Device(name=SERVER_DEVICE, own_addresses=(SERVER_IP,)),
        device_name=SERVER_DEVICE,
        **{**common, **(server_options or {})},
    )
    client = EndpointSpec.from_block(
        STANDARD_CLIENT,
        store=store,
        device=Device(name=CLIENT_DEVICE, own_addresses=(CLIENT_IP,)),
        device_name=CLIENT_DEVICE,
        **{**common, **(client_options or {})},
    )
    return ExampleSetup(store, server, client, AddressMap.parse(list(LOOPBACK_MAP)))
