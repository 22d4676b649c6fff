"""The PC side: a Secure OUC client on a PC, applying WinCC's certificate and change rules.

A channel holds named Secure OUC connections (TLS on TCP, the PC active, TSEND_C/TRCV_C
semantics) from one PC to many PLCs and applies the rules the WinCC note "Secure PLC
Communication with TLS Protocol" gives for WinCC's S7-1200/S7-1500 channel: its certificate
store, manual trust, certificate lifetime and connection change (domain.md §8). It is not an
emulation of WinCC or of S7 communication: WinCC's own channel speaks STEP 7 "Secure
Communication", a different protocol that ouc does not implement.

Layer 3½, above the drivers. The pieces:

- :class:`Link`: the sans-I/O core of one connection — its state, control tags, change rules,
  trust decisions and retry timer, driven by events with ``now``, answering what to do
  (:class:`Connect` to X, :class:`Drop`, :class:`Wait` until T, :class:`Stop`); the rules all
  links share are a :class:`LinkRules`. A runner of your own (asyncio, say) can drive it.
- :class:`Channel`: the thin threaded runner around the links, on the blocking driver;
  :class:`ChannelConnection` names a connection and the start values of its control tags
  (``@<connection>@ForceConnectionState``, ``…@AlternativeAddress``,
  ``…@UseAlternativeAddress``); :class:`ChannelRow` / :class:`ChannelEvent` report.
- :class:`TrustedCAs` (the PC's imported CAs), :class:`CertSnapshot` (what the channel loaded
  at its start) and :class:`ChannelVerifier`: manual trust through the device certificate
  store (:class:`ouc.certs.DeviceCertStore`), CRLs in ``trusted/crl/``.
- :class:`AlternativeAddress`: the ``AccessPoint=abc; IPAddress=111.111.111.111;`` text.
- :class:`ChannelConfig`: the JSON/TOML file of ``ouc channel run``; :class:`ControlServer` and
  :func:`control_request`: its control socket (``ouc channel set`` / ``restart`` / ``status``).
"""

from ouc.channel._address import AlternativeAddress
from ouc.channel._cas import TrustedCAs
from ouc.channel._channel import Channel
from ouc.channel._config import ChannelConfig, cpu_profile
from ouc.channel._control import ControlServer, control_request
from ouc.channel._link import Connect, Drop, Link, LinkRules, Stop, Wait
from ouc.channel._settings import ChannelConnection
from ouc.channel._state import (
    ALTERNATIVE_ADDRESS,
    FORCE_CONNECTION_STATE,
    USE_ALTERNATIVE_ADDRESS,
    VARIABLES,
    ChannelEvent,
    ChannelRow,
    LinkState,
    format_table,
)
from ouc.channel._trust import CertSnapshot, ChannelVerifier, client_identity

__all__ = [
    "ALTERNATIVE_ADDRESS",
    "FORCE_CONNECTION_STATE",
    "USE_ALTERNATIVE_ADDRESS",
    "VARIABLES",
    "AlternativeAddress",
    "CertSnapshot",
    "Channel",
    "ChannelConfig",
    "ChannelConnection",
    "ChannelEvent",
    "ChannelRow",
    "ChannelVerifier",
    "Connect",
    "ControlServer",
    "Drop",
    "Link",
    "LinkRules",
    "LinkState",
    "Stop",
    "TrustedCAs",
    "Wait",
    "client_identity",
    "control_request",
    "cpu_profile",
    "format_table",
]
