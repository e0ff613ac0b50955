"""Read (and change one weight of) the IPVS table over generic netlink, family "IPVS".

One read is: a dump of the services, one dump of the real servers per service
(the kernel only dumps destinations of one named service), and GET_INFO for the
version and the connection table size. Totals do not exist over netlink; a
netlink read leaves ``IpvsTable.stats``/``rates`` unknown and
``lvsmon.ipvs.read_table`` adds them from /proc/net/ip_vs_stats.

Why not pyroute2's IPVS socket for the bulk: measured on the 2-core CI box, one
pyroute2 request costs ~150 us of Python around a ~5 us syscall, and decoding
one real-server message ~220 us, against ~12 us with the struct decoder below.
A 1,000 x 10 table needs 1,001 dumps and 11,000 messages, so the hot path is a
plain netlink socket and that decoder. pyroute2 still resolves the family (its
``ctrlmsg``), and the unit tests encode kernel-shaped messages with pyroute2's
classes, an encoder independent of this decoder.

Wire facts (net/netfilter/ipvs/ip_vs_ctl.c): addresses are sent as the 16-byte
``union nf_inet_addr`` (IPv4 in the first 4 bytes); ports are big-endian;
IPVS_SVC_ATTR_NETMASK is the IPv4 mask in network order, but for IPv6 services
a prefix length in host order; stats nests hold u32 or u64 values (STATS64 all
u64); numbers are host order.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lvsmon.errors import (
    IpvsError,
    IpvsUnavailable,
    NotFound,
    PermissionDenied,
    UsageError,
)
from lvsmon.model import (
    FORWARD_METHODS,
    UNKNOWN_COUNTERS,
    Counters,
    IpvsTable,
    RealServer,
    ServiceKey,
    VirtualService,
    join_host_port,
)

GENL_NAME = "IPVS"
GENL_VERSION = 1
NETLINK_GENERIC = 16

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED / NLA_F_NET_BYTEORDER

# Commands (include/uapi/linux/ip_vs.h)
CMD_NEW_SERVICE, CMD_GET_SERVICE = 1, 4
CMD_NEW_DEST, CMD_SET_DEST, CMD_GET_DEST = 5, 6, 8
CMD_SET_INFO, CMD_GET_INFO = 14, 15

CMD_ATTR_SERVICE, CMD_ATTR_DEST = 1, 2

SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK = 1, 2, 3, 4, 5
SVC_SCHED_NAME, SVC_FLAGS, SVC_TIMEOUT, SVC_NETMASK = 6, 7, 8, 9
SVC_STATS, SVC_PE_NAME, SVC_STATS64 = 10, 11, 12

DEST_ADDR, DEST_PORT, DEST_FWD_METHOD, DEST_WEIGHT = 1, 2, 3, 4
DEST_U_THRESH, DEST_L_THRESH = 5, 6
DEST_ACTIVE_CONNS, DEST_INACT_CONNS, DEST_PERSIST_CONNS = 7, 8, 9
DEST_STATS, DEST_ADDR_FAMILY, DEST_STATS64 = 10, 11, 12
DEST_TUN_TYPE, DEST_TUN_PORT, DEST_TUN_FLAGS = 13, 14, 15

STATS_CONNS, STATS_INPKTS, STATS_OUTPKTS, STATS_INBYTES, STATS_OUTBYTES = 1, 2, 3, 4, 5
STATS_CPS, STATS_INPPS, STATS_OUTPPS, STATS_INBPS, STATS_OUTBPS = 6, 7, 8, 9, 10

INFO_VERSION, INFO_CONN_TAB_SIZE = 1, 2

# Service flags (IP_VS_SVC_F_*)
F_PERSISTENT, F_HASHED, F_ONEPACKET = 0x1, 0x2, 0x4
F_SCHED1, F_SCHED2, F_SCHED3 = 0x8, 0x10, 0x20
CONN_F_FWD_MASK = 0x7

FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
AF_BY_FAMILY = {name: af for af, name in FAMILIES.items()}
PROTOCOLS = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp", 132: "sctp"}
PROTOCOL_NUMBERS = {name: number for number, name in PROTOCOLS.items()}

NATIVE = sys.byteorder
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_GENLHDR = struct.Struct("=BBH")  # cmd, version, reserved
_NLAHDR = struct.Struct("=HH")  # length, type
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_BE16 = struct.Struct(">H")
_FLAGS = struct.Struct("=II")  # struct ip_vs_flags {flags, mask}

RECV_BUFFER_BYTES = 256 * 1024  # a netlink dump datagram is at most ~32 KiB
MAX_LISTED_WARNINGS = 10


class Malformed(Exception):
    """A message that does not have the shape the kernel sends."""


# --- decoding -----------------------------------------------------------------------------


def _align4(length: int) -> int:
    return (length + 3) & ~3


def iter_messages(data, end: int | None = None) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) for each netlink message in one datagram."""
    end = len(data) if end is None else end
    pos = 0
    while pos + _NLMSGHDR.size <= end:
        length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > end:
            raise Malformed(f"netlink message of {length} bytes at offset {pos} of {end}")
        yield kind, flags, seq, bytes(data[pos + _NLMSGHDR.size : pos + length])
        pos += _align4(length)


