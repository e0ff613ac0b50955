"""check_ipvs: do the IPVS virtual services still have real servers to send connections to?

Reads the IPVS table itself, through the same code as `lvsmon ipvs` (no daemon needed), and
judges each selected virtual service (--service, repeatable; default: every service, and
every service keepalived.conf configures):

  CRITICAL  a selected service does not exist, or one keepalived.conf configures is not in
            the kernel;
  CRITICAL  a service has no real server with weight > 0 (the scheduler has nowhere to send
            a new connection);
  CRITICAL  only the sorry server still has weight: keepalived adds its sorry_server as a
            real server when a service loses quorum, so clients get the apology page
            instead of the service. That is an outage that looks like a served service,
            hence CRITICAL by default (--sorry-state warning to soften it);
  WARNING   drift from keepalived.conf (--drift-state to change it): a configured real
            server absent (its health check failed) or at weight 0 (inhibit_on_failure, or
            drained), a weight other than the configured one, a real server or a service
            the file does not configure;
  WARNING / CRITICAL  a threshold below is crossed;
  WARNING   no service is selected and the table is empty.

keepalived.conf: --keepalived-config FILE, by default the [keepalived] config of lvsmon.toml
(--config) when that file exists and sets it. Its sorry_server lines name the sorry servers
(--sorry adds more), a configured real server that is absent counts as a real server not
available, and its drift is judged. --no-keepalived reads no keepalived.conf.

A sorry server never counts as an available real server. Thresholds are Nagios ranges of
what is OK, judged per service: -w/-c on the number of available real servers (weight > 0),
and the named ones below on the percentage available, the active connections and the
real servers at weight 0. An unknown option, a bad range or a service that is not spelled
as `lvsmon drain` spells it is UNKNOWN, as is a table that cannot be read, or a
keepalived.conf (or lvsmon.toml) that cannot.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import nagiosplugin

from lvsmon.errors import PermissionDenied, UsageError
from lvsmon.ipvs import SOURCES, find_service, parse_real_server, parse_service, read_table
from lvsmon.model import IpvsTable, KeepalivedConf, ServiceKey, VirtualService
from lvsmon.model.drift import (
    REAL_SERVER_ABSENT,
    SERVICE_MISSING,
    SORRY_SERVER_SERVING,
    Finding,
    KeepalivedDiff,
    ServiceDrift,
)
from lvsmon_nagios.plugin import (
    STATE_NAMES,
    PluginParser,
    ThresholdContext,
    WorstFirstSummary,
    perf_label,
    run,
    threshold,
)

Endpoint = tuple[str, int]  # (address, port) of a real server
DEFAULT_LVSMON_CONFIG = "/etc/lvsmon/lvsmon.toml"  # lvsmon.config's, without importing it


# -- what is judged -------------------------------------------------------------------------


@dataclass(frozen=True)
class SorryServers:
    """The sorry servers: endpoints that are one in every service, and per service.

    One input of the judgement: from the command line (--sorry) and keepalived.conf's
    sorry_server lines (from_conf).
    """

    everywhere: frozenset[Endpoint] = frozenset()
    by_service: tuple[tuple[ServiceKey, frozenset[Endpoint]], ...] = ()

    @classmethod
    def from_specs(cls, specs: Iterable[tuple[ServiceKey | None, Endpoint]]) -> SorryServers:
        everywhere: set[Endpoint] = set()
        by_service: dict[ServiceKey, set[Endpoint]] = {}
        for key, endpoint in specs:
            if key is None:
                everywhere.add(endpoint)
            else:
                by_service.setdefault(key, set()).add(endpoint)
        return cls(frozenset(everywhere),
                   tuple((key, frozenset(ends)) for key, ends in by_service.items()))

    @classmethod
    def from_conf(cls, conf: KeepalivedConf) -> tuple[tuple[ServiceKey, Endpoint], ...]:
        """The specs of keepalived.conf's sorry servers, one per service it configures."""
        from lvsmon.keepalived.diff import configured_services

        return tuple((key, (vs.sorry.address, vs.sorry.port))
                     for vs, key in configured_services(conf) if vs.sorry is not None)

    def of(self, service: VirtualService) -> frozenset[Endpoint]:
        found = set(self.everywhere)
        for key, endpoints in self.by_service:
            if same_service(key, service.key):
                found |= endpoints
        return frozenset(found)


