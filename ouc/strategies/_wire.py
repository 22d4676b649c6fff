"""Hypothesis strategies for what travels on the wire: split streams and hostile bytes.

A TCP stream has no message boundaries: a 258-byte frame may arrive whole, byte by byte, or
cut anywhere, and a receiver that only works for one of those is a receiver with a bug. And a
port that speaks TLS meets scanners, old clients and garbage. These strategies produce both:

* :func:`split_points` / :func:`frames_split` — a byte stream cut at random points: a list of
  non-empty chunks whose concatenation is the input (cuts near frame boundaries are favoured);
* :func:`tls_garbage` — TLS-record-ish bytes a TLS server must refuse: valid record headers with
  random bodies, truncated or corrupted ClientHellos, SSLv2-style hellos, random content types
  and versions, plain text (HTTP, an ISO-on-TCP connection request);
* :func:`client_hellos` — well-formed ClientHello records (any version), built by
  :func:`client_hello`, which tests also call directly to craft e.g. a TLS 1.0 hello;
* :func:`tpkt_garbage` — TPKT/COTP-ish bytes for ISO-on-TCP decoders.

Chunks are never empty on purpose: in the sans-I/O API ``receive_data(b"")`` means end of
stream, so an empty chunk would be a different test.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from hypothesis import strategies as st

__all__ = [
    "GARBAGE_KINDS",
    "client_hello",
    "client_hellos",
    "frames_split",
    "split_points",
    "tls_garbage",
    "tpkt_garbage",
]

# --------------------------------------------------------------------------- splitting


def _cut(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the sorted, distinct offsets ``cuts`` (each in 1..len-1)."""
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@st.composite
def _split(
    draw: st.DrawFn, data: bytes, max_chunks: int | None, favoured: tuple[int, ...]
) -> list[bytes]:
    size = len(data)
    if size == 0:
        return []
    if size == 1:
        return [data]
    limit = size - 1 if max_chunks is None else max(0, min(size - 1, max_chunks - 1))
    if limit == 0:
        return [data]
    mode = draw(st.sampled_from(("random", "whole", "bytewise")))
    if mode == "whole":
        return [data]
    if mode == "bytewise" and size <= limit + 1:
        return [data[i : i + 1] for i in range(size)]
    positions = st.integers(1, size - 1)
    near = [p for p in favoured if 1 <= p < size]
    if near:
        # Bugs live at frame boundaries: one byte before, on, or after them.
        positions = st.one_of(positions, st.sampled_from(near))
    cuts = draw(st.sets(positions, max_size=min(limit, 64)))
    return _cut(data, sorted(cuts))


