"""What a channel connection is doing, and how it reports it: states, control values, rows.

One :class:`LinkState` per connection with a transition table (style rule 2: state lives in one
place), the three WinCC control values (``ForceConnectionState``, ``AlternativeAddress``,
``UseAlternativeAddress``) with their value parsing, and the immutable snapshots the channel
hands out: :class:`ChannelRow` (one line of ``ouc channel status``) and :class:`ChannelEvent`
(one line of the channel's log). Pure data, no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ouc._notation import iso_time
from ouc.errors import ConfigError, format_status

__all__ = [
    "ALTERNATIVE_ADDRESS",
    "FORCE_CONNECTION_STATE",
    "USE_ALTERNATIVE_ADDRESS",
    "VARIABLES",
    "ChannelEvent",
    "ChannelRow",
    "LinkState",
    "canonical_variable",
    "format_table",
    "parse_flag",
    "parse_tag",
    "tag_name",
]

FORCE_CONNECTION_STATE = "ForceConnectionState"
ALTERNATIVE_ADDRESS = "AlternativeAddress"
USE_ALTERNATIVE_ADDRESS = "UseAlternativeAddress"
#: The control values of a connection, as WinCC names them (domain.md §8).
VARIABLES = (FORCE_CONNECTION_STATE, ALTERNATIVE_ADDRESS, USE_ALTERNATIVE_ADDRESS)


class LinkState(Enum):
    """Where one channel connection is; the link's transition table decides every change."""

    DISCONNECTED = "disconnected"  # ForceConnectionState 0: no connection wanted (7000)
    CONNECTING = "connecting"  # an establishment attempt runs (7001)
    CONNECTED = "connected"  # established (7004)
    RETRYING = "retrying"  # the attempt failed or the connection dropped; another follows
    DISCONNECTING = "disconnecting"  # closing in order after ForceConnectionState 0 (7003)
    CLOSED = "closed"  # the channel was closed; nothing more happens


def canonical_variable(name: str) -> str:
    """The WinCC spelling of a control value name (matched without regard to case).

    Raises:
        ConfigError: not one of ForceConnectionState, AlternativeAddress, UseAlternativeAddress.
    """
    wanted = str(name).strip().lower()
    for variable in VARIABLES:
        if variable.lower() == wanted:
            return variable
    raise ConfigError(
        f"unknown control value {name!r}; use one of {', '.join(VARIABLES)}", path="variable"
    )


def tag_name(connection: str, variable: str) -> str:
    """WinCC's tag name of a control value: ``@PLC_1@ForceConnectionState`` (domain.md §8)."""
    return f"@{connection}@{canonical_variable(variable)}"


def parse_tag(tag: str) -> tuple[str, str]:
    """The connection and the control value a WinCC tag name addresses.

    ``"@PLC_1@ForceConnectionState"`` → ``("PLC_1", "ForceConnectionState")`` (the value's name
    is matched without regard to case).

    Raises:
        ConfigError: not ``@<connection>@<value>``, or an unknown control value.
    """
    text = str(tag).strip()
    connection, sep, variable = text[1:].rpartition("@")
    if not text.startswith("@") or not sep or not connection.strip():
        raise ConfigError(
            f"{tag!r} is not a tag name like '@PLC_1@ForceConnectionState'", path="tag"
        )
    try:
        return connection, canonical_variable(variable)
    except ConfigError as exc:
        raise ConfigError(f"{tag!r}: {exc.message}", path="tag") from exc


