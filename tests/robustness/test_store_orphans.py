"""A store write that fails half-way (a full disk) leaves files no index names; the next writer
moves them to ``leftovers/`` (never deletes them: they may be the current files of an index
restored from a backup), and the store stays usable.

The failure is injected where the disk would report it: the store's atomic file write raises
the StoreError it raises for ENOSPC, for the certificate file or for the index (the commit).
"""

from __future__ import annotations

import datetime as dt
import errno
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import ouc.certs._index as index_module
import ouc.certs._storebase as storebase
from ouc.certs import CertStore, PrivateKey, Template
from ouc.cli import main
from ouc.drivers import example_store
from ouc.errors import CertError, StoreError

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


def _disk_full(path: Path) -> StoreError:
    return StoreError(f"cannot write {path}: {errno.errorcode[errno.ENOSPC]}", path=str(path))


def _create(store: CertStore) -> int:
    return store.create(
        common_name="PLC_9",
        template=Template.TLS_CLIENT_SERVER,
        now=NOW,
        issuer_id=3,
        ip_sans=["192.168.0.9"],
    )


def _files(store: CertStore, folder: str) -> set[str]:
    return {p.name for p in (store.path / folder).iterdir()}


@pytest.mark.parametrize("fails", ["certificate", "index"])
def test_the_next_writer_moves_orphans_aside(
    store: CertStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fails: str,
) -> None:
    keys_before, certs_before = _files(store, "keys"), _files(store, "certs")
    real_write = storebase.write_atomic

    def failing_cert_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
        if path.parent.name == "certs":
            raise _disk_full(path)
        real_write(path, data, mode=mode)

    def failing_index(folder: Path, index: object) -> None:
        raise _disk_full(folder / "index.json")

    if fails == "certificate":
        monkeypatch.setattr(storebase, "write_atomic", failing_cert_write)
    else:
        monkeypatch.setattr(storebase, "write_index", failing_index)
    with pytest.raises(StoreError, match="ENOSPC"):
        _create(store)
    monkeypatch.undo()

    orphans = (_files(store, "keys") - keys_before) | (_files(store, "certs") - certs_before)
    assert orphans, "the injected failure left no orphan: the test would prove nothing"
    assert all(name.startswith("0012-r1.") for name in orphans)
    (store.path / "notes.txt").write_text("the user's own file stays")

    # The next writer (another process: a fresh CertStore, as the CLI opens one) moves them
    # aside and says so.
    assert main(["certs", "assign", "PLC_1", "3", "--store", str(store.path)]) == 0
    err = capsys.readouterr().err
    assert f"ouc: warning: {store.path}: moved {len(orphans)} file(s)" in err
    assert _files(store, "keys") == keys_before and _files(store, "certs") == certs_before
    assert _files(store, "leftovers") == orphans
    assert not list(store.path.rglob("*.tmp"))
    assert (store.path / "notes.txt").exists()
    assert CertStore(store.path).leftovers() == [store.path / "notes.txt"]

    # And the store works as before: list, and the create that failed now succeeds.
    assert main(["certs", "list", "--store", str(store.path)]) == 0
    assert "PLC_1" in capsys.readouterr().out
    new_id = _create(CertStore(store.path))
    assert CertStore(store.path).certificate(new_id).subject.rfc4514_string() == "CN=PLC_9"


def test_untouched_index_module_is_the_one_patched() -> None:
    # The test above patches write_index where the store calls it; if the store ever imports
    # it differently, the patch would silently miss and the test must notice.
    assert storebase.write_index is index_module.write_index


@pytest.mark.parametrize(
    ("start", "days"),
    [(NOW, 99999999), (dt.datetime(9999, 12, 1, tzinfo=dt.UTC), 730), (NOW, 0), (NOW, -5)],
)
def test_validity_beyond_x509_is_a_cert_error(
    store: CertStore, start: dt.datetime, days: int
) -> None:
    # The library API has no argparse in front of it: create and renew refuse by themselves.
    before = store.ids()
    with pytest.raises(CertError, match="9999-12-31") as info:
        store.create(
            common_name="X",
            template=Template.TLS_CLIENT_SERVER,
            now=start,
            days=days,
            ip_sans=["192.168.0.5"],
        )
    assert info.value.path == "days"
    if start == NOW:  # at 9999-12-01 CA 3 itself is expired, which renew says first
        with pytest.raises(CertError, match="9999-12-31"):
            store.renew(9, now=start, days=days)
    assert CertStore(store.path).ids() == before


def test_export_never_creates_folders(store: CertStore, tmp_path: Path) -> None:
    # The library refuses too, not only the command line's argument check.
    target = tmp_path / "no" / "such" / "x.pem"
    with pytest.raises(StoreError, match="No such file or directory"):
        store.export(9, target)
    assert not (tmp_path / "no").exists()


