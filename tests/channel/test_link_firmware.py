"""The firmware rule of a connection change, without sockets: the link alone.

The WinCC note (domain.md §8): "if both CPUs run firmware below V2.9 the change works and the
connection is simply established without TLS; from V2.9 both CPUs must run V2.9 or later".
Below V2.9 means without TLS 1.3 (S7-1500 V2.9 / S7-1200 V4.5, domain.md §3). A change between
an older and a newer CPU is refused with 16#80E1 (the status is an inference), unless
``allow_unsecured`` explicitly lets it connect without TLS.

Besides one test per case, hypothesis drives a link through generated orders of events
(control values, attempt outcomes, drops, time passing) across generated CPU profiles and
checks every establishment it asks for against the rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.certs import DeviceCertStore
from ouc.channel import CertSnapshot, ChannelConnection, LinkState, cpu_profile, format_table
from ouc.channel._link import Connect, Drop, Link, LinkRules, Stop, Wait
from ouc.device import Device
from ouc.errors import Status
from ouc.params import STANDARD_CLIENT

PLC1, PLC2, PLC3 = "192.168.0.1", "192.168.0.3", "192.168.0.4"
NEW = ("S7-1500 V2.9", "S7-1500 V3.1", "S7-1200 V4.5")
OLD = ("S7-1500 V2.8", "S7-1500 V2.0", "S7-1200 V4.4")
BLOCK = dataclasses.replace(
    STANDARD_CLIENT,
    ConnPara=dataclasses.replace(STANDARD_CLIENT.ConnPara, RemoteAddress=PLC1),
    TLSServerCertRef=0,
    TLSClientCertRef=0,  # no own certificate: the rule needs no project store
)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def device_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceCertStore]:
    yield DeviceCertStore(Path(tmp_path_factory.mktemp("channel")) / "dcs")


def _link(
    store: DeviceCertStore, cpus: dict[str, str], *, allow_unsecured: bool = False, **values: Any
) -> Link:
    start: dict[str, Any] = {
        "force": True,
        "use_alternative": True,
        "alternative_address": f"IPAddress={PLC2}",
    }
    rules = LinkRules(
        device=Device(name="HMI_1"),
        project_store=None,
        cpus={ip: cpu_profile(text) for ip, text in cpus.items()},
        default_cpu=Device(),
        allow_unsecured=allow_unsecured,
        access_points={},
        clock=lambda: NOW,
    )
    link = Link(ChannelConnection("PLC", BLOCK, **{**start, **values}), store, rules)
    link.start(CertSnapshot())
    return link


def _is_old(text: str) -> bool:
    return text in OLD


@pytest.mark.parametrize("cpu1", NEW)
@pytest.mark.parametrize("cpu2", NEW)
def test_both_from_v2_9_change_securely(
    device_store: DeviceCertStore, cpu1: str, cpu2: str
) -> None:
    link = _link(device_store, {PLC1: cpu1, PLC2: cpu2})
    action = link.poll(0.0)
    assert isinstance(action, Connect)
    assert action.block.secure and action.unsecured == ""
    link.connected(action.attempt, "TLSv1.3", None)
    assert link.row().security == "TLSv1.3"


@pytest.mark.parametrize("cpu1", OLD)
@pytest.mark.parametrize("cpu2", OLD)
def test_both_below_v2_9_change_without_tls_and_say_so(
    device_store: DeviceCertStore, cpu1: str, cpu2: str
) -> None:
    link = _link(device_store, {PLC1: cpu1, PLC2: cpu2})  # no option needed
    action = link.poll(0.0)
    assert isinstance(action, Connect)
    assert not action.block.secure and action.block.remote_address == PLC2
    assert action.identity is None  # no TLS: no certificate either
    assert action.unsecured.startswith("both CPUs below V2.9")
    assert f"{PLC1} runs {cpu1}" in action.unsecured and f"{PLC2} runs {cpu2}" in action.unsecured
    link.connected(action.attempt, None, None)
    row = link.row()
    assert row.state is LinkState.CONNECTED and row.status == Status.CONNECTED_IDLE
    assert row.security == f"without TLS ({action.unsecured})"
    assert "without TLS" in format_table([row]).splitlines()[1]
    lines = [event.line() for event in link.take_events()]
    assert [line.split(" - ")[0] for line in lines] == [
        "PLC 16#7001 connecting",
        "PLC 16#7004 connected",
    ]
    assert all("without TLS" in line for line in lines)


@pytest.mark.parametrize(("cpu1", "cpu2"), [(OLD[0], NEW[1]), (NEW[1], OLD[0]), (NEW[2], OLD[2])])
def test_one_below_and_one_from_v2_9_is_refused_80e1(
    device_store: DeviceCertStore, cpu1: str, cpu2: str
) -> None:
    link = _link(device_store, {PLC1: cpu1, PLC2: cpu2})
    assert isinstance(link.poll(0.0), Wait)  # refused: no establishment asked for
    assert (link.state, link.status) == (LinkState.RETRYING, Status.TLS_HANDSHAKE_FAILURE)
    old = cpu1 if _is_old(cpu1) else cpu2
    assert old in link.reason and "below V2.9" in link.reason and "refused" in link.reason

    allowed = _link(device_store, {PLC1: cpu1, PLC2: cpu2}, allow_unsecured=True)
    action = allowed.poll(0.0)
    assert isinstance(action, Connect) and not action.block.secure
    assert action.unsecured.startswith("allow_unsecured: ") and old in action.unsecured


def test_the_original_address_keeps_the_blocks_tls(device_store: DeviceCertStore) -> None:
    link = _link(device_store, {PLC1: OLD[0], PLC2: OLD[0]}, use_alternative=False)
    action = link.poll(0.0)
    assert isinstance(action, Connect)
    assert action.block.secure and action.unsecured == ""  # no change: the block as it is


_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("force"), st.booleans()),
        st.tuples(st.just("use_alternative"), st.booleans()),
        st.tuples(st.just("alternative"), st.sampled_from(["", PLC2, PLC3])),
        st.tuples(st.just("outcome"), st.booleans()),
        st.tuples(st.just("drop"), st.none()),
        st.tuples(st.just("time"), st.floats(min_value=0.0, max_value=20.0)),
    ),
    max_size=40,
)
_CPUS = st.fixed_dictionaries(
    {ip: st.sampled_from(OLD + NEW) for ip in (PLC1, PLC2, PLC3)},
)


class _Runner:
    """Plays the runner for the generated events, checking each action against the rule."""

    def __init__(self, link: Link, cpus: dict[str, str], allow_unsecured: bool) -> None:
        self.link, self.cpus, self.allow = link, cpus, allow_unsecured
        self.now = 0.0
        self.pending: Connect | None = None
        self.open: int | None = None
        self.connects = 0

    def expected(self, target: str) -> str:
        """ "secure", "plain" or "refused" for a change to ``target`` (the rule)."""
        old = [_is_old(self.cpus[ip]) for ip in (PLC1, target)]
        if not any(old):
            return "secure"
        if all(old):
            return "plain"
        return "plain" if self.allow else "refused"

    def settle(self) -> None:
        """Poll until the link waits, as a runner does after every event."""
        for _ in range(10):
            failures = self.link.attempts
            action = self.link.poll(self.now)
            if isinstance(action, Drop):
                assert action.attempt == self.open
                self.open = None
                self.link.released(action.attempt)
                continue
            if isinstance(action, Connect):
                self.check(action)
                self.pending = action
                continue
            if isinstance(action, Stop):
                return
            self.check_refusal(failures)
            return
        raise AssertionError("the link never settled")

    def check(self, action: Connect) -> None:
        link, values = self.link, self.link.values
        assert values.force and self.open is None and self.pending is None
        self.connects += 1
        if not values.use_alternative:
            assert action.block.remote_address == PLC1 and action.block.secure
            assert action.unsecured == ""
            return
        assert values.alternative is not None
        target = values.alternative.ip_address
        assert action.block.remote_address == target
        rule = self.expected(target)
        assert rule != "refused", (self.cpus, target)
        assert action.block.secure is (rule == "secure")
        assert bool(action.unsecured) is (rule == "plain")
        assert link.state is LinkState.CONNECTING

    def check_refusal(self, attempts_before: int) -> None:
        """An attempt that failed without a Connect failed for a reason the rule gives."""
        link = self.link
        if link.attempts == attempts_before or link.state is not LinkState.RETRYING:
            return
        if self.pending is not None or link.attempts != attempts_before + 1:
            return
        values = link.values
        if values.alternative is None:
            assert link.status == Status.REMOTE_ADDRESS_INVALID
        else:
            assert self.expected(values.alternative.ip_address) == "refused"
            assert link.status == Status.TLS_HANDSHAKE_FAILURE

    def apply(self, kind: str, value: Any) -> None:
        link = self.link
        if kind == "force":
            link.set("ForceConnectionState", int(value), self.now)
        elif kind == "use_alternative":
            link.set("UseAlternativeAddress", int(value), self.now)
        elif kind == "alternative":
            link.set("AlternativeAddress", f"IPAddress={value}" if value else "", self.now)
        elif kind == "outcome" and self.pending is not None:
            action, self.pending = self.pending, None
            if value:
                link.connected(action.attempt, None if action.unsecured else "TLSv1.3", None)
                self.open = action.attempt
                security = link.row().security
                assert security.startswith("without TLS") is bool(action.unsecured)
            else:
                link.failed(action.attempt, Status.NETWORK_ERROR, "unreachable", self.now)
        elif kind == "drop" and self.open is not None:
            link.dropped(self.open, Status.PARTNER_CLOSED, "closed", self.now)
        elif kind == "time":
            self.now += value
        self.settle()


@settings(max_examples=150, deadline=None)
@given(events=_EVENTS, cpus=_CPUS, allow_unsecured=st.booleans(), start_force=st.booleans())
def test_generated_event_orders_follow_the_firmware_rule(
    device_store: DeviceCertStore,
    events: list[tuple[str, Any]],
    cpus: dict[str, str],
    allow_unsecured: bool,
    start_force: bool,
) -> None:
    link = _link(
        device_store,
        cpus,
        allow_unsecured=allow_unsecured,
        force=start_force,
        use_alternative=False,
        alternative_address="",
    )
    runner = _Runner(link, cpus, allow_unsecured)
    runner.settle()
    for kind, value in events:
        runner.apply(kind, value)
    # Whatever happened, the channel closes in order.
    link.shutdown()
    if runner.pending is not None:
        link.failed(runner.pending.attempt, None, "closing", runner.now)
        runner.pending = None
    runner.settle()
    assert link.state is LinkState.CLOSED
