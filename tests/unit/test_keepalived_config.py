"""What lvsmon makes of keepalived.conf: keepalived's defaults and corrections, the model,
its JSON (and back), and `lvsmon keepalived show`.

The rules come from keepalived 2.2's sources; the lab and guest tests hold the
same readings against keepalived's own data dump.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsmon.keepalived import read_config
from lvsmon.model import (
    Checker,
    ConfiguredRealServer,
    ConfiguredVirtualServer,
    GroupMember,
    KeepalivedConf,
    ServiceKey,
    SorryServer,
    TrackFile,
    TrackScript,
    Vip,
    VirtualServerGroup,
    VrrpInstance,
    VrrpSyncGroup,
)
from lvsmon.model.codec import from_json, to_json
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.keepalived import auth_pass_digest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path("/usr/share/doc/keepalived/samples")
VALID = REPO / "tests" / "fixtures" / "keepalived" / "valid"


def read(tmp_path: Path, text: str, config_id: str = "lb1") -> KeepalivedConf:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return read_config(str(path), config_id)


def instance(body: str, name: str = "V", vips: str = "10.0.0.1") -> str:
    return (f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id 1\n{body}\n"
            f" virtual_ipaddress {{\n  {vips}\n }}\n}}\n")


def server(body: str, head: str = "10.0.0.100 80", real: str = "") -> str:
    real = real or " real_server 10.0.1.1 80 {\n }\n"
    return f"virtual_server {head} {{\n{body}\n{real}}}\n"


LVS = " lvs_sched rr\n lvs_method NAT\n protocol TCP"


# -- the samples keepalived installs -------------------------------------------------------


def sample_files(tmp_path: Path) -> list[Path]:
    files = []
    for path in sorted(SAMPLES.glob("keepalived.conf*")):
        if path.name.endswith(".gz"):
            target = tmp_path / path.name[: -len(".gz")]
            with gzip.open(path, "rb") as packed, open(target, "wb") as plain:
                shutil.copyfileobj(packed, plain)
            path = target
        files.append(path)
    return files


def test_every_sample_reads_and_round_trips(tmp_path):
    files = sample_files(tmp_path)
    assert len(files) >= 20, f"keepalived's samples missing from {SAMPLES}"
    for path in files:
        config = read_config(str(path), "lb1")
        assert config.vrrp_instances or config.virtual_servers, path
        assert from_json(KeepalivedConf, json.loads(json.dumps(to_json(config)))) == config


def test_samples_read_as_keepalived_runs_them():
    sample = read_config(str(SAMPLES / "keepalived.conf.sample"), "lb1")
    (vi,) = sample.vrrp_instances
    assert (vi.name, vi.vrid, vi.state, vi.priority, vi.nopreempt, vi.version) == (
        "VI_1", 50, "BACKUP", 100, True, 2)
    (vs,) = sample.virtual_servers
    assert (vs.service, vs.scheduler, vs.method, vs.persistence_timeout_seconds) == (
        "tcp:10.10.10.2:1358", "rr", "masq", 50)
    assert vs.sorry == SorryServer("192.168.200.200", 1358, "masq")
    assert [c.kind for c in vs.real_servers[0].checkers] == ["HTTP_GET"]

    ssl = read_config(str(SAMPLES / "keepalived.conf.SSL_GET"), "lb1")
    assert (ssl.vrrp_instances[0].auth_type, ssl.vrrp_instances[0].state) == ("ah", "BACKUP")
    fwmark = read_config(str(SAMPLES / "keepalived.conf.fwmark"), "lb1")
    assert fwmark.virtual_servers[0].service == "fwm:1"
    assert [rs.endpoint for rs in fwmark.virtual_servers[0].real_servers] == [
        "192.168.201.100:0", "192.168.201.101:0"]
    smtp = read_config(str(SAMPLES / "keepalived.conf.SMTP_CHECK"), "lb1")
    assert [len(rs.checkers) for rs in smtp.virtual_servers[0].real_servers] == [1, 4, 4]
    ipv6 = read_config(str(SAMPLES / "keepalived.conf.IPv6"), "lb1")
    assert ipv6.virtual_servers[0].service == "tcp:[ae00::1]:80"
    assert ipv6.virtual_server_groups[0].members[0] == GroupMember(
        "ae00::2", "ae00::9", 80, family="inet6")


# -- VRRP defaults and corrections -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ("BACKUP", 100)),
        (" state MASTER", ("MASTER", 255)),
        (" priority 255", ("MASTER", 255)),
        (" state MASTER\n priority 150", ("MASTER", 150)),
        (" state MASTER\n state BACKUP", ("MASTER", 255)),  # BACKUP after MASTER is ignored
    ],
)
def test_state_and_priority_defaults(tmp_path, body, expected):
    vi = read(tmp_path, instance(body)).vrrp_instances[0]
    assert (vi.state, vi.priority) == expected


def test_versions(tmp_path):
    config = read(tmp_path, "global_defs {\n vrrp_version 3\n}\n" + instance("", "A")
                  + instance(" version 2", "B") + instance("", "C", vips="2001:db8::1"))
    assert [(i.version, i.family) for i in config.vrrp_instances] == [
        (3, "inet"), (2, "inet"), (3, "inet6")]
    assert read(tmp_path, instance("")).vrrp_instances[0].version == 2


@pytest.mark.parametrize(
    ("body", "centiseconds", "warned"),
    [
        ("", 100, False),
        (" advert_int 3", 300, False),
        (" advert_int 1.5", 200, True),  # VRRPv2: whole seconds
        (" advert_int 0.4", 100, True),
        (" version 3\n advert_int 0.5", 50, False),
        (" version 3\n advert_int 0.123", 12, True),  # VRRPv3: centiseconds
        (" version 3\n advert_int 50", 4095, True),
    ],
)
def test_advert_int(tmp_path, body, centiseconds, warned):
    config = read(tmp_path, instance(body))
    assert config.vrrp_instances[0].advert_interval_centiseconds == centiseconds
    assert bool(config.warnings) == warned, config.warnings


def test_authentication_keeps_no_password(tmp_path):
    text = instance(" authentication {\n  auth_type PASS\n  auth_pass s3cret-pw\n }")
    config = read(tmp_path, text)
    vi = config.vrrp_instances[0]
    assert vi.auth_type == "simple"
    dumped = json.dumps(to_json(config)) + repr(config)
    assert "s3cret" not in dumped
    assert vi.auth_pass_matches(b"s3cret-p")  # keepalived sends the first 8 bytes
    assert not vi.auth_pass_matches(b"s3cret-x")
    assert vi.auth_pass_digest == auth_pass_digest("V", "s3cret-pw")
    assert any("longer than 8" in w for w in config.warnings)


@pytest.mark.parametrize(
    ("body", "auth_type", "state"),
    [
        (" version 3\n authentication {\n  auth_type PASS\n  auth_pass x\n }", "none", "BACKUP"),
        (" authentication {\n  auth_type PASS\n }", "none", "BACKUP"),  # no password
        (" state MASTER\n priority 100\n authentication {\n  auth_type AH\n  auth_pass x\n }",
         "ah", "BACKUP"),
    ],
)
def test_authentication_corrections(tmp_path, body, auth_type, state):
    config = read(tmp_path, instance(body))
    vi = config.vrrp_instances[0]
    assert (vi.auth_type, vi.state) == (auth_type, state)
    assert config.warnings


def test_nopreempt_is_cleared_where_keepalived_clears_it(tmp_path):
    config = read(tmp_path, instance(" nopreempt", "A") + instance(" state MASTER\n nopreempt",
                  "B") + instance(" priority 255\n nopreempt", "C"))  # fmt: skip
    assert [i.nopreempt for i in config.vrrp_instances] == [True, False, False]


def test_unicast(tmp_path):
    body = (" unicast_src_ip 10.0.0.2\n unicast_peer {\n  10.0.0.3\n  10.0.0.4 min_ttl 2\n }")
    vi = read(tmp_path, instance(body)).vrrp_instances[0]
    assert (vi.unicast, vi.unicast_src_ip, vi.unicast_peers) == (
        True, "10.0.0.2", ("10.0.0.3", "10.0.0.4"))
    alone = read(tmp_path, instance(" unicast_src_ip 10.0.0.2")).vrrp_instances[0]
    assert not alone.unicast  # no peers: keepalived stays multicast


def test_vips_with_prefix_and_device(tmp_path):
    vips = "10.0.0.1/24 dev eth1 label eth1:0\n  10.0.0.2\n  10.0.0.3/32 brd 10.0.0.255"
    vi = read(tmp_path, instance("", vips=vips)).vrrp_instances[0]
    assert vi.vips == (Vip("10.0.0.1", 24, "eth1"), Vip("10.0.0.2", 32), Vip("10.0.0.3", 32))
    assert vi.vip_addresses == ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    assert str(vi.vips[0]) == "10.0.0.1/24"


def test_addresses_are_normalised(tmp_path):
    vi = read(tmp_path, instance("", vips="2001:DB8:0::0:1/64")).vrrp_instances[0]
    assert vi.vips[0].address == "2001:db8::1"


def test_track_scripts(tmp_path):
    scripts = ("vrrp_script a {\n script x\n weight -10\n}\nvrrp_script b {\n script x\n}\n"
               "vrrp_script gone {\n interval 2\n}\n")  # fmt: skip
    body = " track_script {\n  a\n  b weight 254\n  gone\n  later\n  a\n }"
    config = read(tmp_path, scripts + instance(body) + "vrrp_script later {\n script x\n}\n")
    assert config.vrrp_instances[0].track_scripts == (TrackScript("a", -10), TrackScript("b", 253))
    # gone has no script (so it is not there to track), +/-254, later comes too late, a twice
    assert len(config.warnings) == 5


def test_sync_groups(tmp_path):
    scripts = "vrrp_script w {\n script x\n weight 5\n}\n"
    text = (scripts + instance(" track_script {\n  w\n }", "A") + instance("", "B")
            + instance(" track_script {\n  w\n }", "C")
            + "vrrp_sync_group G {\n group {\n  A B\n  NOPE\n }\n}\n"
            + "vrrp_sync_group H {\n group {\n  B C\n }\n sync_group_tracking_weight\n}\n"
            + "vrrp_sync_group EMPTY {\n group {\n  NOPE\n }\n}\n")
    config = read(tmp_path, text)
    assert config.vrrp_sync_groups == (VrrpSyncGroup("G", ("A", "B")), VrrpSyncGroup("H", ("C",)))
    # In a sync group without sync_group_tracking_weight, keepalived drops weighted scripts.
    assert [i.track_scripts for i in config.vrrp_instances] == [(), (), (TrackScript("w", 5),)]
    assert config.sync_group_of("C").name == "H"
    assert config.sync_group_of("nobody") is None


def test_instances_are_found_by_what_the_wire_shows():
    config = read_config(str(VALID / "vrrp" / "keepalived.conf"), "lb1")
    assert config.instance_for("eth1", "inet", 83).name == "V3_UNICAST"
    assert config.instance_for("eth2", "inet6", 84).name == "V3_IPV6"
    assert config.instance_for("eth2", "inet", 84) is None
    assert config.instance_for("eth0", "inet", 82) is None


def test_an_instance_defined_twice_keeps_the_first(tmp_path):
    config = read(tmp_path, instance(" priority 10") + instance(" priority 20"))
    assert [i.priority for i in config.vrrp_instances] == [10]
    assert config.instance("V").priority == 10


# -- LVS defaults and corrections -------------------------------------------------------------


def test_virtual_server_defaults_are_keepalived_s(tmp_path):
    config = read(tmp_path, server(""))
    (vs,) = config.virtual_servers
    assert (vs.scheduler, vs.method, vs.protocol, vs.quorum, vs.hysteresis) == (
        "wlc", "masq", "udp", 1, 0)
    assert vs.key == ServiceKey("udp", "inet", "10.0.0.100", 80)
    assert len(config.warnings) == 3  # scheduler, method and protocol were not set
    rs = vs.real_servers[0]
    assert (rs.weight, rs.method, rs.inhibit_on_failure) == (1, "masq", False)


def test_real_servers_take_the_virtual_server_s_settings(tmp_path):
    real = (" real_server 10.0.1.1 {\n }\n real_server 10.0.1.2 8080 {\n  weight 7\n"
            "  lvs_method TUN\n  inhibit_on_failure no\n  uthreshold 100\n  lthreshold 10\n }\n")
    vs = read(tmp_path, server(LVS + "\n weight 3\n inhibit_on_failure", real=real)
              ).virtual_servers[0]  # fmt: skip
    one, two = vs.real_servers
    assert (one.endpoint, one.weight, one.method, one.inhibit_on_failure) == (
        "10.0.1.1:80", 3, "masq", True)
    assert (two.endpoint, two.weight, two.method, two.inhibit_on_failure) == (
        "10.0.1.2:80", 7, "tunnel", False)  # TUN: keepalived resets the port to the service's
    assert (two.upper_threshold, two.lower_threshold) == (100, 10)


def test_firewall_mark_services(tmp_path):
    real = " real_server 10.0.1.1 80 {\n }\n real_server 2001:db8::1 {\n  lvs_method TUN\n }\n"
    config = read(tmp_path, server(" lvs_sched rr\n lvs_method DR\n protocol TCP", "fwmark 7",
                                   real))  # fmt: skip
    vs = config.virtual_servers[0]
    assert (vs.service, vs.protocol, vs.family) == ("fwm:7", None, "inet")
    assert [rs.endpoint for rs in vs.real_servers] == ["10.0.1.1:0", "[2001:db8::1]:0"]
    assert len(config.warnings) == 2  # protocol ignored, DR real server port cleared
    six = read(tmp_path, server(LVS, "fwmark 8", " real_server 2001:db8::1 80 {\n }\n"))
    assert six.virtual_servers[0].service == "fwm6:8"


def test_persistence(tmp_path):
    config = read(tmp_path, server(LVS + "\n persistence_timeout") + server(
        LVS + "\n persistence_granularity 255.255.0.0", "10.0.0.101 80") + server(
        LVS, "10.0.0.102 0") + server(LVS + "\n persistence_granularity 64", "2001:db8::1 80",
        " real_server 2001:db8::2 80 {\n }\n"))  # fmt: skip
    assert [(vs.persistence_timeout_seconds, vs.persistence_prefix_length)
            for vs in config.virtual_servers] == [(360, None), (360, 16), (360, None), (360, 64)]


def test_quorum_hysteresis_and_sorry_server(tmp_path):
    body = (LVS + "\n quorum 5\n hysteresis 9\n sorry_server 10.0.9.9\n"
            " sorry_server_lvs_method DR\n sorry_server_inhibit")  # fmt: skip
    real = " real_server 10.0.1.1 80 {\n  weight 2\n }\n real_server 10.0.1.2 80 {\n }\n"
    config = read(tmp_path, server(body, real=real))
    vs = config.virtual_servers[0]
    assert (vs.quorum, vs.hysteresis) == (3, 2)  # down to the total weight, then quorum - 1
    assert vs.sorry == SorryServer("10.0.9.9", 80, "route", inhibit=True)
    assert len(config.warnings) == 2


def test_what_keepalived_drops(tmp_path):
    text = (server(LVS, real=" real_server 10.0.1.1 80 {\n }\n real_server 10.0.1.1 80 {\n }\n"
                   " real_server 2001:db8::5 80 {\n }\n")
            + f"virtual_server 10.0.0.200 80 {{\n{LVS}\n}}\n"
            + server(LVS, "group NOPE"))  # fmt: skip
    config = read(tmp_path, text)
    assert [vs.label for vs in config.virtual_servers] == ["tcp:10.0.0.100:80"]
    assert [rs.endpoint for rs in config.virtual_servers[0].real_servers] == ["10.0.1.1:80"]
    assert len(config.warnings) == 4


def test_groups_and_lookup_by_ipvs_service(tmp_path):
    text = ("virtual_server_group G {\n 10.0.0.1-3 80\n 10.1.0.0/30 443\n 10.2.0.1-10.2.0.9 8080"
            "\n fwmark 9\n}\n" + server(LVS, "group G") + server(LVS, "fwmark 12"))
    config = read(tmp_path, text)
    (group,) = config.virtual_server_groups
    assert [str(m) for m in group.members] == [
        "10.0.0.1-10.0.0.3 port 80", "10.1.0.0-10.1.0.3 port 443",
        "10.2.0.1-10.2.0.9 port 8080", "fwmark 9"]
    assert [m.address_count for m in group.members] == [3, 4, 9, 0]
    grouped, marked = config.virtual_servers
    assert (grouped.service, grouped.group, grouped.protocol) == (None, "G", "tcp")
    assert config.virtual_server_for(ServiceKey("tcp", "inet", "10.0.0.2", 80)) is grouped
    assert config.virtual_server_for(ServiceKey("tcp", "inet", "10.0.0.4", 80)) is None
    assert config.virtual_server_for(ServiceKey("udp", "inet", "10.0.0.2", 80)) is None
    assert config.virtual_server_for(ServiceKey("fwm", "inet", fwmark=9)) is grouped
    assert config.virtual_server_for(ServiceKey("fwm", None, fwmark=12)) is marked
    assert grouped.real_server("10.0.1.1", 80).weight == 1


def test_checkers_and_track_files(tmp_path):
    real = (" real_server 10.0.1.1 80 {\n  TCP_CHECK {\n   connect_ip 10.0.2.1\n"
            "   connect_port 81\n  }\n  FILE_CHECK {\n   track_file drain\n  }\n }\n")
    text = "track_file drain {\n file /run/drain\n weight -5\n}\n" + server(LVS, real=real)
    config = read(tmp_path, text)
    assert config.virtual_servers[0].real_servers[0].checkers == (
        Checker("TCP_CHECK", "10.0.2.1", 81), Checker("FILE_CHECK", track_file="drain"))
    assert config.track_files == (TrackFile("drain", "/run/drain", -5),)


def test_every_fixture_round_trips():
    for path in sorted(VALID.glob("*/keepalived.conf")):
        config = read_config(str(path), "lb1")
        assert from_json(KeepalivedConf, json.loads(json.dumps(to_json(config)))) == config


# -- JSON and back, for any value of the model ---------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
address = st.one_of(ipv4, ipv6)
ports = st.integers(0, 65535)
methods = st.sampled_from(["masq", "route", "tunnel"])
where = st.just("") | st.builds(lambda n: f"/etc/keepalived/keepalived.conf:{n}",
                                st.integers(1, 10**6))

checkers = st.builds(Checker, st.sampled_from(["TCP_CHECK", "HTTP_GET", "FILE_CHECK"]),
                     st.none() | address, st.none() | ports, st.none() | names)
real_servers = st.builds(ConfiguredRealServer, address, ports, st.integers(0, 2**31 - 1),
                         methods, st.booleans(), st.integers(0, 2**32 - 1),
                         st.integers(0, 2**32 - 1), st.lists(checkers, max_size=3).map(tuple),
                         where)  # fmt: skip
sorry = st.none() | st.builds(SorryServer, address, ports, methods, st.booleans())


@st.composite
def virtual_servers(draw):
    form = draw(st.sampled_from(["address", "fwmark", "group"]))
    protocol = draw(st.sampled_from(["tcp", "udp", "sctp"]))
    key, group, family = None, None, None
    if form == "address":
        host = draw(address)
        family = "inet6" if ":" in host else "inet"
        key = ServiceKey(protocol, family, host, draw(ports))
    elif form == "fwmark":
        family = draw(st.sampled_from(["inet", "inet6"]))
        key, protocol = ServiceKey("fwm", family, fwmark=draw(st.integers(1, 2**32 - 1))), None
    else:
        group, family = draw(names), draw(st.sampled_from([None, "inet", "inet6"]))
    return ConfiguredVirtualServer(
        scheduler=draw(st.sampled_from(["rr", "wlc", "sh"])), method=draw(methods), key=key,
        group=group, protocol=protocol, family=family,
        persistence_timeout_seconds=draw(st.none() | st.integers(1, 86400 * 31)),
        persistence_prefix_length=draw(st.none() | st.integers(1, 128)),
        quorum=draw(st.integers(0, 2**32 - 1)), hysteresis=draw(st.integers(0, 2**32 - 1)),
        inhibit_on_failure=draw(st.booleans()), sorry=draw(sorry),
        real_servers=tuple(draw(st.lists(real_servers, max_size=3))), where=draw(where),
    )  # fmt: skip


instances = st.builds(
    VrrpInstance, name=names, vrid=st.integers(1, 255), state=st.sampled_from(["MASTER", "BACKUP"]),
    priority=st.integers(1, 255), advert_interval_centiseconds=st.integers(1, 4095),
    version=st.sampled_from([2, 3]), family=st.sampled_from(["inet", "inet6"]),
    interface=st.none() | names, auth_type=st.sampled_from(["none", "simple", "ah"]),
    auth_pass_digest=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    unicast_src_ip=st.none() | address, unicast_peers=st.lists(address, max_size=3).map(tuple),
    vips=st.lists(st.builds(Vip, address, st.integers(0, 128), st.none() | names),
                  max_size=3).map(tuple),
    nopreempt=st.booleans(),
    track_scripts=st.lists(st.builds(TrackScript, names, st.integers(-253, 253)),
                           max_size=3).map(tuple),
    where=where,
)  # fmt: skip
members = st.one_of(
    st.builds(lambda a, p: GroupMember(a, a, p, family="inet6" if ":" in a else "inet"), address,
              ports),
    st.builds(lambda m, f: GroupMember(fwmark=m, family=f), st.integers(0, 2**32 - 1),
              st.sampled_from([None, "inet", "inet6"])),
)  # fmt: skip
configs = st.builds(
    KeepalivedConf, source=names, config_id=names, files=st.lists(names, max_size=3).map(tuple),
    router_id=st.none() | names, vrrp_instances=st.lists(instances, max_size=3).map(tuple),
    vrrp_sync_groups=st.lists(st.builds(VrrpSyncGroup, names, st.lists(names, max_size=3).map(
        tuple)), max_size=2).map(tuple),
    virtual_server_groups=st.lists(st.builds(VirtualServerGroup, names, st.lists(
        members, max_size=3).map(tuple)), max_size=2).map(tuple),
    virtual_servers=st.lists(virtual_servers(), max_size=3).map(tuple),
    track_files=st.lists(st.builds(TrackFile, names, st.none() | names, st.integers(-254, 254)),
                         max_size=2).map(tuple),
    skipped_keywords=st.dictionaries(names, st.integers(1, 100), max_size=4).map(
        lambda d: FrozenDict(sorted(d.items()))),
    warnings=st.lists(names, max_size=3).map(tuple),
)  # fmt: skip


@FUZZ
@given(config=configs)
def test_json_gives_back_an_equal_value(config):
    assert from_json(KeepalivedConf, json.loads(json.dumps(to_json(config)))) == config


def test_the_model_is_deeply_immutable():
    config = read_config(str(VALID / "lvs" / "keepalived.conf"), "lb1")
    with pytest.raises(AttributeError):
        config.virtual_servers[0].quorum = 9
    seen = [config]
    while seen:
        value = seen.pop()
        assert not isinstance(value, (list, dict, set)), value
        if isinstance(value, tuple):
            seen.extend(value)
        elif hasattr(value, "__dataclass_fields__"):
            seen.extend(getattr(value, name) for name in value.__dataclass_fields__)


# -- lvsmon keepalived show -----------------------------------------------------------------------


def lvsmon(*args):
    return subprocess.run([sys.executable, "-m", "lvsmon", *args], capture_output=True,
                          text=True, check=False, cwd=REPO)


def test_show_prints_what_was_read():
    result = lvsmon("keepalived", "show", "--config", str(VALID / "vrrp" / "keepalived.conf"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "V2_PASS  eth0 vrid 81  BACKUP priority 150  advert 3 s  VRRPv2  auth simple" in out
    assert "unicast from 192.168.201.1 to 192.168.201.2, 192.168.201.3" in out
    assert "secret12" not in out
    assert "Skipped keywords (not used by lvsmon): 3" in out
    assert "      1  vrrp_script.interval" in out


def test_show_json_has_the_documented_keys():
    result = lvsmon("keepalived", "show", "--json", "--config",
                    str(VALID / "lvs" / "keepalived.conf"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("vrrp_instances", "virtual_servers", "virtual_server_groups"):
        assert isinstance(data[key], list)
    assert data["vrrp_instances"] == []
    first, fwmark, group, _ = data["virtual_servers"]
    assert {"service", "group", "scheduler", "method", "persistence_timeout", "quorum",
            "sorry_server", "real_servers"} <= set(first)  # fmt: skip
    assert (first["service"], first["sorry_server"], fwmark["service"]) == (
        "tcp:10.10.0.100:80", "10.10.1.99:8080", "fwm:17")
    assert (group["service"], group["group"]) == (None, "WEB")
    assert {"address", "weight", "checkers"} <= set(first["real_servers"][0])
    assert first["real_servers"][0]["address"] == "10.10.1.1:8080"
    instances = json.loads(lvsmon("keepalived", "show", "--json", "--config",
                                  str(VALID / "vrrp" / "keepalived.conf")).stdout)["vrrp_instances"]
    assert {"name", "interface", "vrid", "state", "priority", "advert_int", "version",
            "auth_type", "unicast_src_ip", "unicast_peers", "vips", "track_scripts"} <= set(
        instances[0])  # fmt: skip
    assert instances[1]["advert_int"] == 0.5


def test_show_takes_the_config_id():
    path = str(VALID / "conditionals" / "keepalived.conf")
    lb2 = json.loads(lvsmon("keepalived", "show", "--json", "--id", "lb2", "--config", path).stdout)
    assert [i["name"] for i in lb2["vrrp_instances"]] == ["COND", "ONLY_LB2"]


def test_show_errors_are_one_line_with_exit_2(tmp_path):
    path = tmp_path / "keepalived.conf"
    path.write_text("vrrp_instance A {\n priority 0\n}\n")
    result = lvsmon("keepalived", "show", "--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"lvsmon: {path}:2: priority: '0' is not valid: use a whole number in 1..255\n")


def test_show_help():
    result = lvsmon("keepalived", "show", "--help")
    assert result.returncode == 0
    assert "--id NAME" in result.stdout and "/etc/keepalived/keepalived.conf" in result.stdout
