"""AgentX frontend (installed as lvsmon_snmp): keepalived-compatible MIB from lvsmon snapshots."""
