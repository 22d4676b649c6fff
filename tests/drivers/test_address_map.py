"""``AddressMap.parse``: ``PLANT=LOCAL`` entries as ``--map`` takes them."""

from __future__ import annotations

import pytest

from ouc.drivers import AddressMap
from ouc.errors import ConfigError


def test_entries_map_addresses_and_ports_both_ways() -> None:
    amap = AddressMap.parse(["192.168.0.1:2000=127.0.0.1:40123", "192.168.0.2=127.0.0.2"])
    assert amap.to_local("192.168.0.1", 2000) == ("127.0.0.1", 40123)
    assert amap.to_local("192.168.0.2", 102) == ("127.0.0.2", 102)
    assert amap.to_plant("127.0.0.2") == "192.168.0.2"
    assert AddressMap.parse(["plc1.plant=localhost"]).to_local("plc1.plant", 1) == ("localhost", 1)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("192.168.0.2", "is not PLANT=LOCAL"),
        ("192.168.0.2=127.0.0.2:http", "port 'http' is not a number"),
        ("192.168.0.2=127.0.0.2:70000", "port 70000 is outside 0..65535"),
        ("192.168.0.2=999.0.0.1", "'999.0.0.1' is no IPv4 address"),
        ("192.168.0.256:2000=127.0.0.1", "'192.168.0.256' is no IPv4 address"),
        ("192.168.0.2=127.0.1", "'127.0.1' is no IPv4 address"),
    ],
)
def test_a_bad_entry_is_one_clear_error(entry: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        AddressMap.parse([entry])
    assert fragment in str(info.value)
