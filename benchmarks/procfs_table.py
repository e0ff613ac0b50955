"""A synthetic IPVS table written as the kernel's /proc/net/ip_vs and ip_vs_stats.

    write_procfs(root, services=1000, per_service=10)   -> root/net/ip_vs, root/net/ip_vs_stats

For benchmarks that compare readers of the same files (lvsmon's procfs source and
node_exporter's ipvs collector with --path.procfs): no IPVS kernel needed. The layout is the
kernel's (net/netfilter/ipvs/ip_vs_ctl.c): hex addresses and ports, fixed columns.
"""

from __future__ import annotations

from pathlib import Path


def _hex_v4(a: int, b: int, c: int, d: int) -> str:
    return f"{a:02X}{b:02X}{c:02X}{d:02X}"


def write_procfs(root: str | Path, services: int = 1000, per_service: int = 10) -> Path:
    net = Path(root) / "net"
    net.mkdir(parents=True, exist_ok=True)
    lines = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn",
    ]
    for index in range(services):
        vip = _hex_v4(10, 100 + index // 62500, (index // 250) % 250, index % 250 + 1)
        lines.append(f"TCP  {vip}:0050 wlc ")
        for server in range(per_service):
            rip = _hex_v4(10, 20 + index // 250, index % 250, server + 1)
            weight = 0 if server == 0 and index % 7 == 0 else 1 + server % 3
            lines.append(f"  -> {rip}:1F90      Masq    {weight:<6} {server * 3:<10} {server * 5}")
    (net / "ip_vs").write_text("\n".join(lines) + "\n")
    (net / "ip_vs_stats").write_text(
        "   Total Incoming Outgoing         Incoming         Outgoing\n"
        "   Conns  Packets  Packets            Bytes            Bytes\n"
        "  16AA370 E33656E5 D0A1B2C3     51D8C8883AB3     A1B2C3D4E5F6\n"
        "\n"
        " Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n"
        "       4    1FB3C    1A2B3          1282A8F          2393A8F\n"
    )
    return Path(root)
