"""VRRPV3-MIB (RFC 6527, with errata 4168 and 5086) as facts: names, numbers and types.

The IETF's module text stays out of this repository; operators load the standard
module from their own MIB collection. The checker needs only where each object sits,
its syntax, its access and its index, which are listed here as a Module like the
parser makes, so every check treats it as it treats a parsed file. Written from the RFC.
"""

from __future__ import annotations

from lvsmon_snmp.mib.smi import OBJECT_IDENTIFIER, Definition, Module, Syntax

MODULE_NAME = "VRRPV3-MIB"
ROOT = (1, 3, 6, 1, 2, 1, 207)  # vrrpv3MIB ::= { mib-2 207 }

_TRUTH = Syntax("TruthValue")
_INET_ADDRESS = Syntax("InetAddress")
_COUNTER64 = Syntax("Counter64")
_OPS_INDEX = ("ifIndex", "vrrpv3OperationsVrId", "vrrpv3OperationsInetAddrType")

# (name, macro, parent, sub-identifier, syntax, access, index)
_FACTS: tuple[tuple, ...] = (
    ("vrrpv3MIB", "MODULE-IDENTITY", "mib-2", 207, None, None, ()),
    ("Vrrpv3VrIdTC", "TEXTUAL-CONVENTION", None, None, Syntax("Integer32", (), "1..255"),
     None, ()),
    ("vrrpv3Notifications", OBJECT_IDENTIFIER, "vrrpv3MIB", 0, None, None, ()),
    ("vrrpv3Objects", OBJECT_IDENTIFIER, "vrrpv3MIB", 1, None, None, ()),
    ("vrrpv3Conformance", OBJECT_IDENTIFIER, "vrrpv3MIB", 2, None, None, ()),
    ("vrrpv3Operations", OBJECT_IDENTIFIER, "vrrpv3Objects", 1, None, None, ()),
    ("vrrpv3Statistics", OBJECT_IDENTIFIER, "vrrpv3Objects", 2, None, None, ()),
    # the operations table
    ("vrrpv3OperationsTable", "OBJECT-TYPE", "vrrpv3Operations", 1,
     Syntax("SEQUENCE OF Vrrpv3OperationsEntry"), "not-accessible", ()),
    ("vrrpv3OperationsEntry", "OBJECT-TYPE", "vrrpv3OperationsTable", 1,
     Syntax("Vrrpv3OperationsEntry"), "not-accessible", _OPS_INDEX),
    ("vrrpv3OperationsVrId", "OBJECT-TYPE", "vrrpv3OperationsEntry", 1,
     Syntax("Vrrpv3VrIdTC"), "not-accessible", ()),
    ("vrrpv3OperationsInetAddrType", "OBJECT-TYPE", "vrrpv3OperationsEntry", 2,
     Syntax("InetAddressType"), "not-accessible", ()),
    ("vrrpv3OperationsMasterIpAddr", "OBJECT-TYPE", "vrrpv3OperationsEntry", 3,
     _INET_ADDRESS, "read-only", ()),
    ("vrrpv3OperationsPrimaryIpAddr", "OBJECT-TYPE", "vrrpv3OperationsEntry", 4,
     _INET_ADDRESS, "read-create", ()),
    ("vrrpv3OperationsVirtualMacAddr", "OBJECT-TYPE", "vrrpv3OperationsEntry", 5,
     Syntax("MacAddress"), "read-only", ()),
    ("vrrpv3OperationsStatus", "OBJECT-TYPE", "vrrpv3OperationsEntry", 6,
     Syntax("INTEGER", (("initialize", 1), ("backup", 2), ("master", 3))), "read-only", ()),
    ("vrrpv3OperationsPriority", "OBJECT-TYPE", "vrrpv3OperationsEntry", 7,
     Syntax("Unsigned32", (), "0..255"), "read-create", ()),
    ("vrrpv3OperationsAddrCount", "OBJECT-TYPE", "vrrpv3OperationsEntry", 8,
     Syntax("Integer32", (), "0..255"), "read-only", ()),
    ("vrrpv3OperationsAdvInterval", "OBJECT-TYPE", "vrrpv3OperationsEntry", 9,
     Syntax("TimeInterval", (), "1..4095"), "read-create", ()),
    ("vrrpv3OperationsPreemptMode", "OBJECT-TYPE", "vrrpv3OperationsEntry", 10,
     _TRUTH, "read-create", ()),
    ("vrrpv3OperationsAcceptMode", "OBJECT-TYPE", "vrrpv3OperationsEntry", 11,
     _TRUTH, "read-create", ()),
    ("vrrpv3OperationsUpTime", "OBJECT-TYPE", "vrrpv3OperationsEntry", 12,
     Syntax("TimeTicks"), "read-only", ()),
    ("vrrpv3OperationsRowStatus", "OBJECT-TYPE", "vrrpv3OperationsEntry", 13,
     Syntax("RowStatus"), "read-create", ()),
    # the associated addresses
    ("vrrpv3AssociatedIpAddrTable", "OBJECT-TYPE", "vrrpv3Operations", 2,
     Syntax("SEQUENCE OF Vrrpv3AssociatedIpAddrEntry"), "not-accessible", ()),
    ("vrrpv3AssociatedIpAddrEntry", "OBJECT-TYPE", "vrrpv3AssociatedIpAddrTable", 1,
     Syntax("Vrrpv3AssociatedIpAddrEntry"), "not-accessible",
     (*_OPS_INDEX, "vrrpv3AssociatedIpAddrAddress")),
    ("vrrpv3AssociatedIpAddrAddress", "OBJECT-TYPE", "vrrpv3AssociatedIpAddrEntry", 1,
     Syntax("InetAddress", (), "SIZE(0|4|16)"), "not-accessible", ()),
    ("vrrpv3AssociatedIpAddrRowStatus", "OBJECT-TYPE", "vrrpv3AssociatedIpAddrEntry", 2,
     Syntax("RowStatus"), "read-create", ()),
    # router-wide statistics
    ("vrrpv3RouterChecksumErrors", "OBJECT-TYPE", "vrrpv3Statistics", 1, _COUNTER64,
     "read-only", ()),
    ("vrrpv3RouterVersionErrors", "OBJECT-TYPE", "vrrpv3Statistics", 2, _COUNTER64,
     "read-only", ()),
    ("vrrpv3RouterVrIdErrors", "OBJECT-TYPE", "vrrpv3Statistics", 3, _COUNTER64,
     "read-only", ()),
    ("vrrpv3GlobalStatisticsDiscontinuityTime", "OBJECT-TYPE", "vrrpv3Statistics", 4,
     Syntax("TimeStamp"), "read-only", ()),
    # per virtual router statistics (AUGMENTS the operations entry)
    ("vrrpv3StatisticsTable", "OBJECT-TYPE", "vrrpv3Statistics", 5,
     Syntax("SEQUENCE OF Vrrpv3StatisticsEntry"), "not-accessible", ()),
    ("vrrpv3StatisticsEntry", "OBJECT-TYPE", "vrrpv3StatisticsTable", 1,
     Syntax("Vrrpv3StatisticsEntry"), "not-accessible", ()),
    ("vrrpv3StatisticsMasterTransitions", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 1,
     Syntax("Counter32"), "read-only", ()),
    ("vrrpv3StatisticsNewMasterReason", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 2,
     Syntax("INTEGER", (("notMaster", 0), ("priority", 1), ("preempted", 2),
                        ("masterNoResponse", 3))), "read-only", ()),
    ("vrrpv3StatisticsRcvdAdvertisements", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 3,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsAdvIntervalErrors", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 4,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsIpTtlErrors", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 5,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsProtoErrReason", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 6,
     Syntax("INTEGER", (("noError", 0), ("ipTtlError", 1), ("versionError", 2),
                        ("checksumError", 3), ("vrIdError", 4))), "read-only", ()),
    ("vrrpv3StatisticsRcvdPriZeroPackets", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 7,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsSentPriZeroPackets", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 8,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsRcvdInvalidTypePackets", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 9,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsAddressListErrors", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 10,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsPacketLengthErrors", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 11,
     _COUNTER64, "read-only", ()),
    ("vrrpv3StatisticsRowDiscontinuityTime", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 12,
     Syntax("TimeStamp"), "read-only", ()),
    ("vrrpv3StatisticsRefreshRate", "OBJECT-TYPE", "vrrpv3StatisticsEntry", 13,
     Syntax("Unsigned32"), "read-only", ()),
    # notifications
    ("vrrpv3NewMaster", "NOTIFICATION-TYPE", "vrrpv3Notifications", 1, None, None,
     ("vrrpv3OperationsMasterIpAddr", "vrrpv3StatisticsNewMasterReason")),
    ("vrrpv3ProtoError", "NOTIFICATION-TYPE", "vrrpv3Notifications", 2, None, None,
     ("vrrpv3StatisticsProtoErrReason",)),
)
_IMPORTS = {
    "mib-2": "SNMPv2-SMI", "Integer32": "SNMPv2-SMI", "Unsigned32": "SNMPv2-SMI",
    "Counter32": "SNMPv2-SMI", "Counter64": "SNMPv2-SMI", "TimeTicks": "SNMPv2-SMI",
    "RowStatus": "SNMPv2-TC", "MacAddress": "SNMPv2-TC", "TruthValue": "SNMPv2-TC",
    "TimeStamp": "SNMPv2-TC", "TimeInterval": "SNMPv2-TC", "ifIndex": "IF-MIB",
    "InetAddressType": "INET-ADDRESS-MIB", "InetAddress": "INET-ADDRESS-MIB",
}  # fmt: skip


def module() -> Module:
    """VRRPV3-MIB's objects as a parsed Module (path "RFC 6527")."""
    found = Module(MODULE_NAME, "RFC 6527", imports=dict(_IMPORTS))
    for name, macro, parent, subid, syntax, access, extra in _FACTS:
        definition = Definition(name, macro, 0, module=MODULE_NAME, syntax=syntax,
                                access=access, status="current")
        if parent is not None:
            definition.oid_value = ((parent, None), (None, subid))
        if macro == "NOTIFICATION-TYPE":
            definition.members = extra
        else:
            definition.index = extra
        found.definitions[name] = definition
    found.definitions["vrrpv3StatisticsEntry"].augments = "vrrpv3OperationsEntry"
    for entry in ("vrrpv3OperationsEntry", "vrrpv3AssociatedIpAddrEntry",
                  "vrrpv3StatisticsEntry"):
        columns = tuple(name for name, _macro, parent, *_ in _FACTS if parent == entry)
        sequence = entry[0].upper() + entry[1:]  # the entry's SEQUENCE type, as the RFC names it
        found.definitions[sequence] = Definition(sequence, "SEQUENCE", 0, module=MODULE_NAME,
                                                 members=columns)
    return found
