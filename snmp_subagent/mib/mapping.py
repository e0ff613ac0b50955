"""The whole mapping: DaemonState -> every (oid, kind, value) lvsmon serves over AgentX.

    index = OidIndex((oid, to_value(kind, value))
                     for oid, kind, value in rows(state, if_index=if_index,
                                                  router_id=router_id, base=settings.base))

SUBTREES are what to register with the master agent (keepalived's and RFC 6527's at their
fixed places, LVSMON-MIB at the configured base).
"""

from __future__ import annotations

from collections.abc import Iterator

from lvsmon.model.daemon import DaemonState
from lvsmon_snmp.mib import keepalived_mib, lvsmon_mib, vrrpv3_mib
from lvsmon_snmp.mib.encode import IfIndex, Oid, Row


def subtrees(base: Oid = lvsmon_mib.DEFAULT_BASE) -> dict[str, Oid]:
    return {"KEEPALIVED-MIB": keepalived_mib.KEEPALIVED, "VRRPV3-MIB": vrrpv3_mib.VRRPV3,
            "LVSMON-MIB": tuple(base)}  # fmt: skip


def rows(state: DaemonState, *, if_index: IfIndex, router_id: str | None = None,
         base: Oid = lvsmon_mib.DEFAULT_BASE) -> Iterator[Row]:
    yield from keepalived_mib.rows(state, if_index=if_index, router_id=router_id)
    yield from vrrpv3_mib.rows(state, if_index)
    yield from lvsmon_mib.rows(state, if_index, base)
