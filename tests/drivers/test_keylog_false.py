"""``keylog=False``: no key log whatever SSLKEYLOGFILE says, and no Python callback per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ouc.certs import ResolvedEndpoint
from ouc.device import Role
from ouc.drivers import EndpointSpec
from ouc.params import STANDARD_CLIENT


def test_keylog_false_ignores_sslkeylogfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(target))
    resolved = ResolvedEndpoint(
        role=Role.ACTIVE,
        own_id=None,
        own_cert=None,
        own_key=None,
        chain=(),
        anchor_ids=(),
        anchors=(),
    )
    quiet = EndpointSpec.from_block(STANDARD_CLIENT, resolved=resolved, keylog=False)
    assert quiet.tls is not None and quiet.tls.keylog is None and quiet.keylog is None
    assert not target.exists()
    honoured = EndpointSpec.from_block(STANDARD_CLIENT, resolved=resolved)
    assert honoured.tls is not None and honoured.tls.keylog is not None
    assert target.exists()  # created (empty) when the writer opened it