def same_service(wanted: ServiceKey, key: ServiceKey) -> bool:
    """Equal keys; a firewall mark also matches where one side does not know its family
    (/proc/net/ip_vs does not say), as lvsmon.ipvs.find_service does."""
    if wanted == key:
        return True
    return (wanted.protocol == key.protocol == "fwm" and wanted.fwmark == key.fwmark
            and None in (wanted.family, key.family))


def service_name(service: VirtualService) -> str:
    """ipvsadm's spelling. /proc/net/ip_vs does not give a firewall mark's family: there a
    mark whose real servers are all IPv6 is named fwm6:N, so that IPv4 and IPv6 services
    of one mark (common with dual-stack keepalived) keep apart."""
    key = service.key
    if key.protocol == "fwm" and key.family is None and service.real_servers and all(
            rs.family == "inet6" for rs in service.real_servers):
        return f"fwm6:{key.fwmark}"
    return str(key)


def find(table: IpvsTable, key: ServiceKey) -> VirtualService | None:
    """lvsmon.ipvs.find_service, choosing by service_name where procfs leaves a mark's
    family open and both families use it."""
    if key.protocol != "fwm":
        return find_service(table, key)
    matches = [service for service in table.services if same_service(key, service.key)]
    named = [service for service in matches if service_name(service) == str(key)]
    return (named or matches or [None])[0]


