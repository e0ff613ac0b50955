"""VRRP as heard on the wire: one decoded advertisement."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP advertisement as heard on the wire (decoded by lvsmon.vrrp.codec).

    Words follow RFC 3768 (VRRPv2) and RFC 5798 (VRRPv3). Adverts that break
    a MUST of the RFC but can still be read (TTL not 255, bad checksum) are
    kept, with the anomaly visible in ``ttl_ok`` / ``checksum_ok``: an observer
    reports them instead of silently dropping them as a router would.
    """

    version: int  # 2 (RFC 3768) or 3 (RFC 5798)
    vrid: int
    priority: int  # 0: the master is releasing; 255: the address owner
    addresses: tuple[str, ...]  # the virtual addresses, in packet order
    family: str  # "inet" / "inet6"
    # v2 sends whole seconds, v3 centiseconds (12 bits); both stored exactly here.
    advert_interval_centiseconds: int
    source: str  # IP source: the sending router's primary address
    destination: str  # 224.0.0.18 / ff02::12, or a unicast peer
    ttl: int  # IPv4 TTL or IPv6 hop limit; the RFCs require 255
    checksum: int  # as received
    # Which computation the checksum matched (see lvsmon.vrrp.codec.CHECKSUM_FORMS);
    # None: it matched none of them.
    checksum_form: str | None
    auth_type: str | None = None  # v2 only: "none", "simple", "ah", or "unknown-<n>"
    auth_data: bytes = b""  # v2 only: the 8 bytes as received

    @property
    def advert_interval_seconds(self) -> float:
        return self.advert_interval_centiseconds / 100

    @property
    def ttl_ok(self) -> bool:
        return self.ttl == 255

    @property
    def checksum_ok(self) -> bool:
        return self.checksum_form is not None

    @property
    def password(self) -> str | None:
        """The v2 simple-text password (auth type 1), without its zero padding."""
        if self.auth_type != "simple":
            return None
        return self.auth_data.rstrip(b"\0").decode("latin-1")

    @property
    def anomalies(self) -> tuple[str, ...]:
        """What is wrong with this advert though it could be read."""
        found = []
        if not self.ttl_ok:
            found.append("bad_ttl")
        if not self.checksum_ok:
            found.append("bad_checksum")
        return tuple(found)
