"""The vocabulary every part of lvsmon shares.

Sources (lvsmon.ipvs, lvsmon.vrrp, lvsmon.snat) build these frozen snapshots;
frontends only read them. Words follow ipvsadm, keepalived and the RFCs; units are
in the names. ``None`` always means "this source cannot know", never zero. One
module per area; everything is importable from ``lvsmon.model`` itself.
"""

from lvsmon.model.addresses import family_of, join_host_port
from lvsmon.model.ipvs import (
    FORWARD_METHODS,
    UNKNOWN_COUNTERS,
    Counters,
    IpvsTable,
    RealServer,
    ServiceKey,
    VirtualService,
)
from lvsmon.model.snat import SnatConnection
from lvsmon.model.vrrp import Advert

__all__ = [
    "FORWARD_METHODS",
    "UNKNOWN_COUNTERS",
    "Advert",
    "Counters",
    "IpvsTable",
    "RealServer",
    "ServiceKey",
    "SnatConnection",
    "VirtualService",
    "family_of",
    "join_host_port",
]
