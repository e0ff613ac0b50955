"""`lvsmon keepalived show` (what keepalived.conf configures, as lvsmon reads it) and
`lvsmon keepalived diff` (where the IPVS table differs from it)."""

import json

import click

from lvsmon import keepalived as keepalived_source
from lvsmon.model.codec import to_json
from lvsmon.model.drift import KeepalivedDiff, RealServerDrift, ServiceDrift
from lvsmon.model.keepalived import ConfiguredVirtualServer, KeepalivedConf, VrrpInstance

DRIFT_EXIT = 1  # as diff(1): the kernel differs from the file


@click.group()
def keepalived():
    """keepalived.conf as keepalived reads it: VRRP instances and virtual servers."""


CONFIG_OPTION = click.option(
    "--config",
    "path",
    default=keepalived_source.DEFAULT_CONFIG,
    show_default=True,
    metavar="FILE",
    help="The keepalived configuration file (what keepalived's -f names).",
)
ID_OPTION = click.option(
    "--id",
    "config_id",
    metavar="NAME",
    help="Config id for @NAME / @^NAME lines, as keepalived's -i "
    "[default: the host name up to its first dot].",
)


@keepalived.command()
@CONFIG_OPTION
@ID_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def show(path, config_id, as_json):
    """Show the VRRP instances and virtual servers keepalived.conf configures.

    The file is read with keepalived's own grammar: includes (relative to the
    including file), $NAME definitions, @id conditional lines, ~SEQ/~LST
    sequences. Values are keepalived's after its defaults (priority 100,
    advert_int 1, weight 1, NAT ...). Keywords lvsmon does not use are skipped
    and counted; what keepalived would correct or ignore is listed as a warning.
    A broken file or a bad value is an error naming FILE:LINE (exit 2).
    Passwords are never shown.
    """
    config = keepalived_source.read_config(path, config_id)
    if as_json:
        click.echo(json.dumps(to_json(config), indent=2))
        return
    click.echo(render(config), nl=False)


