"""Netlink message -> model, on real encoded messages.

The kernel-shaped messages are encoded with pyroute2's IPVS message classes
(an encoder independent of lvsmon's decoder), laid out as
ip_vs_genl_fill_service()/ip_vs_genl_fill_dest() send them: 16-byte address
unions, big-endian ports, the IPv4 netmask in network order and the IPv6
prefix length in host order, STATS and STATS64 nests. The bytes then go through
lvsmon's decoder as if read from the socket. The live reader is tested against
a real IPVS kernel in tests/vm.
"""

import dataclasses
import errno
import os
import socket
import struct

import pytest
from pyroute2.netlink import NLM_F_MULTI, genlmsg
from pyroute2.netlink.generic.ipvs import ipvsmsg

from lvsmon import netlink
from lvsmon.errors import IpvsUnavailable, NotFound, PermissionDenied
from lvsmon.ipvs import netlink as nl
from lvsmon.model import Counters, RealServer, ServiceKey

FAMILY_ID = 0x1D  # any id: the decoder is told which one is IPVS
ALL_BITS = 0xFFFFFFFF


# pyroute2 maps TUN_PORT as uint16, the kernel sends it big-endian.
RAW_DEST = {"IPVS_DEST_ATTR_ADDR": "cdata", "IPVS_DEST_ATTR_TUN_PORT": "be16"}


class kernel_ipvsmsg(ipvsmsg):  # pyroute2's naming
    """ipvsmsg with the attributes the kernel sends as raw bytes kept raw."""

    class service(ipvsmsg.service):
        nla_map = tuple(
            (name, "cdata" if name in ("IPVS_SVC_ATTR_ADDR", "IPVS_SVC_ATTR_NETMASK") else kind)
            for name, kind in ipvsmsg.service.nla_map
        )

    class dest(ipvsmsg.dest):
        nla_map = tuple(
            (name, RAW_DEST.get(name, kind)) for name, kind in ipvsmsg.dest.nla_map
        )

        class stats64(ipvsmsg.dest.stats64):
            # Machines without cheap unaligned access pad u64 attributes with PAD (11).
            nla_map = (*ipvsmsg.dest.stats64.nla_map, ("IPVS_STATS_ATTR_PAD", "cdata"))


class info_msg(genlmsg):
    nla_map = (
        ("IPVS_INFO_ATTR_UNSPEC", "none"),
        ("IPVS_INFO_ATTR_VERSION", "uint32"),
        ("IPVS_INFO_ATTR_CONN_TAB_SIZE", "uint32"),
    )


def encode(msg, cmd: int, attrs: list, seq: int = 7) -> bytes:
    msg["cmd"] = cmd
    msg["version"] = 1
    msg["header"]["type"] = FAMILY_ID
    msg["header"]["flags"] = NLM_F_MULTI
    msg["header"]["sequence_number"] = seq
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


def addr(text: str) -> bytes:
    """union nf_inet_addr: 16 bytes, an IPv4 address in the first 4."""
    if ":" in text:
        return socket.inet_pton(socket.AF_INET6, text)
    return socket.inet_aton(text).ljust(16, b"\0")


def stats(values: list[int], prefix="IPVS_STATS_ATTR_") -> dict:
    names = ["CONNS", "INPKTS", "OUTPKTS", "INBYTES", "OUTBYTES",
             "CPS", "INPPS", "OUTPPS", "INBPS", "OUTBPS"]  # fmt: skip
    return {"attrs": [(prefix + n, v) for n, v in zip(names, values, strict=True)]}


STATS64 = [2**33 + 1, 2**40, 5, 2**62, 123, 10, 20, 30, 40_000, 50_000]
# What the 32-bit nest of the same counters carries: conns/packets cut to 32 bits.
STATS32 = [1, 0, 5, 2**62, 123, 10, 20, 30, 40_000, 50_000]


def service_message(seq: int = 7, **over) -> bytes:
    attrs = {
        "IPVS_SVC_ATTR_AF": socket.AF_INET,
        "IPVS_SVC_ATTR_PROTOCOL": socket.IPPROTO_TCP,
        "IPVS_SVC_ATTR_ADDR": addr("10.0.0.1"),
        "IPVS_SVC_ATTR_PORT": 80,
        "IPVS_SVC_ATTR_SCHED_NAME": "wlc",
        "IPVS_SVC_ATTR_FLAGS": {"flags": nl.F_HASHED, "mask": ALL_BITS},
        "IPVS_SVC_ATTR_TIMEOUT": 0,
        "IPVS_SVC_ATTR_NETMASK": socket.inet_aton("255.255.255.255"),
        "IPVS_SVC_ATTR_STATS": stats(STATS32),
        "IPVS_SVC_ATTR_STATS64": stats(STATS64),
    }
    attrs.update(over)
    pairs = [(k, v) for k, v in attrs.items() if v is not None]
    nest = ("IPVS_CMD_ATTR_SERVICE", {"attrs": pairs})
    return encode(kernel_ipvsmsg(), nl.CMD_NEW_SERVICE, [nest], seq)