@dataclass(frozen=True)
class ServiceHealth:
    """One virtual service as the check sees it; sorry servers are counted apart."""

    name: str  # as `lvsmon drain` writes it
    real_servers: int  # not counting sorry servers; counting configured ones that are absent
    available: int  # real servers with weight > 0
    weight_zero: int
    sorry_with_weight: tuple[str, ...]  # endpoints of sorry servers with weight > 0
    active_connections: int
    inactive_connections: int
    service: VirtualService
    drift: ServiceDrift | None = None  # against keepalived.conf, when it configures the service

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Its drift judged by --drift-state (the sorry server is judged as "available")."""
        if self.drift is None:
            return ()
        return tuple(f for f in self.drift.findings() if f.kind != SORRY_SERVER_SERVING)

    @property
    def down(self) -> str:
        """The configured real servers that take no new connection, for the sorry message."""
        if self.drift is None:
            return ""
        down = [f"{rs.real_server} ({'absent' if rs.weight is None else 'weight 0'})"
                for rs in self.drift.not_serving]
        return f": quorum lost, down: {', '.join(down)}" if down else ": quorum lost"

    @property
    def available_percent(self) -> float:
        if not self.real_servers:
            return 0
        percent = round(100 * self.available / self.real_servers, 1)
        return int(percent) if percent.is_integer() else percent

    @property
    def only_sorry(self) -> bool:
        return not self.available and bool(self.sorry_with_weight)


def assess(service: VirtualService, sorry: frozenset[Endpoint],
           name: str | None = None, drift: ServiceDrift | None = None) -> ServiceHealth:
    """name: how the service was asked for (default: its own spelling); drift: the service
    against keepalived.conf (its absent real servers count as not available)."""
    real = [rs for rs in service.real_servers if (rs.address, rs.port) not in sorry]
    absent = 0 if drift is None else sum(1 for rs in drift.real_servers
                                         if rs.kind == REAL_SERVER_ABSENT)
    sorry_weighted = tuple(rs.endpoint for rs in service.real_servers
                           if (rs.address, rs.port) in sorry and rs.weight > 0)
    return ServiceHealth(
        name=name or service_name(service),
        real_servers=len(real) + absent,
        available=sum(rs.weight > 0 for rs in real),
        weight_zero=sum(rs.weight == 0 for rs in real),
        sorry_with_weight=sorry_weighted,
        active_connections=sum(rs.active_connections for rs in service.real_servers),
        inactive_connections=sum(rs.inactive_connections for rs in service.real_servers),
        service=service,
        drift=drift,
    )


# -- the pipeline: resource -> metrics -> contexts -> summary ---------------------------------


class IpvsServices(nagiosplugin.Resource):
    """One read of the IPVS table; metrics for each selected service.

    selected: the services asked for (empty: every service in the table).
    """

    def __init__(self, source: str = "auto", procfs_root: str = "/proc",
                 selected: tuple[ServiceKey, ...] = (), sorry: SorryServers = SorryServers(),
                 keepalived: KeepalivedConf | None = None):
        self.source = source
        self.procfs_root = procfs_root
        self.selected = selected
        self.sorry = sorry
        self.keepalived = keepalived
        self.table: IpvsTable | None = None
        self.diff: KeepalivedDiff | None = None
        self.health: dict[str, ServiceHealth] = {}  # by service name, in table order
        self.missing: list[str] = []
        self.unconfigured: list[str] = []  # services in the kernel keepalived.conf does not name

    @property
    def name(self) -> str:
        return "IPVS"

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        self.table = self._read()
        if self.keepalived is not None:
            from lvsmon.keepalived.diff import compare

            self.diff = compare(self.keepalived, self.table)
        for wanted, service in self._selection(self.table):
            if service is None:
                self.missing.append(str(wanted))
                yield nagiosplugin.Metric(perf_label(str(wanted), "missing"), str(wanted),
                                          context="missing")
                continue
            health = assess(service, self.sorry.of(service), self._unique(wanted, service),
                            self._drift_of(service))
            self.health[health.name] = health
            yield from self._metrics(health)
        if self.diff is not None and not self.selected:
            yield from self._keepalived_metrics(self.diff)
        yield nagiosplugin.Metric("services", len(self.health), min=0, context="services")

    def _drift_of(self, service: VirtualService) -> ServiceDrift | None:
        if self.diff is None:
            return None
        for drift in self.diff.services:
            if drift.in_kernel and drift.service == service.name:
                return drift
        return None

    def _keepalived_metrics(self, diff: KeepalivedDiff) -> Iterator[nagiosplugin.Metric]:
        """What the table alone does not show: configured services it lacks, and services
        the file does not configure."""
        for finding in diff.findings:
            if finding.kind == SERVICE_MISSING:
                self.missing.append(finding.service)
                yield nagiosplugin.Metric(perf_label(finding.service, "missing"),
                                          finding.detail, context="missing")
        self.unconfigured = list(diff.unconfigured_services)
        if self.unconfigured:
            yield nagiosplugin.Metric("unconfigured", len(self.unconfigured), min=0,
                                      context="unconfigured")

    def _read(self) -> IpvsTable:
        try:
            return read_table(self.source, self.procfs_root)
        except PermissionDenied as exc:
            raise PermissionDenied(
                exc.message, hint="run as root or with CAP_NET_ADMIN, or use --source procfs "
                                  "(it holds all this check judges, and needs no privilege)"
            ) from None

    def _selection(self, table: IpvsTable
                   ) -> Iterator[tuple[ServiceKey, VirtualService | None]]:
        if not self.selected:
            yield from ((service.key, service) for service in table.services)
            return
        for key in self.selected:
            yield key, find(table, key)

    def _unique(self, wanted: ServiceKey, service: VirtualService) -> str:
        """The service's name: as asked for with --service, else its own; a name met before
        (a mark of either family without real servers, from procfs) gets "#2", "#3"..."""
        name = str(wanted) if self.selected else service_name(service)
        number = 1
        while (f"{name}#{number}" if number > 1 else name) in self.health:
            number += 1
        return f"{name}#{number}" if number > 1 else name

    def _metrics(self, health: ServiceHealth) -> Iterator[nagiosplugin.Metric]:
        name, total = health.name, health.real_servers
        yield nagiosplugin.Metric(perf_label(name, "available"), health.available,
                                  min=0, max=total, context="available")
        yield nagiosplugin.Metric(perf_label(name, "available_percent"),
                                  health.available_percent, "%", min=0, max=100,
                                  context="available_percent")
        yield nagiosplugin.Metric(perf_label(name, "weight_zero"), health.weight_zero,
                                  min=0, max=total, context="weight_zero")
        yield nagiosplugin.Metric(perf_label(name, "active"), health.active_connections,
                                  min=0, context="active")
        yield nagiosplugin.Metric(perf_label(name, "inactive"), health.inactive_connections,
                                  min=0, context="inactive")
        if health.drift is not None:
            yield nagiosplugin.Metric(perf_label(name, "drift"), len(health.findings), min=0,
                                      context="drift")

    def about(self, metric: nagiosplugin.Metric) -> ServiceHealth:
        """The service a per-service metric is about."""
        return self.health[metric.name.rsplit(" ", 1)[0]]


def _about(metric: nagiosplugin.Metric) -> ServiceHealth:
    return metric.resource.about(metric)


class AvailableContext(ThresholdContext):
    """Available real servers: CRITICAL at none whatever the thresholds (the sorry state when
    only a sorry server has weight), else -w/-c."""

    def __init__(self, warning, critical, sorry_state: nagiosplugin.state.ServiceState):
        super().__init__("available", warning, critical, describe=self._describe)
        self.sorry_state = sorry_state

    @staticmethod
    def _describe(metric) -> str:
        health = _about(metric)
        return (f"{health.name}: {metric.value} of {_real_servers(health.real_servers)} "
                f"available")

    def evaluate(self, metric, resource):
        health = resource.about(metric)
        if health.only_sorry:
            return self.result_cls(self.sorry_state, f"only the sorry server "
                                   f"{', '.join(health.sorry_with_weight)} has weight"
                                   f"{health.down}", metric)
        if not health.available:
            why = "all at weight 0" if health.real_servers else "no real servers"
            return self.result_cls(nagiosplugin.Critical, why, metric)
        return super().evaluate(metric, resource)


class MissingContext(nagiosplugin.Context):
    """A selected service that is not in the table, or a configured one: CRITICAL, named."""

    def evaluate(self, metric, resource):
        return self.result_cls(nagiosplugin.Critical, None, metric)

    def describe(self, metric):
        if " " in metric.value:  # keepalived's: the finding's own words
            return metric.value
        return f"{metric.value}: no such virtual service"


class DriftContext(nagiosplugin.Context):
    """A service's drift from keepalived.conf: --drift-state (WARNING by default)."""

    def __init__(self, name: str, state: nagiosplugin.state.ServiceState):
        super().__init__(name)
        self.state = state

    def evaluate(self, metric, resource):
        if not metric.value:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        if self.name == "unconfigured":
            hint = ", ".join(resource.unconfigured)
            return self.result_cls(self.state, f"{_plural(metric.value, 'service')} not in "
                                               f"keepalived.conf: {hint}", metric)
        health = _about(metric)
        return self.result_cls(self.state, "; ".join(f.detail for f in health.findings),
                               metric)

    def performance(self, metric, resource):
        return nagiosplugin.Performance(metric.name, metric.value, min=0)


