"""VRRP adverts as the observer gets them: encoded by lvsmon's codec, then decoded again.

    packet = advert("10.0.0.1", 150, vrid=51)                  # an Advert over IPv4
    packet = advert("fe80::1", 150, vips=("fd00::100",))       # over IPv6 (from the source)
    segment.advert(packet, now)                                # feed lvsmon.vrrp.segment
    send(segment, "10.0.0.1", 150, steps(0, 10))               # one advert a second, 0..10

For tests and benchmarks that drive the observer's logic without a wire.
"""

from __future__ import annotations

from lvsmon.model import Advert
from lvsmon.vrrp import codec

VIP = ("10.0.0.100",)


def advert(source: str, priority: int, *, vips: tuple[str, ...] = VIP, interval_cs: int = 100,
           version: int = 3, password: str | None = None, ttl: int = 255, corrupt: bool = False,
           vrid: int = 7) -> Advert:
    """Build the packet a router would send, and decode it as the observer does."""
    auth = {"auth_type": "simple", "auth_data": password} if password is not None else {}
    ipv6 = ":" in source
    destination = codec.VRRP_GROUP6 if ipv6 else None
    message = codec.encode_advert(
        vrid=vrid, priority=priority, addresses=vips, source=source, version=version,
        advert_interval_centiseconds=interval_cs, destination=destination, **auth,
    )  # fmt: skip
    if corrupt:
        message = message[:6] + bytes([message[6] ^ 0xFF]) + message[7:]
    if ipv6:
        return codec.decode_ipv6_payload(message, source, destination, ttl)
    return codec.decode_ipv4_packet(codec.encode_ipv4_packet(message, source=source, ttl=ttl))


def send(segment, source: str, priority: int, times, **kwargs) -> None:
    """The same advert from `source` at each of `times` (keywords as for advert())."""
    packet = advert(source, priority, **kwargs)
    for now in times:
        segment.advert(packet, now)


def steps(start: float, stop: float, step: float = 1.0) -> list[float]:
    """start, start + step, ... stop (both included)."""
    count = round((stop - start) / step)
    return [start + i * step for i in range(count + 1)]
