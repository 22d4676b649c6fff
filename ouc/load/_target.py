"""What a load run connects to and as whom, as a picklable recipe (every process builds its own).

The defaults are those of ``ouc connect``: the standard client block (TSEND_C side, the example's
``PLC_2``: TLSServerCertRef 3 validates the server, TLSClientCertRef 11 is the client
certificate), the store in ``./ouc-store``. So ``ouc load HOST:PORT`` presents the client
certificate the block names, as a PLC would, and a mutual-TLS peer accepts it.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ouc.certs import CLIENT_DEVICE, CertStore
from ouc.device import Device, Role
from ouc.drivers import EndpointSpec
from ouc.errors import ConfigError
from ouc.load._client import Target
from ouc.params import STANDARD_CLIENT, Block, load

__all__ = ["STORE_PASSWORD_ENV", "TargetRecipe", "parse_target"]

STORE_PASSWORD_ENV = "OUC_STORE_PASSWORD"


def parse_target(text: str, option: str = "HOST:PORT") -> tuple[str, int]:
    """``"192.168.0.1:2000"`` / ``"plc.example.:2000"`` / ``"[::1]:2000"`` → (host, port).

    Raises:
        ConfigError: not HOST:PORT, or the port is outside 1..65535.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text:
        raise ConfigError(f"{text!r} is not HOST:PORT", path=option)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ConfigError(f"{host!r} is not an IPv6 address", path=option) from exc
    elif ":" in host:
        raise ConfigError(f"{text!r}: write an IPv6 address as [ADDR]:PORT", path=option)
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ConfigError(f"port {port_text!r} is not a number", path=option) from exc
    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port} is outside 1..65535", path=option)
    return host, port


@dataclass(frozen=True)
class TargetRecipe:
    """Everything a process needs to build the :class:`Target` (TLS contexts do not pickle).

    Attributes:
        host / port: the peer.
        store: certificate store directory (needed for a secure block).
        block: CONNECT block file (JSON or binary) or the block itself (the command line reads
            ``-`` from stdin once, for every process), None = the standard client block.
        device: whose certificate assignments count, None = the standard client ``PLC_2``.
        family / firmware: the emulated CPU (decides TLS 1.2 / 1.3), None = S7-1500 V3.1.
        own_ip: the device's own plant addresses.
        bind: local (address, port) to connect from, None = the system's choice.
        insecure: do not verify the peer (explicit; the CLI says so loudly).
        profile: TLS profile of the engine (``compatible`` or ``strict``).
        timeout: seconds for each connect, handshake, reply and verdict.
    """

    host: str
    port: int
    store: str | None = "ouc-store"
    block: str | Block | None = None
    device: str | None = None
    family: str | None = None
    firmware: str | None = None
    own_ip: tuple[str, ...] = ()
    bind: tuple[str, int] | None = None
    insecure: bool = False
    profile: str = "compatible"
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 3600:
            raise ConfigError(f"{self.timeout} s is outside (0, 3600]", path="--timeout")

    def device_model(self) -> Device:
        name = self.device or CLIENT_DEVICE
        if self.family is None and self.firmware is None:
            return Device(name=name, own_addresses=self.own_ip)
        family = self.family or "S7-1500"
        firmware = self.firmware or ("V4.6" if "1200" in family else "V3.1")
        return Device.from_text(family, firmware, name=name, own_addresses=self.own_ip)

    def build(self) -> Target:
        """The target: block loaded, store opened, TLS context built once.

        Raises:
            OucError: the block, the store or the certificate IDs do not resolve (16#80ED, ...).
        """
        block = self.block if self.block is not None else STANDARD_CLIENT
        if isinstance(block, str):
            block = load(block)
        if block.role is not Role.ACTIVE:
            raise ConfigError(
                "the block has ActiveEstablished FALSE (the passive side): give a client block",
                path="--block",
            )
        store = None
        if block.secure:
            if self.store is None or not (Path(self.store) / "index.json").is_file():
                where = shlex.quote(self.store or "DIR")
                raise ConfigError(
                    f"no certificate store at {self.store}: the block is secure and names its "
                    f"certificates by ID; create one with 'ouc certs init --store {where}', or "
                    f"get the standard example's with 'ouc demo --keep-store {where}'",
                    path="--store",
                )
            store = CertStore(Path(self.store), password=os.environ.get(STORE_PASSWORD_ENV))
        device = self.device_model()
        spec = EndpointSpec.from_block(
            block,
            store=store,
            device=device,
            device_name=device.name,
            profile=self.profile,
            insecure=self.insecure,
            keylog=False,  # an SSLKEYLOGFILE left in the environment must not cost time here
            handshake_timeout=self.timeout,
        )
        return Target(
            host=self.host,
            port=self.port,
            spec=spec,
            peer_address=block.remote_address or block.remote_qdn or self.host,
            bind=self.bind,
            timeout=self.timeout,
        )