class ServicesContext(nagiosplugin.ScalarContext):
    """With no --service, an empty table is a WARNING (nothing is balanced here)."""

    def __init__(self, explicit_selection: bool):
        super().__init__("services", fmt_metric="{value} virtual services")
        self.explicit_selection = explicit_selection

    def evaluate(self, metric, resource):
        if metric.value == 0 and not self.explicit_selection:
            return self.result_cls(nagiosplugin.Warn, "the IPVS table is empty", metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)


class IpvsSummary(WorstFirstSummary):
    """OK: the totals (one service: its own line). Long output (-v): a line per service;
    -vv adds each real server."""

    def __init__(self, verbose: int = 0):
        self.verbose_level = verbose

    def ok(self, results):
        resource = results[0].resource
        healths = list(resource.health.values())
        if len(healths) == 1:
            return _service_line(healths[0])
        available = sum(h.available for h in healths)
        total = sum(h.real_servers for h in healths)
        active = sum(h.active_connections for h in healths)
        return (f"{_plural(len(healths), 'virtual service')}, {available} of "
                f"{_real_servers(total)} available, "
                f"{_plural(active, 'active connection')}")

    def verbose(self, results):
        resource = results[0].resource
        lines = [f"{result.state}: {result}" for result in results
                 if result.state != nagiosplugin.Ok]
        for health in resource.health.values():
            lines.append(_service_line(health))
            if self.verbose_level >= 2:
                lines.extend(_real_server_lines(health, resource.sorry.of(health.service)))
                lines.extend(f"  drift: {finding.detail}" for finding in health.findings)
        lines.extend(f"missing: {name}" for name in resource.missing)
        if resource.diff is not None:
            lines.append(f"keepalived.conf: {resource.diff.config_source}")
            lines.extend(f"not in keepalived.conf: {name}" for name in resource.unconfigured)
        if resource.table is not None:
            lines.append(f"read via {resource.table.source}")
            lines.extend(f"note: {warning}" for warning in resource.table.warnings)
        return lines


