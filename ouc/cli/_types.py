"""Argument types for every ``ouc`` command: values are checked where they are typed.

Each function here is an ``argparse`` ``type=``: it takes the text of one argument and returns
the value, or raises :class:`argparse.ArgumentTypeError` with a short reason. argparse then
prints one line that names the flag (``ouc serve: error: argument --port: ...``) and exits 2,
before any store is opened or socket bound (``--bind`` binds its address once, to refuse one
this host does not have, and releases it). So the library below never sees a port of 70000, a
timeout of -1, a clock in the year 10000 or a common name with undecodable bytes, and no error
line has to name a Python argument.

Text from the command line can hold lone surrogates: Python decodes argv bytes that are not
UTF-8 with ``surrogateescape``. Anything that ends up in a certificate, the store's index or
the output must be real text, so the text types refuse them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import ipaddress
import math
import re
import socket
from collections.abc import Callable
from pathlib import Path

from ouc._input import MAX_SECONDS
from ouc.device import Family, known_firmware
from ouc.errors import OucError

__all__ = [
    "bind_address",
    "cert_id",
    "common_name",
    "conn_id",
    "days",
    "device_name",
    "family",
    "firmware",
    "hash_name",
    "hex_bytes",
    "ipv4",
    "ipv4_target",
    "key_type",
    "length",
    "moment",
    "new_file",
    "nonnegative_int",
    "port",
    "port_or_zero",
    "positive_int",
    "seconds",
    "template",
    "text",
    "uri",
]

#: Latest moment an emulated clock may show: X.509 times end at 9999-12-31, and a certificate
#: made at that clock still needs room for its validity.
_LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Longest validity ``--days`` accepts: 100 years, far beyond any PLC certificate.
MAX_DAYS = 36500
#: Largest LEN of TSEND_C/TRCV_C on any CPU (S7-1500: 65536, domain.md §2).
MAX_LEN = 65536
#: Certificate IDs are UDInt (TLSServerCertRef/TLSClientCertRef), as the store's MAX_ID.
MAX_CERT_ID = 2**32 - 1
#: The ID input of TSEND_C/TRCV_C and a block's ID: CONN_OUC (Word), 1..4095 (domain.md §2).
MAX_CONN_ID = 4095
#: RFC 3986: scheme ":" and something after it (urn:..., opc.tcp://host:4840, https://...).
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_INT = re.compile(r"^\s*[+-]?\d{1,20}\s*$")


def _fail(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def text(value: str) -> str:
    """Any text that is valid Unicode (no bytes that were not UTF-8 on the command line)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise _fail(f"{shown!r} is not valid UTF-8 text") from None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise _fail(f"{value!r} holds control characters")
    return value


def _integer(value: str, low: int, high: int | None, what: str) -> int:
    if not _INT.match(text(value)):
        raise _fail(f"{value!r} is not a whole number")
    number = int(value)
    if number < low or (high is not None and number > high):
        span = f"{low}..{high}" if high is not None else f"{low} or more"
        raise _fail(f"{what} must be {span}, got {number}")
    return number


def port(value: str) -> int:
    """A TCP port, 1..65535."""
    return _integer(value, 1, 65535, "a port")


def port_or_zero(value: str) -> int:
    """A TCP port to listen on, 1..65535, or 0 for any free port."""
    return _integer(value, 0, 65535, "a port (0: any free port)")


def ipv4(value: str) -> str:
    """An IPv4 address written as one (192.168.0.1): a PLC's addresses are, and ouc looks up
    no names (``nohost`` or ``300.1.1.1`` would otherwise go to the resolver and fail as an
    unreachable partner)."""
    host = text(value).strip()
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise _fail(
            f"{value!r} is not an IPv4 address such as 192.168.0.1 (a PLC's address is one; "
            "ouc looks up no names)"
        ) from None
    return host


