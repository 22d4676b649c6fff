"""Write the golden TCON_IP_RFC / TCON_Param blocks for the local-TSAP rules (16#80B4).

Each block is packed with :mod:`struct` from the byte tables of domain.md §2 (TCON_IP_RFC: 80
bytes, T selectors ``{TSelLength UInt; TSel Array[1..32] of Byte}``; TCON_Param: Siemens' UDT 65
table), not with ouc's codec. The expected verdict comes from domain.md §2: TCON's table (16#80B4
for a local TSAP of length 0, of length 2 not starting with 16#E0, or starting with "SIMATIC-")
and the help's "TSAP structure" (a TSAP-ID has 2-16 bytes starting with 16#E0; an ASCII TSAP
3-16 bytes, on an S7-1200's passive side only 16#20-16#7E; that breaking the structure is
16#80B4 too is ouc's inference). Run from the repository root::

    python tests/vectors/tsap/make_vectors.py

It writes ``NAME.bin`` and ``NAME.txt``: what the block is, the device, the expected finding
(``expect: none`` or ``expect: 16#80B4 RULE PATH``), the packing expression and the hex.
"""

from __future__ import annotations

import struct
from pathlib import Path

HERE = Path(__file__).parent

# name → (description, device, expected finding, packing expression)
VECTORS: dict[str, tuple[str, str, str, str]] = {}


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def tsel(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value.ljust(32, b"\x00")


def rfc(active: int, local: bytes, remote: bytes = b"OUC-CLI") -> bytes:
    """TCON_IP_RFC: InterfaceId 64, ID 3, ISO-on-TCP (12), partner 192.168.0.2."""
    head = struct.pack(">HHBB2x4s", 64, 3, 12, active, ip("192.168.0.2"))
    return head + tsel(remote) + tsel(local)


def vector(name: str, description: str, expect: str, expression: str, device: str = "") -> None:
    VECTORS[name] = (description, device or "S7-1500 V3.1", expect, expression)


PASSIVE = "TCON_IP_RFC, passive"
vector(
    "rfc_local_empty",
    f"{PASSIVE}, LocalTSelector of length 0 (TCON's table).",
    "16#80B4 tsap_invalid LocalTSelector.TSelLength",
    'rfc(0, b"")',
)
vector(
    "rfc_local_01_01",
    f"{PASSIVE}, 2-byte LocalTSelector 01 01: not 16#E0 first (TCON's table).",
    "16#80B4 tsap_invalid LocalTSelector.TSel",
    "rfc(0, bytes([0x01, 0x01]))",
)
vector(
    "rfc_local_e1_02_active",
    "TCON_IP_RFC, active, 2-byte LocalTSelector E1 02: not 16#E0 "
    "first (TCON's table applies to both roles).",
    "16#80B4 tsap_invalid LocalTSelector.TSel",
    "rfc(1, bytes([0xE1, 0x02]))",
)
vector(
    "rfc_local_simatic",
    f"{PASSIVE}, ASCII LocalTSelector 'SIMATIC-ABC' (TCON's table).",
    "16#80B4 tsap_invalid LocalTSelector.TSel",
    'rfc(0, b"SIMATIC-ABC")',
)
vector(
    "rfc_local_one_byte",
    f"{PASSIVE}, 1-byte LocalTSelector E0 (TSAP structure).",
    "16#80B4 tsap_structure LocalTSelector.TSelLength",
    "rfc(0, bytes([0xE0]))",
)
vector(
    "rfc_local_tsap_id_17",
    f"{PASSIVE}, 17-byte TSAP-ID E0 02 00..: longer than 16 (TSAP structure).",
    "16#80B4 tsap_structure LocalTSelector.TSelLength",
    "rfc(0, bytes([0xE0, 0x02]) + bytes(15))",
)
vector(
    "rfc_local_ascii_17",
    f"{PASSIVE}, 17-character ASCII LocalTSelector (TSAP structure).",
    "16#80B4 tsap_structure LocalTSelector.TSelLength",
    'rfc(0, b"PLC-TSAP-17-CHARS")',
)
vector(
    "rfc_local_not_ascii",
    f"{PASSIVE}, LocalTSelector 'AB' 16#FF: not 16#E0 first, so "
    "ASCII, but 16#FF is not (TSAP structure).",
    "16#80B4 tsap_structure LocalTSelector.TSel",
    'rfc(0, b"AB\\xff")',
)
vector(
    "rfc_s7_1200_passive_control",
    "TCON_IP_RFC on an S7-1200, passive, LocalTSelector "
    "'AB' 16#01: an S7-1200's passive ASCII TSAP holds 16#20-16#7E only (TSAP structure).",
    "16#80B4 tsap_structure LocalTSelector.TSel",
    'rfc(0, b"AB\\x01")',
    "S7-1200 V4.5",
)
vector(
    "rfc_s7_1200_active_control",
    "TCON_IP_RFC on an S7-1200, active, LocalTSelector 'AB' "
    "16#01: the printable-only rule is for the passive side.",
    "none",
    'rfc(1, b"AB\\x01")',
    "S7-1200 V4.5",
)
vector(
    "rfc_local_e0_02",
    f"{PASSIVE}, 2-byte TSAP-ID E0 02: valid.",
    "none",
    "rfc(0, bytes([0xE0, 0x02]))",
)
vector(
    "rfc_local_tsap_id_16",
    f"{PASSIVE}, 16-byte TSAP-ID E0 01..0F: valid.",
    "none",
    "rfc(0, bytes([0xE0]) + bytes(range(1, 16)))",
)
vector(
    "rfc_local_ascii_3",
    f"{PASSIVE}, 3-character ASCII LocalTSelector 'SRV': valid.",
    "none",
    'rfc(0, b"SRV")',
)
vector(
    "param_iso_local_01_02",
    "TCON_Param (UDT 65), ISO-on-TCP (16#12), passive, local "
    "TSAP 01 02 (local_tsap_id_len 2): not 16#E0 first.",
    "16#80B4 tsap_invalid local_tsap_id",
    'struct.pack(">HHBBBBBBBB16s6s6s16s6sH", 64, 2, 0x12, 0, 1, 2, 0, 0, 0, 0,'
    ' bytes([0x01, 0x02]), b"", b"", b"", b"", 0)',
)


def main() -> None:
    for name, (description, device, expect, expression) in VECTORS.items():
        data = eval(expression)  # The expression text is the note; evaluating it keeps them equal.
        (HERE / f"{name}.bin").write_bytes(data)
        note = (
            f"{description}\n\n"
            f"device: {device}\n"
            f"expect: {expect}\n\n"
            "Produced by tests/vectors/tsap/make_vectors.py with Python's struct module, from "
            "the byte tables of domain.md §2 and Siemens' UDT 65 table (not with ouc's "
            "codec):\n\n"
            f"    {expression}\n\n"
            f"{len(data)} bytes:\n{data.hex(' ')}\n"
        )
        (HERE / f"{name}.txt").write_text(note)


if __name__ == "__main__":
    main()
