"""The table that decides (state, event) → (next state, STATUS) and the block inputs on it.

Sources: TIA Portal help "TSEND_C"/"TRCV_C" (S7-1200 ≥ V4.0, S7-1500) and "T_RESET", as
domain.md §4 lists them; the orders the help does not give are the inferences documented in
``ouc.conn._table`` and checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.conn import (
    ALLOWED_STATUS,
    TABLE,
    TRANSITIONS,
    BlockEvent,
    Connection,
    ConnectionConfig,
    ConnState,
    Disconnected,
    FrameReceived,
    LocalProtocolError,
    block_flags,
    decide,
)
from ouc.conn._table import EVENT_STATUS
from ouc.device import Role
from ouc.errors import ConfigError, OucError, Status
from ouc.transport import PlainTransport

Factory = Callable[..., Any]
ENDED = {ConnState.CLOSED, ConnState.FAILED, ConnState.ABORTED}
FAILURES = sorted(s for s in ALLOWED_STATUS if s >= 0x8000)


# ---------------------------------------------------------------------------- the table itself


@settings(max_examples=300)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(list(BlockEvent)), st.sampled_from(FAILURES), st.booleans()),
        max_size=30,
    )
)
def test_random_event_sequences_show_only_documented_codes(
    steps: list[tuple[BlockEvent, int, bool]],
) -> None:
    """Every event in every state either has a transition or is refused as a misuse; what the
    blocks show is always a code of domain.md §2–§4; an ended connection never comes back."""
    state = ConnState.IDLE
    shown: list[int] = []
    for event, failure, enable_receive in steps:
        if (state, event) not in TABLE:
            with pytest.raises(LocalProtocolError):
                decide(state, event)
            continue
        transition = decide(state, event)
        for value in (*transition.tsend, *transition.trcv_for(enable_receive)):
            shown.append(failure if value == EVENT_STATUS else value)
        if state in ENDED:
            assert transition.next is state
        elif transition.next is not state:
            assert transition.next in TRANSITIONS[state]
        state = transition.next
    assert set(shown) <= ALLOWED_STATUS


def test_every_table_code_is_documented_and_every_state_reachable() -> None:
    codes = {
        value
        for transition in TABLE.values()
        for value in (*transition.tsend, *transition.trcv, *(transition.trcv_off or ()))
        if value != EVENT_STATUS
    }
    assert codes <= ALLOWED_STATUS
    assert 0x80EE not in ALLOWED_STATUS  # TCON's table does not list it (domain.md §3)
    assert 0x80C7 not in ALLOWED_STATUS  # no table of the help lists it


def test_no_status_member_outside_the_documented_codes() -> None:
    """Every code ouc can report is one the help documents: the STATUS table (domain.md §4),
    TCON's parameter and TLS codes (§2/§3); neither 16#80C7 nor the S7-300/400 code 16#80C3."""
    assert {int(member) for member in Status} <= ALLOWED_STATUS
    assert 0x80C7 not in {int(member) for member in Status}
    assert not hasattr(Status, "TIMEOUT")
    assert 0x80C3 not in {int(member) for member in Status} | ALLOWED_STATUS
    reachable = {ConnState.IDLE}
    for _ in range(len(ConnState)):
        reachable |= {t.next for (s, _), t in TABLE.items() if s in reachable}
    assert reachable == set(ConnState)


def test_flags_follow_status() -> None:
    assert block_flags(0x0001) == (True, False, False)
    assert block_flags(0x0003) == (True, False, False)
    assert block_flags(0x7002) == (False, True, False)
    assert block_flags(0x7004) == (False, False, False)
    assert block_flags(0x80C4) == (False, False, True)


# ---------------------------------------------------------------------------- block inputs


def test_reestablishment_skips_the_initial_call() -> None:
    conn = Connection(ConnectionConfig(Role.ACTIVE, 4), PlainTransport())
    conn.connect(0.0, reestablish=True)
    assert conn.format_sequence("TSEND_C") == "7002 → 0001 → 7004"


def test_com_rst_resets_an_established_connection(up: Factory) -> None:
    """T_RESET: 80C4 on both blocks while the reset runs; the driver resets TCP (inference)
    and establishes again."""
    conn = up(Role.ACTIVE)
    assert conn.reset(1.0) is True
    assert conn.state is ConnState.ABORTED
    assert conn.next_event() == Disconnected(0x80C4, "COM_RST: the connection was reset", True)
    assert conn.format_sequence("TSEND_C").endswith("0001 → 7004 → 80C4")
    assert conn.data_to_send() == b""


def test_com_rst_as_an_orderly_close_when_configured(up: Factory) -> None:
    conn = up(com_rst="fin")
    conn.reset(1.0)
    end = conn.next_event()
    assert isinstance(end, Disconnected) and not end.reset


@pytest.mark.parametrize("when", ["idle", "establishing", "ended"])
def test_com_rst_without_a_connection_has_no_effect(
    up: Factory, establishing: Factory, when: str
) -> None:
    conn = establishing(connect=when == "establishing")  # 7002 stays
    if when == "ended":
        conn = up()
        conn.receive_data(b"", 1.0)
    before = conn.status_history
    assert conn.reset(2.0) is False
    assert conn.status_history == before


