"""`lvsmon ipvs`: the IPVS table for people (ipvsadm -Ln style) and machines (--json)."""

import json

import click

from lvsmon import ipvs as ipvs_source
from lvsmon.model import Counters, IpvsTable, VirtualService, join_host_port
from lvsmon.model.codec import to_json


@click.command()
@click.option(
    "--stats", "show", flag_value="stats", help="Show counters: connections, packets, bytes."
)
@click.option(
    "--rate", "show", flag_value="rate", help="Show the kernel's per-second rate estimates."
)
@click.option("--exact", is_flag=True, help="With --stats/--rate: full numbers, no K/M/G suffixes.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (a list of services) for machines."
)
@click.option(
    "--source",
    type=click.Choice(["auto", "netlink", "procfs"]),
    default="auto",
    show_default=True,
    help="Where to read: generic netlink (complete, 64-bit), /proc/net/ip_vs "
    "(no per-service counters), or netlink with procfs as a fallback.",
)
@click.option(
    "--procfs-root",
    type=click.Path(file_okay=False),
    default="/proc",
    show_default=True,
    help="Root of the procfs to read with --source procfs (e.g. a saved copy).",
)
def ipvs(show, exact, as_json, source, procfs_root):
    """Show the IPVS virtual services and their real servers.

    The human table follows `ipvsadm -Ln`; a value the source cannot know
    (for example per-service counters through procfs) shows as "-" and as
    null in JSON. Reading over netlink needs CAP_NET_ADMIN.
    """
    table = ipvs_source.read_table(source=source, procfs_root=procfs_root)
    if as_json:
        click.echo(json.dumps(to_json(table.services), indent=2))
        return
    for warning in table.warnings:
        click.echo(f"lvsmon: warning: {warning}", err=True)
    click.echo(render_table(table, show, exact), nl=False)


# --- human table -----------------------------------------------------------

_ADDR_WIDTH = 33


def render_table(table: IpvsTable, show: str | None, exact: bool) -> str:
    lines = [_banner(table)]
    if show == "stats":
        lines += _counter_header("Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
    elif show == "rate":
        lines += _counter_header("CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
    else:
        lines.append("Prot LocalAddress:Port Scheduler Flags")
        lines.append(
            f"  -> {'RemoteAddress:Port':<{_ADDR_WIDTH - 5}} Forward Weight ActiveConn InActConn"
        )
    for svc in table.services:
        if show:
            counters = svc.stats if show == "stats" else svc.rates
            lines.append(_counter_row(_service_label(svc), counters, exact))
            for rs in svc.real_servers:
                counters = rs.stats if show == "stats" else rs.rates
                lines.append(_counter_row(f"  -> {rs.endpoint}", counters, exact))
        else:
            lines.append(f"{_service_label(svc)} {svc.scheduler}{_service_options(svc)}")
            for rs in svc.real_servers:
                lines.append(
                    f"  -> {rs.endpoint:<{_ADDR_WIDTH - 5}} {rs.forward.capitalize():<7} "
                    f"{rs.weight:<6} {rs.active_connections:<10} {rs.inactive_connections}"
                )
    if show and table.stats != Counters():
        totals = table.stats if show == "stats" else table.rates
        lines.append(_counter_row("Total", totals, exact))
    if not table.services:
        lines.append("(no virtual services)")
    return "\n".join(lines) + "\n"


def _banner(table: IpvsTable) -> str:
    version = table.version or "?"
    size = f" (size={table.connection_table_size})" if table.connection_table_size else ""
    return f"IP Virtual Server version {version}{size}, read via {table.source}"


def _service_label(svc: VirtualService) -> str:
    if svc.protocol == "fwm":
        label = f"FWM  {svc.fwmark}"
        return label + (" IPv6" if svc.key.family == "inet6" else "")
    return f"{svc.protocol.upper():<4} {join_host_port(svc.address, svc.port)}"


def _service_options(svc: VirtualService) -> str:
    parts = [flag for flag in svc.flags if flag not in ("persistent", "hashed")]
    if svc.persistence_timeout_seconds is not None:
        parts.append(f"persistent {svc.persistence_timeout_seconds}")
    elif "persistent" in svc.flags:
        parts.append("persistent ?")
        if svc.persistence_prefix_length is not None:
            parts.append(f"mask /{svc.persistence_prefix_length}")
    if svc.persistence_engine:
        parts.append(f"pe {svc.persistence_engine}")
    return (" " + " ".join(parts)) if parts else ""


def _counter_header(*names: str) -> list[str]:
    heads = "".join(f"{name:>9}" for name in names)
    return [
        f"{'Prot LocalAddress:Port':<{_ADDR_WIDTH}}{heads}",
        "  -> RemoteAddress:Port",
    ]


def _counter_row(label: str, counters: Counters, exact: bool) -> str:
    cells = "".join(f" {_number(v, exact):>8}" for v in counters.values())
    if len(label) >= _ADDR_WIDTH:
        return f"{label}\n{'':<{_ADDR_WIDTH}}{cells}"
    return f"{label:<{_ADDR_WIDTH}}{cells}"


def _number(value: int | None, exact: bool) -> str:
    """ipvsadm's short form: at most five digits, then K/M/G/T (powers of 1000)."""
    if value is None:
        return "-"
    if exact:
        return str(value)
    for suffix in ("", "K", "M", "G", "T"):
        if value < 100_000:
            return f"{value}{suffix}"
        value //= 1000
    return f"{value}P"
