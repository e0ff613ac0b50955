"""SNMP MIBs: the checker (check), RFC 6527 facts, and the snapshot-to-OID mapping."""