def parse_flag(value: object, variable: str) -> bool:
    """A 1/0 control value: 1, 0, True, False, or the text "1"/"0" (also "true"/"false").

    Raises:
        ConfigError: anything else (naming the variable).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
    raise ConfigError(f"must be 1 or 0, not {value!r}", path=variable)


@dataclass(frozen=True)
class ChannelRow:
    """One connection as ``ouc channel status`` shows it (a snapshot; it does not change).

    Attributes:
        name: the connection's name in the channel.
        state: where the connection is.
        status: the STATUS a PLC engineer would look at: 7000 off, 7001 connecting, 7004
            connected, 16#80E4 no trusted CA, 16#80C5 partner closed, ...
        force / use_alternative / alternative_address: the control values (1/0 and the
            canonical AlternativeAddress text, "" when unset).
        target: the plant ``address:port`` of the current (or last) establishment.
        via_alternative: that establishment used the alternative address.
        security: ``TLSv1.3``, ``TLSv1.2``, ``plain TCP`` or ``not secured (...)`` of the
            current connection (like ``peer``); "" while no establishment succeeded.
        peer: the subject of the PLC certificate of the current connection (kept after it
            ends, until the next attempt starts).
        peer_valid_to: when that certificate expires (UTC).
        peer_expired: it has expired by the channel's clock (the connection stays up anyway).
        attempts / connections: establishment attempts and successes so far.
        reason: why the last attempt failed or the connection ended ("" when fine).
    """

    name: str
    state: LinkState
    status: int
    force: int
    use_alternative: int
    alternative_address: str
    target: str
    via_alternative: bool = False
    security: str = ""
    peer: str | None = None
    peer_valid_to: dt.datetime | None = None
    peer_expired: bool = False
    attempts: int = 0
    connections: int = 0
    reason: str = ""

    @property
    def status_text(self) -> str:
        return format_status(self.status)

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``ouc channel status --json``)."""
        return {
            "name": self.name,
            "state": self.state.value,
            "status": self.status_text,
            "ForceConnectionState": self.force,
            "UseAlternativeAddress": self.use_alternative,
            "AlternativeAddress": self.alternative_address,
            "target": self.target,
            "via_alternative": self.via_alternative,
            "security": self.security,
            "peer_subject": self.peer,
            "peer_valid_to": None if self.peer_valid_to is None else iso_time(self.peer_valid_to),
            "peer_expired": self.peer_expired,
            "attempts": self.attempts,
            "established": self.connections,
            "reason": self.reason or None,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ChannelRow:
        """The row :meth:`to_json` wrote (what the control socket carries).

        Raises:
            ConfigError: ``doc`` is not such a row.
        """
        try:
            valid_to = doc["peer_valid_to"]
            return cls(
                name=str(doc["name"]),
                state=LinkState(doc["state"]),
                status=int(str(doc["status"]).removeprefix("16#"), 16),
                force=int(doc["ForceConnectionState"]),
                use_alternative=int(doc["UseAlternativeAddress"]),
                alternative_address=str(doc["AlternativeAddress"]),
                target=str(doc["target"]),
                via_alternative=bool(doc["via_alternative"]),
                security=str(doc["security"]),
                peer=doc["peer_subject"],
                peer_valid_to=None if valid_to is None else dt.datetime.fromisoformat(valid_to),
                peer_expired=bool(doc["peer_expired"]),
                attempts=int(doc["attempts"]),
                connections=int(doc["established"]),
                reason=doc["reason"] or "",
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a channel status row: {exc!r}", path="row") from exc


_COLUMNS = ("CONNECTION", "STATE", "STATUS", "FORCE", "USE_ALT", "TARGET", "SECURITY", "PEER")


def format_table(rows: Sequence[ChannelRow]) -> str:
    """The status table: one line per connection, the reason of a failure under its line."""
    lines: list[list[str]] = [list(_COLUMNS)]
    notes: dict[int, str] = {}
    for row in rows:
        peer = row.peer or "-"
        if row.peer_expired:
            peer += " (certificate expired)"
        target = row.target + (" (alternative)" if row.via_alternative else "")
        lines.append(
            [
                row.name,
                row.state.value,
                row.status_text,
                str(row.force),
                str(row.use_alternative),
                target or "-",
                row.security or "-",
                peer,
            ]
        )
        if row.reason:
            notes[len(lines) - 1] = row.reason
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
    out = []
    for index, line in enumerate(lines):
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        out.append("  ".join(cells).rstrip())
        if index in notes:
            out.append(f"    {notes[index]}")
    return "\n".join(out)


@dataclass(frozen=True)
class ChannelEvent:
    """One line of the channel's log: a value set, an attempt, a connection up or down.

    Attributes:
        connection: the connection's name.
        kind: ``set``, ``connecting``, ``connected``, ``failed``, ``dropped``,
            ``disconnected``, ``restart``, ``closed`` (the channel closed it).
        status: the STATUS that goes with it.
        text: one sentence.
        time: wall-clock seconds (the runner stamps it; the sans-I/O core reads no clock).
    """

    connection: str
    kind: str
    status: int
    text: str
    time: float = 0.0

    def line(self) -> str:
        """``PLC1 16#80E4 failed - no trusted CA for CN=PLC_1 ...``."""
        return f"{self.connection} {format_status(self.status)} {self.kind} - {self.text}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``ouc channel run --json``): the sentence as ``reason`` and the
        time as ISO 8601 UTC, like an endpoint's records."""
        return {
            "name": self.connection,
            "event": self.kind,
            "status": format_status(self.status),
            "reason": self.text,
            "time": iso_time(self.time),
        }
