"""Prometheus frontend (installed as lvsmon_exporter): renders lvsmon snapshots."""