def dest_message(seq: int = 7, **over) -> bytes:
    attrs = {
        "IPVS_DEST_ATTR_ADDR": addr("10.0.1.2"),
        "IPVS_DEST_ATTR_PORT": 8080,
        "IPVS_DEST_ATTR_FWD_METHOD": 0,
        "IPVS_DEST_ATTR_WEIGHT": 3,
        "IPVS_DEST_ATTR_TUN_TYPE": 0,
        "IPVS_DEST_ATTR_TUN_PORT": 0,
        "IPVS_DEST_ATTR_TUN_FLAGS": 0,
        "IPVS_DEST_ATTR_U_THRESH": 1000,
        "IPVS_DEST_ATTR_L_THRESH": 100,
        "IPVS_DEST_ATTR_ACTIVE_CONNS": 12,
        "IPVS_DEST_ATTR_INACT_CONNS": 34,
        "IPVS_DEST_ATTR_PERSIST_CONNS": 5,
        "IPVS_DEST_ATTR_ADDR_FAMILY": socket.AF_INET,
        "IPVS_DEST_ATTR_STATS": stats(STATS32),
        "IPVS_DEST_ATTR_STATS64": stats(STATS64),
    }
    attrs.update(over)
    pairs = [(k, v) for k, v in attrs.items() if v is not None]
    return encode(kernel_ipvsmsg(), nl.CMD_NEW_DEST, [("IPVS_CMD_ATTR_DEST", {"attrs": pairs})],
                  seq)


def body_of(data: bytes) -> tuple[bytes, int, int]:
    """As IpvsNetlink does with a datagram: one message of our family -> (data, start, end)."""
    (message,) = list(netlink.messages(data))
    kind, flags, seq, start, end = message
    assert (kind, flags, seq) == (FAMILY_ID, NLM_F_MULTI, 7)
    return data, start, end


def decode_service(data: bytes, warn=None):
    """Both decoders of a service message, as decode_dest does for real servers."""
    try:
        generic = nl.decode_service(*body_of(data), warn)
    except nl.Malformed:
        assert service_fast_path(data) == []
        raise
    found = service_fast_path(data)
    assert found in ([], [generic])
    return generic


def service_fast_path(data: bytes) -> list:
    found = []
    offset = nl.read_service_run(data, len(data), FAMILY_ID, 7, None, found)
    assert offset in (0, len(data)) and len(found) == (offset > 0)
    return found


def decode_dest(data: bytes, service_af=socket.AF_INET) -> RealServer:
    """Both decoders of a real server message: the generic walk and, where it applies, the
    fast path of the kernel's own layout. They must agree, or both refuse the message."""
    try:
        generic = nl.decode_dest(*body_of(data), service_af)
    except nl.Malformed:
        assert fast_path(data, service_af) == []
        raise
    found = fast_path(data, service_af)
    assert found in ([], [generic])
    return generic


def fast_path(data: bytes, service_af=socket.AF_INET) -> list[RealServer]:
    """What read_dest_run takes of a datagram: all of it, or nothing."""
    found = []
    offset = nl.read_dest_run(data, len(data), FAMILY_ID, 7, service_af, found)
    assert offset in (0, len(data)) and len(found) == (offset > 0)
    return found


# --- services -----------------------------------------------------------------------------


def test_ipv4_tcp_service_with_64_bit_stats():
    entry = decode_service(service_message())
    svc = entry.service()
    assert svc.key == ServiceKey("tcp", "inet", "10.0.0.1", 80)
    assert svc.scheduler == "wlc"
    assert svc.flags == ("hashed",)
    assert svc.persistence_timeout_seconds is None
    assert svc.persistence_prefix_length is None
    assert svc.persistence_engine is None
    assert svc.real_servers == ()
    assert svc.stats == Counters(2**33 + 1, 2**40, 5, 2**62, 123)  # STATS64, not the cut STATS
    assert svc.rates == Counters(10, 20, 30, 40_000, 50_000)


def test_old_kernel_without_stats64_uses_the_32_bit_nest():
    svc = decode_service(service_message(IPVS_SVC_ATTR_STATS64=None)).service()
    assert svc.stats == Counters(1, 0, 5, 2**62, 123)
    assert svc.rates == Counters(10, 20, 30, 40_000, 50_000)


def test_no_stats_at_all_is_unknown():
    svc = decode_service(service_message(IPVS_SVC_ATTR_STATS64=None, IPVS_SVC_ATTR_STATS=None))
    assert svc.service().stats == Counters() and svc.service().rates == Counters()


