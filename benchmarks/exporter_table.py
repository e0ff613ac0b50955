"""A synthetic metric set the size of the issue's benchmark: 1,000 IPVS services x 10 real
servers, ten series per real server and eight per service, plus a few small VRRP families,
as prometheus_client families (the shape the daemon's collector hands to the renderer).

    families(services=1000, reals=10) -> list of metric families (about 108,000 samples)
    lazy_families(table)              -> the same as LazyFamily objects: samples made while
                                         rendering (identical output)
    snapshot(services, reals)         -> the plain tuples both are built from
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.samples import Sample

from lvsmon_exporter.exposition import LazyFamily

REAL_GAUGES = ("weight", "active_connections", "inactive_connections",
               "persistent_connections")  # fmt: skip
COUNTERS = ("connections", "packets_in", "packets_out", "bytes_in", "bytes_out")
VRRP_ANOMALIES = ("split_brain", "no_master", "flapping", "vrid_collision", "auth_mismatch")


def snapshot(services: int = 1000, reals: int = 10) -> list[tuple]:
    """(service, [(real_server, weight, active, inactive, counters...)]) with counter values
    of every size: small, above 1e6 (exponent form) and above 2**53."""
    table = []
    for number in range(services):
        service = f"tcp:10.{number // 65536}.{number // 256 % 256}.{number % 256}:443"
        servers = []
        for real in range(reals):
            base = (number * reals + real) * 7919
            servers.append((f"10.200.{number % 256}.{real + 1}:8443", real % 4, base % 500,
                            base % 70, base % 3, base, base * 13, base * 11,
                            base * 9_000, base * 2**40))  # fmt: skip
        table.append((service, servers))
    return table


def families(services: int = 1000, reals: int = 10, table: list[tuple] | None = None) -> list:
    table = table if table is not None else snapshot(services, reals)
    rs_labels = ["service", "real_server"]
    gauges = [GaugeMetricFamily(f"lvsmon_ipvs_real_server_{name}", f"Real server {name}.",
                                labels=rs_labels) for name in REAL_GAUGES]  # fmt: skip
    counters = [CounterMetricFamily(f"lvsmon_ipvs_real_server_{name}", f"Real server {name}.",
                                    labels=rs_labels) for name in COUNTERS]  # fmt: skip
    info = InfoMetricFamily("lvsmon_ipvs_real_server", "Forwarding method.", labels=rs_labels)
    service_counters = [CounterMetricFamily(f"lvsmon_ipvs_service_{name}", f"Service {name}.",
                                            labels=["service"]) for name in COUNTERS]
    service_info = InfoMetricFamily("lvsmon_ipvs_service", "Service facts.", labels=["service"])
    service_reals = GaugeMetricFamily("lvsmon_ipvs_service_real_servers", "Real servers.",
                                      labels=["service"])  # fmt: skip
    service_up = GaugeMetricFamily("lvsmon_ipvs_service_real_servers_up",
                                   "Real servers with weight > 0.", labels=["service"])
    for service, servers in table:
        totals = [0] * len(COUNTERS)
        for real, *values in servers:
            labels = [service, real]
            for family, value in zip(gauges, values[:4], strict=True):
                family.add_metric(labels, value)
            for index, (family, value) in enumerate(zip(counters, values[4:], strict=True)):
                family.add_metric(labels, value)
                totals[index] += value
            info.add_metric(labels, {"forward": "masq"})
        for family, value in zip(service_counters, totals, strict=True):
            family.add_metric([service], value)
        service_info.add_metric([service], {"scheduler": "wlc", "protocol": "tcp",
                                            "persistence": "300"})  # fmt: skip
        service_reals.add_metric([service], len(servers))
        service_up.add_metric([service], sum(1 for s in servers if s[1] > 0))
    vrrp = _vrrp()
    return [*gauges, *counters, info, *service_counters, service_info, service_reals,
            service_up, *vrrp]  # fmt: skip


def lazy_families(table: list[tuple]) -> list:
    """families(table=table), with the IPVS families made as LazyFamily."""

    def real_servers(name: str, index: int, suffix: str = ""):
        sample_name = f"lvsmon_ipvs_real_server_{name}{suffix}"

        def samples():
            for service, servers in table:
                for real, *values in servers:
                    yield Sample(sample_name, {"service": service, "real_server": real},
                                 values[index])

        return samples

    def info():
        for service, servers in table:
            for real, *_ in servers:
                yield Sample("lvsmon_ipvs_real_server_info",
                             {"service": service, "real_server": real, "forward": "masq"}, 1)

    def service_totals(index: int, name: str):
        def samples():
            for service, servers in table:
                yield Sample(name, {"service": service}, sum(s[5 + index] for s in servers))

        return samples

    def per_service(name: str, value, labels=None):
        def samples():
            for service, servers in table:
                yield Sample(name, {"service": service, **(labels or {})}, value(servers))

        return samples

    result = [LazyFamily(f"lvsmon_ipvs_real_server_{name}", f"Real server {name}.", "gauge",
                         real_servers(name, index)) for index, name in enumerate(REAL_GAUGES)]
    result += [LazyFamily(f"lvsmon_ipvs_real_server_{name}", f"Real server {name}.", "counter",
                          real_servers(name, 4 + index, "_total"))
               for index, name in enumerate(COUNTERS)]  # fmt: skip
    result.append(LazyFamily("lvsmon_ipvs_real_server", "Forwarding method.", "info", info))
    result += [LazyFamily(f"lvsmon_ipvs_service_{name}", f"Service {name}.", "counter",
                          service_totals(index, f"lvsmon_ipvs_service_{name}_total"))
               for index, name in enumerate(COUNTERS)]  # fmt: skip
    service_facts = {"scheduler": "wlc", "protocol": "tcp", "persistence": "300"}
    result += [
        LazyFamily("lvsmon_ipvs_service", "Service facts.", "info",
                   per_service("lvsmon_ipvs_service_info", lambda s: 1, service_facts)),
        LazyFamily("lvsmon_ipvs_service_real_servers", "Real servers.", "gauge",
                   per_service("lvsmon_ipvs_service_real_servers", len)),
        LazyFamily("lvsmon_ipvs_service_real_servers_up", "Real servers with weight > 0.",
                   "gauge", per_service("lvsmon_ipvs_service_real_servers_up",
                                        lambda s: sum(1 for x in s if x[1] > 0))),
    ]  # fmt: skip
    return result + _vrrp()


def _vrrp() -> list:
    view = ["interface", "family", "vrid"]
    masters = GaugeMetricFamily("lvsmon_vrrp_masters", "Routers advertising as master.",
                                labels=view)  # fmt: skip
    anomaly = GaugeMetricFamily("lvsmon_vrrp_anomaly", "1 while the anomaly is active.",
                                labels=[*view, "anomaly"])  # fmt: skip
    priority = GaugeMetricFamily("lvsmon_vrrp_router_priority", "Advertised priority.",
                                 labels=[*view, "router"])  # fmt: skip
    adverts = CounterMetricFamily("lvsmon_vrrp_router_adverts", "Adverts heard.",
                                  labels=[*view, "router"])  # fmt: skip
    for vrid in (51, 52, 53, 54):
        labels = ["eth0", "inet", str(vrid)]
        masters.add_metric(labels, 1)
        for name in VRRP_ANOMALIES:
            anomaly.add_metric([*labels, name], 0)
        for router, prio in (("10.0.0.11", 150), ("10.0.0.12", 100)):
            priority.add_metric([*labels, router], prio)
            adverts.add_metric([*labels, router], 86_400 * vrid)
    return [masters, anomaly, priority, adverts]


def sample_count(metric_families) -> int:
    return sum(len(family.samples) for family in metric_families)