def split_points(data: bytes, *, max_chunks: int | None = None) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut at random points: non-empty chunks whose concatenation is ``data``.

    Some draws are the whole of ``data`` or one byte per chunk (the two cases everyone forgets
    to test); it shrinks towards fewer cuts. Empty ``data`` gives ``[]``.

    Args:
        data: the byte stream to cut.
        max_chunks: at most this many chunks (default: as many as ``data`` has bytes).

    Example::

        @given(split_points(frame * 3))
        def test_receiver_reassembles(chunks):
            receiver = FixedReceiver(len(frame))
            got = [f for chunk in chunks for f in receiver.feed(chunk)]
            assert got == [frame] * 3
    """
    return _split(bytes(data), max_chunks, ())


def frames_split(
    frames: Sequence[bytes], *, max_chunks: int | None = None
) -> st.SearchStrategy[list[bytes]]:
    """Frames sent back to back, then cut at random points (cuts near frame edges favoured).

    The concatenation of the chunks is ``b"".join(frames)``; every chunk is non-empty.

    Example::

        frames = [layout.encode(v) for v in values]
        @given(frames_split(frames))
        def test_my_client_reads_every_frame(chunks):
            assert my_reader(chunks) == frames
    """
    data = b"".join(bytes(f) for f in frames)
    edges: list[int] = []
    offset = 0
    for frame in frames:
        offset += len(frame)
        edges += [offset - 1, offset, offset + 1]
    return _split(data, max_chunks, tuple(sorted(set(edges))))


# --------------------------------------------------------------------------- TLS records

_HANDSHAKE = 22
_CONTENT_TYPES = (20, 21, 22, 23, 24)  # change_cipher_spec, alert, handshake, data, heartbeat
_VERSIONS = (0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7F1C, 0xFEFD)
_TLS13_SUITES = (0x1301, 0x1302, 0x1303)
_TLS12_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8)
_LEGACY_SUITES = (0xC009, 0xC013, 0xC00A, 0xC014, 0x002F, 0x0035, 0x000A, 0x0005)
_GROUPS = (0x001D, 0x0017, 0x0018)  # x25519, secp256r1, secp384r1
_SIGALGS = (0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501, 0x0201)

#: The kinds :func:`tls_garbage` can draw (its ``kinds`` argument picks some).
GARBAGE_KINDS: tuple[str, ...] = (
    "record",
    "records",
    "truncated_hello",
    "corrupted_hello",
    "sslv2_hello",
    "plaintext",
    "random",
)


def _u8(value: int) -> bytes:
    return struct.pack("!B", value)


def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _vec8(data: bytes) -> bytes:
    return _u8(len(data)) + data


def _vec16(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _ext(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _vec16(body)


def _key_share(group: int, random: bytes) -> bytes:
    """A real public key for ``group`` (X25519, P-256, P-384), derived from ``random`` so that
    draws stay reproducible; a server accepts it and answers with its ServerHello."""
    seed = hashlib.sha256(b"ouc key share" + random).digest()
    if group == 0x001D:
        key = x25519.X25519PrivateKey.from_private_bytes(seed).public_key()
        public = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        curve = ec.SECP384R1() if group == 0x0018 else ec.SECP256R1()
        private = ec.derive_private_key(int.from_bytes(seed, "big") % (1 << 255) + 1, curve)
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return _u16(group) + _vec16(public)


def client_hello(
    version: int = 0x0304,
    *,
    record_version: int = 0x0301,
    cipher_suites: Sequence[int] | None = None,
    groups: Sequence[int] = _GROUPS,
    signature_algorithms: Sequence[int] = _SIGALGS,
    server_name: str | None = None,
    random: bytes = bytes(range(32)),
    session_id: bytes = b"",
) -> bytes:
    """One ClientHello as a TLS record: what a client of ``version`` sends first.

    ``version`` is the highest version offered: 0x0300 SSLv3, 0x0301..0x0303 TLS 1.0..1.2
    (in ``client_version``), 0x0304 TLS 1.3 (``client_version`` 0x0303 plus the
    supported_versions extension listing 1.3 and 1.2, and a key share). The default suites
    match the version: TLS 1.3 and ECDHE-GCM suites, or the legacy CBC ones below TLS 1.2.

    Example: ``client_hello(0x0301)`` is the hello of a TLS 1.0-only client, which a
    Secure OUC endpoint must refuse.
    """
    tls13 = version >= 0x0304
    if cipher_suites is None:
        if tls13:
            cipher_suites = (*_TLS13_SUITES, *_TLS12_SUITES)
        elif version == 0x0303:
            cipher_suites = (*_TLS12_SUITES, *_LEGACY_SUITES)
        else:
            cipher_suites = _LEGACY_SUITES
    extensions = b""
    if server_name is not None:
        name = server_name.encode("ascii", "replace")
        extensions += _ext(0, _vec16(b"\x00" + _vec16(name)))
    if version >= 0x0301:
        extensions += _ext(10, _vec16(b"".join(_u16(g) for g in groups)))
        extensions += _ext(11, _vec8(b"\x00"))
        extensions += _ext(0xFF01, _vec8(b""))  # renegotiation_info: "I am not renegotiating"
    if version >= 0x0303:
        extensions += _ext(13, _vec16(b"".join(_u16(s) for s in signature_algorithms)))
        extensions += _ext(23, b"")  # extended_master_secret
    if tls13:
        extensions += _ext(43, _vec8(_u16(0x0304) + _u16(0x0303)))
        extensions += _ext(45, _vec8(b"\x01"))  # psk_dhe_ke
        shares = b"".join(_key_share(g, random) for g in groups[:1])
        extensions += _ext(51, _vec16(shares))
    body = (
        _u16(min(version, 0x0303))
        + bytes(random[:32]).ljust(32, b"\x00")
        + _vec8(session_id)
        + _vec16(b"".join(_u16(s) for s in cipher_suites))
        + _vec8(b"\x00")
        + (_vec16(extensions) if extensions else b"")
    )
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return _u8(_HANDSHAKE) + _u16(record_version) + _vec16(handshake)


def client_hellos(
    versions: Sequence[int] = (0x0300, 0x0301, 0x0302, 0x0303, 0x0304),
) -> st.SearchStrategy[bytes]:
    """Well-formed ClientHello records of the given highest versions (random everything else).

    Example::

        @given(client_hellos(versions=(0x0300, 0x0301, 0x0302)))
        def test_old_clients_are_refused(hello): ...
    """
    return st.builds(
        client_hello,
        st.sampled_from(tuple(versions)),
        record_version=st.sampled_from((0x0300, 0x0301, 0x0303)),
        server_name=st.none() | st.from_regex(r"[a-z]{1,12}\.example", fullmatch=True),
        random=st.binary(min_size=32, max_size=32),
        session_id=st.sampled_from((b"", bytes(32))),
    )


@st.composite
def _record(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from(_CONTENT_TYPES) | st.integers(0, 255))
    version = draw(st.sampled_from(_VERSIONS) | st.integers(0, 0xFFFF))
    body = draw(st.binary(max_size=300))
    length = len(body)
    if draw(st.integers(0, 3)) == 0:
        length = draw(st.integers(0, 0xFFFF))  # a length that lies
    return _u8(content_type) + _u16(version) + _u16(length) + body


@st.composite
def _truncated_hello(draw: st.DrawFn) -> bytes:
    hello: bytes = draw(client_hellos())
    return hello[: draw(st.integers(1, len(hello) - 1))]


@st.composite
def _corrupted_hello(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(client_hellos()))
    # Leave the record header alone (else this is just "record"): break the handshake inside.
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(5, len(data) - 1))
        data[at] ^= draw(st.integers(1, 255))
    return bytes(data)


@st.composite
def _sslv2_hello(draw: st.DrawFn) -> bytes:
    # SSLv2 CLIENT-HELLO (also used by old clients to offer SSLv3/TLS 1.0 "compatibly"):
    # 2-byte length with the high bit set, msg type 1, version, three lengths, then the data.
    version = draw(st.sampled_from((0x0002, 0x0300, 0x0301, 0x0303)))
    specs = draw(st.lists(st.binary(min_size=3, max_size=3), min_size=1, max_size=8))
    session_id = draw(st.sampled_from((b"", bytes(16))))
    challenge = draw(st.binary(min_size=16, max_size=32))
    body = (
        b"\x01"
        + _u16(version)
        + _u16(3 * len(specs))
        + _u16(len(session_id))
        + _u16(len(challenge))
        + b"".join(specs)
        + session_id
        + challenge
    )
    return _u16(0x8000 | len(body)) + body


_PLAINTEXT = (
    b"GET / HTTP/1.1\r\nHost: 192.168.0.1\r\n\r\n",
    b"\x03\x00\x00\x16\x11\xe0\x00\x00\x00\x01\x00\xc0\x01\x0a\xc1\x02\x01\x00\xc2\x02\x01\x02",
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"\r\n\r\n",
    b"\x00" * 64,
)


def tls_garbage(kinds: Sequence[str] | None = None) -> st.SearchStrategy[bytes]:
    """Bytes that look a little or a lot like TLS, which a TLS server must refuse cleanly.

    Kinds (:data:`GARBAGE_KINDS`): ``record`` (a valid-looking record header — any content type
    and version, a length that may lie — and a random body), ``records`` (several of them),
    ``truncated_hello`` (a real ClientHello cut short: the server must wait, then time out),
    ``corrupted_hello`` (a ClientHello with bytes changed inside), ``sslv2_hello`` (the SSLv2
    CLIENT-HELLO format), ``plaintext`` (HTTP, an ISO-on-TCP CR, SSH, zeros), ``random``.

    Never empty. What a server does with a draw depends on the kind: a truncated hello is not an
    error until the handshake timeout, everything else may fail at once.

    Example::

        @given(tls_garbage())
        def test_engine_refuses_garbage(data):
            engine = TLSEngine(server_context, now=clock)
            try:
                engine.receive_data(data)
            except TLSError as exc:
                assert 0x80E0 <= exc.status <= 0x80E7
    """
    chosen = tuple(kinds) if kinds is not None else GARBAGE_KINDS
    unknown = [k for k in chosen if k not in GARBAGE_KINDS]
    if unknown or not chosen:
        raise ValueError(f"unknown garbage kinds {unknown}; choose from {GARBAGE_KINDS}")
    makers: dict[str, st.SearchStrategy[bytes]] = {
        "record": _record(),
        "records": st.lists(_record(), min_size=2, max_size=4).map(b"".join),
        "truncated_hello": _truncated_hello(),
        "corrupted_hello": _corrupted_hello(),
        "sslv2_hello": _sslv2_hello(),
        "plaintext": st.sampled_from(_PLAINTEXT),
        "random": st.binary(min_size=1, max_size=512),
    }
    return st.one_of(*(makers[k] for k in chosen))


# --------------------------------------------------------------------------- ISO-on-TCP


@st.composite
def _cotp(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(("dt", "cr", "cc", "dr", "er", "random")))
    if kind == "dt":
        eot = draw(st.sampled_from((0x80, 0x00)) | st.integers(0, 255))
        return bytes((2, 0xF0, eot)) + draw(st.binary(max_size=200))
    if kind == "random":
        return draw(st.binary(max_size=64))
    code = {"cr": 0xE0, "cc": 0xD0, "dr": 0x80, "er": 0x70}[kind]
    params = b""
    for _ in range(draw(st.integers(0, 4))):
        param = draw(st.sampled_from((0xC0, 0xC1, 0xC2, 0xC6)) | st.integers(0, 255))
        value = draw(st.binary(max_size=34))
        params += _u8(param) + _vec8(value)
    fixed = draw(st.binary(min_size=5, max_size=5))
    header = _u8(code) + fixed + params
    length = len(header)
    if draw(st.integers(0, 4)) == 0:
        length = draw(st.integers(0, 255))  # an LI that lies
    return _u8(length & 0xFF) + header


@st.composite
def _tpkt(draw: st.DrawFn) -> bytes:
    cotp = draw(_cotp())
    version = 3 if draw(st.integers(0, 5)) else draw(st.integers(0, 255))
    reserved = 0 if draw(st.integers(0, 5)) else draw(st.integers(0, 255))
    length = len(cotp) + 4
    if draw(st.integers(0, 4)) == 0:
        length = draw(st.integers(0, 0xFFFF))
    return bytes((version, reserved)) + _u16(length & 0xFFFF) + cotp


def tpkt_garbage(max_packets: int = 4) -> st.SearchStrategy[bytes]:
    """TPKT/COTP-ish streams: TPKT headers (mostly version 3, lengths that mostly fit) around
    DT/CR/CC/DR/ER TPDUs whose fields and parameters are random. For ISO-on-TCP decoders: each
    stream must decode into TPDUs or fail with the decoder's own error.

    Example::

        @given(tpkt_garbage())
        def test_decoder_never_crashes(data):
            try:
                TpduDecoder().decode(data)
            except FramingError:
                pass
    """
    return st.lists(_tpkt(), min_size=1, max_size=max_packets).map(b"".join)