@pytest.mark.parametrize(("number", "name"), [(17, "udp"), (132, "sctp")])
def test_udp_and_sctp(number, name):
    svc = decode_service(service_message(IPVS_SVC_ATTR_PROTOCOL=number)).service()
    assert svc.key == ServiceKey(name, "inet", "10.0.0.1", 80)


def test_ipv6_persistent_service_with_prefix_length_and_engine():
    svc = decode_service(
        service_message(
            IPVS_SVC_ATTR_AF=socket.AF_INET6,
            IPVS_SVC_ATTR_ADDR=addr("2001:db8::1"),
            IPVS_SVC_ATTR_PORT=443,
            IPVS_SVC_ATTR_SCHED_NAME="sh",
            IPVS_SVC_ATTR_PE_NAME="sip",
            IPVS_SVC_ATTR_FLAGS={
                "flags": nl.F_PERSISTENT | nl.F_HASHED | nl.F_SCHED1 | nl.F_SCHED2,
                "mask": ALL_BITS,
            },
            IPVS_SVC_ATTR_TIMEOUT=360,
            IPVS_SVC_ATTR_NETMASK=struct.pack("=I", 64),  # a prefix length, host order
        )
    ).service()
    assert svc.key == ServiceKey("tcp", "inet6", "2001:db8::1", 443)
    assert svc.flags == ("persistent", "hashed", "sh-fallback", "sh-port")
    assert svc.persistence_timeout_seconds == 360
    assert svc.persistence_prefix_length == 64
    assert svc.persistence_engine == "sip"


def test_ipv4_persistent_netmask_becomes_a_prefix_length():
    svc = decode_service(
        service_message(
            IPVS_SVC_ATTR_FLAGS={"flags": nl.F_PERSISTENT | nl.F_HASHED, "mask": ALL_BITS},
            IPVS_SVC_ATTR_TIMEOUT=300,
            IPVS_SVC_ATTR_NETMASK=socket.inet_aton("255.255.255.0"),
        )
    ).service()
    assert svc.persistence_timeout_seconds == 300
    assert svc.persistence_prefix_length == 24


def test_ipv4_netmask_that_is_no_prefix_warns_and_keeps_the_service():
    warnings = []
    svc = decode_service(
        service_message(
            IPVS_SVC_ATTR_FLAGS={"flags": nl.F_PERSISTENT, "mask": ALL_BITS},
            IPVS_SVC_ATTR_TIMEOUT=300,
            IPVS_SVC_ATTR_NETMASK=socket.inet_aton("255.0.255.0"),
        ),
        warnings.append,
    ).service()
    assert svc.persistence_timeout_seconds == 300
    assert svc.persistence_prefix_length is None
    assert warnings == [
        "tcp:10.0.0.1:80: persistence netmask 255.0.255.0 is not a prefix; prefix length unknown"
    ]


def test_firewall_mark_service_and_its_identity():
    data = service_message(
        IPVS_SVC_ATTR_PROTOCOL=None, IPVS_SVC_ATTR_ADDR=None, IPVS_SVC_ATTR_PORT=None,
        IPVS_SVC_ATTR_FWMARK=7, IPVS_SVC_ATTR_SCHED_NAME="mh",
        IPVS_SVC_ATTR_FLAGS={"flags": nl.F_HASHED | nl.F_SCHED1 | nl.F_ONEPACKET, "mask": ALL_BITS},
    )  # fmt: skip
    entry = decode_service(data)
    assert entry.service().key == ServiceKey("fwm", "inet", fwmark=7)
    assert entry.service().flags == ("hashed", "onepacket", "mh-fallback")
    # The identity sent back to the kernel (GET_DEST) decodes, with pyroute2, to AF + mark only.
    assert entry.identity == nl.identity_of(ServiceKey("fwm", "inet", fwmark=7), socket.AF_INET)
    back = kernel_ipvsmsg.service(entry.identity)
    back.decode()
    assert pairs(back) == [("IPVS_SVC_ATTR_AF", socket.AF_INET), ("IPVS_SVC_ATTR_FWMARK", 7)]


def test_service_identity_is_what_ipvsadm_sends():
    entry = decode_service(service_message())
    assert entry.identity == nl.identity_of(parse_key("tcp:10.0.0.1:80"), socket.AF_INET)
    back = kernel_ipvsmsg.service(entry.identity)
    back.decode()
    assert pairs(back) == [
        ("IPVS_SVC_ATTR_AF", socket.AF_INET),
        ("IPVS_SVC_ATTR_PROTOCOL", socket.IPPROTO_TCP),
        ("IPVS_SVC_ATTR_ADDR", addr("10.0.0.1")),
        ("IPVS_SVC_ATTR_PORT", 80),
    ]


def pairs(nest) -> list[tuple]:
    return [(attr[0], attr[1]) for attr in nest["attrs"]]