def test_a_restored_index_never_costs_the_current_key(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store's own advice for a damaged index is "restore index.json from a backup". The
    files of a later renewal are then named by no index; the next write must not delete them."""
    backup = (store.path / "index.json").read_bytes()
    common = ["--store", str(store.path)]
    assert main(["certs", "renew", "9", "--new-key", *common]) == 0
    current_key = (store.path / "keys" / "0009-r2.key").read_bytes()
    current_cert = (store.path / "certs" / "0009-r2.pem").read_bytes()
    (store.path / "index.json").write_bytes(backup)
    capsys.readouterr()

    argv = ["certs", "create", "--template", "tls", "--cn", "PLC_9", "--issuer", "3"]
    assert main([*argv, "--ip", "192.168.0.9", *common]) == 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ouc: warning: ")
    assert "moved 2 file(s)" in lines[0] and "0009-r2.key" in lines[0]
    assert "restored from a backup" in lines[0]

    aside = store.path / "leftovers"
    assert (aside / "0009-r2.key").read_bytes() == current_key
    assert (aside / "0009-r2.pem").read_bytes() == current_cert
    assert stat.S_IMODE(aside.stat().st_mode) == 0o700
    assert stat.S_IMODE((aside / "0009-r2.key").stat().st_mode) == 0o600

    # The current certificate and key go back under their ID from there.
    replace = ["certs", "replace", "9", str(aside / "0009-r2.pem"), "--key"]
    assert main([*replace, str(aside / "0009-r2.key"), *common]) == 0
    reopened = CertStore(store.path)
    assert (
        reopened.private_key(9).public_key()
        == load_pem_private_key(  # type: ignore[union-attr]
            current_key, None
        ).public_key()
    )


def test_a_second_orphan_of_the_same_name_is_kept_beside_the_first(store: CertStore) -> None:
    for text in ("first", "second"):
        (store.path / "certs" / "0099-r1.pem").write_text(text)
        assert CertStore(store.path).assign("PLC_1", [3]) == (9, 3)
    aside = store.path / "leftovers"
    assert sorted(p.read_text() for p in aside.iterdir()) == ["first", "second"]


def test_only_our_own_temp_files_are_deleted(store: CertStore) -> None:
    own = store.path / "keys" / ".0012-r1.key.0badc0de.tmp"
    own.write_text("half a key")
    user = store.path / "keys" / "notes.tmp"
    user.write_text("not ours")
    CertStore(store.path).assign("PLC_1", [3])
    assert not own.exists() and not user.exists()
    assert (store.path / "leftovers" / "notes.tmp").read_text() == "not ours"


def test_clean_deletes_only_on_request(store: CertStore) -> None:
    orphan = store.path / "certs" / "0099-r1.pem"
    orphan.write_text("x")
    reopened = CertStore(store.path)
    assert reopened.leftovers() == [orphan]
    assert reopened.clean() == [orphan]
    assert not orphan.exists() and not (store.path / "leftovers").exists()


@pytest.mark.parametrize(
    ("argv", "inside"),
    [
        (["11", "certs/0009-r1.pem"], "certs/0009-r1.pem"),
        (["9", "keys/0011-r1.der", "--key"], "keys/0011-r1.der"),
        (["3", "ca3.crl"], "ca3.crl"),
        (["9", "index.json.pem"], "index.json.pem"),
        (["9", "LINK/certs/0011-r1.pem"], "LINK/certs/0011-r1.pem"),
    ],
)
def test_export_never_writes_into_the_store(
    store: CertStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    inside: str,
) -> None:
    # Through a symlink too: the target is resolved before the check.
    (tmp_path / "LINK").symlink_to(store.path)
    before = {p: p.read_bytes() for p in store.path.rglob("*") if p.is_file()}
    target = (tmp_path / inside) if inside.startswith("LINK") else store.path / inside
    cmd = ["certs", "export", argv[0], str(target), *argv[2:], "--store", str(store.path)]
    assert main(cmd) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"ouc: error: {target}: the export target is inside the store folder {store.path}, "
        "whose files only ouc writes; export to a file outside it"
    ]
    after = {p: p.read_bytes() for p in store.path.rglob("*") if p.is_file()}
    assert after == before
    assert CertStore(store.path).certificate(9).subject.rfc4514_string() == "CN=PLC_1"


def test_export_next_to_the_store_is_fine(store: CertStore, tmp_path: Path) -> None:
    # A sibling whose name starts like the store's is outside it.
    sibling = tmp_path / "store-export"
    sibling.mkdir()
    assert store.export(9, sibling / "x.der", with_key=True) == [
        sibling / "x.der",
        sibling / "x.key",
    ]
