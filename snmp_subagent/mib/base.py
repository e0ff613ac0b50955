"""What the IETF base modules define that our MIBs import, as facts (RFC 2578, 2579,
2580, 2863, 4001, 2856, and net-snmp's NET-SNMP-MIB for its playpen).

Debian ships none of these modules, so the checker knows the few symbols we import:
the OIDs of the well-known nodes, the base type of each textual convention, and the
one imported index object (IF-MIB's ifIndex).
"""

from __future__ import annotations

from lvsmon_snmp.mib.smi import Syntax

# SNMP base kinds a value is served as (the lead's index builder takes these words).
KINDS = ("Integer32", "Unsigned32", "Gauge32", "Counter32", "Counter64", "TimeTicks",
         "OctetString", "IpAddress", "ObjectIdentifier", "Opaque")  # fmt: skip

# Types that are not textual conventions: each maps to the kind it is served as.
PRIMITIVES = {
    "INTEGER": "Integer32", "Integer32": "Integer32", "Unsigned32": "Unsigned32",
    "Gauge32": "Gauge32", "Counter32": "Counter32", "Counter64": "Counter64",
    "TimeTicks": "TimeTicks", "IpAddress": "IpAddress", "Opaque": "Opaque",
    "OCTET STRING": "OctetString", "BITS": "OctetString",
    "OBJECT IDENTIFIER": "ObjectIdentifier",
}  # fmt: skip

# Imported textual conventions -> their SYNTAX (the module each comes from in the comment).
TEXTUAL_CONVENTIONS = {
    # SNMPv2-TC (RFC 2579)
    "DisplayString": Syntax("OCTET STRING", (), "SIZE(0..255)"),
    "TruthValue": Syntax("INTEGER", (("true", 1), ("false", 2))),
    "RowStatus": Syntax("INTEGER", (("active", 1), ("notInService", 2), ("notReady", 3),
                                    ("createAndGo", 4), ("createAndWait", 5), ("destroy", 6))),
    "MacAddress": Syntax("OCTET STRING", (), "SIZE(6)"),
    "PhysAddress": Syntax("OCTET STRING"),
    "TimeStamp": Syntax("TimeTicks"),
    "TimeInterval": Syntax("INTEGER", (), "0..2147483647"),
    "DateAndTime": Syntax("OCTET STRING", (), "SIZE(8|11)"),
    "AutonomousType": Syntax("OBJECT IDENTIFIER"),
    "TestAndIncr": Syntax("INTEGER", (), "0..2147483647"),
    "StorageType": Syntax("INTEGER", (("other", 1), ("volatile", 2), ("nonVolatile", 3),
                                      ("permanent", 4), ("readOnly", 5))),
    # INET-ADDRESS-MIB (RFC 4001)
    "InetAddressType": Syntax("INTEGER", (("unknown", 0), ("ipv4", 1), ("ipv6", 2),
                                          ("ipv4z", 3), ("ipv6z", 4), ("dns", 16))),
    "InetAddress": Syntax("OCTET STRING", (), "SIZE(0..255)"),
    "InetPortNumber": Syntax("Unsigned32", (), "0..65535"),
    "InetAddressPrefixLength": Syntax("Unsigned32", (), "0..2040"),
    "InetScopeType": Syntax("INTEGER", (("interfaceLocal", 1), ("linkLocal", 2),
                                        ("subnetLocal", 3), ("adminLocal", 4),
                                        ("siteLocal", 5), ("organizationLocal", 8),
                                        ("global", 14))),
    "InetZoneIndex": Syntax("Unsigned32"),
    "InetVersion": Syntax("INTEGER", (("unknown", 0), ("ipv4", 1), ("ipv6", 2))),
    # IF-MIB (RFC 2863)
    "InterfaceIndex": Syntax("Integer32", (), "1..2147483647"),
    "InterfaceIndexOrZero": Syntax("Integer32", (), "0..2147483647"),
    # HCNUM-TC (RFC 2856)
    "CounterBasedGauge64": Syntax("Counter64"),
}  # fmt: skip

