"""Shared by the drivers' socket tests: ``aio_kit`` importable (importlib mode: this folder on
sys.path), and the standard example's store made per test from CA keys made once per module."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.device import Device
from ouc.drivers import AddressMap, EndpointSpec, example_store
from ouc.params import ISO_ON_TCP_EXAMPLE

sys.path.insert(0, str(Path(__file__).parent))

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    """The standard example's store (CA 3, certificates 9 and 11), valid from an hour ago."""
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


@pytest.fixture
def iso_pair() -> tuple[EndpointSpec, EndpointSpec, AddressMap]:
    """TCON_IP_RFC (plain ISO-on-TCP): the example's passive PLC_1 and an active PLC_2 with the
    T-selectors swapped, both with a 100-byte receive area, and the address map that runs them
    on loopback."""
    client_block = dataclasses.replace(
        ISO_ON_TCP_EXAMPLE,
        ActiveEstablished=True,
        RemoteAddress="192.168.0.1",
        RemoteTSelector=ISO_ON_TCP_EXAMPLE.LocalTSelector,
        LocalTSelector=ISO_ON_TCP_EXAMPLE.RemoteTSelector,
    )
    server = EndpointSpec.from_block(
        ISO_ON_TCP_EXAMPLE,
        device=Device(name="PLC_1", own_addresses=("192.168.0.1",)),
        receive_len=100,
    )
    client = EndpointSpec.from_block(
        client_block, device=Device(name="PLC_2", own_addresses=("192.168.0.2",)), receive_len=100
    )
    address_map = AddressMap.parse(["192.168.0.1:102=127.0.0.1:0", "192.168.0.2=127.0.0.2"])
    return server, client, address_map