def _ipv4_port(value: str, low_port: int) -> tuple[str, int | None]:
    """``HOST[:PORT]`` with an IPv4 HOST; the port None when not given."""
    host, sep, number = text(value).strip().rpartition(":")
    if not sep:
        return ipv4(number), None
    return ipv4(host), _integer(number, low_port, 65535, "a port")


def ipv4_target(value: str) -> str:
    """``HOST[:PORT]`` to connect to: an IPv4 address, a port 1..65535; returns the text."""
    _ipv4_port(value, 1)
    return value.strip()


def bind_address(value: str) -> tuple[str, int]:
    """``HOST[:PORT]`` to connect from: an IPv4 address of this host (port 0 or none: any).

    The address is bound once here and released, so one this host does not have is refused as
    ``--bind``'s error before anything starts, not reported as a partner that cannot be reached
    (16#80C6) on every attempt. A port in use is let through: each attempt then fails with
    16#80A1 (local port in use), which names the cause.
    """
    host, number = _ipv4_port(value, 0)
    port = number or 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRNOTAVAIL:
                raise _fail(
                    f"{host} is not an address of this host ({reason}); give one it has, "
                    "e.g. 127.0.0.2, or leave --bind out"
                ) from None
            if exc.errno == errno.EADDRINUSE:
                # The port is busy now; it may be free when the connect comes, and if not the
                # attempt fails with the PLC's 16#80A1, which names the cause, not the peer.
                return host, port
            raise _fail(f"cannot bind {host}:{port}: {reason}") from None
    return host, port


def positive_int(value: str) -> int:
    """A count of 1 or more (bounded so it fits every counter below)."""
    return _integer(value, 1, 2**31 - 1, "the number")


def nonnegative_int(value: str) -> int:
    """A count of 0 or more."""
    return _integer(value, 0, 2**31 - 1, "the number")


def length(value: str) -> int:
    """A TSEND_C/TRCV_C LEN: 1..65536 (the device may allow less; it says so later)."""
    return _integer(value, 1, MAX_LEN, "LEN")


def cert_id(value: str) -> int:
    """A certificate ID: 1..4294967295 (UDInt; 0 means "no certificate" in a block)."""
    return _integer(value, 1, MAX_CERT_ID, "a certificate ID")


def conn_id(value: str) -> int:
    """A connection ID (the ID input of TSEND_C/TRCV_C): 1..4095."""
    return _integer(value, 1, MAX_CONN_ID, "a connection ID")


def hex_bytes(value: str) -> bytes:
    """Bytes typed as hex: ``0100FE0C``, ``01 00 fe 0c``, ``01:00:FE:0C`` or with ``0x``; any
    white space, line breaks too (``xxd -p`` output), is left out."""
    cleaned = text("".join(value.split())).replace(":", "")
    cleaned = cleaned[2:] if cleaned.lower().startswith("0x") else cleaned
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise _fail(f"{value!r} is not hex bytes such as '00 40 00 01'") from None


def days(value: str) -> int:
    """A validity in days: 1..36500."""
    return _integer(value, 1, MAX_DAYS, "the validity in days")