# Imported OID-valued symbols -> their OID.
NODES = {
    "iso": (1,), "org": (1, 3), "dod": (1, 3, 6), "internet": (1, 3, 6, 1),
    "directory": (1, 3, 6, 1, 1), "mgmt": (1, 3, 6, 1, 2), "mib-2": (1, 3, 6, 1, 2, 1),
    "transmission": (1, 3, 6, 1, 2, 1, 10), "experimental": (1, 3, 6, 1, 3),
    "private": (1, 3, 6, 1, 4), "enterprises": (1, 3, 6, 1, 4, 1),
    "security": (1, 3, 6, 1, 5), "snmpV2": (1, 3, 6, 1, 6),
    "snmpModules": (1, 3, 6, 1, 6, 3), "zeroDotZero": (0, 0),
    # NET-SNMP-MIB (net-snmp's own, shipped by Debian's snmp package)
    "netSnmp": (1, 3, 6, 1, 4, 1, 8072),
    "netSnmpExperimental": (1, 3, 6, 1, 4, 1, 8072, 9999),
    "netSnmpPlaypen": (1, 3, 6, 1, 4, 1, 8072, 9999, 9999),
    # IF-MIB's ifIndex, an index of RFC 6527's tables
    "ifIndex": (1, 3, 6, 1, 2, 1, 2, 2, 1, 1),
}  # fmt: skip

# Imported OBJECT-TYPEs: name -> (syntax, access)
OBJECTS = {"ifIndex": (Syntax("InterfaceIndex"), "read-only")}

# The macros and clauses themselves: importing them is required, and they define nothing.
MACROS = {"MODULE-IDENTITY", "OBJECT-IDENTITY", "OBJECT-TYPE", "NOTIFICATION-TYPE",
          "TEXTUAL-CONVENTION", "OBJECT-GROUP", "NOTIFICATION-GROUP", "MODULE-COMPLIANCE",
          "AGENT-CAPABILITIES"}  # fmt: skip

# Which base module defines each symbol (to check an IMPORTS clause names the right one).
SOURCES = {
    **{name: "SNMPv2-SMI" for name in ("Integer32", "Unsigned32", "Gauge32", "Counter32",
                                       "Counter64", "TimeTicks", "IpAddress", "Opaque",
                                       "iso", "org", "dod", "internet", "directory", "mgmt",
                                       "mib-2", "transmission", "experimental", "private",
                                       "enterprises", "security", "snmpV2", "snmpModules",
                                       "zeroDotZero", "MODULE-IDENTITY", "OBJECT-IDENTITY",
                                       "OBJECT-TYPE", "NOTIFICATION-TYPE")},
    **{name: "SNMPv2-TC" for name in ("DisplayString", "TruthValue", "RowStatus",
                                      "MacAddress", "PhysAddress", "TimeStamp",
                                      "TimeInterval", "DateAndTime", "AutonomousType",
                                      "TestAndIncr", "StorageType", "TEXTUAL-CONVENTION")},
    **{name: "SNMPv2-CONF" for name in ("OBJECT-GROUP", "NOTIFICATION-GROUP",
                                        "MODULE-COMPLIANCE", "AGENT-CAPABILITIES")},
    **{name: "INET-ADDRESS-MIB" for name in ("InetAddressType", "InetAddress",
                                             "InetPortNumber", "InetAddressPrefixLength",
                                             "InetScopeType", "InetZoneIndex", "InetVersion")},
    **{name: "IF-MIB" for name in ("InterfaceIndex", "InterfaceIndexOrZero", "ifIndex")},
    "CounterBasedGauge64": "HCNUM-TC",
    **{name: "NET-SNMP-MIB" for name in ("netSnmp", "netSnmpExperimental", "netSnmpPlaypen")},
}  # fmt: skip
