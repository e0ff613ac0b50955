"""Source-NAT connection history: an audit log of who was behind which translated address.

capture (ctnetlink events and dumps) -> record (SnatConnection) -> sinks (store_sqlite,
sink_jsonl, sink_syslog), run by service (`lvsmon snat run`); query answers who and log.
"""
