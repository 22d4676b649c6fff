"""``example_pem`` writes the keys it exports with mode 0600 even over files that exist
already with a wider mode: a private key is never world-readable, not even for a moment."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from ouc.drivers import example_pem, example_store

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def test_keys_are_0600_also_over_an_existing_readable_file(tmp_path: Path) -> None:
    store = example_store(tmp_path / "store", now=NOW)
    folder = tmp_path / "pem"
    folder.mkdir()
    old = folder / "key9.pem"
    old.write_bytes(b"left over")
    old.chmod(0o644)
    pem = example_pem(store, folder)
    for key in (pem.server_key, pem.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
