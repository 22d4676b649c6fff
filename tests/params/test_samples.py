"""The sample blocks: domain.md §1 field for field, and samples/ equal to what the code builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ouc.device import Role
from ouc.params import (
    ISO_ON_TCP_EXAMPLE,
    QDN_SEC_EXAMPLE,
    SAMPLES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    build,
    dump_json,
    load,
    validate,
)

SAMPLES_DIR = Path(__file__).parents[2] / "samples"


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_sample_files_equal_what_the_code_builds(stem: str) -> None:
    block = SAMPLES[stem]
    assert (SAMPLES_DIR / f"{stem}.json").read_text() == dump_json(block)
    assert (SAMPLES_DIR / f"{stem}.bin").read_bytes() == build(block)
    assert load(SAMPLES_DIR / f"{stem}.json") == block
    assert load(SAMPLES_DIR / f"{stem}.bin") == block


def test_samples_readme_names_every_file() -> None:
    readme = (SAMPLES_DIR / "README.md").read_text()
    for stem in SAMPLES:
        assert f"`{stem}.*`" in readme
    assert "How they were made" in readme


def test_standard_example_is_domain_md_section_1() -> None:
    server, client = STANDARD_SERVER, STANDARD_CLIENT
    for block in (server, client):
        assert (block.ConnPara.InterfaceId, block.ConnPara.ID) == (64, 1)
        assert block.ConnPara.ConnectionType == 11
        assert block.ActivateSecureConn is True and block.ExtTLSCapabilities == 0
    assert server.ConnPara.ActiveEstablished is False and client.ConnPara.ActiveEstablished is True
    assert (server.ConnPara.RemoteAddress, client.ConnPara.RemoteAddress) == (
        "192.168.0.2",
        "192.168.0.1",
    )
    assert (server.ConnPara.RemotePort, server.ConnPara.LocalPort) == (0, 2000)
    assert (client.ConnPara.RemotePort, client.ConnPara.LocalPort) == (2000, 0)
    assert (server.TLSServerReqClientCert, client.TLSServerReqClientCert) == (True, False)
    assert (server.TLSServerCertRef, server.TLSClientCertRef) == (9, 3)
    assert (client.TLSServerCertRef, client.TLSClientCertRef) == (3, 11)
    assert (server.role, client.role) == (Role.PASSIVE, Role.ACTIVE)


def test_other_samples_are_what_their_names_say() -> None:
    assert QDN_SEC_EXAMPLE.type_name == "TCON_QDN_SEC" and QDN_SEC_EXAMPLE.secure
    assert ISO_ON_TCP_EXAMPLE.type_name == "TCON_IP_RFC" and not ISO_ON_TCP_EXAMPLE.secure


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_samples_validate_clean_with_a_store(stem: str) -> None:
    assert (
        validate(SAMPLES[stem], cert_ids={3, 9, 11}, resolve_qdn=lambda name: "192.168.0.1") == []
    )
