"""Resolution of TCON_*_SEC blocks against the store (domain.md §3)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from ouc.certs import (
    CertStore,
    Template,
    create_certificate,
    generate_key,
    resolve,
    verify_peer_chain,
)
from ouc.device import Role
from ouc.errors import CertError, Status
from ouc.params import QDN_SEC_EXAMPLE, STANDARD_CLIENT, STANDARD_SERVER

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _status(
    store: CertStore, block: object, device: str, **kw: object
) -> tuple[int | None, str | None]:
    kw.setdefault("now", NOW)
    with pytest.raises(CertError) as info:
        resolve(store, block, device=device, **kw)  # type: ignore[arg-type]
    return info.value.status, info.value.path


def test_passive_standard_server(example: CertStore) -> None:
    ep = resolve(example, STANDARD_SERVER, device="PLC_1", now=NOW)
    assert ep.role is Role.PASSIVE
    assert ep.own_id == 9 and ep.own_cert == example.certificate(9)
    assert ep.own_key is not None and ep.own_key.public_key() == ep.own_cert.public_key()
    assert ep.anchor_ids == (3,) and ep.anchors == (example.certificate(3),)
    assert ep.require_peer_cert and not ep.check_san
    assert ep.chain == () and ep.crls == () and ep.legacy_anchors == ()


def test_active_standard_client(example: CertStore) -> None:
    ep = resolve(example, STANDARD_CLIENT, device="PLC_2", now=NOW)
    assert ep.role is Role.ACTIVE
    assert ep.own_id == 11 and ep.own_cert == example.certificate(11)
    assert ep.anchor_ids == (3,)
    assert ep.require_peer_cert and not ep.check_san


def test_both_sides_verify_each_other(example: CertStore) -> None:
    server = resolve(example, STANDARD_SERVER, device="PLC_1", now=NOW)
    client = resolve(example, STANDARD_CLIENT, device="PLC_2", now=NOW)
    assert server.own_cert is not None and client.own_cert is not None
    path = verify_peer_chain(
        server.own_cert,
        anchors=client.anchors,
        intermediates=client.intermediates,
        now=NOW,
        peer_role=Role.PASSIVE,
        expected_address="192.168.0.1",
    )
    assert client.anchor_id_for(path[-1]) == 3
    path = verify_peer_chain(
        client.own_cert, anchors=server.anchors, now=NOW, peer_role=Role.ACTIVE
    )
    assert server.anchor_id_for(path[-1]) == 3


def test_ext_tls_capabilities_bit0_checks_san(example: CertStore) -> None:
    block = dataclasses.replace(STANDARD_CLIENT, ExtTLSCapabilities=1)
    assert resolve(example, block, device="PLC_2", now=NOW).check_san


def test_qdn_block_resolves(example: CertStore) -> None:
    ep = resolve(example, QDN_SEC_EXAMPLE, device="PLC_2", now=NOW)
    assert ep.own_id == 11 and ep.anchor_ids == (3,) and ep.check_san


def test_active_server_ref_0_means_every_assigned_ca(example: CertStore) -> None:
    example.assign("PLC_2", [1, 2])
    block = dataclasses.replace(STANDARD_CLIENT, TLSServerCertRef=0)
    ep = resolve(example, block, device="PLC_2", now=NOW)
    assert ep.anchor_ids == (3, 1, 2)  # in assignment order, own certificate 11 is no CA
    assert ep.legacy_anchors == (example.certificate(1),)


def test_active_server_ref_may_pin_the_server_certificate(example: CertStore) -> None:
    example.assign("PLC_2", [9])
    block = dataclasses.replace(STANDARD_CLIENT, TLSServerCertRef=9)
    ep = resolve(example, block, device="PLC_2", now=NOW)
    assert ep.anchor_ids == (9,)
    assert verify_peer_chain(
        example.certificate(9), anchors=ep.anchors, now=NOW, peer_role=Role.PASSIVE
    ) == [example.certificate(9)]


def test_active_client_ref_0_presents_no_certificate(example: CertStore) -> None:
    block = dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=0)
    ep = resolve(example, block, device="PLC_2", now=NOW)
    assert ep.own_id is None and ep.own_cert is None and ep.own_key is None
    assert ep.anchor_ids == (3,)


def test_passive_client_ref_0_means_every_assigned_ca(example: CertStore) -> None:
    example.assign("PLC_1", [2])
    block = dataclasses.replace(STANDARD_SERVER, TLSClientCertRef=0)
    assert resolve(example, block, device="PLC_1", now=NOW).anchor_ids == (3, 2)


def test_passive_without_client_auth_needs_no_ca(example: CertStore) -> None:
    example.unassign("PLC_1", [3])
    block = dataclasses.replace(STANDARD_SERVER, TLSServerReqClientCert=False, TLSClientCertRef=0)
    ep = resolve(example, block, device="PLC_1", now=NOW)
    assert ep.own_id == 9 and ep.anchors == () and not ep.require_peer_cert


def test_role_override(example: CertStore) -> None:
    ep = resolve(example, STANDARD_CLIENT, device="PLC_1", now=NOW, role=Role.PASSIVE)
    # Passive reading of the client block: TLSServerCertRef 3 is "own server certificate".
    assert ep.role is Role.PASSIVE and ep.own_id == 3


def test_send_chain_and_crls(example: CertStore) -> None:
    example.revoke(11, now=NOW)
    ep = resolve(example, STANDARD_SERVER, device="PLC_1", now=NOW, send_chain=True, with_crls=True)
    assert ep.chain == (example.certificate(3),)
    assert len(ep.crls) == 1
    with pytest.raises(CertError) as info:
        verify_peer_chain(
            example.certificate(11),
            anchors=ep.anchors,
            now=NOW,
            peer_role=Role.ACTIVE,
            crls=ep.crls,
        )
    assert info.value.status == Status.TLS_CERT_DISCARDED


# -- failures ------------------------------------------------------------------------------------


def test_unknown_id_is_80ed(example: CertStore) -> None:
    block = dataclasses.replace(STANDARD_SERVER, TLSServerCertRef=42)
    assert _status(example, block, "PLC_1") == (Status.TLS_CERT_REF_UNKNOWN, "TLSServerCertRef")
    block = dataclasses.replace(STANDARD_CLIENT, TLSServerCertRef=42)
    assert _status(example, block, "PLC_2") == (Status.TLS_CERT_REF_UNKNOWN, "TLSServerCertRef")


def test_id_not_assigned_to_the_device_is_80ed(example: CertStore) -> None:
    # Certificate 11 exists, but belongs to PLC_2: referencing it from PLC_1 is not enough.
    block = dataclasses.replace(STANDARD_SERVER, TLSServerCertRef=11)
    assert _status(example, block, "PLC_1") == (Status.TLS_CERT_REF_UNKNOWN, "TLSServerCertRef")
    block = dataclasses.replace(STANDARD_SERVER, TLSClientCertRef=2)
    assert _status(example, block, "PLC_1") == (Status.TLS_CERT_REF_UNKNOWN, "TLSClientCertRef")
    assert _status(example, STANDARD_SERVER, "PLC_9")[0] == Status.TLS_CERT_REF_UNKNOWN


def test_passive_without_server_certificate_is_80e9(example: CertStore) -> None:
    block = dataclasses.replace(STANDARD_SERVER, TLSServerCertRef=0)
    assert _status(example, block, "PLC_1") == (Status.TLS_NO_SERVER_CERT, "TLSServerCertRef")


def test_own_certificate_without_private_key_is_80e2(example: CertStore, tmp_path: Path) -> None:
    example.export(11, tmp_path / "c.der")
    example.delete(11)
    (keyless,) = example.import_file(tmp_path / "c.der")
    example.assign("PLC_2", [keyless])
    block = dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=keyless)
    assert _status(example, block, "PLC_2") == (Status.TLS_CERT_INVALID, "TLSClientCertRef")


def test_own_certificate_not_yet_valid_is_80e2(example: CertStore) -> None:
    # Also what a PLC whose clock was never set reports.
    status = _status(example, STANDARD_SERVER, "PLC_1", now=NOW - DAY)
    assert status == (Status.TLS_CERT_INVALID, "TLSServerCertRef")


def test_own_certificate_expired_is_80e5(example: CertStore) -> None:
    status = _status(example, STANDARD_CLIENT, "PLC_2", now=NOW + 800 * DAY)
    assert status == (Status.TLS_CERT_EXPIRED, "TLSClientCertRef")


def test_no_usable_ca_is_80e4(example: CertStore) -> None:
    example.unassign("PLC_1", [3])
    block = dataclasses.replace(STANDARD_SERVER, TLSClientCertRef=0)
    assert _status(example, block, "PLC_1") == (Status.TLS_NO_VALID_CA, "TLSClientCertRef")
    block = dataclasses.replace(STANDARD_CLIENT, TLSServerCertRef=0, TLSClientCertRef=0)
    example.unassign("PLC_2", [3])
    assert _status(example, block, "PLC_2") == (Status.TLS_NO_VALID_CA, "TLSServerCertRef")


def test_expired_cas_are_not_usable(example: CertStore) -> None:
    key = generate_key("EC-P256")
    old = create_certificate(
        common_name="old CA",
        template=Template.CA,
        key=key,
        not_before=NOW - 100 * DAY,
        not_after=NOW - DAY,
    )
    old_id = example.add(old, key)
    example.unassign("PLC_2", [3])
    example.assign("PLC_2", [old_id])
    block = dataclasses.replace(STANDARD_CLIENT, TLSServerCertRef=0, TLSClientCertRef=0)
    assert _status(example, block, "PLC_2")[0] == Status.TLS_NO_VALID_CA


def test_plain_block_is_refused(example: CertStore) -> None:
    block = dataclasses.replace(STANDARD_SERVER, ActivateSecureConn=False)
    assert _status(example, block, "PLC_1") == (None, "ActivateSecureConn")


# -- renew / replace keep the ID and resolution picks them up ---------------------------------


def test_renew_is_picked_up(example: CertStore) -> None:
    before = resolve(example, STANDARD_SERVER, device="PLC_1", now=NOW).own_cert
    renewed = example.renew(9, now=NOW + 700 * DAY)
    late = NOW + 800 * DAY  # the old certificate is expired by then
    ep = resolve(example, STANDARD_SERVER, device="PLC_1", now=late)
    assert ep.own_id == 9 and ep.own_cert == renewed != before


def test_replace_is_picked_up_by_another_store_handle(example: CertStore) -> None:
    running = CertStore(example.path)  # e.g. the endpoint's own handle
    resolve(running, STANDARD_CLIENT, device="PLC_2", now=NOW)
    new_id = example.create(
        common_name="PLC_2 v2",
        template=Template.TLS_CLIENT,
        now=NOW,
        issuer_id=3,
    )
    example.replace(11, example.certificate(new_id), example.private_key(new_id))
    ep = resolve(running, STANDARD_CLIENT, device="PLC_2", now=NOW)
    assert ep.own_id == 11 and ep.own_cert == example.certificate(new_id)
    assert ep.own_key is not None and ep.own_key.public_key() == ep.own_cert.public_key()
