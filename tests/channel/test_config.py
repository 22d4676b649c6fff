"""The channel's JSON/TOML configuration: what it accepts, and one clear error for what not."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ouc.channel import AlternativeAddress, ChannelConfig, LinkState
from ouc.channel._settings import check_channel_block, with_remote, without_tls
from ouc.errors import ConfigError, OucError, Status
from ouc.params import (
    ISO_ON_TCP_EXAMPLE,
    QDN_SEC_EXAMPLE,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    TconIpV4Sec,
    dump_json,
)

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)
#: The start values of a connection's control tags, by the older keys.
START = {"force": 1, "use_alternative": 0, "alternative_address": ""}


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_configuration_builds_a_channel_that_connects(plant: Plant, suffix: str) -> None:
    plant.start_plc("PLC_1", plant.PLC1_IP, 9)
    path = plant.write_config(plant.tmp_path, suffix=suffix)
    config = ChannelConfig.load(path)
    assert config.device.name == "HMI_1" and config.device.own_addresses == (plant.PC_IP,)
    assert config.device_store == plant.tmp_path.resolve() / "dcs"
    assert config.control == plant.tmp_path.resolve() / "channel.ouc.sock"
    assert config.cpus[plant.PLC2_IP].firmware == (2, 8)
    (conn,) = config.connections
    assert conn.block == plant.block()
    assert conn.alternative_address == AlternativeAddress(plant.PLC2_IP, "S7ONLINE")

    channel = config.build(clock=plant.clock)
    plant.channels.append(channel)
    channel.start()
    row = channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    assert row.peer == "CN=PLC_1"  # CA 3 came from the cas list
    assert (plant.tmp_path / "dcs" / "untrusted").is_dir()


def test_address_and_port_override_the_block(plant: Plant, tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    (tmp_path / "c.json").write_text(
        json.dumps(
            {
                "connections": {
                    "X": {"block": "b.json", "address": "10.0.0.7", "port": 4000, **START}
                }
            }
        )
    )
    (conn,) = ChannelConfig.load(tmp_path / "c.json").connections
    assert (conn.block.remote_address, conn.block.remote_port) == ("10.0.0.7", 4000)
    assert conn.block.secure


@pytest.mark.parametrize(
    ("doc", "where", "text"),
    [
        ({"conections": {}}, "conections", "unknown key"),
        ({}, "connections", "names no connections"),
        ({"connections": {"A": {"blok": "b.json"}}}, "connections.A.blok", "unknown key"),
        ({"connections": {"A": {}}}, "connections.A.block", "needs a block"),
        ({"connections": {"A": {"block": "b.json", "force": "yes"}}}, "connections.A.force", "1/0"),
        ({"connections": {"A": {"block": "b.json", "port": 0}}}, "connections.A.port", "1..65535"),
        (
            {"connections": {"A": {"block": "b.json", **START, "alternative_address": "IP=1"}}},
            "connections.A.AlternativeAddress",
            "'IP'",
        ),
        ({"connections": {"A": {"block": "missing.json"}}}, "missing.json", "cannot read"),
        ({"connections": {"A": {"block": "server.json"}}}, "ActiveEstablished", "TRUE"),
        ({"connections": [{"block": "b.json"}]}, "connections[0].name", "needs a name"),
        ({"cpus": {"1.2.3.4": "S7-300 V1.0"}, "connections": {}}, "cpus.1.2.3.4", "S7-300"),
        ({"retry_delay": True, "connections": {}}, "retry_delay", "must be"),
        ({"map": ["nonsense"], "connections": {}}, "map", "PLANT=LOCAL"),
        ({"profile": "loose", "connections": {}}, "profile", "loose"),
        ({"own_address": "host", "connections": {}}, "own_address", "IPv4"),
        ({"connect_timeout": float("nan"), "connections": {}}, "connect_timeout", "not nan"),
        ({"retry_delay": float("inf"), "connections": {}}, "retry_delay", "at most 2592000"),
        ({"max_retry_delay": 10**400, "connections": {}}, "max_retry_delay", "seconds"),
        ({"retry_delay": 0, "connections": {}}, "retry_delay", "more than 0"),
        ({"cpus": {"x": "S7-1500 V2.8"}, "connections": {}}, "cpus.x", "not an IPv4 address"),
        ({"map": ["192.168.0.2=::1"], "connections": {}}, "map", "IPv6 address; ouc uses IPv4"),
        ({"map": ["[::1]:2000=127.0.0.1"], "connections": {}}, "map", "IPv4 only"),
        ({"connections": {}}, "connections", "names no connections"),
        ({"connections": []}, "connections", "names no connections"),
    ],
)
def test_errors_name_the_file_and_the_key(
    plant: Plant, tmp_path: Path, doc: dict[str, Any], where: str, text: str
) -> None:
    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    (tmp_path / "server.json").write_text(dump_json(STANDARD_SERVER))
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(OucError) as info:
        ChannelConfig.load(path)
    assert info.value.path is not None
    assert info.value.path.startswith(str(path)) and where in info.value.path
    assert text in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        ChannelConfig.load(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("device = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ChannelConfig.load(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(ConfigError, match="top"):
        ChannelConfig.load(listed)


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("connect_timeout = nan", "connect_timeout", "nan"),
        ("retry_delay = inf", "retry_delay", "inf"),
        ("max_retry_delay = -inf", "max_retry_delay", "-inf"),
        ("retry_delay = 1e400", "retry_delay", "inf"),
    ],
)
def test_a_toml_time_that_no_timer_can_wait_names_file_and_key(
    tmp_path: Path, text: str, key: str, shown: str
) -> None:
    """``nan`` passed a ``<= 0`` check and made every attempt fail with 16#80C4; ``inf``
    overflowed the worker's wait and killed it. Both are refused when the file is read."""
    path = tmp_path / "c.toml"
    path.write_text(f'{text}\n[connections.A]\nblock = "b.json"\n')
    with pytest.raises(ConfigError) as info:
        ChannelConfig.load(path)
    assert info.value.path == f"{path}: {key}"
    assert str(info.value).endswith(f"at most 2592000, not {shown}")