def _service_line(health: ServiceHealth) -> str:
    sorry = (f", sorry server {', '.join(health.sorry_with_weight)} has weight"
             if health.sorry_with_weight else "")
    return (f"{health.name}: {health.available} of {_real_servers(health.real_servers)} "
            f"available ({health.weight_zero} at weight 0){sorry}, "
            f"{health.active_connections} active / {health.inactive_connections} inactive "
            f"connections")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _real_servers(count: int) -> str:
    return _plural(count, "real server")


def _real_server_lines(health: ServiceHealth, sorry: frozenset[Endpoint]) -> list[str]:
    lines = []
    for rs in health.service.real_servers:
        role = " (sorry server)" if (rs.address, rs.port) in sorry else ""
        lines.append(f"  -> {rs.endpoint}{role} weight {rs.weight}, "
                     f"{rs.active_connections} active, {rs.inactive_connections} inactive")
    return lines


def make_check(args: argparse.Namespace) -> nagiosplugin.Check:
    selected = tuple(dict.fromkeys(args.service))  # in order, once each
    conf = keepalived_conf(args)
    specs = list(args.sorry)
    if conf is not None:
        specs += SorryServers.from_conf(conf)
    sorry = SorryServers.from_specs(specs)
    drift_state = STATE_NAMES[args.drift_state]
    return nagiosplugin.Check(
        IpvsServices(args.source, args.procfs_root, selected, sorry, conf),
        AvailableContext(args.warning_available, args.critical_available,
                         STATE_NAMES[args.sorry_state]),
        ThresholdContext("available_percent", args.warning_available_percent,
                         args.critical_available_percent,
                         describe=lambda m: f"{_about(m).name}: {m.value}% of real servers "
                                            f"available"),
        ThresholdContext("weight_zero", args.warning_weight_zero, args.critical_weight_zero,
                         describe=lambda m: f"{_about(m).name}: {_real_servers(m.value)} "
                                            f"at weight 0"),
        ThresholdContext("active", args.warning_active, args.critical_active,
                         describe=lambda m: f"{_about(m).name}: "
                                            f"{_plural(m.value, 'active connection')}"),
        ThresholdContext("inactive",
                         describe=lambda m: f"{_about(m).name}: "
                                            f"{_plural(m.value, 'inactive connection')}"),
        MissingContext("missing"),
        DriftContext("drift", drift_state),
        DriftContext("unconfigured", drift_state),
        ServicesContext(explicit_selection=bool(selected)),
        IpvsSummary(args.verbose),
    )


def keepalived_conf(args: argparse.Namespace) -> KeepalivedConf | None:
    """keepalived.conf as --keepalived-config names it, or as lvsmon.toml's [keepalived] does.

    Imported only when there is one to read: a check run pays for what it uses."""
    if args.no_keepalived:
        return None
    path, config_id = args.keepalived_config, args.keepalived_id
    if path is None:
        if not os.path.exists(args.config):
            return None
        from lvsmon import config as config_module

        settings = config_module.load(args.config).keepalived
        if settings.config is None:
            return None
        path, config_id = settings.config, config_id or settings.id
    from lvsmon.keepalived import read_config

    return read_config(path, config_id)


# -- the command line ---------------------------------------------------------------------------


