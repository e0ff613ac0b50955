"""The codec decodes what a real keepalived sends, heard by raw sockets in a lab namespace.

One keepalived runs five instances on one segment: VRRPv2 with auth_type PASS,
VRRPv3 over IPv4 (0.5 s interval, two VIPs), VRRPv3 over IPv6, and two VRRPv3
unicast instances aimed at the listener, one with keepalived's
`old_unicast_checksum` (the third checksum form).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

from lvsmon.vrrp import codec
from tests.lab.keepalived import spawn_keepalived

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ROUTER4, LISTENER4 = "10.20.0.11", "10.20.0.30"

KEEPALIVED_CONF = f"""\
global_defs {{
    router_id codec-lab
}}
vrrp_instance V2PASS {{
    state MASTER
    interface eth0
    virtual_router_id 51
    version 2
    priority 150
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass secret12
    }}
    virtual_ipaddress {{
        10.20.0.100/24 dev eth0
    }}
}}
vrrp_instance V3V4 {{
    state MASTER
    interface eth0
    virtual_router_id 52
    version 3
    priority 120
    advert_int 0.5
    virtual_ipaddress {{
        10.20.0.101/24 dev eth0
        10.20.0.102/24 dev eth0
    }}
}}
vrrp_instance V3V6 {{
    state MASTER
    interface eth0
    virtual_router_id 53
    version 3
    priority 110
    advert_int 1
    virtual_ipaddress {{
        fd00:20::100/64 dev eth0
    }}
}}
vrrp_instance V3UNICAST {{
    state MASTER
    interface eth0
    virtual_router_id 54
    version 3
    priority 130
    advert_int 1
    unicast_src_ip {ROUTER4}
    unicast_peer {{
        {LISTENER4}
    }}
    virtual_ipaddress {{
        10.20.0.103/24 dev eth0
    }}
}}
vrrp_instance V3OLDSUM {{
    state MASTER
    interface eth0
    virtual_router_id 55
    version 3
    priority 140
    advert_int 1
    old_unicast_checksum
    unicast_src_ip {ROUTER4}
    unicast_peer {{
        {LISTENER4}
    }}
    virtual_ipaddress {{
        10.20.0.104/24 dev eth0
    }}
}}
"""
WANTED = {51, 52, 53, 54, 55}


def listen(ifname: str, wanted: list[int], seconds: float) -> None:
    """Runs in the listener namespace: print each VRRP packet heard, raw, as JSON lines.

    Stops when every wanted VRID was heard twice, or after `seconds`.
    """
    ifindex = socket.if_nametoindex(ifname)
    v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, codec.IPPROTO_VRRP)
    group4 = socket.inet_aton(codec.VRRP_GROUP4)
    v4.setsockopt(
        socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group4 + struct.pack("@4xi", ifindex)
    )
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, codec.IPPROTO_VRRP)
    group6 = socket.inet_pton(socket.AF_INET6, codec.VRRP_GROUP6)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group6 + struct.pack("@I", ifindex))
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    heard: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(heard.get(v, 0) >= 2 for v in wanted):
        ready, _, _ = select.select([v4, v6], [], [], 0.2)
        for sock in ready:
            if sock is v4:
                data = sock.recv(65535)
                record = {"family": 4, "data": data.hex()}
                vrid = data[(data[0] & 0x0F) * 4 + 1] if len(data) > 21 else None
            else:
                data, anc, _flags, address = sock.recvmsg(65535, socket.CMSG_SPACE(64))
                record = {
                    "family": 6,
                    "data": data.hex(),
                    "anc": [[level, kind, value.hex()] for level, kind, value in anc],
                    "address": list(address),
                }
                vrid = data[1] if len(data) > 1 else None
            heard[vrid] = heard.get(vrid, 0) + 1
            print(json.dumps(record), flush=True)


def decode(record: dict):
    data = bytes.fromhex(record["data"])
    if record["family"] == 4:
        return codec.decode_ipv4_packet(data)
    anc = [(level, kind, bytes.fromhex(value)) for level, kind, value in record["anc"]]
    return codec.decode_ipv6_recvmsg(data, anc, tuple(record["address"]))


def test_keepalived_adverts_decode(lab):
    segment = lab.segment("vrrp")
    router, listener = lab.namespace("router"), lab.namespace("listener")
    segment.attach(router, [f"{ROUTER4}/24", "fd00:20::11/64"])
    segment.attach(listener, [f"{LISTENER4}/24", "fd00:20::30/64"])
    keepalived = spawn_keepalived(lab, router, KEEPALIVED_CONF, name="keepalived")

    code = (
        "import sys; from tests.lab.test_vrrp_codec_keepalived import listen; "
        "listen(sys.argv[1], [int(v) for v in sys.argv[2].split(',')], float(sys.argv[3]))"
    )
    vrids = ",".join(str(v) for v in sorted(WANTED))
    done = listener.run(
        ["env", f"PYTHONPATH={REPO}", sys.executable, "-c", code, "eth0", vrids, "20"],
        timeout=40,
    )
    keepalived.check_running()
    adverts = [decode(json.loads(line)) for line in done.stdout.splitlines()]
    by_vrid = {advert.vrid: advert for advert in adverts}
    assert set(by_vrid) == WANTED, keepalived.describe()
    for advert in adverts:
        assert advert.ttl_ok and advert.checksum_ok, advert

    v2 = by_vrid[51]
    assert (v2.version, v2.priority, v2.addresses) == (2, 150, ("10.20.0.100",))
    assert (v2.auth_type, v2.password) == ("simple", "secret12")
    assert v2.advert_interval_seconds == 1
    assert (v2.source, v2.destination, v2.checksum_form) == (ROUTER4, "224.0.0.18", "rfc3768")

    v3 = by_vrid[52]
    assert (v3.version, v3.priority) == (3, 120)
    assert set(v3.addresses) == {"10.20.0.101", "10.20.0.102"}
    assert v3.advert_interval_centiseconds == 50
    assert (v3.destination, v3.checksum_form) == ("224.0.0.18", "rfc5798")

    v6 = by_vrid[53]
    assert (v6.version, v6.family, v6.priority, v6.addresses) == (
        3,
        "inet6",
        110,
        ("fd00:20::100",),
    )
    assert v6.source.startswith("fe80:") and v6.destination == "ff02::12"
    assert v6.checksum_form == "rfc5798"

    unicast, old = by_vrid[54], by_vrid[55]
    assert (unicast.destination, unicast.checksum_form) == (LISTENER4, "rfc5798")
    assert (old.destination, old.checksum_form) == (LISTENER4, "keepalived_old_unicast")
    assert old.addresses == ("10.20.0.104",) and old.priority == 140
