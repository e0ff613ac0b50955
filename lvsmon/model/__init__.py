"""The vocabulary every part of lvsmon shares.

Sources (lvsmon.ipvs, lvsmon.vrrp, lvsmon.snat, lvsmon.keepalived) build these frozen snapshots;
frontends only read them. Words follow ipvsadm, keepalived and the RFCs; units are
in the names. ``None`` always means "this source cannot know", never zero. One
module per area; everything is importable from ``lvsmon.model`` itself.
"""

from lvsmon.model.addresses import family_of, join_host_port, split_host_port
from lvsmon.model.ipvs import (
    FORWARD_METHODS,
    UNKNOWN_COUNTERS,
    Counters,
    IpvsTable,
    RealServer,
    ServiceKey,
    VirtualService,
)
from lvsmon.model.keepalived import (
    Checker,
    ConfiguredRealServer,
    ConfiguredVirtualServer,
    GroupMember,
    KeepalivedConf,
    SorryServer,
    TrackFile,
    TrackScript,
    Vip,
    VirtualServerGroup,
    VrrpInstance,
    VrrpSyncGroup,
)
from lvsmon.model.snat import SnatConnection
from lvsmon.model.vrrp import Advert

__all__ = [
    "FORWARD_METHODS",
    "UNKNOWN_COUNTERS",
    "Advert",
    "Checker",
    "ConfiguredRealServer",
    "ConfiguredVirtualServer",
    "Counters",
    "GroupMember",
    "IpvsTable",
    "KeepalivedConf",
    "RealServer",
    "ServiceKey",
    "SnatConnection",
    "SorryServer",
    "TrackFile",
    "TrackScript",
    "VirtualServerGroup",
    "VirtualService",
    "Vip",
    "VrrpInstance",
    "VrrpSyncGroup",
    "family_of",
    "join_host_port",
    "split_host_port",
]