def parse_key(spec):
    from lvsmon.ipvs import parse_service

    return parse_service(spec)


@pytest.mark.parametrize(
    ("flags", "scheduler", "names"),
    [
        (0, "rr", ()),
        (nl.F_SCHED1 | nl.F_SCHED2 | nl.F_SCHED3, "rr", ("flag-1", "flag-2", "flag-3")),
        (nl.F_SCHED2, "sh", ("sh-port",)),
        (nl.F_SCHED2 | nl.F_SCHED1, "mh", ("mh-fallback", "mh-port")),
        (nl.F_SCHED3, "sh", ("flag-3",)),
        (0x40 | nl.F_PERSISTENT, "wlc", ("persistent", "0x40")),
    ],
)
def test_flag_names_as_ipvsadm_prints_them(flags, scheduler, names):
    assert nl.flag_names(flags, scheduler) == names


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"IPVS_SVC_ATTR_AF": 7}, "unknown address family 7"),
        ({"IPVS_SVC_ATTR_AF": None}, "no address family"),
        ({"IPVS_SVC_ATTR_PROTOCOL": 1}, r"unknown service protocol 1 \(icmp\)"),
        ({"IPVS_SVC_ATTR_PROTOCOL": 99}, "unknown service protocol 99$"),
        ({"IPVS_SVC_ATTR_ADDR": b"\x0a\x00"}, "service address of 2 bytes"),
        ({"IPVS_SVC_ATTR_SCHED_NAME": None}, "no scheduler"),
        ({"IPVS_SVC_ATTR_FLAGS": None}, "no flags"),
    ],
)
def test_malformed_service_is_reported_not_raised_as_a_traceback(over, why):
    with pytest.raises(nl.Malformed, match=why):
        decode_service(service_message(**over))


# --- real servers -------------------------------------------------------------------------


def test_ipv4_real_server_with_everything():
    assert decode_dest(dest_message()) == RealServer(
        address="10.0.1.2",
        port=8080,
        forward="masq",
        weight=3,
        active_connections=12,
        inactive_connections=34,
        upper_threshold=1000,
        lower_threshold=100,
        persistent_connections=5,
        stats=Counters(2**33 + 1, 2**40, 5, 2**62, 123),
        rates=Counters(10, 20, 30, 40_000, 50_000),
    )


def test_stats64_with_padding_attributes():
    padded = stats(STATS64)
    padded["attrs"] = [("IPVS_STATS_ATTR_PAD", b"")] + padded["attrs"][:5] + [
        ("IPVS_STATS_ATTR_PAD", b"")] + padded["attrs"][5:]
    rs = decode_dest(dest_message(IPVS_DEST_ATTR_STATS64=padded))
    assert rs.stats == Counters(2**33 + 1, 2**40, 5, 2**62, 123)
    assert rs.rates == Counters(10, 20, 30, 40_000, 50_000)


def test_stats64_missing_a_counter_leaves_it_unknown():
    partial = stats(STATS64)
    partial["attrs"] = [a for a in partial["attrs"] if a[0] != "IPVS_STATS_ATTR_OUTBYTES"]
    rs = decode_dest(dest_message(IPVS_DEST_ATTR_STATS64=partial))
    assert rs.stats == Counters(2**33 + 1, 2**40, 5, 2**62, None)


@pytest.mark.parametrize(("method", "name"), [(1, "local"), (2, "tunnel"), (3, "route")])
def test_forwarding_methods(method, name):
    assert decode_dest(dest_message(IPVS_DEST_ATTR_FWD_METHOD=method)).forward == name


def test_ipv6_real_server_of_an_ipv4_service_tunnel():
    rs = decode_dest(
        dest_message(
            IPVS_DEST_ATTR_ADDR=addr("2001:db8::2"),
            IPVS_DEST_ATTR_ADDR_FAMILY=socket.AF_INET6,
            IPVS_DEST_ATTR_FWD_METHOD=2,
        )
    )
    assert (rs.address, rs.family, rs.forward) == ("2001:db8::2", "inet6", "tunnel")


def test_old_kernel_without_dest_family_takes_the_service_family():
    data = dest_message(IPVS_DEST_ATTR_ADDR=addr("2001:db8::9"), IPVS_DEST_ATTR_ADDR_FAMILY=None)
    assert decode_dest(data, service_af=socket.AF_INET6).address == "2001:db8::9"


