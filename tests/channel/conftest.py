"""The plant of the channel scenarios: a project store, mock PLCs on loopback, a channel.

Plant addresses (domain.md §1 and §8) run on this host through one shared address map:
PLC1 192.168.0.1 → 127.0.0.1, PLC2 (the alternative CPU) 192.168.0.3 → 127.0.0.3, the PC
192.168.0.10 → 127.0.0.5 (so the PLCs' partner check sees the PC's plant address). The PLCs
listen on ports the kernel picks and enter them into the map. Certificates are made per test
(EC P-256, fast); the default CAs' RSA keys are shared by the test run. Every wait is bounded
(``Channel.wait_for``, ``RecordLog.wait_for``, receive timeouts); nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ouc.certs import CertStore, DeviceCertStore, PrivateKey, Template, generate_key
from ouc.certs import build_standard_example as _build_example
from ouc.channel import Channel, ChannelConnection, TrustedCAs
from ouc.conn import FrameReceived
from ouc.device import Device
from ouc.drivers import (
    AddressMap,
    EndpointSpec,
    PassiveEndpoint,
    PeerContext,
    RecordLog,
    system_clock,
)
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER, TconIpV4Sec, dump_json

WAIT = 10.0  # seconds: the bound of every wait (generous for a loaded 2-core machine)
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)

PC_IP = "192.168.0.10"
PLC1_IP = "192.168.0.1"
PLC2_IP = "192.168.0.3"
PORT = 2000
LOOPBACK = {PC_IP: "127.0.0.5", PLC1_IP: "127.0.0.1", PLC2_IP: "127.0.0.3"}
ALTERNATIVE = f"AccessPoint=S7ONLINE; IPAddress={PLC2_IP};"
CA_ID = 3  # the standard example's CA: the "known" CA once imported


class ManualClock:
    """The channel's clock, moved by the test (certificates are checked against it)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


