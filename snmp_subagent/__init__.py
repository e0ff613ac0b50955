"""AgentX frontend (installed as lvsmon_snmp): lvsmon's snapshots served through net-snmp's snmpd.

The protocol core lives in lvsmon_snmp.agentx (RFC 2741 on asyncio, no other AgentX
library); the MIB mapping of snapshots to OIDs builds on it.

    from lvsmon_snmp.agentx import AgentxSettings, OidIndex, Subagent, Subtree, Value

    settings = AgentxSettings(enabled=True)          # master, timeout, priority, base_oid ...
    subagent = Subagent(settings, [Subtree(settings.base), Subtree("1.3.6.1.4.1.9586.100.5")])
    await subagent.start()                           # on the running loop; returns at once
    subagent.update(OidIndex(pairs, objects=...))    # once per snapshot, from any builder
    subagent.notify(trap_oid, [(oid, Value.integer32(2))])
    subagent.served_subtrees, subagent.refused_subtrees, subagent.status()
    await subagent.stop()                            # Close(shutdown)

AgentxSettings (frozen; lvsmon_snmp.agentx.settings) mirrors the `[agentx]` table
(AgentxSettings.from_config() takes lvsmon.config's AgentxConfig): enabled=False,
master="/var/agentx/master" (or "tcp:HOST:PORT", "unix:/path"),
timeout=5.0 s (wait for each answer of the master; o.timeout of the Open, rounded up),
priority=127 (1..255, lower wins), base_oid="1.3.6.1.4.1.8072.9999.9999.5866" (LVSMON-MIB),
ping_interval=10.0 s (not in the TOML table yet). Bad values raise UsageError naming the key.

OidIndex(pairs, objects=None): immutable, sorted, built once per snapshot from (oid,
value) pairs; oid a tuple or dotted text, value a Value or a pysnmp SMI object. Get is a
dict lookup, GetNext/GetBulk a bisect. `objects` (OIDs of scalar and column objects)
lets a Get of a missing instance answer noSuchInstance instead of noSuchObject. Build it
anywhere (a worker thread is fine) and hand it to update(): a reference swap, so a slow
source never delays an answer.

Value: Value.integer32 / octet_string / object_identifier / ip_address / counter32 /
gauge32 / time_ticks / opaque / counter64 / null, range-checked with the limits of
pysnmp's SMI types; Value.from_pysnmp / to_pysnmp convert. Null is encodable but not
servable through net-snmp (its master takes a Null answer for "not answered").

Subagent(settings, subtrees=None, index=None, description="lvsmon"): subtrees default
to [Subtree(settings.base)]; Subtree(oid, range_subid, upper_bound) registers a range
(RFC 2741 section 6.2.3). It connects, opens, registers each subtree, answers
Get/GetNext/GetBulk from the current index (TestSet notWritable, CommitSet commitFailed,
UndoSet noError, CleanupSet no answer), pings a silent master, and reconnects (backoff
0.1 s doubling to 2 s) after EOF, errors, timeouts, a Close from the master or a bad PDU.
A subtree answered duplicateRegistration (keepalived's agent has it) or another refusal
stays off for that session, is logged once, and the rest is served.

- `connected`: a session is open and registered; `last_problem`: why not (None while
  connected).
- `served_subtrees` / `refused_subtrees`: tuple of Subtree / {Subtree: "duplicateRegistration"}.
- `notify(trap_oid, varbinds)`: Notify with snmpTrapOID.0 first; False when no session.
- `counters` (AgentxCounters): pdus_answered by request, bad_pdus by reason
  (BAD_PDU_REASONS), session_ends by kind, connect_attempts, sessions_opened,
  reconnects, notifications_sent / _failed, slowest_answer_seconds.
- `status()`: all of the above as plain data, for the status socket and metrics.

Errors: lvsmon.errors.AgentxError is the family (OidError, SnmpValueError, OidIndexError,
SubtreeError, AgentxDecodeError with `.reason`); nothing the master sends is raised to
the caller: it is counted and the session reopened.
"""