def test_missing_thresholds_are_unknown_not_zero():
    rs = decode_dest(
        dest_message(
            IPVS_DEST_ATTR_U_THRESH=None,
            IPVS_DEST_ATTR_L_THRESH=None,
            IPVS_DEST_ATTR_PERSIST_CONNS=None,
        )
    )
    assert (rs.upper_threshold, rs.lower_threshold, rs.persistent_connections) == (None,) * 3


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"IPVS_DEST_ATTR_ADDR": None}, "no address"),
        ({"IPVS_DEST_ATTR_WEIGHT": None}, "no weight"),
        ({"IPVS_DEST_ATTR_ACTIVE_CONNS": None}, "no active connections"),
        ({"IPVS_DEST_ATTR_FWD_METHOD": 6}, "unknown forwarding method 6"),
        ({"IPVS_DEST_ATTR_ADDR_FAMILY": 99}, "unknown address family 99"),
    ],
)
def test_malformed_real_server(over, why):
    with pytest.raises(nl.Malformed, match=why):
        decode_dest(dest_message(**over))


# --- the fast path and the generic walk ---------------------------------------------------


def test_the_kernels_layouts_take_the_fast_path():
    """What ip_vs_genl_fill_dest() sends today, and before the tunnel attributes (< 5.2)."""
    for data in (
        dest_message(),
        dest_message(IPVS_DEST_ATTR_ADDR=addr("2001:db8::2"),
                     IPVS_DEST_ATTR_ADDR_FAMILY=socket.AF_INET6, IPVS_DEST_ATTR_FWD_METHOD=3),
        dest_message(IPVS_DEST_ATTR_TUN_TYPE=None, IPVS_DEST_ATTR_TUN_PORT=None,
                     IPVS_DEST_ATTR_TUN_FLAGS=None),
    ):
        assert fast_path(data) == [decode_dest(data)]


def mark_service_message(**over) -> bytes:
    """A firewall-mark service, its attributes in the kernel's order."""
    attrs = {"IPVS_SVC_ATTR_AF": socket.AF_INET, "IPVS_SVC_ATTR_FWMARK": 7,
             "IPVS_SVC_ATTR_SCHED_NAME": "rr",
             "IPVS_SVC_ATTR_FLAGS": {"flags": nl.F_HASHED, "mask": ALL_BITS},
             "IPVS_SVC_ATTR_TIMEOUT": 0,
             "IPVS_SVC_ATTR_NETMASK": socket.inet_aton("255.255.255.255"),
             "IPVS_SVC_ATTR_STATS": stats(STATS32), "IPVS_SVC_ATTR_STATS64": stats(STATS64)}
    attrs.update(over)
    pairs = [(k, v) for k, v in attrs.items() if v is not None]
    return encode(kernel_ipvsmsg(), nl.CMD_NEW_SERVICE, [("IPVS_CMD_ATTR_SERVICE",
                                                          {"attrs": pairs})])


PERSISTENT = {"flags": nl.F_PERSISTENT | nl.F_HASHED, "mask": ALL_BITS}


@pytest.mark.parametrize("data", [
    service_message(),
    service_message(IPVS_SVC_ATTR_SCHED_NAME="rr", IPVS_SVC_ATTR_PROTOCOL=132),
    service_message(IPVS_SVC_ATTR_SCHED_NAME="lblcr", IPVS_SVC_ATTR_FLAGS=PERSISTENT,
                    IPVS_SVC_ATTR_TIMEOUT=300,
                    IPVS_SVC_ATTR_NETMASK=socket.inet_aton("255.255.255.0")),
    service_message(IPVS_SVC_ATTR_AF=socket.AF_INET6, IPVS_SVC_ATTR_ADDR=addr("2001:db8::1"),
                    IPVS_SVC_ATTR_SCHED_NAME="twos", IPVS_SVC_ATTR_FLAGS=PERSISTENT,
                    IPVS_SVC_ATTR_TIMEOUT=60, IPVS_SVC_ATTR_NETMASK=struct.pack("=I", 64)),
    mark_service_message(),
    mark_service_message(IPVS_SVC_ATTR_AF=socket.AF_INET6, IPVS_SVC_ATTR_SCHED_NAME="wlc"),
])  # fmt: skip
def test_the_kernels_service_layouts_take_the_fast_path(data):
    assert service_fast_path(data) == [decode_service(data)]


@pytest.mark.parametrize(("data", "error"), [
    (service_message(IPVS_SVC_ATTR_PE_NAME="sip"), None),  # an engine: not in the layouts
    (service_message(IPVS_SVC_ATTR_SCHED_NAME="longname"), None),
    (service_message(IPVS_SVC_ATTR_STATS64=None), None),
    (service_message(IPVS_SVC_ATTR_FLAGS=PERSISTENT, IPVS_SVC_ATTR_TIMEOUT=300,
                     IPVS_SVC_ATTR_NETMASK=socket.inet_aton("255.0.255.0")), None),  # warned
    (mark_service_message(IPVS_SVC_ATTR_FWMARK=0), "no protocol attribute"),
    (service_message(IPVS_SVC_ATTR_AF=socket.AF_INET6, IPVS_SVC_ATTR_FLAGS=PERSISTENT,
                     IPVS_SVC_ATTR_TIMEOUT=60, IPVS_SVC_ATTR_NETMASK=struct.pack("=I", 200)),
     "IPv6 persistence prefix length 200"),
])  # fmt: skip
def test_other_services_take_the_generic_walk(data, error):
    assert service_fast_path(data) == []
    if error is None:
        assert decode_service(data, warn=lambda text: None).key.port == 80
    else:
        with pytest.raises(nl.Malformed, match=error):
            decode_service(data)