@keepalived.command()
@CONFIG_OPTION
@ID_OPTION
@click.option(
    "--source",
    type=click.Choice(["auto", "netlink", "procfs"]),
    default="auto",
    show_default=True,
    help="Where to read IPVS, as for `lvsmon ipvs`.",
)
@click.option(
    "--procfs-root",
    type=click.Path(file_okay=False),
    default="/proc",
    show_default=True,
    help="Root of the procfs to read with --source procfs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def diff(ctx, path, config_id, source, procfs_root, as_json):
    """Show where the IPVS table differs from what keepalived.conf configures.

    Reads the file as `keepalived show` does and the kernel's table as
    `lvsmon ipvs` does, and lists: configured services missing from the
    kernel; configured real servers absent (their health check failed) or at
    weight 0 (inhibit_on_failure, or drained); weights other than the
    configured ones (changed by hand, dynamic); sorry servers serving (the
    quorum is lost) with the real servers that are down; real servers and
    services in the kernel that the file does not configure.

    Exit codes: 0 the kernel is as configured, 1 it differs (as diff(1)),
    2 the file is broken, 3 no IPVS, 4 permission denied (netlink needs
    CAP_NET_ADMIN; --source procfs needs none).
    """
    from lvsmon import ipvs as ipvs_source
    from lvsmon.keepalived.diff import compare

    config = keepalived_source.read_config(path, config_id)
    table = ipvs_source.read_table(source=source, procfs_root=procfs_root)
    found = compare(config, table)
    if as_json:
        click.echo(json.dumps(to_json(found), indent=2))
    else:
        for warning in (*table.warnings, *found.warnings):
            click.echo(f"lvsmon: warning: {warning}", err=True)
        click.echo(render_diff(found, table.source), nl=False)
    if found.findings:
        ctx.exit(DRIFT_EXIT)


def render_diff(found: KeepalivedDiff, ipvs_source: str) -> str:
    lines = [f"{found.config_source} against the IPVS table (read via {ipvs_source})"]
    for service in found.services:
        lines += _service_drift_lines(service)
    if found.unconfigured_services:
        lines += ["", "In the kernel, not in keepalived.conf:"]
        lines += [f"  {name}" for name in found.unconfigured_services]
    findings = found.findings
    lines.append("")
    if not findings:
        lines.append("No difference: IPVS is as keepalived.conf configures it.")
    else:
        lines.append(f"Differences: {len(findings)}")
        lines += [f"  {finding.kind}: {finding.detail}" for finding in findings]
    return "\n".join(lines) + "\n"


def _service_drift_lines(service: ServiceDrift) -> list[str]:
    block = "" if service.virtual_server == service.service else f" of {service.virtual_server}"
    head = f"{service.service}{block} ({service.where})"
    if not service.in_kernel:
        return ["", f"{head}: not in the kernel"]
    out = ["", f"{head}: quorum {service.quorum}",
           f"  {'REAL SERVER':<30} {'CONFIGURED':>10} {'KERNEL':>8}  STATE"]
    out += [_real_server_drift_line(rs) for rs in service.real_servers]
    if service.sorry_server is not None:
        weight = "-" if service.sorry_weight is None else str(service.sorry_weight)
        state = "serving (quorum lost)" if service.sorry_serving else "not serving"
        out.append(f"  {'sorry ' + service.sorry_server:<30} {'':>10} {weight:>8}  {state}")
    return out


_STATES = {None: "as configured", "real_server_absent": "absent",
           "real_server_weight_zero": "weight 0", "weight_changed": "weight changed",
           "real_server_unconfigured": "not configured"}  # fmt: skip


def _real_server_drift_line(rs: RealServerDrift) -> str:
    configured = "-" if rs.configured_weight is None else str(rs.configured_weight)
    weight = "-" if rs.weight is None else str(rs.weight)
    return f"  {rs.real_server:<30} {configured:>10} {weight:>8}  {_STATES[rs.kind]}"


def render(config: KeepalivedConf) -> str:
    files = len(config.files)
    lines = [
        f"{config.source}: {files} file{'s' if files != 1 else ''} read, "
        f"config id {config.config_id}"
        + (f", router_id {config.router_id}" if config.router_id else "")
    ]
    lines += ["", f"VRRP instances: {len(config.vrrp_instances)}"]
    for instance in config.vrrp_instances:
        lines += _instance_lines(config, instance)
    lines += ["", f"Virtual servers: {len(config.virtual_servers)}"]
    for vs in config.virtual_servers:
        lines += _virtual_server_lines(vs)
    if config.virtual_server_groups:
        lines += ["", f"Virtual server groups: {len(config.virtual_server_groups)}"]
        for group in config.virtual_server_groups:
            lines.append(f"  {group.name}: " + ", ".join(str(m) for m in group.members))
    if config.track_files:
        lines += ["", f"Track files: {len(config.track_files)}"]
        for track in config.track_files:
            lines.append(f"  {track.name}: {track.path or '-'} weight {track.weight}")
    lines += ["", f"Skipped keywords (not used by lvsmon): {config.skipped_total}"]
    lines += [f"  {count:5d}  {name}" for name, count in config.skipped_keywords.items()]
    if config.warnings:
        lines += ["", f"Warnings: {len(config.warnings)}"]
        lines += [f"  {warning}" for warning in config.warnings]
    return "\n".join(lines) + "\n"


def _instance_lines(config: KeepalivedConf, i: VrrpInstance) -> list[str]:
    auth = "" if i.auth_type == "none" else f"  auth {i.auth_type}"
    head = (
        f"  {i.name}  {i.interface or '-'} vrid {i.vrid}  {i.state} priority {i.priority}  "
        f"advert {i.advert_interval_seconds:g} s  VRRPv{i.version}{auth}"
    )
    out = [head, "      vips " + (" ".join(_vip(v) for v in i.vips) or "-")]
    if i.unicast_src_ip or i.unicast_peers:
        peers = ", ".join(i.unicast_peers) or "none (multicast)"
        out.append(f"      unicast from {i.unicast_src_ip or '(interface address)'} to {peers}")
    extras = []
    if i.track_scripts:
        extras.append("track " + ", ".join(f"{t.name} ({t.weight:+d})" for t in i.track_scripts))
    if i.nopreempt:
        extras.append("nopreempt")
    group = config.sync_group_of(i.name)
    if group:
        extras.append(f"sync group {group.name}")
    if extras:
        out.append("      " + "; ".join(extras))
    return out


def _vip(vip) -> str:
    return str(vip) + (f" dev {vip.interface}" if vip.interface else "")


def _virtual_server_lines(vs: ConfiguredVirtualServer) -> list[str]:
    name = vs.service or f"group {vs.group} ({vs.protocol or 'fwm'})"
    settings = [vs.scheduler, vs.method]
    if vs.persistence_timeout_seconds is not None:
        settings.append(f"persistent {vs.persistence_timeout_seconds} s")
        if vs.persistence_prefix_length is not None:
            settings.append(f"/{vs.persistence_prefix_length}")
    settings.append(f"quorum {vs.quorum} hysteresis {vs.hysteresis}")
    if vs.inhibit_on_failure:
        settings.append("inhibit_on_failure")
    out = [f"  {name}  " + "  ".join(settings)]
    for rs in vs.real_servers:
        checks = " ".join(c.kind for c in rs.checkers) or "no checker"
        inhibit = "  inhibit_on_failure" if rs.inhibit_on_failure else ""
        out.append(
            f"    -> {rs.endpoint:<28} {rs.method:<6} weight {rs.weight:<5} {checks}{inhibit}"
        )
    if vs.sorry:
        sorry = vs.sorry
        inhibit = "  inhibit" if sorry.inhibit else ""
        out.append(f"    sorry server {sorry.endpoint} {sorry.method}{inhibit}")
    return out
