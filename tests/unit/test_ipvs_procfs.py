"""The procfs reader on saved /proc/net/ip_vs and ip_vs_stats files.

tests/fixtures/ipvs/ip_vs and ip_vs_stats are copies of the shared public
samples (IPv4, IPv6, firewall mark, totals). The other samples were written with
the kernel's own printf formats from ip_vs_info_seq_show()/ip_vs_stats_show(),
trailing spaces included. Expected numbers were decoded by hand from the hex.
"""

import shutil
from pathlib import Path

import pytest

from lvsmon.errors import IpvsUnavailable, ParseError
from lvsmon.ipvs.procfs import kernel_hz, read_procfs, read_totals
from lvsmon.model import Counters, RealServer, ServiceKey

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ipvs"
UNKNOWN = Counters(None, None, None, None, None)


def procfs(tmp_path: Path, ip_vs: str | None = "ip_vs", stats: str | None = "ip_vs_stats") -> Path:
    """A procfs root holding net/ip_vs and net/ip_vs_stats copied from fixtures."""
    net = tmp_path / "proc" / "net"
    net.mkdir(parents=True)
    if ip_vs:
        shutil.copy(FIXTURES / ip_vs, net / "ip_vs")
    if stats:
        shutil.copy(FIXTURES / stats, net / "ip_vs_stats")
    return tmp_path / "proc"


def write(root: Path, name: str, text: str) -> Path:
    path = root / "net" / name
    path.write_text(text)
    return path


def rs(address, port, forward, weight, active, inactive):
    return RealServer(address, port, forward, weight, active, inactive)


# --- the shared samples -------------------------------------------------------------------


def test_shared_sample_ipv4_ipv6_and_firewall_mark(tmp_path):
    table = read_procfs(procfs(tmp_path))
    assert table.source == "procfs"
    assert table.version == "1.2.1"
    assert table.connection_table_size == 4096
    assert table.warnings == ()
    assert [str(s.key) for s in table.services] == [
        "tcp:192.168.0.22:3306",  # C0A80016:0CEA
        "tcp:192.168.0.57:3306",  # C0A80039
        "tcp:192.168.0.55:3306",  # C0A80037
        "tcp:[2620::1]:80",  # 0050
        "fwm:268439552",  # FWM 10001000 (hex)
    ]
    first = table.services[0]
    assert first.key == ServiceKey("tcp", "inet", "192.168.0.22", 3306)
    assert first.scheduler == "wlc"
    assert first.flags == ("hashed",)
    assert first.persistence_timeout_seconds is None
    assert first.real_servers == (
        rs("192.168.82.22", 3306, "tunnel", 100, 248, 2),  # C0A85216
        rs("192.168.83.24", 3306, "tunnel", 100, 248, 2),  # C0A85318
        rs("192.168.83.21", 3306, "tunnel", 100, 248, 1),  # C0A85315
    )
    assert table.services[1].real_servers == (
        rs("192.168.84.22", 3306, "tunnel", 0, 0, 0),
        rs("192.168.82.21", 3306, "tunnel", 100, 1499, 0),
        rs("192.168.50.21", 3306, "tunnel", 100, 1498, 0),
    )
    assert table.services[2].real_servers == (
        rs("192.168.50.26", 3306, "tunnel", 0, 0, 0),  # C0A8321A
        rs("192.168.49.32", 3306, "tunnel", 100, 0, 0),  # C0A83120
    )

    ipv6 = table.services[3]
    assert ipv6.key == ServiceKey("tcp", "inet6", "2620::1", 80)
    assert ipv6.scheduler == "sh"
    assert ipv6.real_servers == (
        rs("2620::2", 80, "route", 1, 0, 0),
        rs("2620::3", 80, "route", 1, 0, 0),
        rs("2620::4", 80, "route", 1, 1, 1),
    )

    fwm = table.services[4]
    assert fwm.key == ServiceKey("fwm", None, fwmark=0x10001000)
    assert fwm.fwmark == 268439552
    assert fwm.real_servers == (
        rs("192.168.50.26", 3306, "route", 0, 0, 1),
        rs("192.168.50.21", 3306, "route", 0, 0, 2),
    )


def test_what_procfs_cannot_know_is_none(tmp_path):
    table = read_procfs(procfs(tmp_path))
    for svc in table.services:
        assert svc.stats == UNKNOWN and svc.rates == UNKNOWN
        assert svc.persistence_engine is None
        for real in svc.real_servers:
            assert real.stats == UNKNOWN and real.rates == UNKNOWN
            assert real.upper_threshold is None
            assert real.lower_threshold is None
            assert real.persistent_connections is None


