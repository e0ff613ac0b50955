"""`lvsmon run` (the daemon) and `lvsmon status` (ask it over its status socket)."""

from __future__ import annotations

import json
import time

import click

from lvsmon import config as config_module
from lvsmon.config import DEFAULT_CONFIG_PATH, DEFAULT_STATUS_SOCKET
from lvsmon.errors import LvsmonError
from lvsmon.model import IpvsTable
from lvsmon.model.codec import to_json
from lvsmon.model.daemon import DaemonState, FrontendState, SourceState
from lvsmon.model.drain import DrainGuardSnapshot
from lvsmon.model.drift import KeepalivedDiff
from lvsmon.model.keepalived import KeepalivedConf
from lvsmon.model.vrrp import ObserverSnapshot, ParticipantSnapshot
from lvsmon.status_client import ask_source, ask_state

SOCKET_OPTION = click.option(
    "--socket",
    "socket_path",
    default=DEFAULT_STATUS_SOCKET,
    show_default=True,
    metavar="PATH",
    help="The daemon's status socket ([daemon] status_socket in its config).",
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up when the daemon has not answered within this time.",
)


@click.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    default=DEFAULT_CONFIG_PATH,
    show_default=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="TOML configuration (`lvsmon config check FILE` checks it).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details too ([log] level).")
def run(config_path, verbose):
    """Run the lvsmon daemon in the foreground (for systemd).

    Hosts, in one event loop: the VRRP observer ([observer]), the VRRP
    participant (only when [[vrrp.instance]] tables exist), a periodic IPVS
    table read ([ipvs], in a worker thread), keepalived.conf ([keepalived]
    config: instance names, configured versus heard, this node's instance
    states, drift of the IPVS table) and the status socket ([daemon]
    status_socket) that `lvsmon status`, `lvsmon vrrp status --daemon` and
    the Nagios checks ask. A source that fails (no IPVS in this kernel, no
    permission) is reported in the status with its reason and retried.

    An invalid FILE is refused before anything starts: every problem is
    printed with its line, section and key, and the exit code is 2. Logs go
    to stderr or syslog ([log]); state changes (VRRP master, anomalies,
    participant transitions, a source down and back) are logged at notice
    or warning. SIGTERM or SIGINT stops cleanly: participant masters send a
    priority 0 advert and remove their VIPs. Needs CAP_NET_RAW (VRRP
    sockets) and CAP_NET_ADMIN (IPVS netlink, participant VIPs).
    """
    from lvsmon import daemon, logs
    from lvsmon.cli.plugins import frontend_factories

    config = config_module.load(config_path)  # every problem at once, before anything opens
    # The frontends (exporter, AgentX) are handed to the daemon here: the core imports none.
    frontends = tuple(factory() for factory in frontend_factories().values())
    problems = [problem for frontend in frontends for problem in frontend.check(config)]
    if problems:
        raise config_module.ConfigError(problems)
    logs.configure(config.log, verbose)
    daemon.run(config, frontends)


@click.command()
@SOCKET_OPTION
@TIMEOUT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the daemon's whole state as JSON.")
def status(socket_path, timeout, as_json):
    """Show what the running daemon knows: VRRP, participant, IPVS, keepalived, frontends.

    Asks the daemon over its status socket and prints its uptime, each VRRP
    segment heard (master, routers, active anomalies; with [keepalived]
    config, its keepalived instance and this node's state), each participant
    instance (state, priority, master), the IPVS service count, or why the
    IPVS table is unavailable, keepalived.conf with its drift from the IPVS
    table, the drains the drain guard holds (how often keepalived undid
    each); then a line per frontend: where the exporter listens, the AgentX
    session with snmpd and the subtrees lvsmon serves or leaves to another
    subagent. Exits 3 when no daemon answers.
    """
    state = ask_state(socket_path, timeout)
    if as_json:
        click.echo(json.dumps(to_json(state), indent=2))
        return
    click.echo(render_summary(state, time.time()), nl=False)


# -- rendering ----------------------------------------------------------------


def render_summary(state: DaemonState, now: float) -> str:
    daemon = state.daemon
    uptime = _duration(now - daemon.started_at)
    lines = [
        f"lvsmon {daemon.version} (pid {daemon.pid}), up {uptime}"
        + (f", config {daemon.config_path}" if daemon.config_path else "")
    ]
    lines += _vrrp_lines(state.vrrp)
    lines += _participant_lines(state.participant)
    lines += _ipvs_lines(state.ipvs)
    if state.keepalived.enabled:
        lines += _keepalived_lines(state.keepalived)
        lines += _drift_lines(state.keepalived_diff)
    lines += _drain_lines(state.drains)
    lines += [_frontend_line(name, frontend)
              for name, frontend in sorted(state.frontends.items())]  # fmt: skip
    return "\n".join(lines) + "\n"


def _unavailable(name: str, source: SourceState) -> list[str] | None:
    if not source.enabled:
        return [f"{name}: off"]
    if source.error:
        since = f" since {_clock(source.error_since)}" if source.error_since else ""
        return [f"{name}: unavailable{since}: {source.error}"]
    if not source.available:
        return [f"{name}: starting"]
    return None


