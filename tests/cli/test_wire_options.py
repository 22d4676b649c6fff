"""``--tickets``, ``--[no-]send-chain`` and ``--key-shares`` on ``ouc serve`` / ``ouc connect``.

The flags build the endpoint's :class:`ouc.tls.WireProfile` (the defaults follow the CPU's
capture, README "Fidelity"); bad values are one line naming the flag, exit 2.
"""

from __future__ import annotations

import pytest

from ouc.certs import CertStore
from ouc.cli import build_parser, main
from ouc.cli._endpoints import make_spec
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER
from ouc.tls import Tickets, WireProfile


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), WireProfile()),
        (
            ("--tickets", "stateless", "--no-send-chain", "--key-shares", "X25519"),
            WireProfile.LEAN,
        ),
        (
            ("--tickets", "off", "--key-shares", "p-384,x25519"),
            WireProfile(tickets=Tickets.OFF, key_shares=("P-384", "X25519")),
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "connect"])
def test_flags_make_the_endpoints_wire_profile(
    store: CertStore, command: str, flags: tuple[str, ...], expected: WireProfile
) -> None:
    args = build_parser().parse_args([command, "--store", str(store.path), *flags])
    block, device = (STANDARD_SERVER, "PLC_1") if command == "serve" else (STANDARD_CLIENT, "PLC_2")
    spec = make_spec(args, block, device, receive_len=258, adhoc=False)
    assert spec.tls is not None
    assert spec.tls.wire == expected
    assert spec.tls.session_tickets == (expected.tickets is not Tickets.OFF)


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        (("--key-shares", "X448"), "--key-shares"),
        (("--key-shares", ":"), "--key-shares"),
        (("--tickets", "sometimes"), "--tickets"),
    ],
)
def test_bad_wire_flags_are_one_line_naming_the_flag(
    store: CertStore, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], name: str
) -> None:
    for command in ("serve", "connect"):
        status = main([command, "--store", str(store.path), *flags])
        err = capsys.readouterr().err
        assert status == 2
        assert err.count("\n") == 1 and name in err and "Traceback" not in err
