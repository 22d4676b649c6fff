"""The store's ``index.json``: which certificate and key files make up each numeric ID.

The index is the store's single commit point. Certificate, key and CRL files carry the ID and a
revision in their names (``certs/0009-r2.pem``) and are written before the index that names
them, so an interrupted update leaves the previous index, which still names the previous, intact
files. Files no index names are leftovers and ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ouc.certs._atomic import write_atomic
from ouc.errors import StoreError

__all__ = [
    "FORMAT",
    "INDEX_NAME",
    "MAX_CRL_NUMBER",
    "MAX_DEVICE_CERTS",
    "MAX_ID",
    "Entry",
    "Index",
    "Revocations",
    "index_stamp",
    "read_index",
    "write_index",
]

FORMAT = "ouc-certstore/1"
INDEX_NAME = "index.json"
#: Certificate IDs are UDInt (TLSServerCertRef / TLSClientCertRef).
MAX_ID = 2**32 - 1
#: A device holds at most 64 certificates/keys, key entries counted too (domain.md §7).
MAX_DEVICE_CERTS = 64
#: The largest CRL number: RFC 5280 5.2.3 allows at most 20 octets (a positive INTEGER).
MAX_CRL_NUMBER = 2**159 - 1


@dataclass(frozen=True)
class Entry:
    """One certificate ID and its files (paths relative to the store folder).

    Attributes:
        template: label of the template it was created from; None for imported certificates.
        legacy: SHA-1 signatures by this CA are accepted (default CA 1).
        default: one of the two default CAs created by ``init``.
        issuer_id: ID of the store CA that issued it; None when self-signed or issuer unknown.
        revision: bumped by renew/replace; part of the file names.
    """

    id: int
    cert_file: str
    key_file: str | None = None
    key_encrypted: bool = False
    template: str | None = None
    legacy: bool = False
    default: bool = False
    issuer_id: int | None = None
    revision: int = 1


@dataclass(frozen=True)
class Revocations:
    """A CA's revocation list: entries (serial as hex, revocation date ISO 8601) and its file."""

    crl_number: int = 0
    entries: tuple[tuple[str, str], ...] = ()
    crl_file: str | None = None


@dataclass(frozen=True)
class Index:
    """The whole index: live entries, retired IDs (never reused), device assignments, CRLs."""

    entries: dict[int, Entry] = field(default_factory=dict)
    retired: frozenset[int] = frozenset()
    devices: dict[str, tuple[int, ...]] = field(default_factory=dict)
    revocations: dict[int, Revocations] = field(default_factory=dict)

    def evolve(
        self,
        *,
        entries: dict[int, Entry] | None = None,
        retired: frozenset[int] | None = None,
        devices: dict[str, tuple[int, ...]] | None = None,
        revocations: dict[int, Revocations] | None = None,
    ) -> Index:
        """A copy with the given parts replaced (the others copied, never shared)."""
        return Index(
            entries=dict(self.entries if entries is None else entries),
            retired=self.retired if retired is None else retired,
            devices=dict(self.devices if devices is None else devices),
            revocations=dict(self.revocations if revocations is None else revocations),
        )

    def next_id(self) -> int:
        """The next automatic ID: one above every ID ever used."""
        return max({0, *self.entries, *self.retired}) + 1

    def files(self) -> set[str]:
        """Every file the index names (relative paths)."""
        names: set[str] = set()
        for entry in self.entries.values():
            names.add(entry.cert_file)
            if entry.key_file:
                names.add(entry.key_file)
        for rev in self.revocations.values():
            if rev.crl_file:
                names.add(rev.crl_file)
        return names