def service_key(text: str) -> ServiceKey:
    try:
        return parse_service(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sorry_spec(text: str) -> tuple[ServiceKey | None, Endpoint]:
    """ADDR:PORT (a sorry server of every service) or SERVICE=ADDR:PORT (of that one)."""
    service, _, endpoint = text.rpartition("=")
    try:
        return (parse_service(service) if service else None), parse_real_server(endpoint)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


EPILOG = """\
Performance data, per service (labels are quoted, e.g. 'tcp:10.0.0.1:80 available'):
  SERVICE available          real servers with weight > 0 (sorry servers not counted)
  SERVICE available_percent  the same as % of the service's real servers
  SERVICE weight_zero        real servers at weight 0 (drained, or failed with inhibit)
  SERVICE active             active connections (ActiveConn), sorry servers included
  SERVICE inactive           inactive connections (InActConn)
  SERVICE drift              its differences from keepalived.conf (with one that configures it)
and services, the number of services judged; unconfigured, the services in the kernel that
keepalived.conf does not configure (with one, when there are any).

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Examples:
  check_ipvs --source procfs
  check_ipvs --source procfs --service tcp:10.0.0.1:80 -w 3: -c 2: --sorry 10.0.0.250:80
  check_ipvs --service fwm:7 --warning-available-percent 50: --warning-weight-zero 0
  check_ipvs --source procfs --keepalived-config /etc/keepalived/keepalived.conf --drift-state ok

nrpe.cfg (nrpe runs checks as user nagios, without CAP_NET_ADMIN: read procfs):
  command[check_ipvs]=/usr/bin/check_ipvs --source procfs
"""


def make_parser() -> PluginParser:
    parser = PluginParser("check_ipvs", "IPVS", description=__doc__, epilog=EPILOG)
    select = parser.add_argument_group("what to read and judge")
    select.add_argument("--service", action="append", type=service_key, default=[],
                        metavar="SERVICE",
                        help="A virtual service to judge, as `lvsmon drain` writes it: "
                             "tcp:10.0.0.1:80, udp:10.0.0.1:53, sctp:10.0.0.1:3868, "
                             "tcp:[2001:db8::1]:80, fwm:7 or fwm6:7. Repeatable "
                             "[default: every service in the table].")
    select.add_argument("--sorry", action="append", type=sorry_spec, default=[],
                        metavar="[SERVICE=]ADDR:PORT",
                        help="A sorry server (keepalived's sorry_server): of every service, "
                             "or of SERVICE only. Repeatable.")
    select.add_argument("--sorry-state", choices=("warning", "critical"), default="critical",
                        help="The state when only a sorry server still has weight "
                             "[default: %(default)s].")
    keepalived = parser.add_argument_group(
        "keepalived.conf (its sorry servers, and drift from it)")
    keepalived.add_argument("--keepalived-config", metavar="FILE",
                            help="keepalived's configuration file [default: lvsmon.toml's "
                                 "[keepalived] config, when --config exists and sets it].")
    keepalived.add_argument("--keepalived-id", metavar="NAME",
                            help="Its config id for @NAME lines, as keepalived's -i [default: "
                                 "lvsmon.toml's [keepalived] id, else the host name up to its "
                                 "first dot].")
    keepalived.add_argument("--no-keepalived", action="store_true",
                            help="Read no keepalived.conf.")
    keepalived.add_argument("--config", default=DEFAULT_LVSMON_CONFIG, metavar="FILE",
                            help="lvsmon.toml, read for its [keepalived] section only "
                                 "[default: %(default)s].")
    keepalived.add_argument("--drift-state", choices=("ok", "warning", "critical"),
                            default="warning",
                            help="The state of a difference from keepalived.conf other than a "
                                 "missing service (CRITICAL) or a sorry server serving "
                                 "(--sorry-state) [default: %(default)s].")
    select.add_argument("--source", choices=SOURCES, default="auto",
                        help="Read IPVS over netlink (needs CAP_NET_ADMIN), from procfs "
                             "(/proc/net/ip_vs, needs no privilege), or auto: netlink, or "
                             "procfs where the kernel has no IPVS netlink "
                             "[default: %(default)s].")
    select.add_argument("--procfs-root", default="/proc", metavar="DIR",
                        help="Read DIR/net/ip_vs instead of /proc/net/ip_vs (e.g. a saved "
                             "copy) [default: %(default)s].")
    limits = parser.add_argument_group(
        "thresholds (Nagios ranges of what is OK, per service; none by default)")
    pairs = (
        ("available", ("-w",), ("-c",), "real servers with weight > 0, e.g. -w 3: -c 2:"),
        ("available-percent", (), (), "real servers with weight > 0 as a percentage of all, "
                                      "e.g. 50:"),
        ("active", (), (), "active connections, e.g. ~:5000"),
        ("weight-zero", (), (), "real servers at weight 0, e.g. 0 (any) or 1 (more than one)"),
    )
    for name, warning_flags, critical_flags, what in pairs:
        limits.add_argument(*warning_flags, f"--warning-{name}", type=threshold,
                            metavar="RANGE", help=f"WARNING outside RANGE of {what}.")
        limits.add_argument(*critical_flags, f"--critical-{name}", type=threshold,
                            metavar="RANGE", help=f"CRITICAL outside RANGE of {what}.")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(make_parser(), make_check, argv)


if __name__ == "__main__":
    raise SystemExit(main())
