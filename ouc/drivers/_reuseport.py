"""Which of the processes listening on one port with SO_REUSEPORT takes a connection.

By default Linux picks the listening socket by a hash of the connection's addresses and ports,
so one peer's consecutive connections (a new source port each) land on the processes at random:
each process then sleeps through the others' handshakes and starts its own with cold caches,
and on a 2-core machine two Python workers that take turns cost 10–25 % more CPU per handshake
than one process (benchmarks/RESULTS.md). :func:`spread_by_cpu` attaches a classic BPF program
to the port's group (``SO_ATTACH_REUSEPORT_CBPF``, Linux 4.5) that picks the socket by the CPU
that received the connection's SYN instead, as the kernel's own selftest
``tools/testing/selftests/net/reuseport_bpf_cpu.c`` does: the i-th CPU this process may run on
goes to index i mod N, any other CPU to index CPU mod N. On loopback the SYN is processed on the
CPU of the client's thread, so a client on this host that stays on its CPU stays with one
process, and clients on other CPUs go to the others. A network card's receive queues hash each
connection's addresses and ports to a CPU (RSS), so remote peers gain nothing from it, and a
card with one receive queue (and no RPS) would hand every connection to one process: the
kernel's hash is the choice there (``ouc serve`` spreads by CPU only on loopback by default).

The program belongs to the group, whichever member attached it; each process attaches the
same one after it listens, so a restarted process attaches it again. The index is the
socket's place in the group (the order the processes listened in; when one leaves, the last
one takes its place), so which CPU feeds which process is arbitrary but fixed while they run.
An index past the group's size (a process restarting) falls back to the kernel's hash.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from collections.abc import Sequence

from ouc.errors import ConfigError

__all__ = ["SO_ATTACH_REUSEPORT_CBPF", "attach_spread", "check_spread", "probe_spread"]

SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>; not exported by Python's socket
_SKF_AD_CPU = (-0x1000 + 36) & 0xFFFFFFFF  # SKF_AD_OFF + SKF_AD_CPU: the current CPU
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = the CPU
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: A == k? next : skip jf
_RET_K = 0x06  # BPF_RET | BPF_K: the socket index k
_ALU_MOD_K = 0x94  # BPF_ALU | BPF_MOD | BPF_K: A %= k
_RET_A = 0x16  # BPF_RET | BPF_A: the socket index A
# CPUs mapped one by one; the rest by CPU mod N. A reuseport program must fit in
# net.core.optmem_max (20,480 bytes by default before Linux 6.9: ~846 CPUs of 16 bytes each).
_MAX_TABLE = 512


def spread_by_cpu(sock: socket.socket, processes: int, cpus: Sequence[int] = ()) -> None:
    """Make the SO_REUSEPORT group of listening ``sock`` give each connection to its member at
    index i mod ``processes`` when the receiving CPU is ``cpus[i]``, else at index CPU mod
    ``processes``. Raises OSError where the kernel refuses."""
    code = [(_LD_W_ABS, 0, 0, _SKF_AD_CPU)]
    for index, cpu in enumerate(cpus[:_MAX_TABLE]):
        code += [(_JEQ_K, 0, 1, cpu), (_RET_K, 0, 0, index % processes)]
    code += [(_ALU_MOD_K, 0, 0, processes), (_RET_A, 0, 0, 0)]
    # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, and struct sock_fprog {unsigned
    # short len; struct sock_filter *filter}: the kernel copies the program during the call.
    program = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in code))
    fprog = struct.pack("@HP", len(code), ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def _spread_here(sock: socket.socket, processes: int) -> None:
    """:func:`spread_by_cpu` over the CPUs this process may run on, in order."""
    spread_by_cpu(sock, processes, sorted(os.sched_getaffinity(0)))


def check_spread(spread: int, reuse_port: bool) -> int:
    """A passive endpoint's ``spread_by_cpu`` checked: a count of processes, with
    ``reuse_port`` (0: none)."""
    if spread < 0 or (spread and not reuse_port):
        raise ConfigError(
            "spread_by_cpu is the number of processes that listen on the port with "
            "reuse_port=True (0: the kernel's hash)",
            path="spread_by_cpu",
        )
    return spread


def attach_spread(sock: socket.socket, processes: int) -> None:
    """:func:`spread_by_cpu` over the CPUs this process may run on (none for 0 processes);
    ConfigError where the kernel refuses (the caller closes ``sock``)."""
    if not processes:
        return
    try:
        _spread_here(sock, processes)
    except OSError as exc:
        raise ConfigError(
            "the kernel refused to spread the connections by CPU (SO_ATTACH_REUSEPORT_CBPF: "
            f"{exc.strerror or exc}); spread them by the kernel's hash instead: "
            "spread_by_cpu=0",
            path="spread_by_cpu",
        ) from exc


def probe_spread(processes: int) -> OSError | None:
    """Why this kernel refuses the program for ``processes`` workers (None: it takes it), tried
    on a socket of its own on 127.0.0.1 before any worker starts."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        try:
            _spread_here(sock, processes)
        except OSError as exc:
            return exc
    return None