def test_shared_sample_totals(tmp_path):
    table = read_procfs(procfs(tmp_path))
    assert table.stats == Counters(
        connections=23_765_872,  # 16AA370
        packets_in=3_811_989_221,  # E33656E5
        packets_out=0,
        bytes_in=89_991_519_156_915,  # 51D8C8883AB3
        bytes_out=0,
    )
    assert table.rates == Counters(
        connections=4, packets_in=129_852, packets_out=0, bytes_in=19_409_551, bytes_out=0
    )  # 4, 1FB3C, 0, 1282A8F, 0


# --- samples in the kernel's exact layout -------------------------------------------------


def test_kernel_layout_sctp_udp_persistent_and_trailing_spaces(tmp_path):
    table = read_procfs(procfs(tmp_path, "ip_vs_kernel_format"), hz=250)
    assert table.connection_table_size == 65536
    assert table.warnings == ()
    sctp, udp, tcp, ipv6, fwm, plain, fwm_plain = table.services

    assert sctp.key == ServiceKey("sctp", "inet", "10.0.0.1", 3868)  # 0A000001:0F1C
    assert sctp.scheduler == "rr"
    assert sctp.flags == ("hashed",)
    assert sctp.real_servers == (
        rs("10.0.1.2", 3868, "masq", 1, 0, 0),
        rs("10.0.1.3", 3869, "masq", 0, 2, 1),  # 0F1D
    )

    assert udp.key == ServiceKey("udp", "inet", "10.0.0.1", 53)
    assert udp.flags == ("hashed", "onepacket")  # "ops"
    assert udp.persistence_timeout_seconds is None
    assert udp.real_servers == (rs("10.0.1.4", 53, "route", 5, 0, 12),)

    assert tcp.key == ServiceKey("tcp", "inet", "10.0.0.1", 443)
    assert tcp.flags == ("persistent", "hashed")
    assert tcp.persistence_timeout_seconds == 300  # 75000 jiffies / HZ 250
    assert tcp.persistence_prefix_length == 24  # FFFFFF00
    assert tcp.real_servers == (rs("10.0.1.5", 443, "local", 1, 3, 4),)

    assert ipv6.key == ServiceKey("tcp", "inet6", "2001:db8::1", 80)
    assert ipv6.persistence_timeout_seconds == 360  # 90000 / 250
    # ntohl() of host-order 64 on a little-endian machine prints 40000000
    assert ipv6.persistence_prefix_length == 64
    assert ipv6.real_servers == (rs("2001:db8::2", 8080, "tunnel", 65535, 7, 8),)

    assert fwm.key == ServiceKey("fwm", None, fwmark=7)
    assert fwm.flags == ("persistent", "hashed", "onepacket")
    assert fwm.persistence_timeout_seconds == 10  # 2500 / 250
    assert fwm.persistence_prefix_length is None  # IPv4 mask or IPv6 length: unknown
    assert fwm.real_servers == (rs("10.0.1.6", 0, "route", 2, 0, 0),)

    assert plain.key == ServiceKey("tcp", "inet", "10.0.0.2", 80)
    assert plain.real_servers == ()
    assert fwm_plain.key == ServiceKey("fwm", None, fwmark=16)  # 00000010
    assert fwm_plain.real_servers == ()


def test_ipv6_prefix_length_from_a_big_endian_machine(tmp_path):
    root = procfs(tmp_path, "ip_vs_kernel_format")
    text = (root / "net" / "ip_vs").read_text().replace("90000 40000000", "90000 00000040")
    write(root, "ip_vs", text)
    ipv6 = read_procfs(root, hz=250).services[3]
    assert ipv6.persistence_prefix_length == 64


def test_persistence_timeout_without_hz_is_unknown_and_said(tmp_path):
    table = read_procfs(procfs(tmp_path, "ip_vs_kernel_format"))  # no config.gz in the copy
    tcp = table.services[2]
    assert "persistent" in tcp.flags
    assert tcp.persistence_timeout_seconds is None
    assert tcp.persistence_prefix_length == 24
    assert len(table.warnings) == 3
    assert "ip_vs:9: persistence timeout of tcp:10.0.0.1:443 unknown" in table.warnings[0]
    assert "75000 jiffies" in table.warnings[0]


def test_hz_from_config_gz(tmp_path):
    import gzip

    root = procfs(tmp_path, "ip_vs_kernel_format")
    (root / "config.gz").write_bytes(gzip.compress(b"CONFIG_X=y\nCONFIG_HZ=1000\nCONFIG_Y=m\n"))
    assert kernel_hz(root) == 1000
    assert read_procfs(root).services[2].persistence_timeout_seconds == 75


def test_non_prefix_ipv4_netmask_is_a_warning(tmp_path):
    root = procfs(tmp_path, "ip_vs_kernel_format")
    text = (root / "net" / "ip_vs").read_text().replace("75000 FFFFFF00", "75000 FF00FF00")
    write(root, "ip_vs", text)
    table = read_procfs(root, hz=250)
    assert table.services[2].persistence_prefix_length is None
    assert any("netmask FF00FF00" in w for w in table.warnings)


