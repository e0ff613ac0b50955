"""The whole mapping: DaemonState -> every (oid, kind, value) lvsmon serves over AgentX.

    rows(state, if_index=if_index, router_id="lb1", base=settings.base)   # everything

    for area in areas(base):               # the same rows, cut where the data changes
        if area.key(state) is unchanged:   # element by element, `is`
            keep that area's index
        else:
            area.rows(state, Context(if_index, router_id, base))

An Area is the part of the MIBs one kind of snapshot feeds: the participant's VRRP tables
change twice a second, the IPVS tables once per [ipvs] interval, the observed segments
twice a second, the SNAT scalars every few seconds. The AgentX frontend rebuilds an area's
index only when the objects of its key changed (an IPVS table of 10,000 real servers is
not re-encoded because a VRRP advert arrived). Each area covers OIDs no other area does;
`entries` names its tables' entries (a value's column is entry + one number), so a Get of
a missing row can answer noSuchInstance.

SUBTREES are what to register with the master agent (keepalived's and RFC 6527's at their
fixed places, LVSMON-MIB at the configured base).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lvsmon.model.daemon import DaemonState
from lvsmon_snmp.mib import keepalived_mib, lvsmon_mib, vrrpv3_mib
from lvsmon_snmp.mib.encode import IfIndex, Oid, Row


@dataclass(frozen=True, slots=True)
class Context:
    """What the rows need besides the state: the caller's interface lookup and names."""

    if_index: IfIndex
    router_id: str | None = None
    base: Oid = lvsmon_mib.DEFAULT_BASE


@dataclass(frozen=True, slots=True)
class Area:
    name: str
    key: Callable[[DaemonState], tuple]  # the objects its rows depend on
    rows: Callable[[DaemonState, Context], Iterator[Row]]
    entries: tuple[Oid, ...] = ()  # its tables' entries; other values are scalars (x.0)


def subtrees(base: Oid = lvsmon_mib.DEFAULT_BASE) -> dict[str, Oid]:
    """MIB part -> the subtree to register: keepalived's agent serves the same three
    KEEPALIVED-MIB parts (global, VRRP, check) and VRRPV3-MIB, so that next to it each
    is served or refused on its own (see PROBES)."""
    ka = keepalived_mib.KEEPALIVED
    return {"KEEPALIVED-MIB global": ka + (1,), "KEEPALIVED-MIB vrrp": ka + (2,),
            "KEEPALIVED-MIB check": ka + (3,), "VRRPV3-MIB": vrrpv3_mib.VRRPV3,
            "LVSMON-MIB": tuple(base)}  # fmt: skip


# keepalived's agent registers each column and scalar as a subtree of its own (measured
# against keepalived 2.2.7 on net-snmp 5.9: version, vrrpInstanceName, virtualServerType,
# vrrpv3OperationsMasterIpAddr each answer duplicateRegistration, their parents do not).
# lvsmon registers one of them before each part: refused, keepalived's agent has the part.
PROBES: dict[Oid, tuple[Oid, ...]] = {
    keepalived_mib.GLOBAL: (keepalived_mib.VERSION[:-1],),
    keepalived_mib.KEEPALIVED + (2,): (keepalived_mib.VRRP_INSTANCE_ENTRY + (2,),),
    keepalived_mib.KEEPALIVED + (3,): (keepalived_mib.VIRTUAL_SERVER_ENTRY + (2,),),
    vrrpv3_mib.VRRPV3: (vrrpv3_mib.OPERATIONS_ENTRY + (3,),),
}


def areas(base: Oid = lvsmon_mib.DEFAULT_BASE) -> tuple[Area, ...]:
    layout = lvsmon_mib.Layout(base)

    def sources_key(state: DaemonState) -> tuple:
        daemon = state.daemon
        return (daemon.version, daemon.pid, daemon.started_at, state.vrrp, state.participant,
                state.ipvs, state.snat)  # fmt: skip

    return (
        Area("keepalived global", lambda state: (state.daemon.version,),
             lambda state, ctx: keepalived_mib.global_rows(state, ctx.router_id)),
        Area("keepalived vrrp", lambda state: (state.participant,),
             lambda state, ctx: keepalived_mib.vrrp_rows(state, ctx.if_index),
             (keepalived_mib.VRRP_INSTANCE_ENTRY, keepalived_mib.VRRP_ADDRESS_ENTRY)),
        Area("keepalived check", lambda state: (state.ipvs.snapshot, state.ipvs.available),
             lambda state, ctx: keepalived_mib.check_rows(state),
             (keepalived_mib.VIRTUAL_SERVER_ENTRY, keepalived_mib.REAL_SERVER_ENTRY)),
        Area("vrrpv3", lambda state: (state.participant,),
             lambda state, ctx: vrrpv3_mib.rows(state, ctx.if_index),
             (vrrpv3_mib.OPERATIONS_ENTRY, vrrpv3_mib.ASSOCIATED_ENTRY,
              vrrpv3_mib.STATISTICS_ENTRY)),
        Area("lvsmon daemon and sources", sources_key,
             lambda state, ctx: lvsmon_mib.status_rows(state, layout),
             (layout.source_entry,)),
        Area("lvsmon segments", lambda state: (state.vrrp,),
             lambda state, ctx: lvsmon_mib.segments_rows(state, ctx.if_index, layout),
             (layout.segment_entry, layout.router_entry, layout.anomaly_entry)),
        Area("lvsmon snat", lambda state: (state.snat,),
             lambda state, ctx: lvsmon_mib.snat_source_rows(state, layout)),
    )  # fmt: skip


def rows(state: DaemonState, *, if_index: IfIndex, router_id: str | None = None,
         base: Oid = lvsmon_mib.DEFAULT_BASE) -> Iterator[Row]:
    context = Context(if_index, router_id, tuple(base))
    for area in areas(base):
        yield from area.rows(state, context)