def parse_attrs(data: bytes, start: int = 0, end: int | None = None) -> dict[int, bytes]:
    """Attribute type -> value bytes (the last one wins if a type repeats)."""
    end = len(data) if end is None else end
    unpack = _NLAHDR.unpack_from
    attrs = {}
    pos = start
    while pos + 4 <= end:
        length, kind = unpack(data, pos)
        stop = pos + length
        if length < 4 or stop > end:
            raise Malformed(f"attribute {kind & NLA_TYPE_MASK} of {length} bytes overruns")
        attrs[kind & NLA_TYPE_MASK] = data[pos + 4 : stop]
        pos = (stop + 3) & ~3  # attributes are 4-byte aligned
    return attrs


def parse_genl(payload: bytes) -> tuple[int, dict[int, bytes]]:
    """A generic netlink payload -> (command, top-level attributes)."""
    if len(payload) < _GENLHDR.size:
        raise Malformed(f"generic netlink header cut short ({len(payload)} bytes)")
    cmd = payload[0]
    return cmd, parse_attrs(payload, _GENLHDR.size)


def _need(attrs: dict[int, bytes], kind: int, what: str) -> bytes:
    value = attrs.get(kind)
    if value is None:
        raise Malformed(f"no {what} attribute")
    return value


def _uint(value: bytes, what: str) -> int:
    if len(value) not in (1, 2, 4, 8):
        raise Malformed(f"{what} is {len(value)} bytes, not an integer")
    return int.from_bytes(value, NATIVE)


def _be16(value: bytes, what: str) -> int:
    if len(value) != 2:
        raise Malformed(f"{what} is {len(value)} bytes, not a 16-bit port")
    return _BE16.unpack(value)[0]


def _string(value: bytes, what: str) -> str:
    text = value.split(b"\0", 1)[0]
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise Malformed(f"{what} is not ASCII: {text!r}") from None


def _address(value: bytes, af: int, what: str) -> str:
    if af == socket.AF_INET and len(value) >= 4:
        return socket.inet_ntop(socket.AF_INET, value[:4])
    if af == socket.AF_INET6 and len(value) >= 16:
        return str(ipaddress.IPv6Address(value[:16]))
    raise Malformed(f"{what} of {len(value)} bytes for address family {af}")


def _family(af: int) -> str:
    family = FAMILIES.get(af)
    if family is None:
        raise Malformed(f"unknown address family {af}")
    return family


# The STATS64 nest as Linux sends it on x86 and other machines with cheap unaligned
# access: ten u64 attributes in type order, no padding attributes. Read in one go.
_STATS64_LAYOUT = struct.Struct("=" + "HHQ" * 10)
_STATS64_LENGTHS = (12,) * 10
_STATS64_KINDS = tuple(range(STATS_CONNS, STATS_OUTBPS + 1))


