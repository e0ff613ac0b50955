"""Send hand-made VRRP adverts (bad TTL, bad checksum, forged sources) on a lab interface.

    python -m tests.lab.vrrp_sender IFACE SECONDS SPEC_JSON

SPEC_JSON is a list of adverts, each a dict with family ("inet"/"inet6"), source, vrid,
priority, vips, and optional ttl (255), interval_cs (20), corrupt (false). All are sent
every interval until SECONDS pass. IPv4 goes out with IP_HDRINCL, so the source may be
forged; IPv6 is sent from the given (own) source with the hop limit as TTL.
Runs only inside a lab namespace.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

from lvsmon.vrrp import codec


def build(spec: dict) -> bytes:
    message = codec.encode_advert(
        vrid=spec["vrid"],
        priority=spec["priority"],
        addresses=spec["vips"],
        source=spec["source"],
        advert_interval_centiseconds=spec.get("interval_cs", 20),
    )
    if spec.get("corrupt"):
        message = message[:6] + bytes([message[6] ^ 0x5A]) + message[7:]
    if spec["family"] == "inet6":
        return message
    return codec.encode_ipv4_packet(message, source=spec["source"], ttl=spec.get("ttl", 255))


def ipv4_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    request = bytes(8) + struct.pack("@i", socket.if_nametoindex(ifname))  # ip_mreqn
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, request)
    return sock


def ipv6_socket(ifname: str, spec: dict) -> socket.socket:
    index = socket.if_nametoindex(ifname)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, codec.IPPROTO_VRRP)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, spec.get("ttl", 255))
    sock.bind((spec["source"], 0, 0, index))
    return sock


def main(ifname: str, seconds: float, specs: list[dict]) -> None:
    index = socket.if_nametoindex(ifname)
    plan = []
    for spec in specs:
        if spec["family"] == "inet6":
            plan.append((ipv6_socket(ifname, spec), build(spec), (codec.VRRP_GROUP6, 0, 0, index)))
        else:
            plan.append((ipv4_socket(ifname), build(spec), (codec.VRRP_GROUP4, 0)))
    interval = min(spec.get("interval_cs", 20) for spec in specs) / 100
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sock, packet, destination in plan:
            sock.sendto(packet, destination)
        time.sleep(interval)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]))
