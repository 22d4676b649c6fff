"""The ``ouc`` command line: one ``main(argv) -> int`` that dispatches to sub-command modules.

Each sub-command lives in its own private module exposing ``register(subparsers)``; the
function it registers takes the parsed arguments and returns the exit status.

``main`` is the boundary where nothing foreign gets through. Values are checked as they are
typed (:mod:`ouc.cli._types`); an :class:`~ouc.errors.OucError` becomes one line on stderr and
exit status 2; an ``OSError`` (a file that cannot be read, a full disk) becomes one line naming
the file; Ctrl-C is ``ouc: interrupted`` and exit 130, also while the sub-command modules are
still being imported. Usage errors and values refused by their type are argparse's one line
and exit 2, returned rather than raised. Anything else is a bug in ouc: one "internal error"
line that says how to report it, exit 2 — and the traceback only with ``ouc --debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from ouc import __version__
from ouc.errors import OucError

__all__ = ["main"]

# Sub-command modules, in the order ``ouc --help`` lists them. They are imported inside
# ``main`` (they pull in cryptography and pyOpenSSL), so Ctrl-C during start-up is handled too.
_MODULES = (
    "_demo",
    "_params",
    "_certs",
    "_db",
    "_endpoints",
    "_plc",
    "_channel",
    "_loadgen",
    "_bench",
)
DEBUG_ENV = "OUC_DEBUG"
REPORT_HINT = (
    "this is a bug in ouc: please report it with the command you ran and the output of "
    "'ouc --debug ...' (or OUC_DEBUG=1)"
)

# Library errors name the Python argument they concern (``path``); on the command line the
# user typed a flag. Keyed by (command, path); command None applies to every command.
_FLAGS: dict[tuple[str | None, str], str] = {
    (None, "key_type"): "--key",
    (None, "hash_name"): "--hash",
    (None, "template"): "--template",
    (None, "common_name"): "--cn",
    (None, "ip_sans"): "--ip",
    (None, "dns_sans"): "--dns",
    (None, "uri_sans"): "--uri",
    (None, "not_after"): "--days/--now",
    (None, "days"): "--days",
    (None, "issuer_id"): "--issuer",
    (None, "family"): "--family",
    (None, "firmware"): "--firmware",
    (None, "own_addresses"): "--own-ip",
    (None, "max_connections"): "--max-connections",
    (None, "handshake_timeout"): "--handshake-timeout",
    (None, "idle_timeout"): "--idle-timeout",
    (None, "password"): "--password-env",
    ("serve", "receive_len"): "--len",
    ("demo", "timeout"): "--timeout",
    ("connect", "receive_len"): "--reply-len (the reply's TRCV_C LEN; default: the length sent)",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"ouc.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    from ouc.cli._parser import OneLineParser

    parser = OneLineParser(
        prog="ouc",
        description=(
            "Emulate Siemens S7-1200/S7-1500 Secure Open User Communication endpoints: "
            "parameter blocks, certificates, data blocks, mock PLCs over real TLS."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ouc {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an internal error (also {DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _MODULES:
        _load(name).register(sub)
    return parser


def _flag_message(exc: OucError, command: str | None) -> str:
    """The error's line, with a Python argument name replaced by the flag the user typed."""
    flag = None
    if exc.path is not None:
        flag = _FLAGS.get((command, exc.path)) or _FLAGS.get((None, exc.path))
    if flag is None:
        return str(exc)
    text = f"{flag}: {exc.message}"
    return text + (f" ({exc.status_text})" if exc.status is not None else "")


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tolerant_output() -> None:
    """Let stdout and stderr show any text: a file name whose bytes are not UTF-8 (Python
    keeps them as lone surrogates) is printed with backslash escapes, ``e\\xff.pem``, instead
    of failing with UnicodeEncodeError after the work is done. Streams that cannot be
    reconfigured (a replaced ``sys.stdout``) are left as they are."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # a closed or detached stream
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 findings, 2 error, 130 Ctrl-C)."""
    _tolerant_output()
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # usage errors and --help/--version: argparse has printed
            return done.code if isinstance(done.code, int) else 2
        debug = debug or args.debug
        status: int = args.func(args)
    except OucError as exc:
        command = getattr(args, "command", None)
        print(f"ouc: error: {_one_line(_flag_message(exc, command))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ouc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # Files and sockets the commands did not translate themselves: the user's to fix.
        print(f"ouc: error: {_one_line(_os_message(exc))}", file=sys.stderr)
        return 2
    except MemoryError:
        print("ouc: error: out of memory", file=sys.stderr)
        return 2
    except Exception as exc:  # the boundary: anything else is a bug, reported in one line
        if debug:
            traceback.print_exc()
        detail = _one_line(f"{type(exc).__name__}: {exc}")[:200]
        print(f"ouc: internal error: {detail}; {REPORT_HINT}", file=sys.stderr)
        return 2
    return status