def seconds(value: str) -> float:
    """A timeout in seconds: more than 0, at most 30 days, finite."""
    try:
        number = float(text(value))
    except ValueError:
        raise _fail(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
        raise _fail(f"must be more than 0 and at most {MAX_SECONDS:.0f} seconds, got {value!r}")
    return number


def moment(value: str) -> str:
    """An ISO date/time for an emulated clock (naive means UTC), 1970..9000; returns the text.

    The text is returned unchanged (the commands parse it again with ``fromisoformat``), so
    this type only guarantees it parses and lies in the range certificates can express.
    """
    try:
        when = dt.datetime.fromisoformat(text(value).strip())
    except ValueError:
        raise _fail(f"{value!r} is not an ISO date/time such as 2026-01-31T12:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        in_range = _EARLIEST <= when < _LATEST
    except OverflowError:  # pragma: no cover - an offset that pushes it past year 9999
        in_range = False
    if not in_range:
        raise _fail(f"{value!r} is outside 1970-01-01..8999-12-31")
    return value.strip()


def family(value: str) -> str:
    """A CPU family: S7-1200 or S7-1500 (returned in that spelling)."""
    norm = text(value).strip().upper().replace("S7_", "S7-")
    try:
        return Family(norm).value
    except ValueError:
        raise _fail(f"unknown CPU family {value!r}; use S7-1200 or S7-1500") from None


def firmware(value: str) -> str:
    """A firmware version that some S7-1200 or S7-1500 runs, such as V3.1 or V4.5.

    Which family runs it is checked where both are known (:func:`ouc.device.known_firmware`).
    """
    match = re.match(r"^[Vv]?(\d{1,2})\.(\d{1,2})(?:\.\d{1,3})?$", text(value).strip())
    if not match:
        raise _fail(f"{value!r} is not a firmware version such as V3.1")
    version = int(match.group(1)), int(match.group(2))
    if not any(version in known_firmware(fam) for fam in Family):
        known = ", ".join(
            f"{fam.value} V{min(known_firmware(fam))[0]}.{min(known_firmware(fam))[1]}"
            f"..V{max(known_firmware(fam))[0]}.{max(known_firmware(fam))[1]}"
            for fam in Family
        )
        raise _fail(f"no CPU runs firmware {value!r} (known: {known})")
    return f"V{version[0]}.{version[1]}"


def device_name(value: str) -> str:
    """A device (PLC) name: 1..128 characters of text, no leading/trailing blanks."""
    name = text(value)
    if not name.strip() or len(name) > 128 or name != name.strip():
        raise _fail(f"{value!r}: a device name needs 1..128 characters without outer blanks")
    return name


def common_name(value: str) -> str:
    """A certificate's common name: 1..64 characters (the X.509 upper bound)."""
    name = text(value)
    if not 1 <= len(name) <= 64:
        raise _fail(f"a common name needs 1..64 characters, got {len(name)}")
    return name


def uri(value: str) -> str:
    """A URI for a certificate's subjectAltName: a scheme, a colon and something after it
    (``urn:example:plc1``, ``opc.tcp://192.168.0.1:4840``), no blanks (RFC 3986)."""
    name = text(value).strip()
    if not _URI.match(name):
        raise _fail(
            f"{value!r} is not a URI: write a scheme, a colon and the rest, e.g. "
            "urn:example:plc1 or opc.tcp://192.168.0.1:4840"
        )
    return name


def _library(parse: Callable[[str], object]) -> Callable[[str], str]:
    """A type that checks its text with the library's own parser and keeps the text."""

    def check(value: str) -> str:
        try:
            parse(text(value))
        except OucError as exc:
            raise _fail(exc.message) from None
        return value

    check.__name__ = getattr(parse, "__name__", "value")
    return check


def key_type(value: str) -> str:
    """A key type of the certificate manager: EC-P256, RSA-2048, ..."""
    from ouc.certs._keys import KEY_TYPES

    if text(value) not in KEY_TYPES:
        raise _fail(f"unknown key type {value!r}; use one of {', '.join(KEY_TYPES)}")
    return value


def hash_name(value: str) -> str:
    """A signature hash: SHA256, SHA384, SHA512, SHA1."""
    from ouc.certs._keys import HASH_NAMES

    if text(value).upper() not in HASH_NAMES:
        raise _fail(f"unknown hash {value!r}; use one of {', '.join(HASH_NAMES)}")
    return value.upper()


def template(value: str) -> str:
    """A certificate template: tls, tls-client, web, opcua or ca."""
    from ouc.certs import Template

    return _library(Template.from_text)(value)


def new_file(value: str) -> str:
    """A file to write: its folder must exist (ouc never creates folders for it)."""
    if not value:
        raise _fail("the file name is empty")
    if value == "-":
        return value
    parent = Path(value).parent
    if not parent.is_dir():
        raise _fail(f"folder {str(parent)!r} does not exist (create it first)")
    if Path(value).is_dir():
        raise _fail(f"{value!r} is a folder, not a file")
    return value
