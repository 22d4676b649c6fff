"""The libssl fence: every symbol ouc needs exists, and it is the only door to the binding.

A cryptography release that drops a binding ouc uses fails here, in one obvious place, rather
than as an AttributeError inside a handshake.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import OpenSSL._util
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from ouc.errors import OucError
from ouc.tls import _libssl

ROOT = Path(__file__).resolve().parents[2]
FENCE = ROOT / "ouc" / "tls" / "_libssl.py"


def test_every_fenced_symbol_exists_in_the_installed_binding() -> None:
    absent = _libssl.missing(_libssl.binding(), _libssl.SYMBOLS)
    assert absent == [], f"{_libssl.installed_versions()} lacks {absent}"
    # Each name is bound to the binding's own object, not to a stand-in.
    for name in _libssl.SYMBOLS:
        assert getattr(_libssl, name) is getattr(_libssl.binding(), name) or isinstance(
            getattr(_libssl, name), int
        ), name


def test_the_risky_symbols_are_fenced_and_really_unused_by_pyopenssl() -> None:
    assert set(_libssl.SYMBOLS) >= _libssl.NOT_USED_BY_PYOPENSSL
    package = Path(OpenSSL._util.__file__).parent
    source = "".join(path.read_text(encoding="utf-8") for path in package.glob("*.py"))
    for name in _libssl.NOT_USED_BY_PYOPENSSL:
        found = re.search(rf"\b{name}\b", source)
        assert found is None, f"pyOpenSSL now uses {name}: take it off NOT_USED_BY_PYOPENSSL"


def _python_files() -> list[Path]:
    return [
        path
        for top in ("ouc", "benchmarks", "tests")
        for path in (ROOT / top).rglob("*.py")
        if ".venv" not in path.parts
    ]


def test_the_fence_is_the_only_importer_of_the_private_binding() -> None:
    pattern = re.compile(r"OpenSSL\._util|from OpenSSL import [^\n]*\b_util\b")
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if path not in (FENCE, Path(__file__).resolve())
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_ouc_itself_uses_only_the_resolved_names() -> None:
    # binding() is for tests; pyOpenSSL's private pointers go through context_ptr/connection_ptr.
    pattern = re.compile(r"\bbinding\(\)|\w*ctx\._context\b|\bconn\._ssl\b")
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if path.parts[len(ROOT.parts)] != "tests"
        and path != FENCE
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


class _Without:
    """The real binding with one name hidden, as a release that dropped it would look."""

    def __init__(self, lib: Any, hidden: str) -> None:
        self._lib = lib
        self._hidden = hidden

    def __getattr__(self, name: str) -> Any:
        if name == self._hidden:
            raise AttributeError(name)
        return getattr(self._lib, name)


def _load_fence_copy() -> None:
    spec = importlib.util.spec_from_file_location("ouc_libssl_copy", FENCE)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.parametrize("hidden", ["SSL_CTX_set1_curves_list", "SSL_read", "X509_V_OK"])
def test_a_missing_symbol_is_one_error_naming_versions_and_range(
    monkeypatch: pytest.MonkeyPatch, hidden: str
) -> None:
    monkeypatch.setattr(OpenSSL._util, "lib", _Without(OpenSSL._util.lib, hidden))
    with pytest.raises(OucError) as caught:
        _load_fence_copy()
    message = str(caught.value)
    assert "\n" not in message
    assert f"libssl symbols missing from the binding: {hidden})" in message
    assert f"cryptography {metadata.version('cryptography')}" in message
    assert f"pyOpenSSL {metadata.version('pyOpenSSL')}" in message
    assert _libssl.SUPPORTED in message


def test_the_fence_loads_cleanly_from_its_source() -> None:
    _load_fence_copy()  # the same file, with nothing hidden: no error


def _install_requires() -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = config["options"]["install_requires"].split("\n")
    requirements = (Requirement(line) for line in lines if line.strip())
    return {req.name.lower(): req for req in requirements}


def test_setup_cfg_declares_the_range_the_fence_names() -> None:
    declared = _install_requires()
    for text in _libssl.REQUIREMENTS:
        fenced = Requirement(text)
        assert declared[fenced.name.lower()].specifier == fenced.specifier, text


def test_the_installed_versions_are_inside_the_supported_range() -> None:
    for text in _libssl.REQUIREMENTS:
        req = Requirement(text)
        version = metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), f"{req.name} {version}"


def test_floors_txt_pins_exactly_the_lower_bounds_of_setup_cfg() -> None:
    pins = {}
    for line in (ROOT / "floors.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower()] = Version(spec.version)
    floors = {}
    for name, req in _install_requires().items():
        lower = [spec.version for spec in req.specifier if spec.operator == ">="]
        assert len(lower) == 1, f"{name}: one floor (>=) expected"
        floors[name] = Version(lower[0])
    assert pins == floors
