"""A channel connection's settings: its block and initial control values, and block variants.

:class:`ChannelConnection` names one connection of a channel and the control values it starts
with. A channel connection is the active side of a TCP connection (the PC connects to the PLC),
so its block is a ``TCON_IP_v4``/``TCON_IP_V4_SEC`` or ``TCON_QDN``/``TCON_QDN_SEC`` with
ActiveEstablished TRUE. A connection change (domain.md §8) connects the same block to another
address: :func:`with_remote` derives that block (a QDN block becomes an IPv4 block for an IP
address); :func:`without_tls` derives the plain block used when a change cannot be secured and
the user explicitly allowed that. Pure data, no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ouc.certs import DeviceCertStore
from ouc.channel._address import AlternativeAddress
from ouc.channel._state import (
    ALTERNATIVE_ADDRESS,
    FORCE_CONNECTION_STATE,
    USE_ALTERNATIVE_ADDRESS,
    parse_flag,
    tag_name,
)
from ouc.device import Role
from ouc.errors import ConfigError
from ouc.params import Block, Protocol, TconIpV4, TconIpV4Sec, TconQdn, TconQdnSec

__all__ = [
    "ChannelBlock",
    "ChannelConnection",
    "check_channel_block",
    "with_remote",
    "without_tls",
]

ChannelBlock = TconIpV4 | TconIpV4Sec | TconQdn | TconQdnSec


def check_channel_block(block: Block, where: str = "block") -> ChannelBlock:
    """``block`` when a channel connection can use it, else a ConfigError saying why."""
    if not isinstance(block, TconIpV4 | TconIpV4Sec | TconQdn | TconQdnSec):
        raise ConfigError(
            f"a channel connection needs a TCON_IP_V4[_SEC] or TCON_QDN[_SEC] block, "
            f"not {block.type_name}",
            path=where,
        )
    if block.role is not Role.ACTIVE:
        raise ConfigError(
            "the channel connects to the PLC: the block needs ActiveEstablished TRUE",
            path=f"{where}: ActiveEstablished",
        )
    if block.protocol is not Protocol.TCP:
        raise ConfigError(
            "a channel connection runs over TCP (ConnectionType 11)",
            path=f"{where}: ConnectionType",
        )
    return block


def with_remote(
    block: ChannelBlock, address: str | None = None, port: int | None = None
) -> ChannelBlock:
    """The block with RemoteAddress ``address`` and/or RemotePort ``port`` replaced.

    A ``TCON_QDN[_SEC]`` block given an address becomes the ``TCON_IP_V4[_SEC]`` block with the
    same fields: the alternative CPU is named by its IP address.
    """
    para = block.ConnPara if isinstance(block, TconIpV4Sec | TconQdnSec) else block
    remote_port = para.RemotePort if port is None else port
    new_para: TconIpV4 | TconQdn
    if address is not None and isinstance(para, TconQdn):
        new_para = TconIpV4(
            InterfaceId=para.InterfaceId,
            ID=para.ID,
            ConnectionType=para.ConnectionType,
            ActiveEstablished=para.ActiveEstablished,
            RemoteAddress=address,
            RemotePort=remote_port,
            LocalPort=para.LocalPort,
        )
    elif address is not None:
        assert isinstance(para, TconIpV4)
        new_para = dataclasses.replace(para, RemoteAddress=address, RemotePort=remote_port)
    else:
        new_para = dataclasses.replace(para, RemotePort=remote_port)
    if not isinstance(block, TconIpV4Sec | TconQdnSec):
        return new_para
    if isinstance(block, TconQdnSec) and isinstance(new_para, TconQdn):
        return dataclasses.replace(block, ConnPara=new_para)
    assert isinstance(new_para, TconIpV4)
    if isinstance(block, TconIpV4Sec):
        return dataclasses.replace(block, ConnPara=new_para)
    return TconIpV4Sec(
        ConnPara=new_para,
        ActivateSecureConn=block.ActivateSecureConn,
        TLSServerReqClientCert=block.TLSServerReqClientCert,
        ExtTLSCapabilities=block.ExtTLSCapabilities,
        TLSServerCertRef=block.TLSServerCertRef,
        TLSClientCertRef=block.TLSClientCertRef,
    )


def without_tls(block: ChannelBlock) -> ChannelBlock:
    """The block with ActivateSecureConn FALSE (plain TCP); a plain block as it is."""
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        return dataclasses.replace(block, ActivateSecureConn=False)
    return block


@dataclass(frozen=True)
class ChannelConnection:
    """One named connection of a channel and the start values of its control tags.

    Each of the three control tags (``@<name>@ForceConnectionState``,
    ``@<name>@UseAlternativeAddress``, ``@<name>@AlternativeAddress``) needs a start value, as
    in WinCC (domain.md §8): a connection missing one is refused with a ConfigError naming the
    connection and the tag.

    Args:
        name: the connection's name (what tag names, ``set`` and ``status`` use).
        block: the CONNECT block: TCON_IP_V4[_SEC] or TCON_QDN[_SEC], ActiveEstablished TRUE.
        device_store: this connection's device certificate store (a folder or an open store);
            None uses the channel's.
        alternative_address: the start value of AlternativeAddress (text or parsed; "" for
            none).
        use_alternative: the start value of UseAlternativeAddress (True/False or 1/0).
        force: the start value of ForceConnectionState (True/1: connect when the channel
            starts).
        receive_len: TRCV_C LEN for :meth:`Channel.receive`; None receives ad hoc.
    """

    name: str
    block: Block
    device_store: DeviceCertStore | str | Path | None = None
    alternative_address: AlternativeAddress | str | None = None
    use_alternative: bool | None = None
    force: bool | None = None
    receive_len: int | None = None

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name.strip()
            or self.name != self.name.strip()
        ):
            raise ConfigError(f"connection name {self.name!r} is empty or padded", path="name")
        check_channel_block(self.block, f"{self.name}.block")
        missing = [
            tag_name(self.name, variable)
            for variable, value in (
                (FORCE_CONNECTION_STATE, self.force),
                (USE_ALTERNATIVE_ADDRESS, self.use_alternative),
                (ALTERNATIVE_ADDRESS, self.alternative_address),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(
                f"connection {self.name!r} has no start value for {' and '.join(missing)}: "
                "each control tag needs one (ForceConnectionState and UseAlternativeAddress "
                "1 or 0, AlternativeAddress text or '' for none)",
                path=missing[0],
            )
        for variable, attribute in (
            (FORCE_CONNECTION_STATE, "force"),
            (USE_ALTERNATIVE_ADDRESS, "use_alternative"),
        ):
            flag = parse_flag(getattr(self, attribute), tag_name(self.name, variable))
            object.__setattr__(self, attribute, flag)
        if isinstance(self.alternative_address, str):
            parsed = AlternativeAddress.parse(self.alternative_address)
            object.__setattr__(self, "alternative_address", "" if parsed is None else parsed)

    @property
    def alternative(self) -> AlternativeAddress | None:
        """The parsed start value of AlternativeAddress (None: empty)."""
        value = self.alternative_address
        return value if isinstance(value, AlternativeAddress) else None
