"""The channel's configuration file (JSON or TOML) for ``ouc channel run``.

A file names the connections and where their certificates live; relative paths are relative to
the file's folder. TOML example::

    device = "HMI_1"                      # the PC station in the project store
    own_address = "192.168.0.10"          # the PC's plant address
    device_store = "device-certificate-store"
    ca_dir = "trusted-cas"                # imported CAs (the PC's certificate store)
    project_store = "store"               # own client certificates (TLSClientCertRef)
    map = ["192.168.0.1:2000=127.0.0.1:40001", "192.168.0.10=127.0.0.5"]
    cpus = { "192.168.0.3" = "S7-1500 V2.8" }

    [connections.PLC1]
    block = "plc1.json"                   # an active TCON_IP_V4_SEC block (JSON or binary)

    [tags]                                # the start value of every control tag (WinCC's names)
    "@PLC1@ForceConnectionState" = 1
    "@PLC1@UseAlternativeAddress" = 0
    "@PLC1@AlternativeAddress" = "AccessPoint=S7ONLINE; IPAddress=192.168.0.3;"

Each connection's three control tags need a start value, as in WinCC (domain.md §8): under
``[tags]`` by their tag names, or with the older keys ``force``, ``use_alternative`` and
``alternative_address`` in the connection's table (aliases; one value per tag). A connection
missing one is refused with an error naming the connection and the tag.

Every key is checked: an unknown key, a wrong type or a bad value is one
:class:`~ouc.errors.ConfigError` naming the file and the key (``channel.toml:
connections.PLC1.force``).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ouc._input import CONFIG_FILE_LIMIT, load_json, read_capped, seconds
from ouc.certs import CertStore
from ouc.channel._cas import TrustedCAs
from ouc.channel._channel import Channel
from ouc.channel._link import check_access_point
from ouc.channel._settings import ChannelConnection, check_channel_block, with_remote
from ouc.channel._state import (
    ALTERNATIVE_ADDRESS,
    FORCE_CONNECTION_STATE,
    USE_ALTERNATIVE_ADDRESS,
    ChannelEvent,
    parse_tag,
    tag_name,
)
from ouc.channel._trust import client_identity
from ouc.device import Device
from ouc.drivers import AddressMap, Clock, system_clock
from ouc.errors import CertError, ConfigError, OucError, Status
from ouc.params import load as load_block
from ouc.tls import TLSProfile

__all__ = ["ChannelConfig", "cpu_profile"]

_TOP_KEYS = frozenset(
    {
        "device",
        "own_address",
        "device_store",
        "ca_dir",
        "cas",
        "project_store",
        "map",
        "cpus",
        "default_cpu",
        "access_points",
        "allow_unsecured",
        "control",
        "connect_timeout",
        "retry_delay",
        "max_retry_delay",
        "profile",
        "connections",
        "tags",
    }
)
#: The older per-connection keys of the control tags' start values.
_ALIASES = {
    "force": FORCE_CONNECTION_STATE,
    "use_alternative": USE_ALTERNATIVE_ADDRESS,
    "alternative_address": ALTERNATIVE_ADDRESS,
}
_CONNECTION_KEYS = frozenset(
    {
        "name",
        "block",
        "address",
        "port",
        "device_store",
        "alternative_address",
        "use_alternative",
        "force",
        "receive_len",
    }
)


def cpu_profile(text: str, where: str = "cpu") -> Device:
    """A CPU profile from text: ``"S7-1500 V2.8"``, ``"S7-1200 V4.5"`` or just ``"V2.8"``
    (an S7-1500)."""
    parts = str(text).split()
    try:
        if len(parts) == 1:
            return Device.from_text("S7-1500", parts[0])
        if len(parts) == 2:
            return Device.from_text(parts[0], parts[1])
    except ConfigError as exc:
        raise ConfigError(exc.message, path=where) from exc
    raise ConfigError(f"{text!r} is not a CPU like 'S7-1500 V3.1'", path=where)


class _Reader:
    """Typed access to one table of the file, with the key path in every error."""

    def __init__(self, table: Any, where: str, allowed: frozenset[str]) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"must be a table, not {type(table).__name__}", path=where)
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(allowed))}",
                path=f"{where}.{unknown[0]}" if where else unknown[0],
            )
        self.table = table
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.table.get(key, default)
        if value is default:
            return default
        bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
        if not isinstance(value, kind) or bad_bool:
            name = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise ConfigError(f"must be {name}, not {value!r}", path=self.path(key))
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"must be true/false or 1/0, not {value!r}", path=self.path(key))

    def seconds(self, key: str, default: float) -> float:
        """A time span: finite, more than 0 and at most 30 days, as the CLI's seconds (``nan`` or
        ``inf`` would make every attempt fail, or stop the worker)."""
        return seconds(self.get(key, (int, float), default), self.path(key))

    def strings(self, key: str) -> list[str]:
        value = self.get(key, list, [])
        if not all(isinstance(item, str) for item in value):
            raise ConfigError("must be a list of strings", path=self.path(key))
        return list(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.get(key, dict, {})
        if not all(isinstance(v, str) for v in value.values()):
            raise ConfigError("must map names to strings", path=self.path(key))
        return dict(value)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = read_capped(path, CONFIG_FILE_LIMIT, "a channel configuration")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    return _parse_document(raw, str(path), toml=path.suffix.lower() == ".toml")


def _parse_document(raw: bytes, where: str, *, toml: bool) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8") if toml else raw.decode("utf-8-sig")
        doc = tomllib.loads(text) if toml else load_json(text, where=where)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", path=where) from exc
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not valid {'TOML' if toml else 'JSON'}: {exc}", path=where) from exc
    if not isinstance(doc, dict):
        raise ConfigError("the file must hold a table/object at the top", path=where)
    return doc


def _cpu_key(key: str, qdns: set[str]) -> None:
    """A key of ``cpus``: a PLC's IPv4 address, or the RemoteQDN of a connection of the file.

    Anything else is refused: a mistyped address would silently leave its PLC at
    ``default_cpu``, and the firmware rule would then judge a change by the wrong CPU.
    """
    try:
        ipaddress.IPv4Address(key)
    except ValueError:
        if key not in qdns:
            also = f" nor the RemoteQDN of a connection ({', '.join(sorted(qdns))})" if qdns else ""
            raise ConfigError(
                f"{key!r} is not an IPv4 address{also}: key each CPU by its PLC's address, "
                'e.g. "192.168.0.3" = "S7-1500 V2.8"',
                path=f"cpus.{key}",
            ) from None


def _no_ipv6(items: list[str]) -> None:
    """Refuse an IPv6 address on either side of a ``map`` entry (``192.168.0.2=::1``): ouc,
    like the PLC's TCON_IP_V4 blocks, speaks IPv4 only, and ``::1`` would be read as host
    ``:`` with port 1. Two colons or a bracket mark IPv6; ``host:port`` has one colon."""
    for item in items:
        for side in item.partition("="):
            text = side.strip()
            if text.count(":") > 1 or text.startswith("["):
                raise ConfigError(
                    f"{item!r}: {text} is an IPv6 address; ouc uses IPv4 only (as TCON_IP_V4 "
                    "does): map to an IPv4 address such as 127.0.0.2",
                    path="map",
                )


_KEYS = {variable: key for key, variable in _ALIASES.items()}
_EXAMPLES = {FORCE_CONNECTION_STATE: "1", USE_ALTERNATIVE_ADDRESS: "0", ALTERNATIVE_ADDRESS: '""'}


def _start_values(table: Any, names: set[str]) -> dict[str, dict[str, tuple[Any, str]]]:
    """connection → control value → (start value, key path) from the ``[tags]`` table."""
    if not isinstance(table, dict):
        raise ConfigError("must be a table of tag names and start values", path="tags")
    found: dict[str, dict[str, tuple[Any, str]]] = {}
    for tag, value in table.items():
        where = f"tags.{tag}"
        try:
            name, variable = parse_tag(tag)
        except ConfigError as exc:
            raise ConfigError(exc.message, path=where) from exc
        if name not in names:
            raise ConfigError(
                f"names no connection of this file ({', '.join(sorted(names))})", path=where
            )
        if variable == ALTERNATIVE_ADDRESS:
            ok = isinstance(value, str)
        else:
            ok = value in (0, 1) and isinstance(value, int | bool)
        if not ok:
            want = "text ('' for none)" if variable == ALTERNATIVE_ADDRESS else "1/0 or true/false"
            raise ConfigError(f"must be {want}, not {value!r}", path=where)
        values = found.setdefault(name, {})
        if variable in values:
            raise ConfigError(f"{tag_name(name, variable)} is given twice", path=where)
        values[variable] = (value, where)
    return found


def _connection_tables(value: Any) -> list[tuple[str, Any, str]]:
    """``(name, table, key path)`` for ``{name: {...}}`` or ``[{name: ..., ...}]``."""
    if isinstance(value, dict):
        return [(str(name), table, f"connections.{name}") for name, table in value.items()]
    if isinstance(value, list):
        out = []
        for index, table in enumerate(value):
            where = f"connections[{index}]"
            name = table.get("name") if isinstance(table, dict) else None
            if not isinstance(name, str):
                raise ConfigError("needs a name", path=f"{where}.name")
            out.append((name, table, where))
        return out
    raise ConfigError("must be a table of connections (or a list)", path="connections")


@dataclass(frozen=True)
class ChannelConfig:
    """A loaded channel configuration; :meth:`build` makes the :class:`Channel`.

    Attributes mirror the file's keys, with paths made absolute; ``control`` is the control
    socket (default ``<file stem>.ouc.sock`` next to the file).
    """

    path: Path
    connections: tuple[ChannelConnection, ...]
    device: Device
    device_store: Path
    ca_dir: Path | None
    cas: tuple[Path, ...]
    project_store: Path | None
    address_map: tuple[str, ...]
    cpus: Mapping[str, Device]
    default_cpu: Device
    access_points: Mapping[str, str]
    allow_unsecured: bool
    control: Path
    connect_timeout: float
    retry_delay: float
    max_retry_delay: float
    profile: TLSProfile

    @classmethod
    def load(cls, path: str | Path) -> ChannelConfig:
        """Read and check a JSON (``.json``) or TOML (``.toml``) channel configuration.

        Raises:
            ConfigError / ParamError: the file, a key or a block file is wrong (the message
                names the file and the key).
        """
        file = Path(path)
        return cls._checked(str(file), lambda: cls._load(file, _read_document(file), file.parent))

    @classmethod
    def loads(cls, raw: bytes, *, name: str = "<stdin>", folder: str | Path = ".") -> ChannelConfig:
        """A configuration given as bytes (``ouc channel run -``): JSON when its first non-blank
        character is ``{``, else TOML; relative paths are relative to ``folder``, and the control
        socket is ``folder/channel.ouc.sock`` unless the document names one. Errors name
        ``name``."""
        toml = not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
        base = Path(folder)
        return cls._checked(
            name,
            lambda: cls._load(
                Path(name), _parse_document(raw, name, toml=toml), base, stem="channel"
            ),
        )

    @staticmethod
    def _checked(name: str, load: Callable[[], ChannelConfig]) -> ChannelConfig:
        """``load()``, its errors' paths prefixed with ``name`` (the file or ``<stdin>``)."""
        try:
            return load()
        except OucError as exc:
            if exc.path is not None and exc.path.startswith(name):
                raise
            where = f"{name}: {exc.path}" if exc.path else name
            raise type(exc)(exc.message, status=exc.status, path=where) from exc

    @classmethod
    def _load(
        cls, file: Path, doc: dict[str, Any], folder: Path, stem: str | None = None
    ) -> ChannelConfig:
        top = _Reader(doc, "", _TOP_KEYS)
        base = folder.resolve()

        def local(value: str) -> Path:
            return base / Path(value).expanduser()

        own = top.get("own_address", str)
        name = top.get("device", str, "PC")
        try:
            device = Device(name=name, own_addresses=(own,) if own else ())
        except ConfigError as exc:
            raise ConfigError(exc.message, path="own_address") from exc
        device_store = local(top.get("device_store", str, "device-certificate-store"))
        ca_dir = top.get("ca_dir", str)
        project = top.get("project_store", str)
        cpus = {key: cpu_profile(text, f"cpus.{key}") for key, text in top.mapping("cpus").items()}
        default_cpu = cpu_profile(top.get("default_cpu", str, "S7-1500 V3.1"), "default_cpu")
        items = top.strings("map")
        _no_ipv6(items)
        try:
            AddressMap.parse(items)
        except ConfigError as exc:
            raise ConfigError(exc.message, path="map") from exc
        try:
            profile = TLSProfile.parse(top.get("profile", str, "compatible"))
        except ConfigError as exc:
            raise ConfigError(exc.message, path="profile") from exc
        timers = {
            "connect_timeout": top.seconds("connect_timeout", 5.0),
            "retry_delay": top.seconds("retry_delay", 1.0),
            "max_retry_delay": top.seconds("max_retry_delay", 10.0),
        }
        if "connections" not in doc:
            raise ConfigError("names no connections", path="connections")
        tables = _connection_tables(doc["connections"])
        tags = _start_values(doc.get("tags", {}), {conn_name for conn_name, _, _ in tables})
        connections = tuple(
            cls._connection(conn_name, table, where, local, tags.get(conn_name, {}))
            for conn_name, table, where in tables
        )
        qdns = {c.block.remote_qdn for c in connections if c.block.remote_qdn}
        for key in cpus:
            _cpu_key(key, qdns)
        control = top.get("control", str)
        if not connections:
            raise ConfigError(
                "names no connections: add one ([connections.PLC1] with its block = ...)",
                path="connections",
            )
        return cls(
            path=file,
            connections=connections,
            device=device,
            device_store=device_store,
            ca_dir=None if ca_dir is None else local(ca_dir),
            cas=tuple(local(p) for p in top.strings("cas")),
            project_store=None if project is None else local(project),
            address_map=tuple(items),
            cpus=cpus,
            default_cpu=default_cpu,
            access_points=top.mapping("access_points"),
            allow_unsecured=top.flag("allow_unsecured", False),
            control=local(control) if control else base / f"{stem or file.stem}.ouc.sock",
            profile=profile,
            **timers,
        )

    @staticmethod
    def _connection(
        name: str,
        table: Any,
        where: str,
        local: Callable[[str], Path],
        tags: dict[str, tuple[Any, str]],
    ) -> ChannelConnection:
        conn = _Reader(table, where, _CONNECTION_KEYS)
        block_file = conn.get("block", str)
        if block_file is None:
            raise ConfigError("needs a block file", path=conn.path("block"))
        block = check_channel_block(load_block(local(block_file)), conn.path("block"))
        address, port = conn.get("address", str), conn.get("port", int)
        if port is not None and not 1 <= port <= 65535:
            raise ConfigError(f"{port} is outside 1..65535", path=conn.path("port"))
        if address is not None or port is not None:
            try:
                block = with_remote(block, address, port)
            except OucError as exc:
                raise ConfigError(exc.message, path=conn.path("address")) from exc
        store = conn.get("device_store", str)
        receive_len = conn.get("receive_len", int)
        values = dict(tags)
        for key, variable in _ALIASES.items():
            if key not in conn.table:
                continue
            if variable in values:
                raise ConfigError(
                    f"the start value of {tag_name(name, variable)} is given twice: here and "
                    f"as {values[variable][1]}; keep one",
                    path=conn.path(key),
                )
            value = conn.get(key, str) if variable == ALTERNATIVE_ADDRESS else conn.flag(key, False)
            values[variable] = (value, conn.path(key))
        missing = [tag_name(name, v) for v in _ALIASES.values() if v not in values]
        if missing:
            raise ConfigError(
                f"connection {name} has no start value for {' and '.join(missing)}: add "
                f'"{missing[0]}" = {_EXAMPLES[parse_tag(missing[0])[1]]} under [tags] (or '
                f"{_KEYS[parse_tag(missing[0])[1]]} = ... in its table); WinCC needs a start "
                "value for each control tag",
                path=f"tags.{missing[0]}",
            )
        try:
            return ChannelConnection(
                name=name,
                block=block,
                device_store=None if store is None else local(store),
                alternative_address=values[ALTERNATIVE_ADDRESS][0],
                use_alternative=values[USE_ALTERNATIVE_ADDRESS][0],
                force=values[FORCE_CONNECTION_STATE][0],
                receive_len=receive_len,
            )
        except OucError as exc:
            raise type(exc)(exc.message, status=exc.status, path=f"{where}.{exc.path}") from exc

    def _check_own_certificates(self, project: CertStore | None, clock: Clock) -> None:
        """Refuse at start a TLSClientCertRef the project store cannot give the PC station.

        An unknown reference (16#80ED) is a configuration mistake no retry can mend, as
        ``ouc serve`` refuses it at start; a certificate that expired or is not yet valid by
        the channel's clock stays a failure of each attempt (a renewal mends it).
        """
        for connection in self.connections:
            block = connection.block
            if not (block.secure and int(getattr(block, "TLSClientCertRef", 0))):
                continue
            try:
                client_identity(block, store=project, device=self.device.name, now=clock())
            except CertError as exc:
                if exc.status != Status.TLS_CERT_REF_UNKNOWN:
                    continue
                if project is None:
                    key = "project_store"
                elif "not assigned" in exc.message:
                    key = "device"
                else:
                    key = f"connections.{connection.name}.block"
                raise ConfigError(
                    f"connection {connection.name}: {exc.message}",
                    status=exc.status,
                    path=f"{self.path}: {key}",
                ) from exc

    def _check_access_points(self) -> None:
        """Refuse at start an AccessPoint whose address is not one of this PC's (binding to it
        would fail every attempt, 16#80C6, for ever), and a start value of AlternativeAddress
        naming an AccessPoint that ``access_points`` does not list."""
        for connection in self.connections:
            alternative = connection.alternative
            if alternative is None:
                continue
            try:
                check_access_point(alternative, self.access_points)
            except ConfigError as exc:
                tag = tag_name(connection.name, ALTERNATIVE_ADDRESS)
                raise ConfigError(
                    f"the start value of {tag}: {exc.message}",
                    status=exc.status,
                    path=f"{self.path}: tags.{tag}",
                ) from exc
        for name, address in self.access_points.items():
            where = f"{self.path}: access_points.{name}"
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ConfigError(
                    f"{address!r} is not an IPv4 address: give the address of this PC's network "
                    f"interface for AccessPoint {name}",
                    path=where,
                ) from None
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind((address, 0))
                except OSError as exc:
                    raise ConfigError(
                        f"{address} is not an address of this PC ({exc.strerror}): give the "
                        f"address of its network interface for AccessPoint {name}",
                        path=where,
                    ) from exc

    def build(
        self,
        *,
        clock: Clock = system_clock,
        on_event: Callable[[ChannelEvent], None] | None = None,
        password: str | None = None,
    ) -> Channel:
        """The :class:`Channel` this configuration describes (not started yet).

        Args:
            clock: the channel's clock (PLC certificates are checked against it).
            on_event: the channel's event callback.
            password: the project store's password (for encrypted keys).

        Raises:
            ConfigError / CertError / StoreError: the project store or a CA file is missing or
                unreadable.
        """
        project = None
        if self.project_store is not None:
            if not (self.project_store / "index.json").is_file():
                raise ConfigError(
                    f"no certificate store at {self.project_store} (no index.json there): give "
                    "the folder of the project store, or make one with 'ouc certs init --store "
                    "DIR'",
                    path=f"{self.path}: project_store",
                )
            project = CertStore(self.project_store, password=password)
        try:
            trust = TrustedCAs(self.cas, folder=self.ca_dir)
            trust.certificates()  # a bad file in ca_dir is refused now, not at the first attempt
        except OucError as exc:
            # Name the key as well as the file: the file alone does not say which list it is in.
            folder = None if self.ca_dir is None else str(self.ca_dir)
            in_folder = (
                folder is not None
                and exc.path is not None
                and (exc.path == folder or Path(exc.path).parent == Path(folder))
            )
            key = "ca_dir" if in_folder else "cas"
            message = exc.message if exc.path in (None, folder) else f"{exc.path}: {exc.message}"
            raise type(exc)(message, status=exc.status, path=f"{self.path}: {key}") from exc
        self._check_own_certificates(project, clock)
        self._check_access_points()
        return Channel(
            self.connections,
            device_store=self.device_store,
            trust=trust,
            project_store=project,
            device=self.device,
            address_map=AddressMap.parse(list(self.address_map)),
            cpus=self.cpus,
            default_cpu=self.default_cpu,
            allow_unsecured=self.allow_unsecured,
            access_points=self.access_points,
            clock=clock,
            profile=self.profile,
            connect_timeout=self.connect_timeout,
            retry_delay=self.retry_delay,
            max_retry_delay=self.max_retry_delay,
            on_event=on_event,
        )
