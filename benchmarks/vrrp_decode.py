"""Decode rate of valid VRRP adverts, against a floor measured in the same run.

Run from the repo root: `python -m benchmarks.vrrp_decode [--count N]`.
For each kind of advert the observer meets, prints adverts decoded per second
and the ratio to the floor: the same loop doing one `struct.unpack_from` of
the fixed headers (IPv4 header + VRRP header, or VRRP header for IPv6) and
nothing else: no checks, no checksum, no address text, no object. The ratio
says what share of that bare minimum the full decoder keeps. If scapy is
installed its parse of the same bytes is printed too, as an independent
decoder to compare with.
"""

import argparse
import struct
import time

from lvsmon.vrrp import codec

HEADERS4 = struct.Struct("!BxHHHBBH4s4sBBBBHH")
HEADER6 = struct.Struct("!BBBBHH")


def kinds() -> dict[str, tuple[str, bytes]]:
    """name -> (family, bytes as the raw socket delivers them)."""
    three = ["10.0.0.100", "10.0.0.101", "10.0.0.102"]
    v2 = codec.encode_advert(
        version=2, vrid=51, priority=150, addresses=three, source="10.0.0.1",
        auth_type="simple", auth_data="secret",
    )  # fmt: skip
    v3 = codec.encode_advert(vrid=52, priority=150, addresses=three, source="10.0.0.1")
    # The last form tried costs the most: three checksums.
    old = codec.encode_advert(
        vrid=53, priority=150, addresses=three, source="10.0.0.1", destination="10.0.0.2",
        checksum_form="keepalived_old_unicast",
    )  # fmt: skip
    v6 = codec.encode_advert(
        vrid=54, priority=150, addresses=["2001:db8::1", "2001:db8::2"], source="fe80::1"
    )
    return {
        "v2 IPv4, PASS auth, 3 VIPs": ("inet", codec.encode_ipv4_packet(v2, source="10.0.0.1")),
        "v3 IPv4 multicast, 3 VIPs": ("inet", codec.encode_ipv4_packet(v3, source="10.0.0.1")),
        "v3 IPv4 unicast, old keepalived checksum": (
            "inet",
            codec.encode_ipv4_packet(old, source="10.0.0.1", destination="10.0.0.2"),
        ),
        "v3 IPv6, 2 VIPs": ("inet6", v6),
    }


def rate(fn, data, count: int, repeat: int = 3) -> float:
    """Best-of calls per second of fn(data) in a plain loop."""
    best = float("inf")
    loop = range(count)
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in loop:
            fn(data)
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="decodes per timing")
    args = parser.parse_args()
    try:
        from scapy.layers.inet import IP
        from scapy.layers.vrrp import VRRPv3  # noqa: F401  (binds VRRP to IP protocol 112)
    except ImportError:
        IP = None

    def decode6(payload):
        return codec.decode_ipv6_payload(payload, "fe80::1", "ff02::12", 255)

    print(f"{'advert':<42} {'adverts/s':>10} {'floor/s':>10} {'ratio':>6}")
    for name, (family, data) in kinds().items():
        if family == "inet":
            decode, floor = codec.decode_ipv4_packet, HEADERS4.unpack_from
        else:
            decode, floor = decode6, HEADER6.unpack_from
        ours, bare = rate(decode, data, args.count), rate(floor, data, args.count)
        print(f"{name:<42} {ours:>10,.0f} {bare:>10,.0f} {ours / bare:>5.2f}x")
        if IP is not None and family == "inet":
            theirs = rate(IP, data, max(args.count // 50, 100), repeat=1)
            print(f"{'  scapy IP() parse of the same bytes':<42} {theirs:>10,.0f}"
                  f" {'':>10} ours {ours / theirs:.0f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
