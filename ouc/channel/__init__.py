"""The PC side: a WinCC-style channel holding secure connections to many PLCs (domain.md §8).

Layer 3, on the blocking driver. The pieces:

- :class:`Channel` and :class:`ChannelConnection`: named connections from parameter blocks,
  controlled through ``ForceConnectionState``, ``AlternativeAddress`` and
  ``UseAlternativeAddress`` (:meth:`Channel.set`), reported as :class:`ChannelRow` rows.
- :class:`TrustedCAs` (the PC's imported CAs) and :class:`ChannelVerifier`: manual trust through
  the device certificate store (:class:`ouc.certs.DeviceCertStore`), CRLs in ``trusted/crl/``.
- :class:`AlternativeAddress`: the ``AccessPoint=abc; IPAddress=111.111.111.111;`` text.
- :class:`ChannelConfig`: the JSON/TOML file of ``ouc channel run``; :class:`ControlServer` and
  :func:`control_request`: its control socket (``ouc channel set`` / ``status``).
"""

from ouc.channel._address import AlternativeAddress
from ouc.channel._cas import TrustedCAs
from ouc.channel._channel import Channel
from ouc.channel._config import ChannelConfig, cpu_profile
from ouc.channel._control import ControlServer, control_request
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
    "ControlServer",
    "LinkState",
    "TrustedCAs",
    "client_identity",
    "control_request",
    "cpu_profile",
    "format_table",
]
