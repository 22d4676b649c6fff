"""The public hypothesis strategies keep their promises."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.device import Device, Family, Role, known_firmware
from ouc.errors import ConfigError, OucError, ParamError
from ouc.params import BLOCK_TYPES, RULES, Block, Protocol, TconParam, build, parse, validate
from ouc.strategies import (
    RULE_NAMES,
    BrokenBlock,
    broken_blocks,
    context_for,
    mutated_bytes,
    valid_blocks,
)


def test_every_rule_can_be_broken() -> None:
    assert tuple(RULES) == RULE_NAMES


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_broken_blocks_break_exactly_the_named_rule(rule: str) -> None:
    @settings(max_examples=12)
    @given(broken_blocks(rule))
    def run(item: BrokenBlock) -> None:
        block, name, status = item
        assert (name, status) == (rule, RULES[rule])
        if isinstance(block, bytes):
            with pytest.raises(ParamError) as info:
                parse(block)
            assert info.value.status == status
            return
        findings = validate(block, **item.context())
        assert [(f.rule, f.status) for f in findings] == [(rule, status)]
        assert findings[0].message[0].isupper() and findings[0].message.endswith(".")
        assert context_for(block, rule) == item.context()

    run()


@settings(max_examples=40)
@given(broken_blocks())
def test_any_rule_without_a_name(item: BrokenBlock) -> None:
    assert item.rule in RULES and item.status == RULES[item.rule]


@pytest.mark.parametrize("type_name", sorted(BLOCK_TYPES))
def test_valid_blocks_of_one_type_validate_clean(type_name: str) -> None:
    @settings(max_examples=30)
    @given(valid_blocks(type_name.lower()))
    def run(block: Block) -> None:
        assert block.type_name == type_name
        assert validate(block) == []

    run()


@settings(max_examples=60)
@given(valid_blocks(device=Device(Family.S7_1200, (4, 5))))
def test_valid_blocks_respect_the_device(block: Block) -> None:
    assert validate(block, device=Device(Family.S7_1200, (4, 5))) == []
    assert block.local_port <= 49151 and block.remote_port <= 49151


# Both families, firmware without and with Secure OUC, and own addresses at the edges of the
# unicast range hypothesis likes to draw (1.0.0.0 is its first choice).
_OWN = ("1.0.0.0", "1.0.0.1", "223.255.255.255")
_DEVICES = [
    Device(family, firmware, own_addresses=own)
    for family in Family
    for firmware in sorted(known_firmware(family))
    for own in ((), _OWN)
]


@settings(max_examples=300, database=None)
@given(st.sampled_from(_DEVICES).flatmap(lambda d: st.tuples(st.just(d), valid_blocks(device=d))))
def test_valid_blocks_validate_clean_on_the_device_they_were_drawn_for(
    pair: tuple[Device, Block],
) -> None:
    device, block = pair
    assert validate(block, device=device) == []


@settings(max_examples=150, database=None)
@given(valid_blocks("TCON_PARAM"))
def test_valid_tcon_param_blocks_keep_to_the_udt65_table_too(block: Block) -> None:
    """valid_blocks holds for validate with and without udt65_lengths: no UDP partner port or
    address (the partner comes with each telegram), no 1-byte ISO-on-TCP partner TSAP."""
    assert validate(block, udt65_lengths=True) == []
    if block.protocol is Protocol.UDP:
        assert isinstance(block, TconParam)
        assert (block.rem_tsap_id_len, block.rem_staddr_len, block.remote_port) == (0, 0, 0)


@pytest.mark.parametrize("device", [Device(Family.S7_1200, (4, 3)), Device(Family.S7_1500, (1, 8))])
def test_valid_blocks_on_a_firmware_without_tls_are_plain(device: Device) -> None:
    @settings(max_examples=40, database=None)
    @given(valid_blocks("TCON_IP_V4_SEC", device=device, role="passive"))
    def run(block: Block) -> None:
        assert not block.secure and validate(block, device=device) == []

    run()
    with pytest.raises(ConfigError, match=r"no block is valid with secure=True .*16#809A"):
        valid_blocks(secure=True, device=device)


@settings(max_examples=150)
@given(mutated_bytes() | mutated_bytes("TCON_IP_V4_SEC"))
def test_mutated_bytes_parse_or_fail_with_an_ouc_error(data: bytes) -> None:
    try:
        block = parse(data)
    except OucError as exc:
        assert exc.status is not None
    else:
        assert block.size == len(data)


def test_some_mutations_still_parse_and_some_do_not() -> None:
    seen: set[bool] = set()

    @settings(max_examples=200, database=None)
    @given(mutated_bytes("TCON_IP_V4"))
    def run(data: bytes) -> None:
        try:
            parse(data)
            seen.add(True)
        except OucError:
            seen.add(False)

    run()
    assert seen == {True, False}


def test_unknown_rule_or_type_is_an_ouc_error() -> None:
    with pytest.raises(ConfigError):
        broken_blocks("no_such_rule")
    with pytest.raises(ParamError):
        valid_blocks("TCON_IP_V6")
    with pytest.raises(ParamError):
        mutated_bytes("TCON_IP_V6")


def test_built_blocks_are_bytes_of_the_right_size() -> None:
    @settings(max_examples=20)
    @given(valid_blocks())
    def run(block: Block) -> None:
        assert len(build(block)) == block.size

    run()


def test_import_without_hypothesis_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "try:\n    import ouc.strategies\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install ouc[test]" in result.stdout


_NARROWED = [
    {"secure": True},
    {"secure": False},
    {"role": "active"},
    {"role": Role.PASSIVE},
    {"protocol": "UDP"},
    {"protocol": Protocol.ISO_ON_TCP},
    {"protocol": "tcp", "role": "active", "secure": True},
    {"secure": True, "role": "passive"},
    {"protocol": "ISO-on-TCP", "role": "active"},
]


@pytest.mark.parametrize(
    "want", _NARROWED, ids=lambda w: ",".join(f"{k}={v}" for k, v in w.items())
)
def test_valid_blocks_narrowed_meet_every_constraint(want: dict[str, object]) -> None:
    """Narrowing is built in: hypothesis's health checks (which fail a strategy that filters
    away most of what it draws) stay on, and every block meets every constraint."""

    @settings(max_examples=40)
    @given(valid_blocks(**want))  # type: ignore[arg-type]
    def run(block: Block) -> None:
        assert validate(block) == []
        _meets(block, want)

    run()


def test_valid_blocks_narrowed_to_one_type() -> None:
    @settings(max_examples=20)
    @given(valid_blocks("TCON_QDN_SEC", secure=True, role="active"))
    def run(block: Block) -> None:
        assert block.type_name == "TCON_QDN_SEC" and block.secure and block.role is Role.ACTIVE
        assert validate(block) == []

    run()


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ({"secure": True, "protocol": "UDP"}, {}),
        ({"role": "active", "protocol": "UDP"}, {}),
        ({"secure": True, "protocol": "ISO-on-TCP"}, {}),
        ({"secure": True}, {"type_name": "TCON_IP_RFC"}),
    ],
)
def test_valid_blocks_refuse_impossible_constraints(
    args: dict[str, object], want: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=r"no .* block is valid with"):
        valid_blocks(**want, **args)  # type: ignore[arg-type]


def test_valid_blocks_refuse_unknown_role_and_protocol() -> None:
    with pytest.raises(ConfigError, match="role must be 'active' or 'passive'"):
        valid_blocks(role="client")
    with pytest.raises(ConfigError, match="protocol must be one of TCP, UDP, ISO-on-TCP"):
        valid_blocks(protocol="SCTP")


def _meets(block: Block, want: dict[str, object]) -> None:
    """``block`` has every property ``want`` asks for."""
    if "type_name" in want:
        assert block.type_name == str(want["type_name"]).upper()
    if "secure" in want:
        assert block.secure is want["secure"]
    if "role" in want:
        assert block.role.value == str(getattr(want["role"], "value", want["role"])).lower()
    if "protocol" in want:
        expected = want["protocol"]
        name = expected.value if isinstance(expected, Protocol) else str(expected)
        assert block.protocol is not None and block.protocol.value.lower() == name.lower()


def _breaks_exactly(item: BrokenBlock) -> None:
    block, rule, status = item
    assert status == RULES[rule]
    if isinstance(block, bytes):
        with pytest.raises(ParamError) as info:
            parse(block)
        assert info.value.status == status
        return
    findings = validate(block, **item.context())
    assert [(f.rule, f.status) for f in findings] == [(rule, status)]


_BROKEN_NARROWED = [
    *_NARROWED,
    {"type_name": "tcon_qdn_sec"},
    {"type_name": "TCON_PARAM", "protocol": "UDP"},
    {"type_name": "TCON_IP_V4_SEC", "secure": True, "role": "passive"},
]


@pytest.mark.parametrize(
    "want", _BROKEN_NARROWED, ids=lambda w: ",".join(f"{k}={v}" for k, v in w.items())
)
def test_broken_blocks_narrowed_meet_every_constraint(want: dict[str, object]) -> None:
    """Narrowing is built in (hypothesis's health checks stay on); every broken block has the
    asked type, TLS flag, role and protocol and still breaks exactly its rule."""
    rules: set[str] = set()

    @settings(max_examples=60, database=None)
    @given(broken_blocks(**want))  # type: ignore[arg-type]
    def run(item: BrokenBlock) -> None:
        _breaks_exactly(item)
        rules.add(item.rule)
        if not isinstance(item.block, bytes):
            _meets(item.block, want)

    run()
    assert len(rules) > 1  # Many rules, not one that happens to fit.


_CONSTRAINTS = st.fixed_dictionaries(
    {},
    optional={
        "type_name": st.sampled_from(sorted(BLOCK_TYPES)),
        "secure": st.booleans(),
        "role": st.sampled_from(["active", "passive"]),
        "protocol": st.sampled_from(["TCP", "UDP", "ISO-on-TCP"]),
    },
)


@settings(max_examples=150, database=None)
@given(st.sampled_from(RULE_NAMES), _CONSTRAINTS, st.data())
def test_each_rule_narrowed_or_refused_up_front(
    rule: str, want: dict[str, object], data: st.DataObject
) -> None:
    """Any rule under any constraints is either refused when the strategy is made (one
    ConfigError naming the rule) or gives blocks that meet every constraint. That a refusal is
    right (validate can never report the rule so narrowed) is checked by test_strategies_reach."""
    try:
        strategy = broken_blocks(rule, **want)  # type: ignore[arg-type]
    except ConfigError as exc:
        assert rule in str(exc) and exc.path == "broken_blocks"
        return
    item = data.draw(strategy)
    assert item.rule == rule
    _breaks_exactly(item)
    if not isinstance(item.block, bytes):
        _meets(item.block, want)


@pytest.mark.parametrize(
    ("rule", "want"),
    [
        ("udp_active", {"role": "passive"}),
        ("udp_active", {"secure": True}),
        ("secure_udp", {"secure": False}),
        ("secure_udp", {"role": "active"}),
        ("connection_type", {"protocol": "TCP"}),
        ("tsap_invalid", {"secure": True}),
        ("qdn_empty", {"type_name": "TCON_IP_V4"}),
        ("passive_without_server_cert", {"role": "active"}),
        ("local_port_range", {"protocol": "ISO-on-TCP"}),
        (None, {"secure": True, "protocol": "ISO-on-TCP"}),
    ],
)
def test_broken_blocks_refuse_impossible_constraints(
    rule: str | None, want: dict[str, object]
) -> None:
    with pytest.raises(ConfigError, match=r"no .* block breaks"):
        broken_blocks(rule, **want)  # type: ignore[arg-type]


def test_broken_blocks_refuse_unknown_role_protocol_and_type() -> None:
    with pytest.raises(ConfigError, match="role must be 'active' or 'passive'"):
        broken_blocks(role="client")
    with pytest.raises(ConfigError, match="protocol must be one of"):
        broken_blocks("udp_active", protocol="SCTP")
    with pytest.raises(ParamError):
        broken_blocks(type_name="TCON_IP_V6")


def test_broken_blocks_rules_that_decide_a_property_meet_only_that_value() -> None:
    @settings(max_examples=20, database=None)
    @given(broken_blocks("udp_active", role="active") | broken_blocks("secure_udp", secure=True))
    def run(item: BrokenBlock) -> None:
        assert not isinstance(item.block, bytes)
        _breaks_exactly(item)
        assert item.block.protocol is Protocol.UDP
        assert item.block.role is Role.ACTIVE or item.block.secure

    run()
