"""``ouc channel``: the PC side — a Secure OUC client with WinCC's certificate rules (§8).

The channel is a PC-side Secure OUC client (TLS on TCP, the PC active) that applies WinCC's
certificate store, manual trust, certificate lifetime and connection-change rules. It is not an
emulation of WinCC, and it does not speak S7 communication: WinCC's own channel uses STEP 7
"Secure Communication", a different protocol (domain.md §8).

- ``ouc channel run CONFIG``: start the channel the JSON/TOML file describes, print one line per
  event (``PLC1 16#80E4 failed - ...``), serve its control socket, run until Ctrl-C / SIGTERM.
- ``ouc channel set TAG VALUE``: write a control tag of a running channel
  (``@PLC1@ForceConnectionState``, ``@PLC1@AlternativeAddress``,
  ``@PLC1@UseAlternativeAddress``; the older ``CONNECTION VARIABLE VALUE`` works too).
  ``--wait S`` waits for the outcome of a ForceConnectionState change and exits 1 when the
  connection did not come up.
- ``ouc channel restart``: close every connection, load the certificates imported since the
  start, connect again (as a Runtime restart).
- ``ouc channel status``: the table of connections (``--json`` for machines).

``set``, ``restart`` and ``status`` find the running channel through ``--control SOCKET``,
``--config CONFIG`` (the socket next to it), ``$OUC_CHANNEL_CONTROL``, or the one
``*.ouc.sock`` in the current folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ouc._notation import iso_time
from ouc.channel import (
    ChannelConfig,
    ChannelEvent,
    ChannelRow,
    ControlServer,
    LinkState,
    control_request,
    format_table,
)
from ouc.cli import _types
from ouc.cli._certs import show_store_warnings
from ouc.cli._inputs import STDIN, read_input
from ouc.cli._parser import OldSpelling
from ouc.cli._serving import INTERRUPTED
from ouc.drivers import Clock, offset_clock, system_clock
from ouc.errors import ConfigError

__all__ = ["register"]

CONTROL_ENV = "OUC_CHANNEL_CONTROL"
STORE_PASSWORD_ENV = "OUC_STORE_PASSWORD"
_SOCKET_SUFFIX = ".ouc.sock"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc channel`` with its ``run``, ``set``, ``restart`` and ``status`` sub-commands."""
    parser = sub.add_parser(
        "channel",
        help="the PC side: a Secure OUC client to many PLCs with WinCC's certificate rules",
        description=(
            "The PC side: a Secure OUC client on the PC holding named connections to PLCs "
            "(TLS on TCP, the PC active), which applies WinCC's certificate store, manual trust, "
            "certificate lifetime and connection-change rules (the WinCC note 'Secure PLC "
            "Communication with TLS Protocol'). It is not an emulation of WinCC or of S7 "
            "communication: WinCC's own channel speaks STEP 7 Secure Communication, which "
            "ouc does not."
        ),
        epilog=(
            "Control tags: @<connection>@ForceConnectionState (1/0), "
            "@<connection>@AlternativeAddress ('AccessPoint=abc; IPAddress=192.168.0.3;'), "
            "@<connection>@UseAlternativeAddress (1/0); each needs a start value in CONFIG. "
            "Certificates imported while the channel runs apply at its next start or after "
            "'ouc channel restart'; moves in the device certificate store apply at the next "
            "connection."
        ),
    )
    commands = parser.add_subparsers(dest="channel_command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run the channel a configuration file describes",
        description=(
            "Start the channel CONFIG describes: connect each connection whose "
            "ForceConnectionState start value is 1, print one line per event (connecting, "
            "connected, failed or dropped with its 16#80xx status, ...), serve the control socket "
            "for 'ouc channel set/restart/status', and run until Ctrl-C or SIGTERM."
        ),
    )
    run.add_argument(
        "config",
        metavar="CONFIG",
        help="the channel's JSON or TOML file, or - for stdin (paths relative to here)",
    )
    run.add_argument("--control", metavar="SOCKET", help="control socket (default: next to CONFIG)")
    run.add_argument(
        "--now",
        "--time",
        dest="time",
        action=OldSpelling,
        type=_types.moment,
        metavar="ISO",
        help="start the channel's clock at this time (certificates are checked against it; "
        "--time: the older spelling)",
    )
    run.add_argument("--json", action="store_true", help="one JSON object per event line")
    run.set_defaults(func=_run)

    setter = commands.add_parser(
        "set",
        help="write a control tag of a running channel",
        description=(
            "Write a control tag: 'ouc channel set @PLC1@ForceConnectionState 0'. The older "
            "form names the connection and the value apart: 'ouc channel set PLC1 "
            "ForceConnectionState 0'."
        ),
    )
    setter.add_argument(
        "tag",
        metavar="TAG",
        help="@<connection>@ForceConnectionState, @<connection>@AlternativeAddress or "
        "@<connection>@UseAlternativeAddress (older form: the connection's name)",
    )
    setter.add_argument(
        "value", metavar="VALUE", help="1/0, or the AlternativeAddress text ('' clears it)"
    )
    setter.add_argument(
        "older_value",
        nargs="?",
        metavar="OLD_FORM_VALUE",
        help="with the older form CONNECTION VARIABLE VALUE: the value",
    )
    setter.add_argument(
        "--wait",
        type=_types.seconds,
        metavar="SECONDS",
        help="for ForceConnectionState: wait for the outcome; exit 1 when not connected",
    )
    _add_locator(setter)
    setter.set_defaults(func=_set)

    restart = commands.add_parser(
        "restart",
        help="restart a running channel: imported certificates apply",
        description=(
            "Restart the channel as a Runtime restart does: every connection is closed, the "
            "certificates imported since the start (CAs, own certificate IDs) apply, the "
            "control tags go back to their start values, and connections with "
            "ForceConnectionState 1 connect again."
        ),
    )
    restart.add_argument(
        "--keep-values", action="store_true", help="keep the control tags' current values"
    )
    restart.add_argument(
        "--wait",
        type=_types.seconds,
        metavar="SECONDS",
        help="wait until each connection is up or has failed an attempt; exit 1 if one is not up",
    )
    _add_locator(restart)
    restart.set_defaults(func=_restart)

    status = commands.add_parser(
        "status",
        help="the connections of a running channel",
        description=(
            "Show each connection of a running channel: state and STATUS, "
            "ForceConnectionState and UseAlternativeAddress, the address in use, the TLS "
            "security, the PLC certificate seen and why the last attempt failed (a table, or "
            "--json). The channel is found through "
            "--control, --config, $OUC_CHANNEL_CONTROL or the one *.ouc.sock in this folder."
        ),
    )
    _add_locator(status)
    status.set_defaults(func=_status)


