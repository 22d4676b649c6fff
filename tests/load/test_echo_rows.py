"""What ``ouc load``'s echo rows count as an accepted echo: the frame sent, byte for byte.

Peers on 127.0.0.1 port 0 with fresh certificates: ``ouc serve --reply-hex`` (a fixed answer of
the right length, not an echo), a peer that answers every frame twice, and a true echo. Runs are
bounded by ``--max-ops`` and ``--seconds``; the assertions are on counts and failure kinds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.drivers import AddressMap, Behaviour, PassiveEndpoint, callback, standard_example
from ouc.load._run import EXTRA_BYTES, WRONG_REPLY, _pattern, echo_frame, percentile

RUN = ["--only", "echo", "--seconds", "20", "--max-ops", "6", "--timeout", "10", "--json"]


@contextlib.contextmanager
def _peer(store: CertStore, behaviour: Behaviour) -> Iterator[PassiveEndpoint]:
    """PLC_1 of the standard example (LEN 258) answering with ``behaviour``."""
    setup = standard_example(store, receive_len=258)
    with PassiveEndpoint(
        setup.server,
        behaviour=behaviour,
        listen=("127.0.0.1", 0),
        address_map=AddressMap.parse(["192.168.0.2=127.0.0.1"]),
    ) as endpoint:
        yield endpoint


def _echo_row(capsys: pytest.CaptureFixture[str], where: str, store: CertStore) -> dict[str, Any]:
    status = main(["load", where, "--store", str(store.path), *RUN])
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["rows"]
    assert status == (0 if row["ok"] else 1)
    assert "an echo: its reply is the frame sent, byte for byte" in doc["accepted_when"]
    return row


def test_a_fixed_reply_of_the_right_length_is_no_echo(
    store: CertStore,
    ouc_serve: Callable[..., contextlib.AbstractContextManager[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``ouc serve --reply-hex`` with 258 bytes of 16#FF: every reply is the right length and
    none is the frame sent, so nothing is accepted."""
    with ouc_serve(store.path, "--reply-hex", "ff" * 258) as where:
        row = _echo_row(capsys, where, store)
    assert row["accepted"] == 0 and row["rate"] is None and row["p50_ms"] is None, row
    assert row["failed"] == 6
    (failure,) = row["failures"]
    assert (failure["status"], failure["kind"], failure["count"]) == (None, WRONG_REPLY, 6)
    assert (
        "reply differs from what was sent at byte 0 (sent 16#01, got 16#FF)" in (failure["reason"])
    )


def test_a_peer_answering_each_frame_twice_has_extra_bytes_not_accepted_echoes(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """516 bytes back for a 258-byte frame: the first half is the echo, the surplus is not,
    and it must not serve as the next frame's reply."""
    with _peer(store, callback(lambda data, peer: data + data)) as twice:
        row = _echo_row(capsys, f"127.0.0.1:{twice.port}", store)
    kinds = {f["kind"]: f for f in row["failures"]}
    assert list(kinds) == [EXTRA_BYTES], row["failures"]
    assert "258 bytes more than the 258-byte frame arrived" in kinds[EXTRA_BYTES]["reason"]
    assert row["accepted"] + row["failed"] == 6
    # an accepted echo is followed by the surplus found before the next frame: at most every
    # second operation is accepted, never all of them
    assert row["accepted"] <= 3 and row["failed"] >= 3, row
    assert row["ok"] is False


def test_bytes_ahead_of_the_echo_are_extra_bytes_not_a_wrong_reply(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """10 bytes, then the echo: the reply read is those 10 bytes and the frame's first 248, the
    frame's bytes come 10 bytes late. That is a peer sending more than the frame, named so."""
    with _peer(store, callback(lambda data, peer: bytes(10) + data)) as ahead:
        row = _echo_row(capsys, f"127.0.0.1:{ahead.port}", store)
    assert row["accepted"] == 0 and row["failed"] == 6, row
    (failure,) = row["failures"]
    assert failure["kind"] == EXTRA_BYTES, failure
    assert "10 bytes more than the 258-byte frame arrived" in failure["reason"]


def test_a_peer_answering_twice_with_zeros_is_a_wrong_reply(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """516 zero bytes per frame (the reply of a peer that ignores the data): no echo at all."""
    with _peer(store, callback(lambda data, peer: bytes(2 * len(data)))) as zeros:
        row = _echo_row(capsys, f"127.0.0.1:{zeros.port}", store)
    assert row["accepted"] == 0 and row["failed"] == 6, row
    assert [f["kind"] for f in row["failures"]] == [WRONG_REPLY]


def test_a_true_echo_accepts_every_frame_and_every_frame_differs(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bytes] = []

    def echo(data: bytes, peer: Any) -> bytes:
        seen.append(data)
        return data

    with _peer(store, callback(echo)) as peer:
        row = _echo_row(capsys, f"127.0.0.1:{peer.port}", store)
    assert (row["accepted"], row["failed"], row["ok"]) == (6, 0, True), row
    assert len(seen) == 6 and len(set(seen)) == 6  # no frame repeats an earlier one
    assert all(len(frame) == 258 for frame in seen)


def test_echo_frames_are_numbered_and_patterned() -> None:
    pattern = _pattern(258)
    first, second = echo_frame(pattern, 1), echo_frame(pattern, 2)
    assert len(first) == len(second) == 258 and first != second
    assert first[:8] == (1).to_bytes(8, "little") and first[8:] == pattern[8:]
    assert first[8:12] == bytes([8, 9, 10, 11]) and first[256:] == bytes([0, 1])
    small = _pattern(3)
    assert [echo_frame(small, n) for n in (1, 2, 257)] == [b"\x01\x00\x00", b"\x02\x00\x00",
                                                          b"\x01\x01\x00"]  # fmt: skip


@pytest.mark.parametrize(
    ("count", "q", "rank"),
    [
        (100, 99, 99),  # p99 of 100 samples: the 99th, not the maximum
        (100, 50, 50),
        (10, 50, 5),  # p50 of 10 samples: the 5th, not the 6th
        (10, 99, 10),
        (1, 50, 1),
        (1, 99, 1),
        (200, 99, 198),
        (100, 7, 7),  # 0.07 * 100 is 7.000000000000001 in floating point
        (3, 50, 2),
    ],
)
def test_percentiles_are_nearest_rank(count: int, q: float, rank: int) -> None:
    """Nearest rank: the value at 1-based rank ceil(q / 100 * n) of the sorted samples."""
    samples = [float(i) for i in range(count, 0, -1)]  # n..1, unsorted on purpose
    assert percentile(samples, q) == float(rank)
    assert percentile([], q) is None


def test_the_json_vocabulary_names_the_percentile_definition() -> None:
    from ouc.cli._vocabulary import FIELDS

    for key in ("p50_ms", "p99_ms"):
        assert "nearest rank" in FIELDS[key] and "median" not in FIELDS[key], FIELDS[key]