class Plant:
    """The project store, the shared address map, the mock PLCs and the channels of one test.

    The module's constants are attributes too (``plant.PLC2_IP``): in importlib mode test
    modules cannot import this conftest.
    """

    PC_IP = PC_IP
    PLC1_IP = PLC1_IP
    PLC2_IP = PLC2_IP
    PORT = PORT
    ALTERNATIVE = ALTERNATIVE
    CA_ID = CA_ID
    WAIT = WAIT
    NOW = NOW

    def __init__(self, tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> None:
        self.tmp_path = tmp_path
        self.store = CertStore.init(tmp_path / "project", now=NOW, default_ca_keys=ca_keys)
        _build_example(self.store, now=NOW)  # CA 3 and PLC_1's certificate 9 (192.168.0.1)
        self.map = AddressMap.parse(
            [f"{PC_IP}={LOOPBACK[PC_IP]}"]
            + [f"{ip}:{PORT}={LOOPBACK[ip]}:0" for ip in (PLC1_IP, PLC2_IP)]
        )
        self.device_store = DeviceCertStore(tmp_path / "device-certificate-store")
        self.trust = TrustedCAs()
        self.clock = ManualClock(dt.datetime.now(dt.UTC))
        self.hmi_id = self.store.create(
            common_name="HMI_1",
            template=Template.TLS_CLIENT_SERVER,
            issuer_id=CA_ID,
            ip_sans=[PC_IP],
            now=NOW,
            days=3650,
        )
        self.store.assign("HMI_1", [self.hmi_id])
        self._other_ca: int | None = None
        self.plcs: list[PassiveEndpoint] = []
        self.channels: list[Channel] = []

    # -- certificates --------------------------------------------------------------------------

    def other_ca(self) -> int:
        """A CA of the project that the channel has not imported (the "unknown CA")."""
        if self._other_ca is None:
            self._other_ca = self.store.create(
                common_name="Other CA", template=Template.CA, now=NOW
            )
        return self._other_ca

    def plc_cert(self, name: str, ip: str, kind: str, *, days: int = 730) -> int:
        """A server certificate for PLC ``name``: ``self-signed``, ``known-ca`` (CA 3) or
        ``unknown-ca``; assigned to the device with its CA."""
        issuer = {"self-signed": None, "known-ca": CA_ID, "unknown-ca": -1}[kind]
        if issuer == -1:
            issuer = self.other_ca()
        cert_id = self.store.create(
            common_name=name,
            template=Template.TLS_CLIENT_SERVER,
            issuer_id=issuer,
            ip_sans=[ip],
            now=NOW,
            days=days,
        )
        self.store.assign(name, [cert_id, CA_ID])
        return cert_id

    def cert(self, cert_id: int) -> x509.Certificate:
        return self.store.certificate(cert_id)

    def import_known_ca(self) -> None:
        self.trust.import_ca(self.cert(CA_ID))

    # -- PLCs ----------------------------------------------------------------------------------

    def start_plc(
        self,
        name: str,
        ip: str,
        cert_id: int | None,
        *,
        cpu: Device | None = None,
        require_client_cert: bool = False,
        client_ca: int | None = None,
        answer: bytes | None = None,
        log: RecordLog | None = None,
        seen: list[bytes | None] | None = None,
        listen: tuple[str, int] | None = None,
    ) -> PassiveEndpoint:
        """A passive mock PLC (TRCV_C) at plant ``ip``:2000 accepting the PC only.

        ``cert_id`` None makes it plain TCP. It answers each frame with ``answer`` (default:
        an echo); ``seen`` collects the client certificate (DER) of each frame's connection.
        ``client_ca``: with ``require_client_cert``, the CA the PC's certificate must come from
        (default CA 3, the CA of HMI_1's certificate).
        """
        if client_ca is not None:
            self.store.assign(name, [client_ca])
        block = dataclasses.replace(
            STANDARD_SERVER,
            ConnPara=dataclasses.replace(STANDARD_SERVER.ConnPara, RemoteAddress=PC_IP),
            ActivateSecureConn=cert_id is not None,
            TLSServerReqClientCert=require_client_cert,
            TLSServerCertRef=cert_id or 0,
            TLSClientCertRef=(client_ca or CA_ID) if require_client_cert else 0,
        )
        device = cpu or Device()
        spec = EndpointSpec.from_block(
            block,
            store=self.store,
            device=Device(
                family=device.family, firmware=device.firmware, name=name, own_addresses=(ip,)
            ),
            device_name=name,
            clock=system_clock,
        )

        def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes:
            if seen is not None:
                info = peer.connection.info
                seen.append(None if info is None else info.peer_cert_der)
            return frame.data if answer is None else answer

        plc = PassiveEndpoint(
            spec, behaviour=behaviour, address_map=self.map, listen=listen, on_event=log
        )
        plc.start()
        self.plcs.append(plc)
        return plc

    # -- the channel ---------------------------------------------------------------------------

    def connection(
        self,
        name: str = "PLC1",
        *,
        force: bool = True,
        use_alternative: bool = False,
        alternative_address: str = "",
        **options: Any,
    ) -> ChannelConnection:
        """A connection to PLC1 with the start values of its three control tags."""
        return ChannelConnection(
            name,
            options.pop("block", None) or self.block(),
            force=force,
            use_alternative=use_alternative,
            alternative_address=alternative_address,
            **options,
        )

    def block(
        self, ip: str = PLC1_IP, *, own_cert: bool = True, secure: bool = True
    ) -> TconIpV4Sec:
        """The channel's active block to ``ip``:2000 (own client certificate HMI_1)."""
        return dataclasses.replace(
            STANDARD_CLIENT,  # the standard example's client block, pointed at the PLC
            ConnPara=dataclasses.replace(STANDARD_CLIENT.ConnPara, RemoteAddress=ip),
            ActivateSecureConn=secure,
            TLSServerCertRef=0,
            TLSClientCertRef=self.hmi_id if own_cert else 0,
        )

    def channel(
        self, *connections: ChannelConnection, start: bool = True, **options: Any
    ) -> Channel:
        """A channel over this plant (fast retries), closed at the end of the test."""
        settings: dict[str, Any] = {
            "device_store": self.device_store,
            "trust": self.trust,
            "project_store": self.store,
            "device": Device(name="HMI_1", own_addresses=(PC_IP,)),
            "address_map": self.map,
            "clock": self.clock,
            "retry_delay": 0.05,
            "max_retry_delay": 0.2,
        }
        channel = Channel(connections or [self.connection()], **{**settings, **options})
        self.channels.append(channel)
        return channel.start() if start else channel

    def write_config(self, folder: Path, *, suffix: str = ".toml") -> Path:
        """A channel configuration file for PLC1 (start it first: its real port goes into the
        map), in TOML or JSON; the block and CA 3 are written next to it. The TOML file gives
        the start values by tag name under [tags], the JSON file by the older keys."""
        (folder / "plc1.json").write_text(dump_json(self.block()))
        (folder / "ca3.pem").write_bytes(self.cert(CA_ID).public_bytes(Encoding.PEM))
        host, port = self.plcs[0].address
        doc: dict[str, Any] = {
            "device": "HMI_1",
            "own_address": PC_IP,
            "device_store": "dcs",
            "project_store": str(self.store.path),
            "cas": ["ca3.pem"],
            "map": [f"{PLC1_IP}:{PORT}={host}:{port}", f"{PC_IP}={LOOPBACK[PC_IP]}"],
            "cpus": {PLC2_IP: "S7-1500 V2.8"},
            "retry_delay": 0.05,
            "max_retry_delay": 0.2,
        }
        alternative = ALTERNATIVE.rstrip(";")
        path = folder / f"channel{suffix}"
        if suffix == ".toml":
            lines = [f"{key} = {json.dumps(value)}" for key, value in doc.items() if key != "cpus"]
            lines.append(f'cpus = {{ "{PLC2_IP}" = "S7-1500 V2.8" }}')
            lines += ["[connections.PLC1]", 'block = "plc1.json"', "[tags]"]
            lines.append('"@PLC1@ForceConnectionState" = 1')
            lines.append('"@PLC1@UseAlternativeAddress" = 0')
            lines.append(f'"@PLC1@AlternativeAddress" = {json.dumps(alternative)}')
            path.write_text("\n".join(lines) + "\n")
        else:
            doc["connections"] = [
                {
                    "name": "PLC1",
                    "block": "plc1.json",
                    "force": True,
                    "use_alternative": 0,
                    "alternative_address": alternative,
                }
            ]
            path.write_text(json.dumps(doc))
        return path

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        for plc in self.plcs:
            plc.stop()


@pytest.fixture(scope="session")
def ca_keys() -> tuple[PrivateKey, PrivateKey]:
    return generate_key("RSA-2048"), generate_key("RSA-2048")


@pytest.fixture
def plant(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> Iterator[Plant]:
    plant = Plant(tmp_path, ca_keys)
    try:
        yield plant
    finally:
        plant.close()
