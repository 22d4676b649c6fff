"""Drivers: the blocking (threads) and asyncio endpoints that move bytes for the sans-I/O core.

Layer 3: the only place (with the CLI) that touches sockets, threads, asyncio and the clock.

- :class:`EndpointSpec`: an endpoint's setup from its CONNECT block (TLS context built once).
- :class:`PassiveEndpoint` (TRCV_C, TLS server) and :class:`ActiveEndpoint` (TSEND_C, TLS
  client): the blocking driver, one thread per served connection.
- :class:`AsyncPassiveEndpoint` and :class:`AsyncActiveEndpoint`: the asyncio driver, one
  ``asyncio.Protocol`` per connection feeding the same core (no asyncio SSL streams).
- :class:`AddressMap`: plant addresses (192.168.0.1) on loopback; behaviours :func:`echo`,
  :func:`reply`, :func:`receive_only`, :func:`callback`.
- :class:`CertReload`: certificates renewed in the store reach a running endpoint (live from
  firmware V3.1, else at :meth:`EndpointSpec.reload_certificates`, the download).
- :class:`KeepAlive`: TCP keep-alive of an endpoint's sockets (on by default, 30 s idle).
- :class:`EndpointRecord`: one line of an endpoint's event/status log (``on_event``).
- :func:`standard_example`: the standard example's two endpoints on loopback (``ouc demo``).
- The PLC program's controls on every endpoint — CONT (``connect``/``disconnect`` or
  ``set_cont``), REQ (``send``), EN_R (``enable_receive``), COM_RST (``com_rst``) and the CPU's
  STOP/RUN (``cpu_stop``/``cpu_run``) — and :class:`PlcControl` / :class:`PlcControlServer`, which
  take them from another thread or shell (a control socket).
"""

from ouc.drivers._aio import AsyncBehaviour, AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint
from ouc.drivers._blocking import PassiveEndpoint, sequences_of
from ouc.drivers._blocking_active import ActiveEndpoint, ReceiveEvent
from ouc.drivers._control_socket import JsonLineServer, control_request
from ouc.drivers._example import (
    LOOPBACK_MAP,
    ExamplePem,
    ExampleSetup,
    example_pem,
    example_store,
    received_data_layout,
    send_data_layout,
    standard_example,
)
from ouc.drivers._keepalive import KeepAlive, parse_keepalive
from ouc.drivers._plc_control import CONTROL_TIMEOUT, PlcControl, PlcControlServer
from ouc.drivers._plc_control import OPS as CONTROL_OPS
from ouc.drivers._records import (
    EndpointRecord,
    EventCallback,
    Recorder,
    RecordKind,
    RecordLog,
    describe_session,
    session_json,
)
from ouc.drivers._reload import CertReload, CertsNotReloaded, CertsReloaded
from ouc.drivers._setup import (
    KEYLOG_ENV,
    AddressMap,
    Behaviour,
    Clock,
    EndpointSpec,
    KeyLogFile,
    PeerContext,
    ResetConnection,
    callback,
    echo,
    offset_clock,
    receive_only,
    reply,
    split_host_port,
    system_clock,
)
from ouc.drivers._sockio import connection_error, os_error_status, own_timeout

__all__ = [
    "CONTROL_OPS",
    "CONTROL_TIMEOUT",
    "KEYLOG_ENV",
    "LOOPBACK_MAP",
    "ActiveEndpoint",
    "AddressMap",
    "AsyncActiveEndpoint",
    "AsyncBehaviour",
    "AsyncPassiveEndpoint",
    "Behaviour",
    "CertReload",
    "CertsNotReloaded",
    "CertsReloaded",
    "Clock",
    "EndpointRecord",
    "EndpointSpec",
    "EventCallback",
    "ExamplePem",
    "ExampleSetup",
    "JsonLineServer",
    "KeepAlive",
    "KeyLogFile",
    "PassiveEndpoint",
    "PeerContext",
    "PlcControl",
    "PlcControlServer",
    "ReceiveEvent",
    "RecordKind",
    "RecordLog",
    "Recorder",
    "ResetConnection",
    "callback",
    "connection_error",
    "control_request",
    "describe_session",
    "echo",
    "example_pem",
    "example_store",
    "offset_clock",
    "os_error_status",
    "own_timeout",
    "parse_keepalive",
    "receive_only",
    "received_data_layout",
    "reply",
    "send_data_layout",
    "sequences_of",
    "session_json",
    "split_host_port",
    "standard_example",
    "system_clock",
]
