"""The plugin as a user meets it: loaded from the ``pytest11`` entry point in a fresh run.

The README's pytest examples (its section "Testing your own PLC peer with pytest") run here
verbatim, so the documentation cannot drift from what works.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Testing your own PLC peer with pytest\n"


def readme_examples() -> list[str]:
    text = README.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_example_is_under_ten_lines() -> None:
    first = readme_examples()[0]
    test_lines = first.split("def test_", 1)[1].strip().splitlines()
    assert len(test_lines) < 10


def test_the_readme_examples_pass_in_a_fresh_run(pytester: pytest.Pytester) -> None:
    examples = readme_examples()
    assert len(examples) == 4
    for number, code in enumerate(examples):
        pytester.makepyfile(**{f"test_readme_{number}": code})
    # A subprocess: the plugin must come from the entry point, as in a user's project.
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_plugin_defines_only_ouc_fixtures(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    text = result.stdout.str()
    section = text.split("fixtures defined from ouc.pytest_plugin", 1)[1]
    section = section.split(" fixtures defined from ", 1)[0]
    names = re.findall(r"^(\w+)(?: \[\w+ scope\])? -- ", section, flags=re.M)
    assert set(names) == {
        "ouc_store_template",
        "ouc_store",
        "ouc_pem",
        "ouc_bad_certs",
        "ouc_passive",
        "ouc_active",
        "ouc_async_passive",
        "ouc_async_active",
    }


def test_importing_the_plugin_is_cheap() -> None:
    # It loads in every pytest run of every project that installed ouc: no TLS stack, no
    # drivers, no certificates at import.
    code = (
        "import sys, ouc.pytest_plugin\n"
        "heavy = ('OpenSSL', 'cryptography', 'ouc.drivers', 'ouc.certs', 'ouc.tls')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_fixtures_work_in_an_ordinary_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import pytest
        from ouc.errors import OucConnectionError
        from ouc.pytest_plugin import Faults

        def test_echo(ouc_passive, ouc_active):
            plc = ouc_passive()
            client = ouc_active(plc)
            client.send(b"A" * 258)
            assert client.receive(timeout=10) == b"A" * 258
            assert client.info.version == "TLSv1.3"

        def test_reset_mid_frame(ouc_passive, ouc_active):
            plc = ouc_passive(faults=Faults(reset_mid_frame=True))
            client = ouc_active(plc, reconnect=False)
            client.send(b"B" * 258)
            with pytest.raises(OucConnectionError) as info:
                client.receive(timeout=10)
            assert info.value.status in (0x80C5, 0x80C6)  # the reset, not a timeout

        def test_store_is_per_test(ouc_store):
            assert ouc_store.path.name == "ouc-store"
            ouc_store.delete(11)
        """
    )
    result = pytester.runpytest("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_readme_client_checks_the_plc_by_its_ip_san() -> None:
    """The examples a peer copies verify the PLC by its certificate's IP SAN (they pass in
    the fresh run above with hostname checking on), never switch the check off."""
    code = "\n".join(readme_examples())
    assert "check_hostname" not in code and "CERT_NONE" not in code
    assert code.count('server_hostname="192.168.0.1"') >= 2
