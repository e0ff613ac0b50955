"""Prometheus frontend (installed as lvsmon_exporter): renders lvsmon snapshots.

    http_server   MetricsServer: /metrics, /, /-/healthy inside the daemon's event loop
    web_config    load_web_config(): TLS and basic auth, the exporter toolkit's file format
    exposition    render(): prometheus_client's text and OpenMetrics bytes, faster
    negotiation   which format and encoding a scrape asked for
    basic_auth    bcrypt basic auth through libcrypt
    snat          metrics of the SNAT recorder (`lvsmon snat exporter`)
"""
