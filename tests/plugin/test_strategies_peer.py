"""The hypothesis strategies as a peer's own test suite uses them (public names only).

A peer developer tests their own configuration code — here a loader that reads a CONNECT block
the way their HMI driver would — against generated blocks: narrowed valid blocks
(``secure=``, ``role=``, ``protocol=``) and narrowed broken ones, with hypothesis's health
checks on (narrowing is built in, never a filter that would trip them).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from ouc.errors import ConfigError, OucError
from ouc.params import RULES, Block, Protocol, build, parse, validate
from ouc.strategies import BrokenBlock, broken_blocks, valid_blocks


def my_server_loader(data: bytes) -> tuple[int, int]:
    """The peer's code under test: a secure server block's local port and certificate ID, or
    the PLC's status as an error."""
    block = parse(data)
    findings = validate(block)
    if findings:
        raise ValueError(f"16#{findings[0].status:04X}")
    if not block.secure or block.role.value != "passive":
        raise ValueError("not a secure server block")
    return block.local_port, block.TLSServerCertRef  # type: ignore[attr-defined]


@settings(max_examples=60, suppress_health_check=[])  # every health check on
@given(valid_blocks(secure=True, role="passive", protocol="TCP"))
def test_my_loader_accepts_every_secure_server_block(block: Block) -> None:
    port, cert_id = my_server_loader(build(block))
    assert port == block.local_port and 1 <= port <= 65535
    assert cert_id >= 1  # a passive secure block names its server certificate


@settings(max_examples=60, suppress_health_check=[])
@given(broken_blocks(secure=True, role="passive", protocol="TCP"))
def test_my_checker_reports_the_plcs_status_for_each_broken_server_block(
    item: BrokenBlock,
) -> None:
    block, rule, status = item
    if isinstance(block, bytes):  # length/structure: the bytes themselves are refused
        with pytest.raises(OucError) as refused:
            parse(block)
        assert refused.value.status == status
        return
    assert block.secure and block.role.value == "passive" and block.protocol is Protocol.TCP
    findings = validate(block, **item.context())
    assert [(f.rule, f.status) for f in findings] == [(rule, status)]


@settings(max_examples=30, suppress_health_check=[])
@given(broken_blocks("qdn_empty", type_name="TCON_QDN_SEC", secure=True))
def test_one_rule_on_one_type(item: BrokenBlock) -> None:
    assert not isinstance(item.block, bytes)
    assert item.block.type_name == "TCON_QDN_SEC" and item.block.remote_qdn == ""
    assert item.status == RULES["qdn_empty"]
    assert [f.rule for f in validate(item.block, **item.context())] == ["qdn_empty"]


def test_an_impossible_wish_is_refused_before_any_example() -> None:
    with pytest.raises(ConfigError, match="no TCON block breaks udp_active"):
        broken_blocks("udp_active", role="passive")  # a UDP block is passive: it cannot
    with pytest.raises(ConfigError, match=r"no .* block is valid with"):
        valid_blocks(secure=True, protocol="UDP")


def test_health_checks_pass_in_a_users_own_run(pytester: pytest.Pytester) -> None:
    """The strategies in a user's project, default hypothesis settings but fewer examples,
    warnings as errors: no health check about discarded data fails (a filtering strategy
    would fail filter_too_much here). too_slow is off in this one run only: it measures the
    wall clock of a fresh process, which a loaded test machine decides, not the strategy."""
    pytester.makepyfile(
        test_user="""
        from hypothesis import HealthCheck, given, settings
        from ouc.params import validate
        from ouc.strategies import broken_blocks, valid_blocks

        @settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
        @given(valid_blocks(secure=True, role="active"))
        def test_valid(block):
            assert validate(block) == []

        @settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
        @given(broken_blocks(role="active", protocol="ISO-on-TCP"))
        def test_broken(item):
            assert item.rule and item.status >= 0x8000
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@settings(max_examples=5)
@given(valid_blocks("TCON_IP_V4_SEC", secure=False))
def test_a_plain_block_is_not_a_server_config(block: Block) -> None:
    with pytest.raises(ValueError, match="not a secure server block"):
        my_server_loader(build(block))
