"""AgentX (RFC 2741) subagent on asyncio: codec, OID index, session. See lvsmon_snmp."""

from lvsmon_snmp.agentx.codec import AgentxDecodeError, CloseReason, ErrorCode, VarBind
from lvsmon_snmp.agentx.index import OidIndex, OidIndexError
from lvsmon_snmp.agentx.oids import Oid, OidError, format_oid, parse_oid
from lvsmon_snmp.agentx.session import AgentxCounters, Subagent, Subtree, SubtreeError
from lvsmon_snmp.agentx.settings import AgentxSettings, MasterAddress
from lvsmon_snmp.agentx.values import SnmpValueError, Value, ValueType

__all__ = [
    "AgentxCounters",
    "AgentxDecodeError",
    "AgentxSettings",
    "CloseReason",
    "ErrorCode",
    "MasterAddress",
    "Oid",
    "OidError",
    "OidIndex",
    "OidIndexError",
    "SnmpValueError",
    "Subagent",
    "Subtree",
    "SubtreeError",
    "Value",
    "ValueType",
    "VarBind",
    "format_oid",
    "parse_oid",
]
