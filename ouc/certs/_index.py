"""The store's ``index.json``: which certificate and key files make up each numeric ID.

The index is the store's single commit point. Certificate, key and CRL files carry the ID and a
revision in their names (``certs/0009-r2.pem``) and are written before the index that names
them, so an interrupted update leaves the previous index, which still names the previous, intact
files. Files no index names are leftovers and ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ouc.certs._atomic import write_atomic
from ouc.errors import StoreError

__all__ = [
    "FORMAT",
    "INDEX_NAME",
    "Entry",
    "Index",
    "Revocations",
    "index_stamp",
    "read_index",
    "write_index",
]

FORMAT = "ouc-certstore/1"
INDEX_NAME = "index.json"


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
        entries = {int(e["id"]): Entry(**e) for e in doc["certificates"]}
        revocations = {
            int(ca): Revocations(
                crl_number=int(rev["crl_number"]),
                entries=tuple((str(s), str(d)) for s, d in rev["entries"]),
                crl_file=rev["crl_file"],
            )
            for ca, rev in doc["revocations"].items()
        }
        return Index(
            entries=entries,
            retired=frozenset(int(i) for i in doc["retired"]),
            devices={str(n): tuple(int(i) for i in ids) for n, ids in doc["devices"].items()},
            revocations=revocations,
        )
    except KeyError as exc:
        raise _damaged(where, f"the field {exc} is missing") from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise _damaged(where, "a field holds a value of the wrong kind") from exc


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