def _vrrp_lines(source: SourceState[ObserverSnapshot]) -> list[str]:
    off = _unavailable("VRRP observer", source)
    if off:
        return off
    segments = source.snapshot.segments
    lines = [
        f"VRRP observer: {len(segments)} segment{'' if len(segments) == 1 else 's'} heard "
        f"on {', '.join(source.snapshot.interfaces)}"
    ]
    for view in segments:
        routers = ", ".join(f"{r.address} p{r.priority}" + (" (this node)" if r.this_node else "")
                            for r in view.routers)
        name = ""
        if view.configured is not None:
            name = (f" ({view.keepalived_instance}, this node "
                    f"{view.own_state or 'not known yet'}, configured priority "
                    f"{view.configured.priority})")
        lines.append(
            f"  {view.interface} {view.family} VRID {view.vrid}{name}: master "
            f"{view.master or 'none'}; routers {routers or '-'}; "
            f"anomalies {', '.join(view.anomaly_names) or 'none'}"
        )
    return lines


def _participant_lines(source: SourceState[ParticipantSnapshot]) -> list[str]:
    off = _unavailable("VRRP participant", source)
    if off:
        return off
    lines = ["VRRP participant:"]
    for instance in source.snapshot.instances:
        since = f" since {_clock(instance.since)}" if instance.since else ""
        lines.append(
            f"  {instance.name} ({instance.interface} VRID {instance.vrid}): "
            f"{instance.state}{since}, priority {instance.priority}"
            f" (base {instance.base_priority}), master {instance.master or 'none'}"
        )
    return lines


def _ipvs_lines(source: SourceState[IpvsTable]) -> list[str]:
    off = _unavailable("IPVS", source)
    if off:
        return off
    table = source.snapshot
    count = len(table.services)
    servers = sum(len(service.real_servers) for service in table.services)
    return [
        f"IPVS: {count} service{'' if count == 1 else 's'}, {servers} real "
        f"server{'' if servers == 1 else 's'} (read via {table.source} at "
        f"{_clock(table.read_at_seconds)})"
    ]


def _drain_lines(source: SourceState[DrainGuardSnapshot]) -> list[str]:
    off = _unavailable("Drain guard", source)
    if off:
        return off
    guard = source.snapshot
    count = len(guard.drains)
    lines = [
        f"Drain guard: {count} drain{'' if count == 1 else 's'} held at weight 0 from "
        f"{guard.state_dir}, looked at every {guard.interval_seconds:g} s; set back to 0 "
        f"{guard.reasserted_total} time{'' if guard.reasserted_total == 1 else 's'}"
    ]
    for drain in guard.drains:
        now = "not in IPVS now" if drain.weight is None else f"weight {drain.weight}"
        line = (f"  {drain.service} {drain.real_server}: {now} (saved {drain.saved_weight}, "
                f"drained {drain.drained_at or '-'})")
        if drain.reasserted:
            line += (f"; keepalived wrote {drain.restored_weight} back, set to 0 "
                     f"{drain.reasserted} time{'' if drain.reasserted == 1 else 's'}, last at "
                     f"{_clock(drain.last_reasserted_at)}")
        lines.append(line)
    lines += [f"  unreadable: {problem}" for problem in guard.problems]
    return lines


_FRONTEND_LABELS = {"exporter": "exporter", "agentx": "AgentX"}


def _frontend_line(name: str, frontend: FrontendState) -> str:
    """One line per frontend: where it listens (exporter) or its session with snmpd and the
    subtrees it serves and leaves to another subagent (AgentX)."""
    label = _FRONTEND_LABELS.get(name, name)
    if not frontend.running:
        return f"{label}: off" + (f" ({frontend.error})" if frontend.error else "")
    where = ", ".join(frontend.endpoints) or "-"
    if frontend.connected is None:  # a server: the exporter
        line = f"{label}: listening on {where}"
        return line + (f"; {frontend.error}" if frontend.error else "")
    if not frontend.connected:
        return f"{label}: not connected to {where}, retrying: {frontend.error or 'starting'}"
    line = f"{label}: connected to {where}, serving {', '.join(frontend.served) or 'nothing'}"
    if frontend.refused:
        line += "; refused " + ", ".join(
            entry if " " in entry else f"{entry} (another subagent holds it)"
            for entry in frontend.refused)  # fmt: skip
    return line


def _keepalived_lines(source: SourceState[KeepalivedConf]) -> list[str]:
    conf = source.snapshot
    if conf is None:
        return _unavailable("keepalived.conf", source) or []
    files = len(conf.files)
    lines = [f"keepalived.conf: {conf.source} ({files} file{'' if files == 1 else 's'}, config "
             f"id {conf.config_id}): {len(conf.vrrp_instances)} VRRP instances, "
             f"{len(conf.virtual_servers)} virtual servers"]
    if source.error:  # the last good read is still the one used
        since = f" since {_clock(source.error_since)}" if source.error_since else ""
        lines.append(f"  cannot read it again{since}, the last good read is kept: {source.error}")
    return lines


def _drift_lines(source: SourceState[KeepalivedDiff]) -> list[str]:
    off = _unavailable("keepalived drift", source)
    if off:
        return off
    findings = source.snapshot.findings
    if not findings:
        return ["keepalived drift: none, IPVS is as keepalived.conf configures it"]
    return [f"keepalived drift: {len(findings)} finding{'' if len(findings) == 1 else 's'}",
            *(f"  {finding.kind}: {finding.detail}" for finding in findings)]


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def _clock(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%H:%M:%S", time.localtime(seconds))


def observer_snapshot_from_daemon(socket_path: str, timeout: float) -> ObserverSnapshot:
    """The daemon's observer snapshot (for `lvsmon vrrp status --daemon`)."""
    source = ask_source(socket_path, "vrrp", timeout)
    if not source.enabled:
        raise LvsmonError("the daemon's VRRP observer is off", hint="set [observer] enabled = true")
    if not source.available:
        raise LvsmonError(
            f"the daemon's VRRP observer is unavailable: {source.error or 'starting'}"
        )
    return source.snapshot
