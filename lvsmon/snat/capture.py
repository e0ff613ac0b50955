"""Conntrack events and table dumps over ctnetlink, with every overflow counted.

Two netlink sockets, as conntrackd has: one subscribed to the NEW and DESTROY multicast groups,
one for dumps, so a dump's replies never mix with events. When the kernel cannot queue an
event because our receive buffer is full it drops it and the next recv() fails with ENOBUFS
(we deliberately leave NETLINK_NO_ENOBUFS off to see this); each one is counted and the caller
re-dumps the table, as conntrackd does after an overflow.

With NETLINK_BROADCAST_ERROR set ("reliable" delivery) the kernel learns of the failed delivery:
it then keeps the missed event bits of a conntrack entry and re-sends a DESTROY later instead of
dropping it. The cost: under a sustained overload, entries wait longer in the table.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Iterator

from lvsmon import netlink
from lvsmon.errors import PermissionDenied, SnatError
from lvsmon.netlink import (
    NETLINK_ADD_MEMBERSHIP,
    NETLINK_BROADCAST_ERROR,
    NETLINK_NETFILTER,
    NFNLGRP_CONNTRACK_DESTROY,
    NFNLGRP_CONNTRACK_NEW,
    NFNLGRP_CONNTRACK_UPDATE,
    NLMSG_DONE,
    NLMSG_ERROR,
    SOL_NETLINK,
    Malformed,
)
from lvsmon.snat import ctnetlink
from lvsmon.snat.ctnetlink import CtMessage

log = logging.getLogger("lvsmon.snat")

SO_RCVBUFFORCE = 33
SO_MEMINFO = 55
SK_MEMINFO_DROPS = 8  # index in the u32 array SO_MEMINFO returns

RECV_CHUNK_BYTES = 1 << 20  # one recv() returns one datagram; 1 MiB fits any dump batch


def _open(receive_buffer_bytes: int) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    except PermissionError as exc:
        raise PermissionDenied("cannot open a ctnetlink socket",
                               "run as root or with CAP_NET_ADMIN") from exc
    except OSError as exc:
        raise SnatError(f"cannot open a ctnetlink socket: {exc}",
                        "load nf_conntrack_netlink") from exc
    try:
        # SO_RCVBUFFORCE passes net.core.rmem_max (needs CAP_NET_ADMIN); SO_RCVBUF is capped.
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer_bytes)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
    return sock


def dropped_by_kernel(sock: socket.socket) -> int | None:
    """Messages the kernel dropped for this socket (sk_drops), or None on old kernels.

    ENOBUFS says an overflow began; the kernel does not repeat it while the socket stays
    congested, so the number of lost events comes from here."""
    try:
        info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 9 * 4)
    except OSError:
        return None
    return struct.unpack_from("=9I", info)[SK_MEMINFO_DROPS]


def receive_buffer_of(sock: socket.socket) -> int:
    """What the kernel granted (it doubles the asked size for its bookkeeping)."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


class EventSocket:
    """Conntrack NEW and DESTROY events of this network namespace."""

    def __init__(self, receive_buffer_bytes: int, *, reliable: bool = True,
                 update_events: bool = False):
        self.sock = _open(receive_buffer_bytes)
        self.sock.bind((0, 0))
        groups = [NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY]
        if update_events:
            groups.append(NFNLGRP_CONNTRACK_UPDATE)
        for group in groups:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        if reliable:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_BROADCAST_ERROR, 1)
        self.sock.setblocking(False)
        self.receive_buffer_bytes = receive_buffer_of(self.sock)
        self.overflows = 0  # ENOBUFS seen, ever
        self.dropped = 0  # events the kernel dropped for us, ever (sk_drops)
        self.messages = 0
        self.decode_errors = 0
        self._buffer = bytearray(RECV_CHUNK_BYTES)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def read(self, max_datagrams: int = 4096) -> tuple[list[CtMessage], int]:
        """Decode what is queued now (without blocking): (messages, overflows in this read).

        After an overflow, `dropped` tells how many events were lost in all."""
        found: list[CtMessage] = []
        overflows = 0
        event_kind, decode = ctnetlink.event_kind, ctnetlink.decode_conntrack
        for _ in range(max_datagrams):
            try:
                size = self.sock.recv_into(self._buffer)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    overflows += 1
                    continue
                raise SnatError(f"reading conntrack events failed: {exc}") from exc
            if size == 0:
                break
            try:
                for kind, flags, _seq, start, end in netlink.messages(self._buffer, size):
                    event = event_kind(kind, flags)
                    if event is not None:
                        found.append(decode(self._buffer, start, end, event))
            except Malformed:
                self.decode_errors += 1
        self.overflows += overflows
        self.messages += len(found)
        return found, overflows

    def update_dropped(self) -> int:
        """Refresh `dropped`; return how many were added since the last call."""
        now = dropped_by_kernel(self.sock)
        if now is None:
            return 0
        added, self.dropped = now - self.dropped, now
        return added


def dump_table(receive_buffer_bytes: int = 8 << 20, timeout_seconds: float = 60.0
               ) -> Iterator[CtMessage]:
    """Every conntrack entry of this namespace now (IPv4 and IPv6), as "dump" messages."""
    sock = _open(receive_buffer_bytes)
    try:
        sock.bind((0, 0))
        sock.settimeout(timeout_seconds)
        seq = int(time.monotonic_ns() & 0x7FFFFFFF) or 1
        sock.send(ctnetlink.dump_request(seq))
        buffer = bytearray(RECV_CHUNK_BYTES)
        while True:
            try:
                size = sock.recv_into(buffer)
            except TimeoutError as exc:
                raise SnatError(f"conntrack dump gave no answer in {timeout_seconds} s") from exc
            try:
                for kind, flags, reply_seq, start, end in netlink.messages(buffer, size):
                    if reply_seq != seq:
                        continue
                    if kind in (NLMSG_DONE, NLMSG_ERROR):
                        code = netlink.error_code(buffer, start, end)
                        if code == errno.EPERM:
                            raise PermissionDenied("the kernel refused a conntrack dump",
                                                   "run with CAP_NET_ADMIN")
                        if code:
                            raise SnatError(f"conntrack dump failed: {os.strerror(code)}")
                        if kind == NLMSG_DONE:
                            return
                    elif ctnetlink.event_kind(kind, flags) == "dump":
                        try:
                            entry = ctnetlink.decode_conntrack(buffer, start, end, "dump")
                        except Malformed as exc:
                            log.warning("skipped a conntrack dump entry: %s", exc)
                            continue
                        yield entry  # before the next recv_into reuses the buffer
            except Malformed as exc:
                log.warning("skipped the rest of a conntrack dump datagram: %s", exc)
    finally:
        sock.close()
