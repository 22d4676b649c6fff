"""A hand-edited ``index.json`` is checked field by field when the store opens.

Anything the store would misread or act on (a path outside the store, a wrong type, an ID out of
range, a device naming unknown IDs) is the one-line "index is damaged" error that names the ID
and the field and says how to recover; ouc never deletes a file outside the store because the
index names it, and never crashes with an internal error on a wrong type.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.cli import main
from ouc.drivers import example_store
from ouc.errors import StoreError

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
Doc = dict[str, Any]


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


def _edit(store: CertStore, change: Callable[[Doc], None]) -> None:
    path = store.path / "index.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _entry(doc: Doc, cert_id: int) -> Doc:
    found: Doc = next(e for e in doc["certificates"] if e["id"] == cert_id)
    return found


def _set(cert_id: int, field: str, value: object) -> Callable[[Doc], None]:
    return lambda doc: _entry(doc, cert_id).__setitem__(field, value)


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "internal error" not in lines[0] and "Traceback" not in captured.err
    return lines[0]


def test_a_cert_file_outside_the_store_is_refused_and_the_victim_stays(
    store: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim" / "x.pem"
    victim.parent.mkdir()
    victim.write_bytes((store.path / "certs" / "0011-r1.pem").read_bytes())
    _edit(store, _set(11, "cert_file", "../victim/x.pem"))
    line = _one_error_line(capsys, ["certs", "renew", "11", "--store", str(store.path)])
    assert 'the store\'s index is damaged (ID 11: cert_file is str "../victim/x.pem"' in line
    assert "not certs/NAME inside the store" in line and "restore index.json" in line
    assert victim.exists()


def test_an_absolute_key_file_is_refused_and_the_key_stays(
    store: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "x.key"
    victim.write_bytes((store.path / "keys" / "0011-r1.key").read_bytes())
    _edit(store, _set(11, "key_file", str(victim)))
    line = _one_error_line(capsys, ["certs", "delete", "11", "--store", str(store.path)])
    assert "(ID 11: key_file is str" in line and "not keys/NAME inside the store" in line
    assert victim.exists()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_set(11, "cert_file", None), "ID 11: cert_file is null, not certs/NAME"),
        (_set(11, "cert_file", 5), "ID 11: cert_file is int 5, not certs/NAME"),
        (_set(11, "cert_file", "keys/0011-r1.key"), "ID 11: cert_file is str"),
        (_set(11, "cert_file", "certs/sub/x.pem"), "ID 11: cert_file is str"),
        (_set(11, "cert_file", "certs/.."), "ID 11: cert_file is str"),
        (_set(11, "key_file", "keys/../../x.key"), "ID 11: key_file is str"),
        (_set(11, "revision", "two"), 'ID 11: revision is str "two", not a whole number'),
        (_set(11, "revision", 0), "ID 11: revision is 0, not 1 or more"),
        (_set(9, "id", 9.7), "a certificate's id is float 9.7, not an ID in 1..4294967295"),
        (_set(9, "id", True), "a certificate's id is bool true, not an ID"),
        (_set(9, "id", 2**40), "a certificate's id is int 1099511627776, not an ID"),
        (_set(9, "id", 0), "a certificate's id is int 0, not an ID"),
        (_set(11, "id", 9), "ID 9 is listed twice"),
        (_set(11, "legacy", "no"), 'ID 11: legacy is str "no", not true or false'),
        (_set(11, "key_encrypted", 1), "ID 11: key_encrypted is int 1, not true or false"),
        (_set(11, "issuer_id", "3"), 'ID 11: issuer_id is str "3", not an ID'),
        (_set(11, "owner", "me"), "ID 11: unknown field 'owner'"),
        (lambda d: d.__setitem__("retired", [11]), "ID 11 is both live and retired"),
        (lambda d: d.__setitem__("retired", [2**40]), "a retired ID is int 1099511627776"),
        (
            lambda d: d["devices"].__setitem__("PLC_1", list(range(1, 70))),
            "device 'PLC_1': ID 4 is not in the store",
        ),
        (
            lambda d: d["devices"].__setitem__("PLC_1", [9, 3, 9]),
            "device 'PLC_1': 3 IDs, or one twice",
        ),
        (lambda d: d["devices"].__setitem__("PLC_1", [9, 12]), "ID 12 is not in the store"),
        (lambda d: d["devices"].__setitem__(" PLC_1", [9]), "a device name needs 1..128"),
        (
            lambda d: d["revocations"].__setitem__(
                "3", {"crl_number": 1, "entries": [["ZZ", NOW.isoformat()]], "crl_file": None}
            ),
            'the revocation list of CA 3: serial str "ZZ" is not upper-case hex',
        ),
        (
            lambda d: d["revocations"].__setitem__(
                "3", {"crl_number": 1, "entries": [["1A", "yesterday"]], "crl_file": None}
            ),
            'CA 3: revocation date str "yesterday" is not an ISO date',
        ),
        (
            lambda d: d["revocations"].__setitem__(
                "3", {"crl_number": "1", "entries": [], "crl_file": None}
            ),
            "CA 3: crl_number is str",
        ),
        (
            lambda d: d["revocations"].__setitem__(
                "3", {"crl_number": 1, "entries": [], "crl_file": "/etc/passwd"}
            ),
            'CA 3: crl_file is str "/etc/passwd", not crls/NAME',
        ),
        (
            lambda d: d["revocations"].__setitem__(
                "x", {"crl_number": 1, "entries": [], "crl_file": None}
            ),
            'a revocation list\'s CA is str "x"',
        ),
    ],
)
def test_a_field_of_the_wrong_type_or_range_is_one_damaged_line(
    store: CertStore,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Doc], None],
    why: str,
) -> None:
    _edit(store, change)
    with pytest.raises(StoreError) as caught:
        CertStore(store.path)
    assert caught.value.message.startswith("the store's index is damaged (")
    assert why in caught.value.message
    assert "restore index.json from a backup" in caught.value.message
    line = _one_error_line(capsys, ["certs", "list", "--store", str(store.path)])
    assert why in line


def test_an_untouched_example_index_and_its_round_trip_still_open(store: CertStore) -> None:
    # The check accepts every index ouc writes: revocations, devices, retired IDs, null fields.
    store.revoke(11, now=NOW)
    store.delete(11)
    keyless = store.add(store.certificate(9))
    reopened = CertStore(store.path)
    assert reopened.ids() == [1, 2, 3, 9, keyless] and not reopened.has_private_key(keyless)
    assert reopened.is_revoked(9) is False and reopened.crl(3) is not None
    assert reopened.id_available(11) is False


def test_a_negative_revoked_serial_the_store_wrote_reads_back(store: CertStore) -> None:
    # f"{serial:X}" of a negative serial (an imported list may hold one) starts with "-".
    def revoke_negative(doc: Doc) -> None:
        doc["revocations"]["3"] = {
            "crl_number": 1,
            "entries": [["-1A", NOW.isoformat()], ["1" * 60, NOW.isoformat()]],
            "crl_file": None,
        }

    _edit(store, revoke_negative)
    assert CertStore(store.path).ids() == [1, 2, 3, 9, 11]
