"""``Device`` checks what it is given: a family named by a string is that family (not an
S7-1500 facts with an S7-1200's name, or the reverse), and a firmware is one the family was
released with, as ``Device.from_text`` and the CLI's ``--family/--firmware`` require.

Sources: domain.md §2 (LEN 65536 / 8192, ports), §3 (RSA-4096 on S7-1500 only, TLS 1.3 from
S7-1500 V2.9 / S7-1200 V4.5), §7 (live certificate reload from V3.1).
"""

from __future__ import annotations

import dataclasses

import pytest

from ouc.device import DEFAULT_FIRMWARE, Device, Family, TLSVersion, known_firmware
from ouc.errors import ConfigError


@pytest.mark.parametrize("name", ["S7-1500", "s7-1500", "S7_1500"])
def test_a_family_named_by_a_string_is_that_family(name: str) -> None:
    device = Device(family=name)  # type: ignore[arg-type]
    assert device.family is Family.S7_1500
    assert device == Device(family=Family.S7_1500)
    assert device.max_send_len == 65536
    assert device.max_port == 65535
    assert 4096 in device.rsa_key_sizes
    assert device.loads_certificates_at_runtime


def test_an_s7_1200_by_string_gets_the_s7_1200_facts() -> None:
    device = Device(family="S7-1200")  # type: ignore[arg-type]
    assert device.family is Family.S7_1200
    assert device.firmware == DEFAULT_FIRMWARE[Family.S7_1200] == (4, 6)
    assert device.max_send_len == 8192
    assert device.max_port == 49151
    assert 4096 not in device.rsa_key_sizes
    assert not device.loads_certificates_at_runtime
    assert device.tls_versions == (TLSVersion.TLS1_2, TLSVersion.TLS1_3)


def test_an_unknown_family_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        Device(family="S7-300")  # type: ignore[arg-type]
    assert info.value.path == "family"
    assert "'S7-300'" in str(info.value)
    assert "S7-1200 or S7-1500" in str(info.value)


def test_a_family_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown CPU family 1500") as info:
        Device(family=1500)  # type: ignore[arg-type]
    assert info.value.path == "family"


@pytest.mark.parametrize(
    ("family", "firmware", "text"),
    [
        (Family.S7_1500, (9, 9), "S7-1500 has no firmware V9.9"),
        (Family.S7_1200, (3, 1), "S7-1200 has no firmware V3.1"),
        (Family.S7_1200, (2, 9), "S7-1200 has no firmware V2.9"),
    ],
)
def test_a_firmware_the_family_never_ran_is_refused(
    family: Family, firmware: tuple[int, int], text: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Device(family=family, firmware=firmware)
    assert info.value.path == "firmware"
    assert text in str(info.value)
    assert "known: V1.0" in str(info.value)  # and what to pick instead


@pytest.mark.parametrize("firmware", ["V3.1", "3.1", (3,), (3, 1, 0), (3.0, 1), (True, 1)])
def test_a_firmware_that_is_no_major_minor_pair_is_refused(firmware: object) -> None:
    with pytest.raises(ConfigError, match=r"firmware must be \(major, minor\)") as info:
        Device(firmware=firmware)  # type: ignore[arg-type]
    assert info.value.path == "firmware"


@pytest.mark.parametrize("family", list(Family))
def test_every_released_firmware_is_accepted(family: Family) -> None:
    for version in known_firmware(family):
        assert Device(family=family, firmware=version).firmware == version


def test_a_list_firmware_becomes_a_tuple_and_the_device_stays_hashable() -> None:
    device = Device(firmware=[2, 9])  # type: ignore[arg-type]
    assert device.firmware == (2, 9)
    assert hash(device) == hash(Device(firmware=(2, 9)))


def test_the_default_device_is_unchanged() -> None:
    device = Device()
    assert (device.family, device.firmware) == (Family.S7_1500, (3, 1))


def test_replace_checks_the_new_combination() -> None:
    with pytest.raises(ConfigError, match=r"S7-1200 has no firmware V3\.1"):
        dataclasses.replace(Device(), family=Family.S7_1200)


def test_one_own_address_as_a_string_is_refused_with_the_tuple_to_write() -> None:
    with pytest.raises(ConfigError, match=r"\('192.168.0.1',\)") as info:
        Device(own_addresses="192.168.0.1")  # type: ignore[arg-type]
    assert info.value.path == "own_addresses"


def test_from_text_still_says_which_firmware_was_typed() -> None:
    with pytest.raises(ConfigError, match=r"S7-1500 has no firmware 'V4\.5'"):
        Device.from_text("S7-1500", "V4.5")
    with pytest.raises(ConfigError, match="unknown CPU family 'S7-400'"):
        Device.from_text("S7-400", "V3.1")