def test_a_json_key_given_twice_is_refused(plant: Plant, tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    body = json.dumps({"A": {"block": "b.json", **START}})
    path = tmp_path / "c.json"
    path.write_text(f'{{"retry_delay": 1,\n "retry_delay": 2,\n "connections": {body}}}')
    with pytest.raises(ConfigError, match=r'"retry_delay" is given twice.*\(lines 1 and 2\)') as i:
        ChannelConfig.load(path)
    assert i.value.path == str(path)
    with pytest.raises(ConfigError, match='"retry_delay" is given twice') as i:
        ChannelConfig.loads(path.read_bytes())
    assert i.value.path == "<stdin>"
    path.write_text(f'{{"retry_delay": 1e400, "connections": {body}}}')
    with pytest.raises(ConfigError, match="retry_delay: must be a number of seconds"):
        ChannelConfig.load(path)


def test_a_cpus_key_may_be_a_connection_qdn(plant: Plant, tmp_path: Path) -> None:
    block = dataclasses.replace(QDN_SEC_EXAMPLE, TLSClientCertRef=0)
    assert block.remote_qdn
    (tmp_path / "q.json").write_text(dump_json(block))
    doc = {"cpus": {block.remote_qdn: "S7-1500 V2.8"}, "connections": {"Q": {"block": "q.json"}}}
    (tmp_path / "c.json").write_text(json.dumps({**doc, "tags": _tags("Q")}))
    config = ChannelConfig.load(tmp_path / "c.json")
    assert config.cpus[block.remote_qdn].firmware == (2, 8)
    doc["cpus"] = {"plc1.plant.example": "S7-1500 V2.8"}
    (tmp_path / "c.json").write_text(json.dumps({**doc, "tags": _tags("Q")}))
    with pytest.raises(
        ConfigError, match=f"nor the RemoteQDN of a connection \\({block.remote_qdn}"
    ):
        ChannelConfig.load(tmp_path / "c.json")


def _tags(name: str) -> dict[str, object]:
    return {
        f"@{name}@ForceConnectionState": 1,
        f"@{name}@UseAlternativeAddress": 0,
        f"@{name}@AlternativeAddress": "",
    }


def test_building_needs_an_existing_project_store(plant: Plant, tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    (tmp_path / "c.json").write_text(
        json.dumps({"project_store": "nowhere", "connections": {"A": {"block": "b.json", **START}}})
    )
    with pytest.raises(ConfigError, match="no certificate store") as info:
        ChannelConfig.load(tmp_path / "c.json").build()
    assert info.value.path == f"{tmp_path / 'c.json'}: project_store"


def test_block_variants_for_a_change() -> None:
    changed = with_remote(QDN_SEC_EXAMPLE, "192.168.0.3")
    assert isinstance(changed, TconIpV4Sec)  # a QDN block becomes an IPv4 block
    assert (changed.remote_address, changed.remote_port) == ("192.168.0.3", 2000)
    assert changed.ExtTLSCapabilities == QDN_SEC_EXAMPLE.ExtTLSCapabilities == 1
    assert changed.TLSClientCertRef == QDN_SEC_EXAMPLE.TLSClientCertRef
    assert with_remote(QDN_SEC_EXAMPLE, port=4000).remote_qdn == QDN_SEC_EXAMPLE.remote_qdn
    plain = without_tls(STANDARD_CLIENT)
    assert not plain.secure and plain.ConnPara == STANDARD_CLIENT.ConnPara
    assert without_tls(plain.ConnPara) == plain.ConnPara
    with pytest.raises(ConfigError, match="TCON_IP_RFC"):
        check_channel_block(ISO_ON_TCP_EXAMPLE)


def test_a_cas_entry_that_is_no_ca_certificate_names_cas_and_the_file(
    plant: Plant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A block file or an end-entity certificate listed under ``cas``: one line naming the
    configuration, the key and the file, without the certificate parser's internals."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from ouc.cli import main

    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    (tmp_path / "leaf.pem").write_bytes(plant.cert(9).public_bytes(Encoding.PEM))
    connections = {"A": {"block": "b.json", **START}}
    for entry, text in (("b.json", "not an X.509 certificate"), ("leaf.pem", "not a CA")):
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"cas": [entry], "connections": connections}))
        with pytest.raises(OucError) as info:
            ChannelConfig.load(path).build()
        assert info.value.path == f"{path}: cas"
        assert text in info.value.message and str(tmp_path / entry) in info.value.message
        assert main(["channel", "run", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{path}: cas: {tmp_path / entry}: " in err, err
        assert "ParseError" not in err and "asn1" not in err, err


def test_an_end_entity_certificate_in_ca_dir_is_refused_at_start(
    plant: Plant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from ouc.cli import main

    (tmp_path / "b.json").write_text(dump_json(plant.block()))
    (tmp_path / "cas").mkdir()
    leaf = tmp_path / "cas" / "leaf.der"
    leaf.write_bytes(plant.cert(9).public_bytes(Encoding.DER))
    path = tmp_path / "c.json"
    connections = {"A": {"block": "b.json", **START}}
    path.write_text(json.dumps({"ca_dir": "cas", "connections": connections}))
    with pytest.raises(OucError, match="not a CA") as info:
        ChannelConfig.load(path).build()
    assert info.value.path == f"{path}: ca_dir"
    assert main(["channel", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: ca_dir: {leaf}: " in err and "16#80E4" in err, err


def _run_config(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"connections": {"A": {"block": "b.json", **START}}, **doc}))
    return path


@pytest.mark.parametrize("mistake", ["no project_store", "unknown device", "unknown ID"])
def test_an_own_certificate_no_retry_can_find_is_refused_at_start(
    plant: Plant, tmp_path: Path, capsys: pytest.CaptureFixture[str], mistake: str
) -> None:
    """A TLSClientCertRef the project store cannot give the PC station is refused by
    ``ouc channel run`` at start (one line, exit 2, what to do), as ``ouc serve`` refuses it,
    instead of failing every attempt with 16#80ED for ever."""
    from ouc.cli import main
    from ouc.params import dump_json

    block = plant.block()
    store = str(plant.store.path)
    doc: dict[str, Any] = {"device": "HMI_1", "project_store": store}
    if mistake == "no project_store":
        del doc["project_store"]
        key, hint = "project_store", "set project_store"
    elif mistake == "unknown device":
        doc["device"] = "NOPE"
        key, hint = "device", f"ouc certs assign NOPE {plant.hmi_id} --store {store}"
    else:
        block = dataclasses.replace(block, TLSClientCertRef=99)
        key, hint = "connections.A.block", f"ouc certs list --store {store}"
    (tmp_path / "b.json").write_text(dump_json(block))
    path = _run_config(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        ChannelConfig.load(path).build()
    assert info.value.path == f"{path}: {key}" and info.value.status == Status.TLS_CERT_REF_UNKNOWN
    assert main(["channel", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and hint in err and "16#80ED" in err, err


def test_an_access_point_that_is_no_local_address_is_refused_at_start(
    plant: Plant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ouc.cli import main
    from ouc.params import dump_json

    (tmp_path / "b.json").write_text(dump_json(plant.block(own_cert=False)))
    # 203.0.113.7 (TEST-NET-3) is never this host's: binding to it fails, nothing is sent.
    for address, text in (("203.0.113.7", "not an address of this PC"), ("x", "not an IPv4")):
        path = _run_config(tmp_path, {"access_points": {"S7ONLINE": address}})
        with pytest.raises(ConfigError, match=text) as info:
            ChannelConfig.load(path).build()
        assert info.value.path == f"{path}: access_points.S7ONLINE"
        assert main(["channel", "run", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "AccessPoint S7ONLINE" in err, err
    path = _run_config(tmp_path, {"access_points": {"S7ONLINE": "127.0.0.5"}})
    assert ChannelConfig.load(path).build().names == ["A"]


def test_an_alternative_address_start_value_naming_no_access_point_names_file_and_tag(
    plant: Plant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ouc.cli import main
    from ouc.params import dump_json

    (tmp_path / "b.json").write_text(dump_json(plant.block(own_cert=False)))
    path = tmp_path / "c.json"
    table = {**START, "alternative_address": "AccessPoint=S7ONLINE; IPAddress=192.168.0.3;"}
    path.write_text(
        json.dumps(
            {
                "access_points": {"X": "127.0.0.5"},
                "connections": {"A": {"block": "b.json", **table}},
            }
        )
    )
    with pytest.raises(ConfigError, match="not one of this PC's access points") as info:
        ChannelConfig.load(path).build()
    assert info.value.path == f"{path}: tags.@A@AlternativeAddress"
    assert main(["channel", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: tags.@A@AlternativeAddress" in err, err