def _add_locator(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="CONFIG", help="the running channel's configuration")
    where.add_argument("--control", metavar="SOCKET", help="the running channel's control socket")
    parser.add_argument("--json", action="store_true", help="JSON instead of the table")


def _control_path(args: argparse.Namespace) -> Path:
    """Where the running channel's control socket is (see the module docstring)."""
    if args.control:
        return Path(args.control)
    if args.config:
        return ChannelConfig.load(args.config).control
    env = os.environ.get(CONTROL_ENV)
    if env:
        return Path(env)
    found = sorted(Path.cwd().glob(f"*{_SOCKET_SUFFIX}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            "no running channel found in this folder: give --config CONFIG or --control SOCKET",
            path="--config",
        )
    names = ", ".join(p.name for p in found)
    raise ConfigError(f"several channels run here ({names}): give --config or --control")


def _clock(text: str | None) -> Clock:
    if text is None:
        return system_clock
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an ISO date/time", path="--now") from exc
    return offset_clock(moment)


class _Printer:
    """Prints the channel's events as lines or JSON lines (worker threads print too)."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self._lock = threading.Lock()

    def text(self, line: str, doc: dict[str, Any]) -> None:
        with self._lock:
            print(json.dumps(doc) if self.json else line, flush=True)

    def event(self, event: ChannelEvent) -> None:
        self.text(event.line(), event.to_json())


def _run(args: argparse.Namespace) -> int:
    if args.config == STDIN:  # relative paths from here; the control socket ./channel.ouc.sock
        config = ChannelConfig.loads(read_input(STDIN))
    else:
        config = ChannelConfig.load(args.config)
    printer = _Printer(args.json)
    # The event lines are the output; the loggers would repeat them on stderr (Python's
    # last-resort handler prints warnings). Errors (bugs) still reach stderr.
    quiet = logging.StreamHandler(sys.stderr)
    quiet.setLevel(logging.ERROR)
    root = logging.getLogger("ouc")
    root.addHandler(quiet)
    show_store_warnings()  # a file the device store skips is said, once
    channel = config.build(
        clock=_clock(args.time),
        on_event=printer.event,
        password=os.environ.get(STORE_PASSWORD_ENV),
    )
    control = ControlServer(channel, Path(args.control) if args.control else config.control)
    control.start()
    done = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    status = 0  # SIGTERM: a clean stop that was asked for
    try:
        channel.start()
        names = ", ".join(channel.names)
        count = len(channel.names)
        printer.text(
            f"ouc channel: {count} connection{'' if count == 1 else 's'} ({names}); control socket "
            f"{control.path}",
            {
                "event": "started",
                "names": channel.names,
                "control": str(control.path),
                "time": iso_time(time.time()),
            },
        )
        done.wait()
        printer.text(
            "ouc channel: stopping (SIGTERM)",
            {"event": "stopping", "time": iso_time(time.time())},
        )
    except KeyboardInterrupt:
        status = INTERRUPTED
        printer.text(
            "ouc channel: stopping (Ctrl-C)",
            {"event": "stopping", "time": iso_time(time.time())},
        )
    finally:
        control.stop()
        channel.close()
        root.removeHandler(quiet)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return status


def _set(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"op": "set", "wait": args.wait}
    if args.older_value is None:
        request.update(tag=args.tag, value=args.value)
    else:
        request.update(connection=args.tag, variable=args.value, value=args.older_value)
    answer = control_request(_control_path(args), request, timeout=(args.wait or 0.0) + 10.0)
    row = ChannelRow.from_json(answer["row"])
    if args.json:
        print(json.dumps(row.to_json()))
    else:
        print(format_table([row]))
    if args.wait is not None and row.force and row.state is not LinkState.CONNECTED:
        return 1
    return 0


def _restart(args: argparse.Namespace) -> int:
    request = {"op": "restart", "keep_values": args.keep_values, "wait": args.wait}
    answer = control_request(_control_path(args), request, timeout=(args.wait or 0.0) + 10.0)
    rows = [ChannelRow.from_json(doc) for doc in answer["rows"]]
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        print(format_table(rows))
    if args.wait is not None and any(row.force and not row.connected for row in rows):
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    answer = control_request(_control_path(args), {"op": "status"})
    rows = [ChannelRow.from_json(doc) for doc in answer["rows"]]
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        print(format_table(rows))
    return 0