def counters_from(attrs: dict[int, bytes], stats64: int, stats32: int) -> tuple[Counters, Counters]:
    """(counters, rates) from the STATS64 nest, else the 32-bit STATS nest.

    Old kernels without STATS64 give connections and packets as u32 that wrap.
    """
    raw = attrs.get(stats64)
    if raw is not None and len(raw) == _STATS64_LAYOUT.size:
        fields = _STATS64_LAYOUT.unpack(raw)
        if fields[0::3] == _STATS64_LENGTHS and fields[1::3] == _STATS64_KINDS:
            values = fields[2::3]
            return Counters(*values[:5]), Counters(*values[5:])
    if raw is None:
        raw = attrs.get(stats32)
    if raw is None:
        return UNKNOWN_COUNTERS, UNKNOWN_COUNTERS
    nest = parse_attrs(raw)
    values = [
        None if nest.get(kind) is None else _uint(nest[kind], f"stats attribute {kind}")
        for kind in range(STATS_CONNS, STATS_OUTBPS + 1)
    ]
    return Counters(*values[:5]), Counters(*values[5:])


def flag_names(flags: int, scheduler: str) -> tuple[str, ...]:
    """Service flag bits -> names, as ipvsadm words them.

    The three scheduler flags mean sh-fallback/sh-port for sh, mh-fallback/mh-port
    for mh, and flag-1/2/3 otherwise. Unknown bits show as hex.
    """
    sched_names = {
        "sh": {F_SCHED1: "sh-fallback", F_SCHED2: "sh-port"},
        "mh": {F_SCHED1: "mh-fallback", F_SCHED2: "mh-port"},
    }.get(scheduler, {})
    fixed = {
        F_PERSISTENT: "persistent", F_HASHED: "hashed", F_ONEPACKET: "onepacket",
        F_SCHED1: "flag-1", F_SCHED2: "flag-2", F_SCHED3: "flag-3",
    }  # fmt: skip
    names = []
    for bit in range(32):
        mask = 1 << bit
        if flags & mask:
            names.append(sched_names.get(mask) or fixed.get(mask) or f"0x{mask:x}")
    return tuple(names)


def _prefix_length(raw: bytes | None, af: int) -> int | None:
    """The persistence netmask as a prefix length; None for an IPv4 mask that is not one."""
    if raw is None or len(raw) != 4:
        raise Malformed("persistence netmask missing or not 4 bytes")
    if af == socket.AF_INET6:
        plen = _U32.unpack(raw)[0]  # a prefix length, host order
        if not 1 <= plen <= 128:
            raise Malformed(f"IPv6 persistence prefix length {plen}")
        return plen
    mask = int.from_bytes(raw, "big")
    plen = 32 - (~mask & 0xFFFFFFFF).bit_length()
    if mask != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
        return None  # the kernel takes any mask, e.g. 255.0.255.0
    return plen


@dataclass(frozen=True)
class ServiceEntry:
    """A decoded service and the attributes that name it to the kernel."""

    service: VirtualService
    identity: bytes  # encoded IPVS_CMD_ATTR_SERVICE nest: AF + (PROTOCOL, ADDR, PORT | FWMARK)


def service_from_attrs(
    attrs: dict[int, bytes], warn: Callable[[str], None] | None = None
) -> ServiceEntry:
    """The IPVS_CMD_ATTR_SERVICE nest of a NEW_SERVICE message -> service without real servers.

    warn: told about odd but usable values (a netmask that is no prefix).
    """
    af = _uint(_need(attrs, SVC_AF, "address family"), "address family")
    family = _family(af)
    scheduler = _string(_need(attrs, SVC_SCHED_NAME, "scheduler"), "scheduler")
    fwmark = _uint(attrs[SVC_FWMARK], "fwmark") if SVC_FWMARK in attrs else 0
    if fwmark:
        key = ServiceKey("fwm", family, fwmark=fwmark)
        identity = _nla(SVC_AF, attrs[SVC_AF]) + _nla(SVC_FWMARK, attrs[SVC_FWMARK])
    else:
        number = _uint(_need(attrs, SVC_PROTOCOL, "protocol"), "protocol")
        protocol = PROTOCOLS.get(number)
        if protocol is None:
            raise Malformed(f"unknown protocol {number}")
        address = _address(_need(attrs, SVC_ADDR, "address"), af, "service address")
        port = _be16(_need(attrs, SVC_PORT, "port"), "service port")
        key = ServiceKey(protocol, family, address, port)
        identity = b"".join(_nla(k, attrs[k]) for k in (SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT))

    raw_flags = _need(attrs, SVC_FLAGS, "flags")
    if len(raw_flags) < _FLAGS.size:
        raise Malformed(f"flags of {len(raw_flags)} bytes")
    flags = _FLAGS.unpack_from(raw_flags)[0]
    timeout = prefix = None
    if flags & F_PERSISTENT:
        timeout = _uint(_need(attrs, SVC_TIMEOUT, "timeout"), "timeout")
        prefix = _prefix_length(attrs.get(SVC_NETMASK), af)
        if prefix is None and warn is not None:
            mask = socket.inet_ntoa(attrs[SVC_NETMASK])
            warn(f"{key}: persistence netmask {mask} is not a prefix; prefix length unknown")
    engine = _string(attrs[SVC_PE_NAME], "persistence engine") if SVC_PE_NAME in attrs else None
    stats, rates = counters_from(attrs, SVC_STATS64, SVC_STATS)
    service = VirtualService(
        key=key,
        scheduler=scheduler,
        flags=flag_names(flags, scheduler),
        persistence_timeout_seconds=timeout,
        persistence_prefix_length=prefix,
        persistence_engine=engine or None,
        stats=stats,
        rates=rates,
    )
    return ServiceEntry(service, _nla(CMD_ATTR_SERVICE, identity))


