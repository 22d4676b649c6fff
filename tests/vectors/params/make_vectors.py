"""Write the golden TCON vectors of this folder, independently of ouc's own codec.

Each vector is packed with :mod:`struct` straight from the byte tables of domain.md §2 (and
Siemens' UDT 65 table for TCON_Param), so a mistake in ``ouc.params._schema`` cannot hide in its
own test data. Run from the repository root::

    python tests/vectors/params/make_vectors.py

It writes ``NAME.bin`` and ``NAME.txt`` (what the block is, the packing expression, the hex).
"""

from __future__ import annotations

import struct
from pathlib import Path

HERE = Path(__file__).parent


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def string254(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([254, len(raw)]) + raw.ljust(254, b"\x00")


def tsel(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value.ljust(32, b"\x00")


# name → (description, packing expression as text, the bytes)
VECTORS: dict[str, tuple[str, str, bytes]] = {}


def vector(name: str, description: str, expression: str) -> None:
    data = eval(expression)  # The expression text is the note; evaluating it keeps them equal.
    VECTORS[name] = (description, expression, data)


vector(
    "tcon_ip_v4_passive_tcp",
    "TCON_IP_v4, 14 bytes: InterfaceId 64, ID 5, TCP (11), passive, any partner (0.0.0.0), "
    "RemotePort 0, LocalPort 2000.",
    'struct.pack(">HHBB4sHH", 64, 5, 11, 0, ip("0.0.0.0"), 0, 2000)',
)
vector(
    "tcon_ip_v4_sec_server",
    "TCON_IP_V4_SEC, 28 bytes: the standard example's server (domain.md §1), Bools in byte "
    "form: byte 16 ActivateSecureConn = 01, byte 17 TLSServerReqClientCert = 01.",
    'struct.pack(">HHBB4sHH2xBBHII", 64, 1, 11, 0, ip("192.168.0.2"), 0, 2000, 1, 1, 0, 9, 3)',
)
vector(
    "tcon_ip_v4_sec_server_bits",
    "TCON_IP_V4_SEC, 28 bytes: the same server block with both Bools bit-packed into byte 16 "
    "(bit 16.0 ActivateSecureConn, bit 16.1 TLSServerReqClientCert → 16#03), byte 17 zero.",
    'struct.pack(">HHBB4sHH2xBBHII", 64, 1, 11, 0, ip("192.168.0.2"), 0, 2000, 3, 0, 0, 9, 3)',
)
vector(
    "tcon_ip_v4_sec_client",
    "TCON_IP_V4_SEC, 28 bytes: the standard example's client: active to 192.168.0.1:2000, "
    "ActivateSecureConn TRUE, TLSServerReqClientCert FALSE, server CA 3, own certificate 11.",
    'struct.pack(">HHBB4sHH2xBBHII", 64, 1, 11, 1, ip("192.168.0.1"), 2000, 0, 1, 0, 0, 3, 11)',
)
vector(
    "tcon_qdn_active",
    "TCON_QDN, 266 bytes: InterfaceId 0, ID 7, TCP, active to 'plc-2.plant.example.' port "
    "2001, LocalPort 0; RemoteQDN is a String[254] (max 254, current length, characters).",
    'struct.pack(">HHBB", 0, 7, 11, 1) + string254("plc-2.plant.example.")'
    ' + struct.pack(">HH", 2001, 0)',
)
vector(
    "tcon_qdn_sec_client",
    "TCON_QDN_SEC, 284 bytes: ConnPara TCON_QDN (0..265) + 6 reserved bytes, then the TLS "
    "fields at 272: active, secure, SAN check (ExtTLSCapabilities 16#0001), server CA 3, own "
    "certificate 11.",
    'struct.pack(">HHBB", 64, 2, 11, 1) + string254("plc-1.plant.example.")'
    ' + struct.pack(">HH6xBBHII", 2000, 0, 1, 0, 1, 3, 11)',
)
vector(
    "tcon_ip_rfc_passive",
    "TCON_IP_RFC, 80 bytes: InterfaceId 64, ID 3, ISO-on-TCP (12), passive, 2 reserved bytes, "
    "partner 192.168.0.2, RemoteTSelector 'OUC-CLI', LocalTSelector 'OUC-SRV'.",
    'struct.pack(">HHBB2x4s", 64, 3, 12, 0, ip("192.168.0.2"))'
    ' + tsel(b"OUC-CLI") + tsel(b"OUC-SRV")',
)
vector(
    "tcon_param_tcp_active",
    "TCON_Param (UDT 65), 64 bytes: block_length 16#40, id 1, TCP (16#11), active, "
    "local_device_id 1, no local port, partner 192.168.0.1 (rem_staddr_len 4), remote port "
    "2000 (rem_tsap_id = 07 D0, rem_tsap_id_len 2).",
    'struct.pack(">HHBBBBBBBB16s6s6s16s6sH", 64, 1, 0x11, 1, 1, 0, 0, 4, 2, 0, b"", b"",'
    ' ip("192.168.0.1"), bytes([0x07, 0xD0]), b"", 0)',
)


def main() -> None:
    for name, (description, expression, data) in VECTORS.items():
        (HERE / f"{name}.bin").write_bytes(data)
        note = (
            f"{description}\n\n"
            "Produced by tests/vectors/params/make_vectors.py with Python's struct module, from "
            "the byte tables of domain.md §2 and Siemens' UDT 65 table (not with ouc's "
            "codec):\n\n"
            f"    {expression}\n\n"
            f"{len(data)} bytes:\n{data.hex(' ')}\n"
        )
        (HERE / f"{name}.txt").write_text(note)


if __name__ == "__main__":
    main()
