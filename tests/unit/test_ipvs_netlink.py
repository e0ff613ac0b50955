"""Netlink message -> model, on real encoded messages.

The kernel-shaped messages are encoded with pyroute2's IPVS message classes
(an encoder independent of lvsmon's decoder), laid out as
ip_vs_genl_fill_service()/ip_vs_genl_fill_dest() send them: 16-byte address
unions, big-endian ports, the IPv4 netmask in network order and the IPv6
prefix length in host order, STATS and STATS64 nests. The bytes then go through
lvsmon's decoder as if read from the socket. The live reader is tested against
a real IPVS kernel in tests/vm.
"""

import errno
import os
import socket
import struct

import pytest
from pyroute2.netlink import NLM_F_MULTI, genlmsg
from pyroute2.netlink.generic.ipvs import ipvsmsg

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


def service_message(**over) -> bytes:
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
    return encode(kernel_ipvsmsg(), nl.CMD_NEW_SERVICE, [nest])


def dest_message(**over) -> bytes:
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
    return encode(kernel_ipvsmsg(), nl.CMD_NEW_DEST, [("IPVS_CMD_ATTR_DEST", {"attrs": pairs})])


def decode_one(data: bytes) -> tuple[int, dict]:
    """As IpvsNetlink does with a datagram: one message of our family -> (cmd, attrs)."""
    (message,) = list(nl.iter_messages(data))
    kind, flags, seq, payload = message
    assert (kind, flags, seq) == (FAMILY_ID, NLM_F_MULTI, 7)
    return nl.parse_genl(payload)


def decode_service(data: bytes, warn=None):
    cmd, attrs = decode_one(data)
    assert cmd == nl.CMD_NEW_SERVICE
    return nl.service_from_attrs(nl.nested(attrs, nl.CMD_ATTR_SERVICE, "service"), warn)


def decode_dest(data: bytes, service_af=socket.AF_INET) -> RealServer:
    cmd, attrs = decode_one(data)
    assert cmd == nl.CMD_NEW_DEST
    return nl.real_server_from_attrs(nl.nested(attrs, nl.CMD_ATTR_DEST, "dest"), service_af)


# --- services -----------------------------------------------------------------------------


def test_ipv4_tcp_service_with_64_bit_stats():
    entry = decode_service(service_message())
    svc = entry.service
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
    svc = decode_service(service_message(IPVS_SVC_ATTR_STATS64=None)).service
    assert svc.stats == Counters(1, 0, 5, 2**62, 123)
    assert svc.rates == Counters(10, 20, 30, 40_000, 50_000)


def test_no_stats_at_all_is_unknown():
    svc = decode_service(service_message(IPVS_SVC_ATTR_STATS64=None, IPVS_SVC_ATTR_STATS=None))
    assert svc.service.stats == Counters() and svc.service.rates == Counters()


@pytest.mark.parametrize(("number", "name"), [(17, "udp"), (132, "sctp")])
def test_udp_and_sctp(number, name):
    svc = decode_service(service_message(IPVS_SVC_ATTR_PROTOCOL=number)).service
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
    ).service
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
    ).service
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
    ).service
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
    assert entry.service.key == ServiceKey("fwm", "inet", fwmark=7)
    assert entry.service.flags == ("hashed", "onepacket", "mh-fallback")
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
        ({"IPVS_SVC_ATTR_PROTOCOL": 1}, "unknown protocol 1"),
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


# --- framing, info, requests --------------------------------------------------------------


def test_several_messages_in_one_datagram_then_done():
    done = struct.pack("=IHHIIi", 20, nl.NLMSG_DONE, NLM_F_MULTI, 7, 0, 0)
    data = service_message() + dest_message() + done
    kinds = [(kind, seq) for kind, _f, seq, _p in nl.iter_messages(data)]
    assert kinds == [(FAMILY_ID, 7), (FAMILY_ID, 7), (nl.NLMSG_DONE, 7)]


def test_a_cut_message_or_attribute_is_malformed():
    data = dest_message()
    with pytest.raises(nl.Malformed, match="netlink message of"):
        list(nl.iter_messages(data[:-8]))
    cmd, attrs = nl.parse_genl(list(nl.iter_messages(data))[0][3])
    nest = attrs[nl.CMD_ATTR_DEST]
    with pytest.raises(nl.Malformed, match="overruns"):
        nl.parse_attrs(nest[:-3])
    with pytest.raises(nl.Malformed, match="of 2 bytes"):
        nl.parse_attrs(b"\x02\x00\x01\x00")
    with pytest.raises(nl.Malformed, match="header cut short"):
        nl.parse_genl(b"\x01")


def test_info_reply():
    data = encode(
        info_msg(),
        nl.CMD_SET_INFO,
        [("IPVS_INFO_ATTR_VERSION", 0x010201), ("IPVS_INFO_ATTR_CONN_TAB_SIZE", 4096)],
    )
    cmd, attrs = decode_one(data)
    assert cmd == nl.CMD_SET_INFO
    assert nl.info_from_attrs(attrs) == ("1.2.1", 4096)


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