# Numbers of a real server: attribute -> name. The first four are required.
_DEST_U32 = {
    DEST_FWD_METHOD: "forwarding method", DEST_WEIGHT: "weight",
    DEST_ACTIVE_CONNS: "active connections", DEST_INACT_CONNS: "inactive connections",
    DEST_U_THRESH: "upper threshold", DEST_L_THRESH: "lower threshold",
    DEST_PERSIST_CONNS: "persistent connections",
}  # fmt: skip
_DEST_REQUIRED = tuple(_DEST_U32)[:4]
_DEST_OPTIONAL = tuple(_DEST_U32)[4:]


def real_server_from_attrs(attrs: dict[int, bytes], service_af: int) -> RealServer:
    """The IPVS_CMD_ATTR_DEST nest of a NEW_DEST message -> RealServer."""
    # Kernels before 4.x send no ADDR_FAMILY: then the dest has the service's family.
    family = attrs.get(DEST_ADDR_FAMILY)
    af = service_af if family is None else _uint(family, "real server address family")
    _family(af)
    address = _address(_need(attrs, DEST_ADDR, "address"), af, "real server address")
    port = _be16(_need(attrs, DEST_PORT, "port"), "real server port")
    # Straight unpacks (a table can hold 10,000 real servers); what was wrong is
    # worked out only when one fails.
    unpack, get = _U32.unpack, attrs.get
    try:
        method, weight, active, inactive = [unpack(attrs[k])[0] for k in _DEST_REQUIRED]
        upper, lower, persistent = [
            None if (raw := get(k)) is None else unpack(raw)[0] for k in _DEST_OPTIONAL
        ]
    except (KeyError, struct.error):
        raise Malformed(_dest_problem(attrs)) from None
    method &= CONN_F_FWD_MASK
    if method >= len(FORWARD_METHODS):
        raise Malformed(f"unknown forwarding method {method}")
    stats, rates = counters_from(attrs, DEST_STATS64, DEST_STATS)
    return RealServer(
        address=address,
        port=port,
        forward=FORWARD_METHODS[method],
        weight=weight,
        active_connections=active,
        inactive_connections=inactive,
        upper_threshold=upper,
        lower_threshold=lower,
        persistent_connections=persistent,
        stats=stats,
        rates=rates,
    )


def _dest_problem(attrs: dict[int, bytes]) -> str:
    for kind, name in _DEST_U32.items():
        raw = attrs.get(kind)
        if raw is None and kind in _DEST_REQUIRED:
            return f"no {name} attribute"
        if raw is not None and len(raw) != 4:
            return f"{name} is {len(raw)} bytes, not 4"
    return "unreadable real server"


def info_from_attrs(attrs: dict[int, bytes]) -> tuple[str, int]:
    """GET_INFO reply -> ("1.2.1", connection table size)."""
    code = _uint(_need(attrs, INFO_VERSION, "version"), "version")
    size = _uint(_need(attrs, INFO_CONN_TAB_SIZE, "connection table size"), "table size")
    return f"{(code >> 16) & 0xFF}.{(code >> 8) & 0xFF}.{code & 0xFF}", size


def nested(attrs: dict[int, bytes], kind: int, what: str) -> dict[int, bytes]:
    return parse_attrs(_need(attrs, kind, what))


# --- encoding -----------------------------------------------------------------------------


