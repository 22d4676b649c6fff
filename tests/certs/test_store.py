"""The on-disk project store: IDs, lifecycle, devices, CRLs, atomicity, key modes (items 1–3)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ouc.certs import (
    MAX_DEVICE_CERTS,
    CertStore,
    PrivateKey,
    Template,
    _atomic,
    build_standard_example,
    create_certificate,
    generate_key,
    verify_peer_chain,
)
from ouc.device import Device, Family, Role
from ouc.errors import CertError, StoreError

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _leaf(store: CertStore, issuer: int = 2, **kw: object) -> int:
    kw.setdefault("common_name", "leaf")
    kw.setdefault("template", Template.TLS_CLIENT_SERVER)
    kw.setdefault("ip_sans", ["10.0.0.1"])
    return store.create(now=NOW, issuer_id=issuer, **kw)  # type: ignore[arg-type]


def test_init_creates_the_two_default_cas(store: CertStore) -> None:
    assert store.ids() == [1, 2]
    ca1, ca2 = store.certificate(1), store.certificate(2)
    assert isinstance(ca1.signature_hash_algorithm, hashes.SHA1)
    assert isinstance(ca2.signature_hash_algorithm, hashes.SHA256)
    rows = {r.id: r for r in store.rows()}
    assert rows[1].legacy and not rows[2].legacy
    assert rows[1].key_type == rows[2].key_type == "RSA-2048"
    assert rows[1].signature_algorithm == "sha1RSA"
    assert rows[2].signature_algorithm == "sha256RSA"
    assert store.is_ca(1) and store.is_ca(2)
    assert store.has_private_key(1) and store.has_private_key(2)


def test_init_refuses_an_existing_store(store: CertStore) -> None:
    with pytest.raises(StoreError):
        CertStore.init(store.path, now=NOW)


def test_init_on_a_file_says_it_is_not_a_folder(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(StoreError, match="is a file, not a folder") as caught:
        CertStore.init(afile, now=NOW)
    assert caught.value.path == str(afile) and afile.read_text() == "mine"


def test_opening_a_folder_without_store_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="ouc certs init"):
        CertStore(tmp_path)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "not JSON"),
        ("[]", "a JSON list where an object belongs"),
        ('"ouc"', "a JSON str where an object belongs"),
        ('{"format": "ouc-certstore/1"}', "the field 'certificates' is missing"),
        (
            '{"format": "ouc-certstore/1", "certificates": [], "retired": [], "devices": [],'
            ' "revocations": {}}',
            "devices is list [], not an object",
        ),
    ],
)
def test_damaged_index_is_a_store_error_that_says_how_to_recover(
    store: CertStore, text: str, why: str
) -> None:
    """Whatever JSON the index holds, opening the store is one StoreError that says the index
    is damaged, why, and how to get the store back; never a Python attribute error."""
    (store.path / "index.json").write_text(text)
    with pytest.raises(StoreError) as caught:
        CertStore(store.path)
    message = caught.value.message
    assert message.startswith(f"the store's index is damaged ({why}); restore index.json")
    assert "ouc certs import FILE --key KEY" in message
    assert caught.value.path == str(store.path / "index.json")


def test_ids_are_unique_and_never_reused(store: CertStore) -> None:
    first = _leaf(store)
    second = _leaf(store)
    assert (first, second) == (3, 4)
    store.delete(second)
    assert _leaf(store) == 5
    with pytest.raises(StoreError, match="never reused"):
        _leaf(store, cert_id=4)
    with pytest.raises(StoreError, match="already used"):
        _leaf(store, cert_id=3)
    assert _leaf(store, cert_id=100) == 100
    assert _leaf(store) == 101


def test_rows_have_the_listing_columns(store: CertStore) -> None:
    cert_id = _leaf(store, common_name="PLC_7", ip_sans=["10.1.1.7"])
    row = {r.id: r for r in store.rows()}[cert_id]
    cert = store.certificate(cert_id)
    assert row.common_name == "PLC_7"
    assert row.serial == f"{cert.serial_number:X}"
    assert row.issuer == "Default CA 2"
    assert row.valid_to == cert.not_valid_after_utc == NOW + 730 * DAY
    assert row.used_as == "TLS Client/Server"
    assert row.private_key is True
    assert row.signature_algorithm == "sha256RSA"  # signed by default CA 2 (RSA)
    assert row.key_length == 256 and row.key_type == "EC-P256"
    assert json.loads(json.dumps(row.as_json()))["id"] == cert_id


def test_show_details(store: CertStore) -> None:
    cert_id = _leaf(store, dns_sans=["plc.example"])
    store.assign("PLC_1", [cert_id])
    info = store.show(cert_id)
    assert info.issuer_id == 2
    assert info.sans == ("IP:10.0.0.1", "DNS:plc.example")
    assert "digital_signature" in info.key_usage
    assert info.extended_key_usage == ("serverAuth", "clientAuth")
    assert info.devices == ("PLC_1",)
    assert info.pem.startswith("-----BEGIN CERTIFICATE-----")
    assert info.as_json()["fingerprint_sha256"].count(":") == 31


def test_device_refuses_unsupported_key_type(store: CertStore) -> None:
    s7_1200 = Device(family=Family.S7_1200, firmware=(4, 6))
    with pytest.raises(CertError, match="S7-1500"):
        store.create(
            common_name="big",
            template=Template.CA,
            now=NOW,
            key_type="RSA-4096",
            device=s7_1200,
        )
    assert store.ids() == [1, 2]  # nothing written


def test_issuer_must_have_a_private_key(store: CertStore) -> None:
    key = generate_key("EC-P256")
    ca = create_certificate(
        common_name="keyless",
        template=Template.CA,
        key=key,
        not_before=NOW - DAY,
        not_after=NOW + DAY,
    )
    keyless = store.add(ca)  # a CA imported without its key
    assert not store.has_private_key(keyless)
    with pytest.raises(CertError, match="no private key"):
        _leaf(store, issuer=keyless)


def test_issuer_must_be_valid_now(store: CertStore) -> None:
    with pytest.raises(CertError, match="not valid"):
        store.create(
            common_name="late", template=Template.TLS_CLIENT, now=NOW + 4000 * DAY, issuer_id=2
        )


def test_key_files_are_0600_and_store_files_not_world_writable(store: CertStore) -> None:
    _leaf(store)
    keys = list((store.path / "keys").iterdir())
    assert len(keys) == 3
    for key_file in keys:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((store.path / "keys").stat().st_mode) & 0o077 == 0
    for cert_file in (store.path / "certs").iterdir():
        assert stat.S_IMODE(cert_file.stat().st_mode) & 0o002 == 0


def test_key_mode_holds_under_a_permissive_umask(
    tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]
) -> None:
    old = os.umask(0)
    try:
        store = CertStore.init(tmp_path / "s", now=NOW, default_ca_keys=ca_keys)
    finally:
        os.umask(old)
    for key_file in (store.path / "keys").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The store folder itself is 0700: under umask 000 a plain mkdir made it 0777, and anybody
    # could have swapped its index.
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    for path in store.path.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o002 == 0, path


def test_an_existing_empty_folder_keeps_its_mode(
    tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o750)
    os.chmod(folder, 0o750)
    CertStore.init(folder, now=NOW, default_ca_keys=ca_keys)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_encrypted_keys_need_the_password(
    tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]
) -> None:
    store = CertStore.init(tmp_path / "s", now=NOW, password="s3cret", default_ca_keys=ca_keys)
    assert store.entry(1).key_encrypted
    text = (store.path / store.entry(1).key_file).read_text()  # type: ignore[operator]
    assert "ENCRYPTED PRIVATE KEY" in text
    assert CertStore(store.path, password="s3cret").private_key(2) is not None
    with pytest.raises(StoreError, match="encrypted"):
        CertStore(store.path).private_key(2)
    with pytest.raises(StoreError):
        CertStore(store.path, password="wrong").private_key(2)


def test_renew_keeps_id_and_key_changes_serial_and_validity(store: CertStore) -> None:
    cert_id = _leaf(store, dns_sans=["a.example"])
    old = store.certificate(cert_id)
    new = store.renew(cert_id, now=NOW + 100 * DAY, days=30)
    assert store.ids().count(cert_id) == 1
    assert store.certificate(cert_id) == new != old
    assert new.serial_number != old.serial_number
    assert new.not_valid_before_utc == NOW + 100 * DAY
    assert new.not_valid_after_utc == NOW + 130 * DAY
    assert new.public_key() == old.public_key()
    assert new.subject == old.subject and new.issuer == old.issuer
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName) == (
        old.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    )
    new.verify_directly_issued_by(store.certificate(2))
    # The old revision's file is gone; the new one is named in the index.
    assert len(list((store.path / "certs").glob(f"{cert_id:04d}-*"))) == 1


def test_renew_with_new_key_of_the_same_type(store: CertStore) -> None:
    cert_id = _leaf(store)
    old = store.certificate(cert_id)
    new = store.renew(cert_id, now=NOW, new_key=True)
    assert new.public_key() != old.public_key()
    key = store.private_key(cert_id)
    assert key is not None and key.public_key() == new.public_key()
    assert new.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]


def test_renew_self_signed_legacy_ca_stays_sha1_and_keeps_issued_certs_valid(
    store: CertStore,
) -> None:
    leaf = _leaf(store, issuer=1)
    renewed = store.renew(1, now=NOW + 10 * DAY)
    assert isinstance(renewed.signature_hash_algorithm, hashes.SHA1)
    verify_peer_chain(
        store.certificate(leaf),
        anchors=[renewed],
        now=NOW + 11 * DAY,
        peer_role=Role.PASSIVE,
        legacy_anchors=[renewed],
    )


def test_replace_keeps_id_and_matching_key(store: CertStore) -> None:
    target = _leaf(store, common_name="old")
    other = _leaf(store, common_name="new")
    new_cert, new_key = store.certificate(other), store.private_key(other)
    store.replace(target, new_cert, new_key)
    assert store.certificate(target) == new_cert
    key = store.private_key(target)
    assert key is not None and key.public_key() == new_cert.public_key()
    assert store.entry(target).issuer_id == 2


def test_replace_refuses_to_lose_a_key_unless_told(store: CertStore) -> None:
    """A new certificate whose key the store lacks would leave the ID without a usable key
    (a later serve fails 16#80E2): refused, store unchanged, unless drop_key says so."""
    target = _leaf(store)
    other = _leaf(store)
    before = store.certificate(target)
    with pytest.raises(CertError, match=r"does not match .*\(--key FILE, or a \.p12") as caught:
        store.replace(target, store.certificate(other))
    assert caught.value.path == f"ID {target}"
    assert store.certificate(target) == before and store.private_key(target) is not None
    assert store.replace(target, store.certificate(other), drop_key=True) == "dropped"
    assert store.private_key(target) is None
    with pytest.raises(CertError, match="does not belong"):
        store.replace(target, store.certificate(other), store.private_key(1))


def test_replace_keeps_the_stored_key_when_the_new_certificate_matches_it(
    store: CertStore,
) -> None:
    target = _leaf(store)
    key = store.private_key(target)
    first = store.certificate(target)
    store.renew(target, now=NOW)  # same key, new serial
    assert store.replace(target, first) == "kept"  # no key given: the stored one matches
    kept = store.private_key(target)
    assert store.certificate(target) == first
    assert key is not None and kept is not None and kept.public_key() == key.public_key()


def test_replace_refuses_a_change_between_ca_and_end_entity(store: CertStore) -> None:
    leaf = _leaf(store, issuer=2)
    with pytest.raises(CertError, match="end-entity certificate and the new one is a CA"):
        store.replace(leaf, store.certificate(2), store.private_key(2))
    with pytest.raises(CertError, match="CA certificate and the new one is an end-entity"):
        store.replace(2, store.certificate(leaf), store.private_key(leaf))
    assert not store.is_ca(leaf) and store.is_ca(2)
    store.replace(leaf, store.certificate(2), store.private_key(2), change_use=True)
    assert store.is_ca(leaf)


def test_delete_refuses_referenced_default_ca(store: CertStore) -> None:
    leaf = _leaf(store, issuer=2)
    with pytest.raises(StoreError, match="still referenced"):
        store.delete(2)
    store.delete(leaf)
    store.assign("PLC_1", [1])
    with pytest.raises(StoreError, match="PLC_1"):
        store.delete(1)
    store.unassign("PLC_1", [1])
    store.delete(1)
    store.delete(2)
    assert store.ids() == []


def test_delete_refuses_a_ca_whose_certificates_are_still_in_the_store(store: CertStore) -> None:
    ca = store.create(common_name="CA 3", template=Template.CA, now=NOW)
    leaves = [_leaf(store, issuer=ca), _leaf(store, issuer=ca)]
    with pytest.raises(
        StoreError, match=rf"CA {ca} is still referenced by ID {leaves[0]}, ID {leaves[1]}"
    ):
        store.delete(ca)
    assert ca in store.ids()
    for leaf in leaves:
        store.delete(leaf)
    store.delete(ca)
    assert ca not in store.ids()


def test_delete_drops_device_assignments(store: CertStore) -> None:
    leaf = _leaf(store)
    store.assign("PLC_1", [leaf, 2])
    store.delete(leaf)
    assert store.device_ids("PLC_1") == (2,)


def test_assign_at_most_64_entries_per_device_keys_count_too(store: CertStore) -> None:
    """domain.md §7: "A device holds at most 64 certificates/keys (key entries count too)"."""
    assert MAX_DEVICE_CERTS == 64
    ca = store.create(common_name="many", template=Template.CA, now=NOW)
    keyed = [
        store.create(common_name=f"c{i}", template=Template.TLS_CLIENT, now=NOW, issuer_id=ca)
        for i in range(30)
    ]
    # Certificates without a key in the store (imported alone) count once.
    keyless = [store.add(store.certificate(i)) for i in (1, 2, keyed[0])]
    assert not any(store.has_private_key(i) for i in keyless)
    assert len(store.assign("PLC_1", [ca, *keyed, *keyless[:2]])) == 33  # 31 * 2 + 2 = 64
    assert store.assign("PLC_1", [ca]) == store.device_ids("PLC_1")  # no duplicates
    with pytest.raises(StoreError) as caught:
        store.assign("PLC_1", [keyless[2]])
    assert caught.value.message == (
        "device PLC_1 would hold 65 entries (34 certificates, 31 of them with their private "
        "key); a device holds at most 64 certificates/keys, a private key counting as one more"
    )
    assert len(store.device_ids("PLC_1")) == 33
    with pytest.raises(StoreError, match=r"^ID 999: no certificate with this ID in the store"):
        store.assign("PLC_2", [999])


def test_revoke_writes_a_crl_per_ca(store: CertStore) -> None:
    a, b, c = _leaf(store, issuer=2), _leaf(store, issuer=2), _leaf(store, issuer=1)
    store.revoke(a, now=NOW)
    crl = store.revoke(b, now=NOW + DAY)
    assert store.revoke(b, now=NOW + DAY) is not None  # revoking twice lists it once
    crl = store.crl(2)
    assert crl is not None and crl.is_signature_valid(store.certificate(2).public_key())  # type: ignore[arg-type]
    serials = {r.serial_number for r in crl}
    assert serials == {store.certificate(a).serial_number, store.certificate(b).serial_number}
    assert store.crl(1) is None
    store.revoke(c, now=NOW)
    assert len(store.crls()) == 2
    assert store.is_revoked(a) and not store.is_revoked(2)
    with pytest.raises(StoreError, match="no issuing CA"):
        store.revoke(2, now=NOW)


def test_another_process_sees_renewal(store: CertStore) -> None:
    cert_id = _leaf(store)
    other = CertStore(store.path)
    before = other.certificate(cert_id)
    store.renew(cert_id, now=NOW + DAY)
    assert other.certificate(cert_id) != before
    assert other.certificate(cert_id) == store.certificate(cert_id)


def test_crash_mid_write_leaves_the_old_store(
    store: CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_id = _leaf(store)
    before = store.certificate(cert_id)
    index_before = (store.path / "index.json").read_bytes()

    real_replace = os.replace
    calls: list[str] = []

    def crash_on_index(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        # The temp file of the index is complete and fsynced here; the crash hits the rename.
        calls.append(str(dst))
        if str(dst).endswith("index.json"):
            assert Path(src).read_bytes() != index_before
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", crash_on_index)
    with pytest.raises(StoreError, match="Input/output error"):
        store.renew(cert_id, now=NOW + DAY)
    monkeypatch.undo()
    assert any(c.endswith(".pem") for c in calls)  # the new certificate file was written first

    reopened = CertStore(store.path)
    assert (store.path / "index.json").read_bytes() == index_before
    assert reopened.certificate(cert_id) == before
    assert reopened.private_key(cert_id) is not None
    # The orphaned new revision is a leftover, no temp file stays behind.
    leftovers = reopened.leftovers()
    assert [p.name for p in leftovers] == [f"{cert_id:04d}-r2.pem"]
    assert not list(store.path.rglob("*.tmp"))
    assert reopened.clean() == leftovers
    # And the store still works: the renewal can be redone.
    reopened.renew(cert_id, now=NOW + DAY)
    assert reopened.certificate(cert_id) != before


def test_hard_crash_temp_file_is_ignored(store: CertStore) -> None:
    # A process killed between write and rename leaves a temp file; readers ignore it.
    stray = store.path / ".index.json.dead.tmp"
    stray.write_bytes(b"{half")
    reopened = CertStore(store.path)
    assert reopened.ids() == [1, 2]
    assert stray in reopened.leftovers()


def test_write_failure_of_a_key_leaves_nothing_committed(
    store: CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", fail)
    with pytest.raises(StoreError, match="No space"):
        _leaf(store)
    monkeypatch.undo()
    assert CertStore(store.path).ids() == [1, 2]
    assert not list(store.path.rglob("*.tmp"))


def test_standard_example_ids_and_devices(example: CertStore) -> None:
    assert example.ids() == [1, 2, 3, 9, 11]
    assert example.device_ids("PLC_1") == (9, 3)
    assert example.device_ids("PLC_2") == (11, 3)
    ca = example.certificate(3)
    assert example.rows()[2].key_type == "EC-P256"
    for leaf_id, ip in ((9, "192.168.0.1"), (11, "192.168.0.2")):
        verify_peer_chain(
            example.certificate(leaf_id),
            anchors=[ca],
            now=NOW,
            peer_role=Role.PASSIVE,
            expected_address=ip,
        )
    with pytest.raises(StoreError, match="already used"):
        build_standard_example(example, now=NOW)


_WRITER = """
import sys
from pathlib import Path
from cryptography import x509
from ouc.certs import CertStore

store = CertStore(sys.argv[1])
certs = [x509.load_pem_x509_certificate(Path(p).read_bytes()) for p in sys.argv[3:]]
print("ready", flush=True)
sys.stdin.readline()  # every writer starts at the same moment
for i, cert in enumerate(certs):
    new_id = store.add(cert)
    store.assign(f"{sys.argv[2]}_{i}", [new_id, 2])
    print(new_id, flush=True)
"""


def test_concurrent_writers_in_other_processes_lose_no_update(
    store: CertStore, tmp_path: Path
) -> None:
    """Four processes add certificates (next free ID) and assign devices at once: under the
    store's write lock no read-modify-write of the index overwrites another's, and no ID is
    claimed twice. Without the lock this loses updates (and IDs collide) on most runs."""
    writers, per_writer = 4, 4
    files: list[list[str]] = []
    for w in range(writers):
        names = []
        for i in range(per_writer):
            cert = create_certificate(
                common_name=f"W{w}-{i}",
                template=Template.TLS_CLIENT_SERVER,
                key=generate_key("EC-P256"),
                not_before=NOW,
                not_after=NOW + 365 * DAY,
                ip_sans=[f"10.0.{w}.{i + 1}"],
            )
            path = tmp_path / f"w{w}-{i}.pem"
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            names.append(str(path))
        files.append(names)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store.path), f"W{w}", *files[w]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0] * writers
    claimed = [int(line) for out in outputs for line in out.split()]
    assert len(claimed) == len(set(claimed)) == writers * per_writer
    reopened = CertStore(store.path)
    assert sorted(reopened.ids()) == sorted([1, 2, *claimed])
    devices = reopened.devices()
    for w in range(writers):
        for i in range(per_writer):
            new_id = claimed[w * per_writer + i]
            assert devices[f"W{w}_{i}"] == (new_id, 2)
            subject = reopened.certificate(new_id).subject.rfc4514_string()
            assert subject == f"CN=W{w}-{i}"
    assert reopened.leftovers() == []  # the lock file is the store's own
    assert stat.S_IMODE((store.path / ".lock").stat().st_mode) == 0o600


def test_a_writer_rereads_the_index_under_the_lock_even_when_its_stamp_did_not_change(
    store: CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system with coarse timestamps a commit of the same size can leave the
    (inode, mtime, size) stamp as it was; a writer must not then work on its stale index."""
    from ouc.certs import _storebase

    first, second = CertStore(store.path), CertStore(store.path)
    assert first.devices() == second.devices() == {}
    monkeypatch.setattr(_storebase, "index_stamp", lambda folder: (1, 1, 1))
    first._stamp = second._stamp = (1, 1, 1)  # both believe they hold the current index
    first.assign("PLC_A", [1])
    second.assign("PLC_B", [2])  # without the re-read this commit would drop PLC_A
    assert CertStore(store.path).devices() == {"PLC_A": (1,), "PLC_B": (2,)}