def _to_json(index: Index) -> bytes:
    doc = {
        "format": FORMAT,
        "certificates": [asdict(e) for e in sorted(index.entries.values(), key=lambda e: e.id)],
        "retired": sorted(index.retired),
        "devices": {name: list(ids) for name, ids in sorted(index.devices.items())},
        "revocations": {
            str(ca): {
                "crl_number": rev.crl_number,
                "entries": [list(item) for item in rev.entries],
                "crl_file": rev.crl_file,
            }
            for ca, rev in sorted(index.revocations.items())
        },
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


#: How to get a store back whose index is damaged; the certificate and key files survive it.
RECOVER = (
    "restore index.json from a backup, or start a new store ('ouc certs init --store NEW') and "
    "import the files in certs/ and keys/ (named by ID) with 'ouc certs import FILE --key KEY'"
)


def _damaged(where: str, why: str) -> StoreError:
    return StoreError(f"the store's index is damaged ({why}); {RECOVER}", path=where)


def _from_json(data: bytes, where: str) -> Index:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(where, "not JSON") from exc
    if not isinstance(doc, dict):
        raise _damaged(where, f"a JSON {type(doc).__name__} where an object belongs")
    if doc.get("format") != FORMAT:
        raise StoreError(
            f"not an ouc certificate store index ({FORMAT}); {RECOVER}",
            path=where,
        )
    try:
        return _checked(doc)
    except _SchemaError as exc:
        raise _damaged(where, str(exc)) from None
    except KeyError as exc:
        raise _damaged(where, f"the field {exc} is missing") from exc


class _SchemaError(Exception):
    """One field of the index breaks the schema; the message names it."""


#: Store files are ``certs/NAME``, ``keys/NAME`` or ``crls/NAME``: one name, no separator, no
#: ``..``; anything else could make a hand-edited index point ouc at files outside the store.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: A revocation entry's serial: upper-case hex as the store writes it (``f"{serial:X}"``; an
#: imported list may carry a negative or an over-long one, which the store keeps as it is).
_SERIAL = re.compile(r"-?[0-9A-F]+")


def _kind(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _id(value: object, what: str) -> int:
    """A certificate ID: a JSON integer (not a bool, not a float) in 1..2^32-1 (UDInt)."""
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise _SchemaError(f"{what} is {_kind(value)}, not an ID in 1..{MAX_ID}")
    return value


def _typed(value: object, kind: type, what: str, *, optional: bool = False) -> Any:
    if (value is None and optional) or type(value) is kind:
        return value
    name = {bool: "true or false", str: "a text", int: "a whole number"}[kind]
    raise _SchemaError(f"{what} is {_kind(value)}, not {name}{' or null' if optional else ''}")


def _file(value: object, folder: str, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    name = value[len(folder) + 1 :] if isinstance(value, str) else ""
    if not (
        isinstance(value, str) and value.startswith(folder + "/") and _FILE_NAME.fullmatch(name)
    ):
        raise _SchemaError(f"{what} is {_kind(value)}, not {folder}/NAME inside the store")
    return value


def _entry(raw: object) -> Entry:
    if not isinstance(raw, dict):
        raise _SchemaError(f"a certificate is {_kind(raw)}, not an object")
    cert_id = _id(raw.get("id"), "a certificate's id")
    at = f"ID {cert_id}:"
    unknown = sorted(set(raw) - set(Entry.__dataclass_fields__))
    if unknown:
        raise _SchemaError(f"{at} unknown field {unknown[0]!r}")
    revision = _typed(raw.get("revision", 1), int, f"{at} revision")
    if revision < 1:
        raise _SchemaError(f"{at} revision is {revision}, not 1 or more")
    issuer = raw.get("issuer_id")
    return Entry(
        id=cert_id,
        cert_file=_file(raw.get("cert_file"), "certs", f"{at} cert_file") or "",
        key_file=_file(raw.get("key_file"), "keys", f"{at} key_file", optional=True),
        key_encrypted=_typed(raw.get("key_encrypted", False), bool, f"{at} key_encrypted"),
        template=_typed(raw.get("template"), str, f"{at} template", optional=True),
        legacy=_typed(raw.get("legacy", False), bool, f"{at} legacy"),
        default=_typed(raw.get("default", False), bool, f"{at} default"),
        issuer_id=None if issuer is None else _id(issuer, f"{at} issuer_id"),
        revision=revision,
    )


def _revocations(ca: object, raw: object) -> tuple[int, Revocations]:
    ca_id = _id(int(ca) if isinstance(ca, str) and ca.isdigit() else ca, "a revocation list's CA")
    at = f"the revocation list of CA {ca_id}:"
    if not isinstance(raw, dict):
        raise _SchemaError(f"{at} {_kind(raw)}, not an object")
    number = _typed(raw["crl_number"], int, f"{at} crl_number")
    if not 0 <= number <= MAX_CRL_NUMBER:
        raise _SchemaError(f"{at} crl_number {number} is out of range")
    items = _typed(raw["entries"], list, f"{at} entries")
    entries = []
    for item in items:
        serial, when = item if isinstance(item, list) and len(item) == 2 else (None, None)
        if not (isinstance(serial, str) and _SERIAL.fullmatch(serial)):
            raise _SchemaError(f"{at} serial {_kind(serial)} is not upper-case hex")
        try:
            moment = dt.datetime.fromisoformat(when) if isinstance(when, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _SchemaError(f"{at} revocation date {_kind(when)} is not an ISO date with a zone")
        entries.append((serial, str(when)))
    crl_file = _file(raw["crl_file"], "crls", f"{at} crl_file", optional=True)
    return ca_id, Revocations(crl_number=number, entries=tuple(entries), crl_file=crl_file)


def _checked(doc: dict[str, Any]) -> Index:
    """The index from its JSON document, every field checked for its exact type and range."""
    entries: dict[int, Entry] = {}
    for raw in _typed(doc["certificates"], list, "certificates"):
        entry = _entry(raw)
        if entry.id in entries:
            raise _SchemaError(f"ID {entry.id} is listed twice")
        entries[entry.id] = entry
    retired = frozenset(_id(i, "a retired ID") for i in _typed(doc["retired"], list, "retired"))
    if retired & set(entries):
        raise _SchemaError(f"ID {min(retired & set(entries))} is both live and retired")
    devices: dict[str, tuple[int, ...]] = {}
    raw_devices = doc["devices"]
    if not isinstance(raw_devices, dict):
        raise _SchemaError(f"devices is {_kind(raw_devices)}, not an object")
    for name, ids in raw_devices.items():
        at = f"device {name[:40]!r}:"
        if not 1 <= len(name.strip()) == len(name) <= 128:
            raise _SchemaError(f"{at} a device name needs 1..128 characters, no spaces around")
        listed = tuple(_id(i, f"{at} an ID") for i in _typed(ids, list, f"{at} IDs"))
        unknown = [i for i in listed if i not in entries]
        if unknown:
            raise _SchemaError(f"{at} ID {unknown[0]} is not in the store")
        if len(set(listed)) != len(listed) or not 1 <= len(listed) <= MAX_DEVICE_CERTS:
            raise _SchemaError(f"{at} {len(listed)} IDs, or one twice; a device holds 1..64")
        devices[name] = listed
    raw_revocations = doc["revocations"]
    if not isinstance(raw_revocations, dict):
        raise _SchemaError(f"revocations is {_kind(raw_revocations)}, not an object")
    revocations = dict(_revocations(ca, rev) for ca, rev in raw_revocations.items())
    return Index(entries=entries, retired=retired, devices=devices, revocations=revocations)


def read_index(folder: Path) -> tuple[Index, tuple[int, int, int]]:
    """Read ``folder/index.json``; returns the index and its (inode, mtime_ns, size) stamp."""
    path = folder / INDEX_NAME
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError as exc:
        raise StoreError(
            f"no certificate store here (missing {INDEX_NAME}); run 'ouc certs init'",
            path=str(folder),
        ) from exc
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    return _from_json(data, str(path)), (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def index_stamp(folder: Path) -> tuple[int, int, int] | None:
    """The (inode, mtime_ns, size) of the index, None when missing: cheap change detection."""
    try:
        stat = (folder / INDEX_NAME).stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def write_index(folder: Path, index: Index) -> None:
    """Commit ``index`` atomically (the store's single commit point)."""
    write_atomic(folder / INDEX_NAME, _to_json(index))