def with_extra_attribute(data: bytes, kind: int, value: bytes) -> bytes:
    """A real server message with one more attribute at the end of its nest."""
    extra = netlink.attribute(kind, value)
    out = bytearray(data + extra)
    struct.pack_into("=I", out, 0, len(out))  # netlink header length
    struct.pack_into("=H", out, 20, struct.unpack_from("=H", data, 20)[0] + len(extra))
    return bytes(out)


def with_header_type(data: bytes, offset: int, kind: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("=H", out, offset + 2, kind)
    return bytes(out)


def reordered_dest_message() -> bytes:
    """dest_message() with the weight first."""
    msg = kernel_ipvsmsg(dest_message())
    msg.decode()
    pairs = [(name, value) for name, value in msg.get_attr("IPVS_CMD_ATTR_DEST")["attrs"]]
    weight = [pair for pair in pairs if pair[0] == "IPVS_DEST_ATTR_WEIGHT"]
    rest = [pair for pair in pairs if pair[0] != "IPVS_DEST_ATTR_WEIGHT"]
    return encode(kernel_ipvsmsg(), nl.CMD_NEW_DEST,
                  [("IPVS_CMD_ATTR_DEST", {"attrs": weight + rest})])


TUN_TYPE_HEADER = 16 + 4 + 4 + 20 + 8 + 8 + 8  # after ADDR, PORT, FWD_METHOD, WEIGHT


@pytest.mark.parametrize(("name", "odd", "same_as"), [
    ("thresholds and persistent connections missing",
     lambda: dest_message(IPVS_DEST_ATTR_U_THRESH=None, IPVS_DEST_ATTR_L_THRESH=None,
                          IPVS_DEST_ATTR_PERSIST_CONNS=None),
     lambda rs: dataclasses.replace(rs, upper_threshold=None, lower_threshold=None,
                                    persistent_connections=None)),
    ("32-bit STATS only", lambda: dest_message(IPVS_DEST_ATTR_STATS64=None),
     lambda rs: dataclasses.replace(rs, stats=Counters(*STATS32[:5]))),
    ("an unknown attribute at the end", lambda: with_extra_attribute(dest_message(), 99, b"x"),
     None),
    ("an unknown attribute in place of one of the same size",
     lambda: with_header_type(dest_message(), TUN_TYPE_HEADER, 16), None),
    ("the nest flagged NLA_F_NESTED",
     lambda: with_header_type(dest_message(), 20, nl.CMD_ATTR_DEST | netlink.NLA_F_NESTED), None),
    ("another order", reordered_dest_message, None),
    ("no address family (old kernels)",
     lambda: dest_message(IPVS_DEST_ATTR_ADDR_FAMILY=None), None),
])  # fmt: skip
def test_other_layouts_take_the_generic_walk_to_the_same_result(name, odd, same_as):
    data = odd()
    assert fast_path(data) == [], name
    expected = decode_dest(dest_message())
    assert decode_dest(data) == (same_as(expected) if same_as else expected), name


def test_a_cut_message_is_malformed_even_at_the_size_of_another_layout():
    """The kernel's layout cut by 24 bytes (its netlink length agreeing) has the size of
    the layout without tunnel attributes; its headers say otherwise."""
    data = bytearray(dest_message()[:-24])
    struct.pack_into("=I", data, 0, len(data))
    assert len(data) - 16 in nl.DEST_LAYOUTS
    with pytest.raises(nl.Malformed, match="attribute 2 at byte 20 claims 336 bytes; 312 are left"):
        decode_dest(bytes(data))


def test_the_fast_path_stops_where_the_layout_stops():
    """A run of kernel-layout messages, an odd one, more: read_dest_run takes the first run
    only; the rest is the generic walk's."""
    plain = [dest_message(IPVS_DEST_ATTR_WEIGHT=w) for w in (1, 2)]
    odd = dest_message(IPVS_DEST_ATTR_STATS64=None)
    data = b"".join([*plain, odd, dest_message()])
    found = []
    assert nl.read_dest_run(data, len(data), FAMILY_ID, 7, socket.AF_INET, found) == 2 * len(
        plain[0])
    assert found == [decode_dest(message) for message in plain]
    # Another request's answer (seq) or another family's type: not taken either.
    assert nl.read_dest_run(data, len(data), FAMILY_ID, 8, socket.AF_INET, []) == 0
    assert nl.read_dest_run(data, len(data), FAMILY_ID + 1, 7, socket.AF_INET, []) == 0


def test_quick_constructors_make_the_models_objects():
    assert nl.make_counters(1, 2, 3, 4, 5) == Counters(1, 2, 3, 4, 5)
    made = nl.make_real_server("10.0.0.2", 80, "route", 1, 2, 3, None, 4, 5, Counters(),
                               Counters(1, 2, 3, 4, 5))
    assert made == RealServer(address="10.0.0.2", port=80, forward="route", weight=1,
                              active_connections=2, inactive_connections=3,
                              upper_threshold=None, lower_threshold=4,
                              persistent_connections=5, rates=Counters(1, 2, 3, 4, 5))
    assert type(made) is RealServer
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.weight = 7
    assert nl.slot_setters(RealServer, nl._REAL_SERVER_FIELDS) is not None


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    value: int

    def __post_init__(self):
        if self.value < 0:
            raise ValueError(self.value)


@dataclasses.dataclass(frozen=True)
class Unslotted:
    value: int


def test_quick_constructors_only_for_classes_whose_init_just_sets_fields():
    assert nl.slot_setters(Checked, ("value",)) is None
    assert nl.slot_setters(Unslotted, ("value",)) is None
    assert nl.slot_setters(Counters, tuple(reversed(nl._COUNTER_FIELDS))) is None
    assert nl.slot_setters(tuple, ("value",)) is None


# --- read_table against a stand-in kernel ------------------------------------------------

DONE = 3


def done(seq: int, code: int = 0, kind: int = DONE) -> bytes:
    return struct.pack("=IHHIIi", 20, kind, NLM_F_MULTI, seq, 0, -code)


def scripted_reader(datagrams: list[bytes]) -> nl.IpvsNetlink:
    """An IpvsNetlink whose socket gets `datagrams` as the kernel's answers, the first
    request numbered 101. A real kernel never sends malformed messages; a datagram socket
    pair stands in for it to send them."""
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for datagram in datagrams:
        kernel.send(datagram)
    reader = nl.IpvsNetlink(timeout_seconds=5)
    reader._sock, reader._family_id, reader._seq = ours, FAMILY_ID, 100
    reader.kernel_end = kernel  # kept open while the reader reads
    return reader


def test_read_table_counts_malformed_messages_as_warnings():
    svc_a = service_message(seq=101)
    svc_b = service_message(IPVS_SVC_ATTR_PORT=81, seq=101)
    good = [dest_message(IPVS_DEST_ATTR_WEIGHT=w, seq=102) for w in (1, 2, 3)]
    cut = bytearray(good[0][:-24])
    struct.pack_into("=I", cut, 0, len(cut))  # a message whose attributes overrun it
    odd_method = dest_message(IPVS_DEST_ATTR_FWD_METHOD=6, seq=103)
    overrun = bytearray(dest_message(seq=103))
    struct.pack_into("=I", overrun, 0, len(overrun) + 40)  # longer than its datagram
    info = encode(info_msg(), nl.CMD_SET_INFO, [("IPVS_INFO_ATTR_VERSION", 0x010203),
                                                ("IPVS_INFO_ATTR_CONN_TAB_SIZE", 4096)], seq=104)
    reader = scripted_reader([
        svc_a + svc_b + done(101),
        good[0] + bytes(cut) + good[1] + with_extra_attribute(good[2], 99, b"x"), done(102),
        odd_method + dest_message(IPVS_DEST_ATTR_WEIGHT=9, seq=103) + bytes(overrun), done(103),
        info + done(104, kind=2),
    ])
    table = reader.read_table()
    first, second = table.services
    assert first.key == ServiceKey("tcp", "inet", "10.0.0.1", 80)
    assert [rs.weight for rs in first.real_servers] == [1, 2, 3]
    assert [rs.weight for rs in second.real_servers] == [9]
    assert (table.version, table.connection_table_size) == ("1.2.3", 4096)
    assert table.warnings == (
        "skipped a real server message of tcp:10.0.0.1:80: attribute 2 at byte 376 claims "
        "336 bytes; 312 are left",
        "skipped a real server message of tcp:10.0.0.1:81: unknown forwarding method 6",
        "IPVS command 8: dropped the rest of a datagram: netlink message at byte 712 claims "
        "396 bytes; the datagram has 1068",
    )
    assert reader.fast_path_messages == 3  # 2 services, good[0]; after the cut one: walked
    reader.close()
    reader.kernel_end.close()


def test_read_table_fast_and_generic_alike():
    def datagrams():
        services = [service_message(IPVS_SVC_ATTR_PORT=80 + i, seq=101) for i in range(3)]
        out = [b"".join(services) + done(101)]
        for i in range(3):
            dests = [dest_message(IPVS_DEST_ATTR_ADDR=addr(f"10.0.{i}.{r}"),
                                  IPVS_DEST_ATTR_WEIGHT=r, seq=102 + i) for r in range(1, 5)]
            out += [b"".join(dests), done(102 + i)]
        return [*out, done(105, kind=2)]

    fast = scripted_reader(datagrams())
    walked = scripted_reader(datagrams())
    walked.fast_path = False
    tables = [reader.read_table() for reader in (fast, walked)]
    assert [reader.fast_path_messages for reader in (fast, walked)] == [3 + 12, 0]
    assert dataclasses.replace(tables[0], read_at_seconds=0) == dataclasses.replace(
        tables[1], read_at_seconds=0)
    assert sum(len(svc.real_servers) for svc in tables[0].services) == 12
    for reader in (fast, walked):
        reader.close()
        reader.kernel_end.close()


# --- framing, info, requests --------------------------------------------------------------


def test_several_messages_in_one_datagram_then_done():
    done = struct.pack("=IHHIIi", 20, nl.NLMSG_DONE, NLM_F_MULTI, 7, 0, 0)
    data = service_message() + dest_message() + done
    kinds = [(kind, seq) for kind, _f, seq, _s, _e in netlink.messages(data)]
    assert kinds == [(FAMILY_ID, 7), (FAMILY_ID, 7), (nl.NLMSG_DONE, 7)]


def test_a_cut_message_or_attribute_is_malformed():
    data = dest_message()
    with pytest.raises(nl.Malformed, match="netlink message at byte 0 claims 356 bytes"):
        list(netlink.messages(data[:-8]))
    with pytest.raises(nl.Malformed, match="header cut short"):
        nl.genl_attributes(b"\x05", 0, 1, nl.CMD_NEW_DEST, "a dump")
    with pytest.raises(nl.Malformed, match="command 1 in a dump"):
        nl.genl_attributes(service_message(), 16, len(service_message()), nl.CMD_NEW_DEST,
                           "a dump")


def test_info_reply():
    data = encode(
        info_msg(),
        nl.CMD_SET_INFO,
        [("IPVS_INFO_ATTR_VERSION", 0x010201), ("IPVS_INFO_ATTR_CONN_TAB_SIZE", 4096)],
    )
    assert nl.decode_info(*body_of(data)) == ("1.2.1", 4096)


def test_requests_decode_with_pyroute2():
    """The bytes lvsmon sends, read back by pyroute2: header, command and attributes."""
    key = ServiceKey("udp", "inet6", "2001:db8::53", 53)
    data = nl.request_bytes(FAMILY_ID, nl.CMD_GET_DEST, nl.NLM_F_REQUEST | nl.NLM_F_DUMP, 42,
                            nl.identity_of(key, socket.AF_INET6))  # fmt: skip
    msg = ipvsmsg(data)
    msg.decode()
    assert msg["header"]["length"] == len(data)
    assert msg["header"]["type"] == FAMILY_ID
    assert msg["header"]["flags"] == nl.NLM_F_REQUEST | nl.NLM_F_DUMP
    assert msg["header"]["sequence_number"] == 42
    assert (msg["cmd"], msg["version"]) == (nl.CMD_GET_DEST, 1)
    service = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
    assert service.get_attr("IPVS_SVC_ATTR_AF") == socket.AF_INET6
    assert service.get_attr("IPVS_SVC_ATTR_PROTOCOL") == socket.IPPROTO_UDP
    assert service.get_attr("IPVS_SVC_ATTR_ADDR") == "2001:db8::53"
    assert service.get_attr("IPVS_SVC_ATTR_PORT") == 53


def test_kernel_errors_become_lvsmon_errors():
    assert isinstance(nl._kernel_error(errno.EPERM, "x"), PermissionDenied)
    assert isinstance(nl._kernel_error(errno.EACCES, "x"), PermissionDenied)
    assert "CAP_NET_ADMIN" in str(nl._kernel_error(errno.EPERM, "reading"))
    assert isinstance(nl._kernel_error(errno.ESRCH, "x"), NotFound)


def test_warnings_list_a_few_and_count_the_rest():
    warnings = nl._Warnings()
    for i in range(nl.MAX_LISTED_WARNINGS + 5):
        warnings.add(f"w{i}")
    listed = warnings.as_tuple()
    assert listed[: nl.MAX_LISTED_WARNINGS] == tuple(f"w{i}" for i in range(10))
    assert listed[-1] == "5 more warnings like these"


@pytest.mark.skipif(
    os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS (tests/vm covers it)"
)
def test_kernel_without_ipvs_says_so():
    """The real generic netlink controller of this kernel answers: no family IPVS."""
    with pytest.raises(IpvsUnavailable) as caught, nl.IpvsNetlink():
        pass
    assert str(caught.value) == "no IPVS in this kernel: load the ip_vs module (modprobe ip_vs)"