def _nla(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return _NLAHDR.pack(length, kind) + value + b"\0" * (_align4(length) - length)


def identity_of(key: ServiceKey, af: int) -> bytes:
    """The IPVS_CMD_ATTR_SERVICE nest that names `key` (address family `af`)."""
    parts = [_nla(SVC_AF, _U16.pack(af))]
    if key.protocol == "fwm":
        if not key.fwmark:
            raise UsageError(f"{key}: a firewall-mark service needs a mark", hint="e.g. fwm:7")
        parts.append(_nla(SVC_FWMARK, _U32.pack(key.fwmark)))
    else:
        number = PROTOCOL_NUMBERS.get(key.protocol)
        if number is None or key.address is None or key.port is None:
            raise UsageError(f"not a virtual service: {key}", hint="e.g. tcp:10.0.0.1:80")
        packed = socket.inet_pton(af, key.address).ljust(16, b"\0")  # union nf_inet_addr
        parts += [
            _nla(SVC_PROTOCOL, _U16.pack(number)),
            _nla(SVC_ADDR, packed),
            _nla(SVC_PORT, _BE16.pack(key.port)),
        ]
    return _nla(CMD_ATTR_SERVICE, b"".join(parts))


def request_bytes(family_id: int, cmd: int, flags: int, seq: int, attrs: bytes = b"") -> bytes:
    body = _GENLHDR.pack(cmd, GENL_VERSION, 0) + attrs
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), family_id, flags, seq, 0) + body


# --- errors -------------------------------------------------------------------------------


def _kernel_error(code: int, what: str) -> Exception:
    if code in (errno.EPERM, errno.EACCES):
        return PermissionDenied(
            f"the kernel refused {what}: IPVS over netlink needs CAP_NET_ADMIN",
            hint="run as root or give lvsmon CAP_NET_ADMIN",
        )
    if code == errno.ESRCH:
        return NotFound(f"{what}: no such virtual service or real server")
    return IpvsError(f"{what}: {os.strerror(code)} (errno {code})")


