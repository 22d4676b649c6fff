"""WireProfile: parsing, the group list, the chain sent, and resumption in every tickets mode.

The byte counts against the CPU's capture are in ``tests/drivers/test_wire_fingerprint.py``;
these check that each option does what it says, in memory.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ouc.certs import Template
from ouc.errors import ConfigError
from ouc.tls import Tickets, TLSContext, WireProfile
from ouc.tls._wire import groups_list, issuing_chain
from ouc.transport import HandshakeComplete


def test_defaults_follow_the_capture_and_lean_switches_back() -> None:
    wire = WireProfile()
    assert (wire.tickets, wire.send_chain, wire.key_shares) == (
        Tickets.STATEFUL,
        True,
        ("X25519", "P-256"),
    )
    lean = WireProfile.LEAN
    assert (lean.tickets, lean.send_chain, lean.key_shares) == (
        Tickets.STATELESS,
        False,
        ("X25519",),
    )
    assert WireProfile.parse("lean") == lean
    assert WireProfile.parse("") == wire


def test_parse_takes_any_subset_and_normalises_names() -> None:
    wire = WireProfile.parse("tickets=Stateless, send-chain=no, key_shares=p-384:x25519")
    assert wire == WireProfile(
        tickets=Tickets.STATELESS, send_chain=False, key_shares=("P-384", "X25519")
    )
    assert wire.describe() == "tickets=stateless, send_chain=no, key_shares=P-384:X25519"
    assert not WireProfile(tickets="off").resumable


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("tickets=sometimes", "tickets"),
        ("send_chain=maybe", "send_chain"),
        ("key_shares=X448", "key_shares"),
        ("key_shares=", "key_shares"),
        ("chain=yes", "wire"),
        ("tickets", "wire"),
    ],
)
def test_bad_options_name_the_option(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        WireProfile.parse(text)
    assert info.value.path == path


def test_group_list_marks_the_key_share_groups() -> None:
    assert groups_list(("X25519", "P-256")) == "*X25519:*P-256:P-384"
    assert groups_list(("P-384",)) == "X25519:P-256:*P-384"


def test_issuing_chain_walks_up_to_the_root_through_held_cas(kit: Any, pki: Any) -> None:
    sub, sub_key = pki.issue("Sub CA", template=Template.CA)
    leaf, _ = pki.issue("PLC_3", issuer=(sub, sub_key))
    # Order of the held CAs does not matter; the leaf's issuer comes first.
    assert issuing_chain(leaf, [pki.ca, sub]) == (sub, pki.ca)
    # A device that does not hold the sub CA sends nothing beyond its leaf.
    assert issuing_chain(leaf, [pki.ca]) == ()
    # A CA with the right name but another key is not the issuer.
    impostor = kit.make_pki("EC-P256", ca_name="Sub CA").ca
    assert issuing_chain(leaf, [impostor, pki.ca]) == ()
    # A self-signed certificate has no chain.
    assert issuing_chain(pki.ca, [pki.ca]) == ()


def _peer_chain_sizes(kit: Any, pki: Any, wire: WireProfile) -> list[int]:
    pair = kit.make_pair(
        kit.server_endpoint(pki),
        kit.client_endpoint(pki),
        server_kwargs={"wire": wire},
        client_kwargs={"wire": wire},
    )
    pair.pump()
    assert any(isinstance(e, HandshakeComplete) for e in pair.client_events)
    return [len(chunk) for chunk in pair.to_client]


def test_send_chain_adds_the_ca_the_device_holds(kit: Any, pki: Any) -> None:
    ca = len(pki.ca.public_bytes(Encoding.DER))
    with_chain = _peer_chain_sizes(kit, pki, WireProfile())
    leaf_only = _peer_chain_sizes(kit, pki, WireProfile(send_chain=False))
    assert abs(with_chain[0] - leaf_only[0] - (ca + 5)) <= 2  # CertificateVerify varies by 2 B


def test_resolved_chain_is_sent_only_with_send_chain(kit: Any, pki: Any) -> None:
    server = dataclasses.replace(kit.server_endpoint(pki), chain=(pki.ca,))
    ctx = TLSContext.build(server, kit.V31, wire=WireProfile(send_chain=False))
    assert ctx._chain_to_send() == ()
    ctx = TLSContext.build(server, kit.V31)
    assert ctx._chain_to_send() == (pki.ca,)


@pytest.mark.parametrize(
    ("tickets", "resumes"), [("stateful", True), ("stateless", True), ("off", False)]
)
@pytest.mark.parametrize("tls12", [False, True])
def test_resumption_in_each_tickets_mode(
    kit: Any, pki: Any, tickets: str, resumes: bool, tls12: bool
) -> None:
    wire = WireProfile(tickets=tickets)
    device = kit.V28 if tls12 else kit.V31
    sctx = TLSContext.build(kit.server_endpoint(pki), device, wire=wire)
    cctx = TLSContext.build(kit.client_endpoint(pki), device, wire=wire)
    first = kit.engines(sctx, cctx)
    first.pump()
    session = first.client.session
    assert (session is not None) == resumes
    second = kit.engines(sctx, cctx, session=session)
    second.pump()
    done = [e for e in second.client_events if isinstance(e, HandshakeComplete)]
    assert len(done) == 1 and done[0].info.resumed == resumes
