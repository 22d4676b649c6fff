"""The AlternativeAddress text: tolerant of spacing, strict about content (domain.md §8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouc.channel import AlternativeAddress
from ouc.errors import ConfigError, Status


@pytest.mark.parametrize(
    "text",
    [
        "AccessPoint=abc; IPAddress=111.111.111.111;",
        "AccessPoint=abc;IPAddress=111.111.111.111",
        "  AccessPoint = abc ;  IPAddress = 111.111.111.111 ; ",
        "ipaddress=111.111.111.111; accesspoint=abc",
        "AccessPoint=abc;; IPAddress=111.111.111.111;;",
    ],
)
def test_the_documented_text_in_its_sloppy_forms(text: str) -> None:
    parsed = AlternativeAddress.parse(text)
    assert parsed == AlternativeAddress("111.111.111.111", "abc")
    assert parsed is not None
    assert parsed.text == "AccessPoint=abc; IPAddress=111.111.111.111;"


def test_access_point_is_optional_and_blank_text_clears() -> None:
    assert AlternativeAddress.parse("IPAddress=192.168.0.3") == AlternativeAddress("192.168.0.3")
    assert AlternativeAddress("192.168.0.3").text == "IPAddress=192.168.0.3;"
    assert AlternativeAddress.parse("") is None
    assert AlternativeAddress.parse(" ; ") is None


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("AccessPoint=abc; IPAdress=1.2.3.4;", "'IPAdress'"),
        ("AccessPoint=abc; 1.2.3.4;", "'1.2.3.4'"),
        ("AccessPoint=abc;", "names no IPAddress"),
        ("IPAddress=1.2.3.4; IPAddress=1.2.3.5", "IPAddress is given twice"),
        ("AccessPoint=; IPAddress=1.2.3.4", "AccessPoint has no value"),
        ("=abc; IPAddress=1.2.3.4", "'=abc'"),
        ("AccessPoint=a=b; IPAddress=1.2.3.4", "'a=b'"),
    ],
)
def test_bad_text_is_one_error_naming_the_bad_part(text: str, quoted: str) -> None:
    with pytest.raises(ConfigError) as info:
        AlternativeAddress.parse(text)
    assert quoted in info.value.message
    assert info.value.path == "AlternativeAddress"


@pytest.mark.parametrize(
    "ip", ["111.111.111", "256.1.1.1", "01.2.3.4", "0.0.0.0", "255.255.255.255", "224.0.0.1", "abc"]
)
def test_bad_ip_addresses_are_80a4(ip: str) -> None:
    with pytest.raises(ConfigError) as info:
        AlternativeAddress.parse(f"AccessPoint=abc; IPAddress={ip};")
    assert info.value.status == Status.REMOTE_ADDRESS_INVALID
    assert ip in info.value.message


_ACCESS_POINTS = st.text(
    st.characters(codec="ascii", categories=("L", "N", "P"), exclude_characters=";="),
    min_size=1,
    max_size=12,
)
_IPS = st.ip_addresses(v=4).filter(
    lambda a: not (a.is_unspecified or a.is_multicast or str(a) == "255.255.255.255")
)


@given(
    ip=_IPS,
    point=st.none() | _ACCESS_POINTS,
    spaces=st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=6, max_size=6),
    final=st.booleans(),
    upper=st.booleans(),
)
def test_round_trip_with_any_spacing(
    ip: object, point: str | None, spaces: list[str], final: bool, upper: bool
) -> None:
    original = AlternativeAddress(str(ip), point)
    assert AlternativeAddress.parse(original.text) == original
    a, b, c, d, e, f = spaces
    ip_key = "IPADDRESS" if upper else "IPAddress"
    parts = [f"{a}{ip_key}{b}={c}{ip}{d}"]
    if point is not None:
        parts.insert(0, f"{e}AccessPoint={point}{f}")
    text = ";".join(parts) + (";" if final else "")
    assert AlternativeAddress.parse(text) == original