def test_64_bit_totals(tmp_path):
    table = read_procfs(procfs(tmp_path, stats="ip_vs_stats_64bit"))
    assert table.stats == Counters(
        connections=4_294_967_297,  # 100000001: wider than 32 bits
        packets_in=4_294_967_295,  # FFFFFFFF
        packets_out=42,  # 2A
        bytes_in=1_311_768_467_463_790_320,  # 123456789ABCDEF0
        bytes_out=57_005,  # DEAD
    )
    assert table.rates == Counters(16, 512, 511, 262_144, 262_143)  # 10 200 1FF 40000 3FFFF
    assert read_totals(procfs(tmp_path / "b", stats="ip_vs_stats_64bit")) == (
        table.stats,
        table.rates,
    )


# --- errors -------------------------------------------------------------------------------


def test_truncated_table_names_the_cut_line(tmp_path):
    root = procfs(tmp_path, "ip_vs_truncated")
    with pytest.raises(ParseError) as caught:
        read_procfs(root, hz=250)
    assert caught.value.path == str(root / "net" / "ip_vs")
    assert caught.value.line == 14
    assert "cut off" in caught.value.why
    assert "Rou" in caught.value.why


def test_truncated_stats_names_the_cut_line(tmp_path):
    root = procfs(tmp_path, stats="ip_vs_stats_truncated")
    with pytest.raises(ParseError) as caught:
        read_procfs(root)
    assert caught.value.path == str(root / "net" / "ip_vs_stats")
    assert caught.value.line == 6
    assert "cut off" in str(caught.value)


def test_missing_table_says_ipvs_is_not_loaded(tmp_path):
    root = procfs(tmp_path, ip_vs=None)
    with pytest.raises(IpvsUnavailable) as caught:
        read_procfs(root)
    assert "no IPVS in this kernel" in str(caught.value)
    assert "modprobe ip_vs" in caught.value.hint


def test_missing_stats_leaves_totals_unknown(tmp_path):
    table = read_procfs(procfs(tmp_path, stats=None))
    assert table.stats == UNKNOWN and table.rates == UNKNOWN
    assert len(table.services) == 5
    assert any("ip_vs_stats is missing" in w for w in table.warnings)


HEADER = (
    "IP Virtual Server version 1.2.1 (size=4096)\n"
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
)


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("", 1, "empty file"),
        ("IP Virtual Server\n", 1, "not an IPVS table header"),
        (HEADER.replace("Prot", "Proto"), 2, "column titles"),
        (HEADER + "  -> 0A000102:0050      Masq    1      0          0\n", 4, "before any service"),
        (HEADER + "TCP  0A000001:0050 wlc\nbogus\n", 5, "not a service or real server line"),
        (HEADER + "ICMP  0A000001:0050 wlc\n", 4, "unknown protocol"),
        (HEADER + "TCP  0A000001:0050 wlc\n  -> 0A000102:0050      Bridge  1 0 0\n", 5,
         "unknown forwarding method"),
        (HEADER + "TCP  0A000001:0050 wlc\n  -> 0A000102:0050      Masq    x 0 0\n", 5,
         "not a real server line"),
        (HEADER + "TCP  0A000001:0050 wlc sticky\n", 4, "unexpected flags"),
        (HEADER + "TCP  0A000001:0050 wlc persistent soon FFFFFFFF\n", 4, "bad persistence"),
        (HEADER + "TCP  [2001:db8:::1]:0050 wlc\n", 4, "bad IPv6 address"),
        (HEADER + "FWM  00000000 wlc\n", 4, "firewall mark 0"),
    ],
)  # fmt: skip
def test_malformed_table_names_file_and_line(tmp_path, text, line, why):
    root = procfs(tmp_path, ip_vs=None)
    path = write(root, "ip_vs", text)
    with pytest.raises(ParseError) as caught:
        read_procfs(root)
    assert (caught.value.path, caught.value.line) == (str(path), line)
    assert why in caught.value.why
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_malformed_stats_names_the_line(tmp_path):
    root = procfs(tmp_path, stats=None)
    good = (FIXTURES / "ip_vs_stats").read_text()
    path = write(root, "ip_vs_stats", good.replace("E33656E5", "E33656G5"))
    with pytest.raises(ParseError) as caught:
        read_procfs(root)
    assert (caught.value.path, caught.value.line) == (str(path), 3)
    write(root, "ip_vs_stats", good.replace("Conns/s", "Conn/s"))
    with pytest.raises(ParseError) as caught:
        read_procfs(root)
    assert caught.value.line == 5
