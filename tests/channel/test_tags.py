"""The control values as WinCC's tags: ``@<connection>@ForceConnectionState`` and so on.

WinCC names the control values of a connection change ``@<connection>@ForceConnectionState``,
``@<connection>@AlternativeAddress`` and ``@<connection>@UseAlternativeAddress``, each with a
start value (domain.md §8). ouc's older names (the connection and the value's name apart; the
configuration keys ``force``, ``use_alternative``, ``alternative_address``) stay as aliases. No
socket or thread here: the channel is never started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ouc.channel import ChannelConfig, ChannelConnection, LinkState
from ouc.channel._state import parse_tag, tag_name
from ouc.errors import ConfigError
from ouc.params import dump_json

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def test_tag_names_parse_and_print() -> None:
    assert parse_tag("@PLC_1@ForceConnectionState") == ("PLC_1", "ForceConnectionState")
    assert parse_tag(" @PLC_1@usealternativeaddress ") == ("PLC_1", "UseAlternativeAddress")
    assert parse_tag("@a@b@AlternativeAddress") == ("a@b", "AlternativeAddress")
    assert tag_name("PLC_1", "alternativeaddress") == "@PLC_1@AlternativeAddress"
    for bad in ("PLC_1@ForceConnectionState", "@PLC_1", "@@ForceConnectionState", "@PLC_1@Force"):
        with pytest.raises(ConfigError) as info:
            parse_tag(bad)
        assert info.value.path == "tag" and repr(bad) in info.value.message


def test_tag_names_and_the_older_names_address_the_same_values(plant: Plant) -> None:
    channel = plant.channel(plant.connection("PLC_1", force=False), start=False)
    row = channel.set("@PLC_1@UseAlternativeAddress", 1)
    assert row.use_alternative == 1
    assert channel.get("PLC_1", "UseAlternativeAddress") == 1  # the older form reads it
    channel.set("PLC_1", "UseAlternativeAddress", 0)  # the older form writes it
    assert channel.get("@PLC_1@UseAlternativeAddress") == 0
    channel.set("@PLC_1@AlternativeAddress", f"IPAddress={plant.PLC2_IP}")
    assert channel.get("@PLC_1@alternativeaddress") == f"IPAddress={plant.PLC2_IP};"
    channel.set("@PLC_1@ForceConnectionState", "1")
    assert channel.get("@PLC_1@ForceConnectionState") == 1
    (event,) = [e for e in channel.events() if "@PLC_1@AlternativeAddress" in e.text]
    assert event.text == f"@PLC_1@AlternativeAddress = IPAddress={plant.PLC2_IP};"
    assert channel.row("PLC_1").state is LinkState.DISCONNECTED  # never started

    with pytest.raises(ConfigError) as info:
        channel.set("@PLC_9@ForceConnectionState", 1)
    assert "PLC_9" in info.value.message
    with pytest.raises(ConfigError, match="tag name like"):
        channel.set("@PLC_1@ForceConnectionState")  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("missing", "tags"),
    [
        ("force", ["@PLC_1@ForceConnectionState"]),
        ("use_alternative", ["@PLC_1@UseAlternativeAddress"]),
        ("alternative_address", ["@PLC_1@AlternativeAddress"]),
        ("all", ["@PLC_1@ForceConnectionState", "@PLC_1@AlternativeAddress"]),
    ],
)
def test_a_connection_without_a_start_value_is_refused(
    plant: Plant, missing: str, tags: list[str]
) -> None:
    values: dict[str, Any] = {"force": 1, "use_alternative": 0, "alternative_address": ""}
    if missing == "all":
        values = {}
    else:
        del values[missing]
    with pytest.raises(ConfigError) as info:
        ChannelConnection("PLC_1", plant.block(), **values)
    message = info.value.message
    assert "connection 'PLC_1' has no start value for" in message
    assert all(tag in message for tag in tags)
    assert info.value.path == tags[0]


def _config(tmp_path: Path, plant: Plant, connection: dict[str, Any], tags: Any = None) -> Path:
    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    doc: dict[str, Any] = {"connections": {"PLC_1": {"block": "b.json", **connection}}}
    if tags is not None:
        doc["tags"] = tags
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    return path


def test_configuration_start_values_by_tag_name_and_by_the_older_keys(
    plant: Plant, tmp_path: Path
) -> None:
    by_tag = {
        "@PLC_1@ForceConnectionState": 0,
        "@PLC_1@UseAlternativeAddress": True,
        "@PLC_1@AlternativeAddress": f"IPAddress={plant.PLC2_IP}",
    }
    (conn,) = ChannelConfig.load(_config(tmp_path, plant, {}, by_tag)).connections
    assert (conn.force, conn.use_alternative) == (False, True)
    assert conn.alternative is not None and conn.alternative.ip_address == plant.PLC2_IP

    older = {
        "force": 0,
        "use_alternative": True,
        "alternative_address": f"IPAddress={plant.PLC2_IP}",
    }
    (same,) = ChannelConfig.load(_config(tmp_path, plant, older)).connections
    assert same == conn

    mixed = {"force": False}
    tags = {"@PLC_1@UseAlternativeAddress": 0, "@PLC_1@AlternativeAddress": ""}
    (conn,) = ChannelConfig.load(_config(tmp_path, plant, mixed, tags)).connections
    assert (conn.force, conn.use_alternative, conn.alternative) == (False, False, None)


@pytest.mark.parametrize(
    ("connection", "tags", "where", "text"),
    [
        (
            {"force": 1, "use_alternative": 0},
            None,
            "tags.@PLC_1@AlternativeAddress",
            "connection PLC_1 has no start value for @PLC_1@AlternativeAddress: add "
            '"@PLC_1@AlternativeAddress" = "" under [tags]',
        ),
        (
            {},
            {"@PLC_1@AlternativeAddress": ""},
            "tags.@PLC_1@ForceConnectionState",
            "@PLC_1@ForceConnectionState and @PLC_1@UseAlternativeAddress",
        ),
        (
            {"force": 1, "use_alternative": 0, "alternative_address": ""},
            {"@PLC_1@ForceConnectionState": 1},
            "connections.PLC_1.force",
            "given twice",
        ),
        ({}, {"@PLC_2@ForceConnectionState": 1}, "tags.@PLC_2@ForceConnectionState", "PLC_1"),
        ({}, {"PLC_1.force": 1}, "tags.PLC_1.force", "tag name like"),
        ({}, {"@PLC_1@ForceConnectionState": "yes"}, "tags.@PLC_1@Force", "1/0"),
        ({}, {"@PLC_1@AlternativeAddress": 3}, "tags.@PLC_1@AlternativeAddress", "text"),
        ({}, ["@PLC_1@ForceConnectionState"], "tags", "table"),
    ],
)
def test_configuration_start_value_errors_name_the_connection_and_the_tag(
    plant: Plant, tmp_path: Path, connection: dict[str, Any], tags: Any, where: str, text: str
) -> None:
    path = _config(tmp_path, plant, connection, tags)
    with pytest.raises(ConfigError) as info:
        ChannelConfig.load(path)
    assert info.value.path is not None
    assert info.value.path.startswith(f"{path}: ") and where in info.value.path
    assert text in info.value.message
