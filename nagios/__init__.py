"""Nagios/Icinga frontend (installed as lvsmon_nagios): check_* plugins."""
