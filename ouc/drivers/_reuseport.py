"""Which of the processes listening on one port with SO_REUSEPORT takes a connection.

By default Linux picks the listening socket by a hash of the connection's addresses and ports,
so one peer's consecutive connections (a new source port each) land on the processes at random:
each process then sleeps through the others' handshakes and starts its own with cold caches,
and on a 2-core machine two Python workers that take turns cost 10–25 % more CPU per handshake
than one process (benchmarks/RESULTS.md). :func:`spread_by_cpu` attaches a classic BPF program
to the port's group (``SO_ATTACH_REUSEPORT_CBPF``, Linux 4.5) that picks the socket at index
*(CPU that received the connection's SYN) mod N* instead, as the kernel's own selftest
``tools/testing/selftests/net/reuseport_bpf_cpu.c`` does. A peer whose packets arrive on one
CPU (one receive queue's flow, a client process on the same host that stays on its CPU) stays
with one process, peers on other CPUs go to the others. Where a network card delivers every
packet to one CPU (one receive queue and no RPS), every connection goes to one process: the
kernel's hash is the choice there.

The program belongs to the group, whichever member attached it; each process attaches the
same one after it listens, so a restarted process attaches it again. The index is the
socket's place in the group (the order the processes listened in; when one leaves, the last
one takes its place), so which CPU feeds which process is arbitrary but fixed while they run.
An index past the group's size (a process restarting) falls back to the kernel's hash.
"""

from __future__ import annotations

import ctypes
import socket
import struct

from ouc.errors import ConfigError

__all__ = ["SO_ATTACH_REUSEPORT_CBPF", "spread_by_cpu", "spread_refused"]

SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>; not exported by Python's socket
_SKF_AD_CPU = (-0x1000 + 36) & 0xFFFFFFFF  # SKF_AD_OFF + SKF_AD_CPU: the current CPU
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = the CPU
_ALU_MOD_K = 0x94  # BPF_ALU | BPF_MOD | BPF_K: A %= k
_RET_A = 0x16  # BPF_RET | BPF_A: the socket index


def spread_by_cpu(sock: socket.socket, processes: int) -> None:
    """Make the SO_REUSEPORT group of listening ``sock`` give each connection to its member
    at index *(receiving CPU) mod* ``processes``. Raises OSError where the kernel refuses."""
    if processes < 1:
        raise ValueError("processes must be at least 1")
    code = [(_LD_W_ABS, 0, 0, _SKF_AD_CPU), (_ALU_MOD_K, 0, 0, processes), (_RET_A, 0, 0, 0)]
    # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, and struct sock_fprog {unsigned
    # short len; struct sock_filter *filter}: the kernel copies the program during the call.
    program = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in code))
    fprog = struct.pack("@HP", len(code), ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def spread_refused(exc: OSError) -> ConfigError:
    """The error for a kernel that refused the program (raise it ``from exc``)."""
    return ConfigError(
        f"the kernel refused to spread the connections by CPU (SO_ATTACH_REUSEPORT_CBPF: "
        f"{exc.strerror or exc}); leave it to the kernel's hash: spread_by_cpu=0, "
        "'ouc serve --spread hash'",
        path="spread_by_cpu",
    )