class _KernelAnswer(Exception):
    """The kernel ended a request with an error code (the request is over)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class _Warnings:
    """Collects warnings; lists the first few and counts the rest."""

    def __init__(self):
        self.listed: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.listed) < MAX_LISTED_WARNINGS:
            self.listed.append(text)
        else:
            self.more += 1

    def as_tuple(self) -> tuple[str, ...]:
        if self.more:
            return (*self.listed, f"{self.more} more warnings like these")
        return tuple(self.listed)


# --- the socket ---------------------------------------------------------------------------


class IpvsNetlink:
    """One generic netlink socket bound to IPVS, reused for every read.

    Use as a context manager (``with IpvsNetlink() as nl: nl.read_table()``).
    Blocking: a daemon calls it from a worker thread.
    """

    def __init__(self, timeout_seconds: float = 10.0):
        self.timeout_seconds = timeout_seconds
        self._sock: socket.socket | None = None
        self._family_id = 0
        self._seq = int(time.time()) & 0xFFFFFF
        self._buf = bytearray(RECV_BUFFER_BYTES)

    def __enter__(self) -> IpvsNetlink:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        except OSError as exc:
            raise IpvsUnavailable(
                f"no generic netlink in this kernel ({exc.strerror})",
                hint="IPVS needs a Linux kernel with netlink",
            ) from exc
        try:
            sock.settimeout(self.timeout_seconds)
            sock.bind((0, 0))
            self._sock = sock
            self._family_id = self._resolve_family()
        except BaseException:
            self._sock = None
            sock.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- reading --

    def read_table(self) -> IpvsTable:
        """The whole table: services, their real servers, version and table size."""
        self.open()
        warnings = _Warnings()
        services = []
        for payload in self._request(CMD_GET_SERVICE, b"", dump=True, warnings=warnings):
            entry = self._decode_service(payload, warnings)
            if entry is None:
                continue
            dests = self._read_dests(entry, warnings)
            services.append(dataclasses.replace(entry.service, real_servers=tuple(dests)))
        version = size = None
        for payload in self._request(CMD_GET_INFO, b"", dump=False, warnings=warnings):
            try:
                cmd, attrs = parse_genl(payload)
                if cmd != CMD_SET_INFO:
                    raise Malformed(f"command {cmd} in answer to GET_INFO")
                version, size = info_from_attrs(attrs)
            except Malformed as exc:
                warnings.add(f"IPVS info: {exc}")
        return IpvsTable(
            source="netlink",
            read_at_seconds=time.time(),
            services=tuple(services),
            version=version,
            connection_table_size=size,
            warnings=warnings.as_tuple(),
        )

    def _decode_service(self, payload: bytes, warnings: _Warnings) -> ServiceEntry | None:
        try:
            cmd, attrs = parse_genl(payload)
            if cmd != CMD_NEW_SERVICE:
                raise Malformed(f"command {cmd} in the service dump")
            return service_from_attrs(nested(attrs, CMD_ATTR_SERVICE, "service"), warnings.add)
        except Malformed as exc:
            warnings.add(f"skipped a service message: {exc}")
            return None

    def _read_dests(self, entry: ServiceEntry, warnings: _Warnings) -> list[RealServer]:
        af = AF_BY_FAMILY[entry.service.key.family]
        name = str(entry.service.key)
        return [rs for _dest, rs in self._dest_dump(entry.identity, af, warnings, name)]

    def _dest_dump(self, identity: bytes, af: int, warnings: _Warnings, name: str
                   ) -> Iterator[tuple[dict[int, bytes], RealServer]]:
        """(raw dest attributes, RealServer) for each real server of one service."""
        for payload in self._request(CMD_GET_DEST, identity, dump=True, warnings=warnings):
            try:
                cmd, attrs = parse_genl(payload)
                if cmd != CMD_NEW_DEST:
                    raise Malformed(f"command {cmd} in the real server dump")
                dest = nested(attrs, CMD_ATTR_DEST, "real server")
                yield dest, real_server_from_attrs(dest, af)
            except Malformed as exc:
                warnings.add(f"skipped a real server message of {name}: {exc}")

    def read_real_servers(self, key: ServiceKey) -> tuple[RealServer, ...]:
        """The real servers of one service: a lookup and one dump, not the whole table
        (the daemon's drain guard asks this several times a second).

        Raises NotFound when the service does not exist.
        """
        self.open()
        identity, af = self._find_service(key)
        dests = self._dest_dump(identity, af, _Warnings(), str(key))
        return tuple(rs for _dest, rs in dests)

    # -- changing --

    def set_weight(self, key: ServiceKey, address: str, port: int, weight: int) -> RealServer:
        """Set one real server's weight, keeping its other settings. Returns it as it was.

        Raises NotFound (and changes nothing) for an unknown service or real server.
        """
        if not 0 <= weight <= 0x7FFFFFFF:
            raise UsageError(f"weight {weight} out of range", hint="use 0 .. 2147483647")
        self.open()
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise UsageError(f"{address!r} is not an IP address") from None
        identity, af = self._find_service(key)
        name = str(key)
        warnings = _Warnings()
        matches = [
            (dest, rs)
            for dest, rs in self._dest_dump(identity, af, warnings, name)
            if rs.address == address and rs.port == port
        ]
        if not matches:
            raise NotFound(
                f"no real server {join_host_port(address, port)} in {name}",
                hint="list them with `lvsmon ipvs`",
            )
        dest, rs = matches[0]
        kept = (
            DEST_ADDR, DEST_PORT, DEST_ADDR_FAMILY, DEST_FWD_METHOD, DEST_U_THRESH,
            DEST_L_THRESH, DEST_TUN_TYPE, DEST_TUN_PORT, DEST_TUN_FLAGS,
        )  # fmt: skip
        # The dest's own bytes go back unchanged (pyroute2 would re-encode the
        # big-endian tunnel port in host order).
        body = b"".join(_nla(k, dest[k]) for k in kept if k in dest)
        body += _nla(DEST_WEIGHT, _U32.pack(weight))
        self._request(CMD_SET_DEST, identity + _nla(CMD_ATTR_DEST, body), dump=False,
                      warnings=warnings, what=f"setting the weight of {rs.endpoint} in {name}")
        return rs

    def _find_service(self, key: ServiceKey) -> tuple[bytes, int]:
        """(identity nest, address family) of an existing service, else NotFound."""
        if key.family is not None:
            candidates = [AF_BY_FAMILY[key.family]]
        else:
            candidates = [socket.AF_INET, socket.AF_INET6]  # a mark without a family
        for af in candidates:
            identity = identity_of(key, af)
            try:
                self._request(CMD_GET_SERVICE, identity, dump=False, warnings=_Warnings(),
                              what=f"looking up {str(key)}")
                return identity, af
            except NotFound:
                continue
        raise NotFound(
            f"no virtual service {str(key)}", hint="list them with `lvsmon ipvs`"
        )

    # -- the wire --

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def _request(self, cmd: int, attrs: bytes, dump: bool, warnings: _Warnings,
                 what: str | None = None) -> list[bytes]:
        """Send one request and read its whole answer: the IPVS payloads in it.

        Always reads to the end (DONE or the ACK): a dump left half read would
        make the kernel refuse the next one on this socket with EBUSY.
        """
        seq = self._next_seq()
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        what = what or f"IPVS command {cmd}"
        try:
            return self._exchange(request_bytes(self._family_id, cmd, flags, seq, attrs),
                                  seq, warnings, what)
        except _KernelAnswer as exc:
            raise _kernel_error(exc.code, what) from None
        except TimeoutError:
            self.close()  # the answer may still come; the next call opens a fresh socket
            raise IpvsError(f"{what}: no answer from the kernel in "
                            f"{self.timeout_seconds:g} s") from None
        except OSError as exc:
            self.close()
            raise _kernel_error(exc.errno or errno.EIO, what) from exc

    def _exchange(self, request: bytes, seq: int, warnings: _Warnings, what: str) -> list[bytes]:
        sock = self._sock
        sock.send(request)
        view = memoryview(self._buf)
        replies = []
        while True:
            size, _, msg_flags, _ = sock.recvmsg_into([view])
            if msg_flags & socket.MSG_TRUNC:
                warnings.add(f"{what}: a netlink datagram was cut short")
            try:
                for kind, _flags, reply_seq, payload in iter_messages(view, size):
                    if reply_seq != seq:
                        continue  # left over from an earlier request that was given up
                    if kind in (NLMSG_ERROR, NLMSG_DONE):
                        code = -int.from_bytes(payload[:4], NATIVE, signed=True) if payload else 0
                        if code > 0:
                            raise _KernelAnswer(code)
                        return replies
                    if kind == self._family_id:
                        replies.append(payload)
                    elif kind != NLMSG_NOOP:
                        warnings.add(f"{what}: unexpected netlink message type {kind}")
            except Malformed as exc:
                warnings.add(f"{what}: dropped the rest of a datagram: {exc}")

    def _resolve_family(self) -> int:
        """The IPVS family id, asked of the generic netlink controller (pyroute2 codec)."""
        # Imported here: pyroute2 costs ~140 ms to import, which one-shot procfs reads
        # and command-line parsing need not pay.
        from pyroute2.netlink import CTRL_CMD_GETFAMILY, GENL_ID_CTRL, ctrlmsg
        from pyroute2.netlink.marshal import Marshal

        msg = ctrlmsg()
        msg["cmd"] = CTRL_CMD_GETFAMILY
        msg["version"] = 1
        msg["attrs"] = [("CTRL_ATTR_FAMILY_NAME", GENL_NAME)]
        msg["header"]["type"] = GENL_ID_CTRL
        msg["header"]["flags"] = NLM_F_REQUEST
        msg["header"]["sequence_number"] = seq = self._next_seq()
        msg.encode()
        self._sock.send(msg.data)
        marshal = Marshal()
        marshal.msg_map[GENL_ID_CTRL] = ctrlmsg
        while True:
            try:
                size = self._sock.recv_into(self._buf)
            except TimeoutError:
                raise IpvsError("no answer from the generic netlink controller") from None
            for reply in marshal.parse(bytes(self._buf[:size])):
                if reply["header"]["sequence_number"] != seq:
                    continue
                error = reply["header"].get("error")
                if error is not None:
                    if error.code == errno.ENOENT:
                        raise IpvsUnavailable(
                            "no IPVS in this kernel", hint="load the ip_vs module (modprobe ip_vs)"
                        )
                    raise _kernel_error(error.code, "looking up the IPVS netlink family")
                family_id = reply.get_attr("CTRL_ATTR_FAMILY_ID")
                if not family_id:
                    raise IpvsError("the generic netlink controller gave no IPVS family id")
                return family_id
