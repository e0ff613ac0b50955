"""`lvsmon config check`: every problem of a configuration file at once, or what would run."""

from __future__ import annotations

import click

from lvsmon.cli.plugins import PluginGroup
from lvsmon.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load


@click.group(cls=PluginGroup)
def config():
    """The configuration file of `lvsmon run` (and of `lvsmon snat run`)."""


@config.command()
@click.argument("file", default=DEFAULT_CONFIG_PATH, type=click.Path(dir_okay=False))
def check(file):
    """Check FILE as `lvsmon run` would read it [default: /etc/lvsmon/lvsmon.toml].

    Prints every problem, one per line, each with the file, the line, the
    section and the key ("lvsmon.toml:12: [ipvs] interval: 0.1 out of range
    0.5..3600"), and exits 2. A [snat] table is checked too, as `lvsmon snat
    run` reads it. When all is well, prints "FILE: OK" and one line saying
    what the daemon would run, and exits 0. Opens nothing but FILE.
    """
    from lvsmon.cli.plugins import frontend_factories

    loaded = load(file)
    # What only a frontend can judge (e.g. the exporter's web-config file's contents).
    problems = [problem for factory in frontend_factories().values()
                for problem in factory().check(loaded)]  # fmt: skip
    if problems:
        raise ConfigError(problems)
    click.echo(f"{file}: OK")
    click.echo(summary(loaded))


def summary(config: Config) -> str:
    """One line: what `lvsmon run` would start with this configuration."""
    parts = []
    observer = config.observer
    if observer.enabled:
        where = ", ".join(observer.interfaces) or "every interface that is up"
        parts.append(f"VRRP observer on {where}")
    else:
        parts.append("VRRP observer off")
    if config.vrrp_instances:
        instances = ", ".join(f"{i.name} ({i.interface} VRID {i.vrid}, priority {i.priority})"
                              for i in config.vrrp_instances)  # fmt: skip
        parts.append(f"participant: {instances}")
    else:
        parts.append("no participant")
    ipvs = config.ipvs
    if ipvs.enabled:
        procfs = "" if ipvs.procfs_root == "/proc" else f", procfs under {ipvs.procfs_root}"
        parts.append(f"IPVS every {ipvs.interval:g} s ({ipvs.source}{procfs})")
    else:
        parts.append("IPVS off")
    exporter = config.exporter
    if exporter.enabled:
        tls = f", web config {exporter.web_config}" if exporter.web_config else ""
        parts.append(f"exporter on {', '.join(exporter.listen)}{tls}")
    else:
        parts.append("exporter off")
    agentx = config.agentx
    parts.append(f"AgentX to {agentx.master} under {agentx.base_oid}" if agentx.enabled
                 else "AgentX off")  # fmt: skip
    keepalived = config.keepalived
    if keepalived.config:
        parts.append(f"keepalived config {keepalived.config}"
                     + (f" (id {keepalived.id})" if keepalived.id else ""))  # fmt: skip
    else:
        parts.append("no keepalived config")
    log = config.log
    if log.target == "syslog":
        parts.append(f"log to syslog {log.syslog_socket} ({log.facility}) at {log.level}")
    else:
        parts.append(f"log to stderr at {log.level}")
    return "; ".join(parts)
