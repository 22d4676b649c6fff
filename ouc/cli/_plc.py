"""``ouc plc``: the PLC program's controls of a running ``ouc serve`` / ``ouc connect``.

Start the endpoint with ``--control PATH`` (a Unix socket, mode 0600: only your user can use
it), then from another shell::

    ouc plc --control /tmp/plc1.sock status          # CPU RUN/STOP, CONT, EN_R, STATUS
    ouc plc --control /tmp/plc1.sock com_rst         # COM_RST: reset, then establish again
    ouc plc --control /tmp/plc1.sock stop            # CPU STOP: connections end, port closes
    ouc plc --control /tmp/plc1.sock run             # CPU RUN: listening/connecting again
    ouc plc --control /tmp/plc1.sock cont 0          # CONT 1→0 (16#7003 → 16#0003); cont 1 again
    ouc plc --control /tmp/plc1.sock en_r 0          # EN_R: frames wait (TRCV_C 16#7004)
    ouc plc --control /tmp/plc1.sock req 0100FE0C... # REQ: TSEND_C sends these bytes
    ouc plc --control /tmp/plc1.sock download        # load renewed certificates (< V3.1)

What the partner sees is an option of the endpoint, because the help does not say (inference):
``--com-rst-wire rst|fin`` (default rst: the abort resets TCP), ``--stop-wire fin|rst`` (default
fin: close_notify and FIN), ``--half-close drop|answer`` (default drop: nothing is sent after the
partner's close_notify; answer: frames that came before it are answered, then the connection
closes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ouc.cli import _types
from ouc.drivers import (
    CONTROL_OPS,
    CONTROL_TIMEOUT,
    PlcControl,
    PlcControlServer,
    control_request,
)
from ouc.drivers._active_common import CONT_HINT, RUN_HINT
from ouc.errors import ConfigError, OucError

__all__ = ["add_options", "register", "spec_options", "start_control"]


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--control`` and the inferred wire behaviours, on ``ouc serve`` and ``ouc connect``."""
    parser.add_argument(
        "--control",
        metavar="PATH",
        help="take 'ouc plc' commands (COM_RST, STOP/RUN, CONT, EN_R, REQ) on this Unix "
        "socket; 'ouc connect' then runs with CONT = 1 until Ctrl-C: it stays connected and, "
        "as TSEND_C does, keeps trying while the partner is not up ('ouc plc ... cont 0' stops "
        "trying)",
    )
    parser.add_argument(
        "--half-close",
        choices=("drop", "answer"),
        default="drop",
        help="after the partner's close_notify: drop = send nothing more (default, inference: "
        "at least as strict as the CPU); answer = answer the frames that came before it",
    )
    parser.add_argument(
        "--com-rst-wire",
        choices=("rst", "fin"),
        default="rst",
        help="what the partner sees on COM_RST: a TCP reset (default) or an orderly close "
        "(inference: the help does not say)",
    )
    parser.add_argument(
        "--stop-wire",
        choices=("fin", "rst"),
        default="fin",
        help="what the partner sees on CPU STOP: close_notify and FIN (default) or a TCP "
        "reset (inference: the help does not say)",
    )


def spec_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :meth:`EndpointSpec.from_block` arguments of :func:`add_options`."""
    return {"half_close": args.half_close, "com_rst": args.com_rst_wire, "stop": args.stop_wire}


def start_control(
    args: argparse.Namespace,
    endpoint: Any,
    *,
    name: str,
    loop: asyncio.AbstractEventLoop | None = None,
) -> PlcControlServer | None:
    """Serve ``endpoint``'s controls on ``--control`` (None without it); stop() it after."""
    if not args.control:
        return None
    server = PlcControlServer(PlcControl(endpoint, loop), args.control, name=name)
    return server.start()  # type: ignore[return-value]


#: Connection states that are over: an active endpoint still shows its last connection's
#: blocks (their STATUS is what a PLC program reads), but it is not counted as a connection.
_ENDED = frozenset({"closed", "failed", "aborted"})


def _live(state: dict[str, Any]) -> int:
    """The connections that are up or coming up (the table's header and JSON ``live``)."""
    return sum(conn["state"] not in _ENDED for conn in state["connections"])


def _table(state: dict[str, Any]) -> str:
    flag = {True: "1", False: "0"}
    live = _live(state)
    lines = [
        f"{state['device']} {state['block']}  CPU {state['cpu']}  CONT {flag[state['cont']]}  "
        f"EN_R {flag[state['en_r']]}  connections {live}"
    ]
    for conn in state["connections"]:
        lines.append(f"  {conn['state']:<14} TSEND_C {conn['TSEND_C']}  TRCV_C {conn['TRCV_C']}")
    if "certificates" in state:  # the answer to download
        lines.append(f"  {state['certificates'] or 'certificates unchanged: nothing to load'}")
    return "\n".join(lines)


def _plc(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"op": args.op}
    if args.op in ("cont", "en_r"):
        if args.value not in ("0", "1"):
            raise ConfigError(f"{args.op} takes 0 or 1", path=args.op)
        request["value"] = args.value == "1"
    elif args.op == "req":
        if args.value is None:
            raise ConfigError("req takes the bytes to send, as hex", path="req")
        try:
            data = _types.hex_bytes(args.value)
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(str(exc), path="req") from None
        request["data"] = data.hex()
        request["len"] = args.len
    elif args.value is not None:
        raise ConfigError(f"{args.op} takes no value", path=args.op)
    try:
        answer = control_request(
            args.control,
            request,
            timeout=CONTROL_TIMEOUT + 5.0,  # the endpoint gives up after CONTROL_TIMEOUT
            name="the endpoint",
            start_hint="start it with 'ouc serve --control PATH' or 'ouc connect --control PATH'",
        )
    except OucError as exc:
        raise _in_plc_words(exc, args.control) from None
    state = answer["state"]
    # JSON ``connections`` lists the rows the table shows; ``live`` is the header's count.
    print(json.dumps({**state, "live": _live(state)}, indent=2) if args.json else _table(state))
    return 0


def _in_plc_words(exc: OucError, control: str) -> OucError:
    """``exc`` with the Python call its message names replaced by the ``ouc plc`` command
    that does the same (the CPU's RUN, CONT 1)."""
    words = {
        RUN_HINT: f"'ouc plc --control {control} run' brings it back",
        CONT_HINT: f"CONT is 0: 'ouc plc --control {control} cont 1' connects",
    }
    message = exc.message
    for api, command in words.items():
        message = message.replace(api, command)
    if message == exc.message:
        return exc
    return type(exc)(message, status=exc.status, path=exc.path)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc plc``."""
    p = sub.add_parser(
        "plc",
        help="the PLC program's controls of a running serve/connect: COM_RST, STOP/RUN, ...",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "op",
        choices=list(CONTROL_OPS),
        help="; ".join(f"{op}: {what}" for op, what in CONTROL_OPS.items()),
    )
    p.add_argument("value", nargs="?", help="0/1 for cont and en_r, hex bytes for req")
    p.add_argument("--control", required=True, metavar="PATH", help="the endpoint's socket")
    p.add_argument(
        "--len", type=_types.nonnegative_int, default=0, metavar="N", help="LEN for req (0: all)"
    )
    p.add_argument("--json", action="store_true", help="the state as JSON")
    p.set_defaults(func=_plc)
