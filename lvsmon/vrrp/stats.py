"""Counters of what the codec accepted and rejected, owned by whoever reads the socket."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from lvsmon.model import Advert
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.vrrp import DecodeCounts
from lvsmon.vrrp import codec
from lvsmon.vrrp.codec import VrrpDecodeError


class DecodeStats:
    """Adverts decoded, packets rejected by reason, anomalies seen in decoded adverts.

    Either call ``decode_ipv4`` / ``decode_ipv6`` (they count and return None for
    a rejected packet, keeping the error in ``last_error``), or decode yourself
    and call ``accepted`` / ``rejected``. Not thread-safe: one owner, one loop.
    """

    def __init__(self) -> None:
        self.decoded = 0
        self.rejected_by_reason: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()
        self.last_error: VrrpDecodeError | None = None

    def accepted(self, advert: Advert) -> Advert:
        self.decoded += 1
        self.anomalies.update(advert.anomalies)
        return advert

    def rejected(self, error: VrrpDecodeError) -> None:
        self.rejected_by_reason[error.reason] += 1
        self.last_error = error

    def decode_ipv4(self, data: bytes) -> Advert | None:
        try:
            return self.accepted(codec.decode_ipv4_packet(data))
        except VrrpDecodeError as error:
            self.rejected(error)
            return None

    def decode_ipv6(
        self, payload: bytes, ancdata: Iterable[tuple[int, int, bytes]], address: tuple
    ) -> Advert | None:
        try:
            return self.accepted(codec.decode_ipv6_recvmsg(payload, ancdata, address))
        except VrrpDecodeError as error:
            self.rejected(error)
            return None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected_by_reason.values())

    def snapshot(self) -> DecodeCounts:
        """Frozen counts for the daemon's state: every reason listed, zero or not."""
        return DecodeCounts(
            decoded=self.decoded,
            rejected=FrozenDict(
                {reason: self.rejected_by_reason[reason] for reason in codec.REJECT_REASONS}
            ),
            anomalies=FrozenDict(self.anomalies),
        )