def test_stop_ends_the_connection_and_shows_7000(up: Factory) -> None:
    conn = up()
    conn.stop(1.0)
    assert conn.state is ConnState.ABORTED
    assert conn.next_event() == Disconnected(0, "the CPU went to STOP", False)
    assert (conn.tsend.STATUS, conn.trcv.STATUS) == (0x7000, 0x7000)
    conn.stop(2.0)  # a second STOP changes nothing
    assert conn.next_event() is None


def test_en_r_0_holds_data_until_en_r_1(up: Factory) -> None:
    conn = up()
    assert conn.trcv.STATUS == Status.RECEIVING
    conn.enable_receive(False, 1.0)
    assert conn.trcv.STATUS == Status.CONNECTED_IDLE
    conn.receive_data(b"abcdef", 2.0)
    assert conn.next_event() is None
    assert conn.buffered == 6
    conn.enable_receive(True, 3.0)
    assert conn.next_event() == FrameReceived(b"abcd", 4)
    assert conn.format_sequence("TRCV_C").endswith("7006 → 7004 → 7006 → 0000 → 7006")


def test_en_r_0_partner_close_is_80c5_without_80c4(up: Factory) -> None:
    conn = up(enable_receive=False)
    assert conn.trcv.STATUS == Status.CONNECTED_IDLE
    conn.receive_data(b"", 1.0)
    assert conn.format_sequence("TRCV_C").endswith("0001 → 7004 → 80C5")
    assert conn.format_sequence("TSEND_C").endswith("7004 → 80A3")


@pytest.mark.parametrize("mode", ["drop", "answer"])
def test_half_close_frame_and_close_in_one_read(up: Factory, mode: str) -> None:
    """The partner's frame and its close arrive together: "drop" answers nothing, "answer"
    answers the frame before the close completes."""
    conn = up(half_close=mode)
    conn.receive_data(b"ping", 1.0)
    conn.data_to_send()
    conn.receive_data(b"pong", 2.0)
    conn.receive_data(b"", 2.0)  # in one read with the frame, as the driver sees it
    assert conn.next_event() == FrameReceived(b"ping", 4)
    assert conn.next_event() == FrameReceived(b"pong", 4)
    if mode == "drop":
        with pytest.raises(OucError) as info:
            conn.send(b"pong", now=2.0)
        assert info.value.status == Status.NO_SUCH_CONNECTION
        assert conn.data_to_send() == b""
    else:
        assert conn.state is ConnState.HALF_CLOSED
        conn.send(b"PONG", now=2.0)
        assert conn.data_to_send() == b"PONG"
    end = conn.next_event()
    assert isinstance(end, Disconnected) and end.status == Status.PARTNER_CLOSED
    assert conn.state is ConnState.CLOSED


def test_unknown_wire_choice_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        ConnectionConfig(Role.PASSIVE, 4, half_close="keep")
    assert info.value.path == "half_close"


def test_close_before_the_connection_was_up_shows_no_0003(establishing: Factory) -> None:
    conn = establishing()
    conn.close(1.0)
    assert conn.format_sequence("TSEND_C") == "7000 → 7001 → 7002 → 7000"


# ---------------------------------------------------------------------------- the whole core

_ACTIONS = st.lists(
    st.sampled_from(
        ["send", "frame", "part", "peer_close", "close", "reset", "stop", "en_r", "timer"]
    ),
    max_size=25,
)


@settings(max_examples=200)
@given(actions=_ACTIONS, client_side=st.booleans())
def test_random_block_inputs_on_a_pair(
    pair_factory: Factory, actions: list[str], client_side: bool
) -> None:
    """Random block inputs and partner actions: only documented codes, flags that match
    STATUS, and no exception but the blocks' own errors (with their status)."""
    pair = pair_factory(4, idle_timeout=50.0, close_timeout=5.0)
    pair.start()
    conn = pair.client if client_side else pair.server
    peer = pair.server if client_side else pair.client
    enable = True
    now = 0.0
    for action in actions:
        now += 1.0
        pair.now = now
        try:
            if action == "send":
                conn.send(b"abcd", now=now)
            elif action == "frame" and not peer.ended:
                peer.send(b"wxyz", now=now)
            elif action == "part" and not conn.ended:
                conn.receive_data(b"x", now)
            elif action == "peer_close":
                peer.close(now)
            elif action == "close":
                conn.close(now)
            elif action == "reset":
                conn.reset(now)
            elif action == "stop":
                conn.stop(now)
            elif action == "en_r":
                enable = not enable
                conn.enable_receive(enable, now)
            elif action == "timer":
                conn.handle_timer(now + 10.0)
        except OucError as exc:
            assert not isinstance(exc, LocalProtocolError), exc
            assert exc.status in ALLOWED_STATUS
        pair.pump()
    for side in (conn, peer):
        assert {status for _, _, status in side.status_history} <= ALLOWED_STATUS
        for outputs in (side.tsend, side.trcv):
            assert block_flags(outputs.STATUS) == (outputs.DONE, outputs.BUSY, outputs.ERROR)
        ends = pair.of("client" if side is pair.client else "server", Disconnected)
        assert len(ends) <= 1
