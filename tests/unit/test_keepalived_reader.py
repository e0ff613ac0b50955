"""Reading keepalived.conf: includes, definitions, conditionals, sequences, braces, errors.

The fixtures under tests/fixtures/keepalived/valid are the same files the lab
test shows keepalived itself accepts and reads the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lvsmon.errors import KeepalivedConfigError, UsageError
from lvsmon.keepalived import default_config_id, read_config

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "tests" / "fixtures" / "keepalived" / "valid"


def conf(tmp_path: Path, text: str, name: str = "keepalived.conf") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def instance_block(name: str, vrid: int, vip: str = "10.0.0.1", extra: str = "") -> str:
    return (f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n{extra}"
            f" virtual_ipaddress {{\n  {vip}\n }}\n}}\n")


# -- includes -------------------------------------------------------------------------


def test_includes_in_keepalived_order_and_relative_to_the_including_file():
    config = read_config(str(VALID / "includes" / "keepalived.conf"), "lb1")
    assert [i.name for i in config.vrrp_instances] == [
        "INC_1", "INC_2", "INC_B", "INC_A", "INC_NESTED",
    ]  # fmt: skip
    assert config.vrrp_instances[0].where.endswith("conf.d/10-first.conf:1")
    assert config.vrrp_instances[-1].where.endswith("nested/inner.conf:1")
    skipped = [w for w in config.warnings if "skipped" in w]
    assert any("skipped.conf" in w and "directory" in w for w in skipped), config.warnings
    assert any("30-executable.conf" in w and "non-executable" in w for w in skipped)
    assert [Path(f).name for f in config.files] == [
        "keepalived.conf", "10-first.conf", "20-second.conf", "b.inc", "a.inc", "outer.conf",
        "inner.conf",
    ]  # fmt: skip


def test_the_fixture_executable_bit_survived_the_checkout():
    assert os.access(VALID / "includes" / "conf.d" / "30-executable.conf", os.X_OK)


def test_a_wildcard_matching_nothing_is_fine_but_a_missing_file_is_an_error(tmp_path):
    read_config(conf(tmp_path, "include conf.d/*.conf\n"), "lb1")
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(conf(tmp_path, "\n\ninclude missing.conf\n"), "lb1")
    assert (caught.value.path, caught.value.line) == (str(tmp_path / "keepalived.conf"), 3)
    assert "missing.conf" in str(caught.value)


def test_includew_wants_a_match(tmp_path):
    with pytest.raises(KeepalivedConfigError, match="matches no file"):
        read_config(conf(tmp_path, "includew conf.d/*.conf\n"), "lb1")


def test_an_include_loop_names_the_include_line(tmp_path):
    conf(tmp_path, "! a\ninclude b.conf\n", "a.conf")
    conf(tmp_path, "! b\n\ninclude a.conf\n", "b.conf")
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(str(tmp_path / "a.conf"), "lb1")
    assert (Path(caught.value.path).name, caught.value.line) == ("b.conf", 3)
    assert "include loop" in caught.value.why


def test_an_unreadable_include_is_an_error_naming_it(tmp_path):
    """Really unreadable: root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the capabilities that read anything")
    main = conf(tmp_path, "global_defs {\n}\ninclude secret.conf\n")
    secret = tmp_path / "secret.conf"
    secret.write_text("global_defs {\n}\n")
    secret.chmod(0)
    result = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m",
         "lvsmon", "keepalived", "show", "--config", main],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"lvsmon: {main}:3: cannot read include {secret}: Permission denied: "
        "check the path and its permissions\n"
    )


def test_a_block_may_close_in_the_included_file(tmp_path):
    conf(tmp_path, " virtual_router_id 9\n virtual_ipaddress {\n  10.0.0.9\n }\n}\n", "rest.inc")
    config = read_config(conf(tmp_path, "vrrp_instance X {\n interface eth0\ninclude rest.inc\n"),
                         "lb1")  # fmt: skip
    assert config.vrrp_instances[0].vrid == 9


# -- definitions ------------------------------------------------------------------------


def test_definitions_fixture():
    config = read_config(str(VALID / "definitions" / "keepalived.conf"), "lb7")
    (instance,) = config.vrrp_instances
    assert (instance.interface, instance.priority, instance.advert_interval_centiseconds) == (
        "eth0", 130, 200)
    assert [(v.address, v.prefix_length, v.interface) for v in instance.vips] == [
        ("192.168.200.50", 24, "eth0"), ("192.168.200.51", 32, None)]
    assert config.router_id == "defs-lb7"  # $_INSTANCE is the config id
    assert config.virtual_servers[0].real_servers[0].weight == 130


@pytest.mark.parametrize(
    ("lines", "router_id"),
    [
        ("$A=x\nglobal_defs {\n router_id $A:80\n}", "$A:80"),  # only blank , ) or end end $A
        ("$A=x\nglobal_defs {\n router_id ${A}:80\n}", "x:80"),
        ("$A=x\nglobal_defs {\n router_id ($A)\n}", "(x)"),
        ("$A=$B\n$B=y\nglobal_defs {\n router_id $A\n}", "y"),  # replaced where it is used
        ("global_defs {\n router_id $UNKNOWN\n}", "$UNKNOWN"),
        ("$_HASH=hash\nglobal_defs {\n router_id $_HASH\n}", "hash"),
        ('global_defs {\n router_id "a$_HASH"\n}', "a$_HASH"),  # " is no terminator
        ('global_defs {\n router_id "a${_HASH}"\n}', "a#"),  # and # in quotes no comment
        ("$M=one \\\n two\nglobal_defs {\n router_id $M\n}", "one"),  # its 2nd line is a keyword
        ("$E=\\\nword\nglobal_defs {\n router_id $E\n}", "word"),  # then one line after all
    ],
)
def test_definition_rules(tmp_path, lines, router_id):
    assert read_config(conf(tmp_path, lines + "\n"), "lb1").router_id == router_id


def test_a_multi_line_definition_expands_only_at_the_end_of_a_line(tmp_path):
    text = "$M=a \\\nb\nglobal_defs {\n router_id $M x\n}\n"
    assert read_config(conf(tmp_path, text), "lb1").router_id == "$M"


def test_random_stays_in_its_range(tmp_path):
    text = "global_defs {\n router_id ${_RANDOM 5 7}\n}\n"
    for _ in range(10):
        assert read_config(conf(tmp_path, text), "lb1").router_id in ("5", "6", "7")


def test_pwd_is_the_directory_of_the_file_being_read(tmp_path):
    conf(tmp_path, "global_defs {\n router_id $_PWD\n}\n", "sub/inner.conf")
    config = read_config(conf(tmp_path, "include sub/inner.conf\n"), "lb1")
    assert config.router_id == str(tmp_path / "sub")


def test_a_definition_that_never_ends_is_an_error(tmp_path):
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(conf(tmp_path, "$A=$A $A\nglobal_defs {\n router_id $A\n}\n"), "lb1")
    assert caught.value.line == 3


# -- conditionals ------------------------------------------------------------------------


def test_conditionals_fixture_for_each_id():
    path = str(VALID / "conditionals" / "keepalived.conf")
    lb1, lb2 = read_config(path, "lb1"), read_config(path, "lb2")
    assert [(i.name, i.state, i.priority, len(i.vips)) for i in lb1.vrrp_instances] == [
        ("COND", "MASTER", 200, 2)]
    assert [(i.name, i.state, i.priority, len(i.vips)) for i in lb2.vrrp_instances] == [
        ("COND", "BACKUP", 100, 1), ("ONLY_LB2", "BACKUP", 100, 1)]
    assert lb1.config_id == "lb1"


def test_the_default_id_is_the_short_host_name():
    assert default_config_id() == os.uname().nodename.split(".")[0]


# -- sequences ----------------------------------------------------------------------------


def test_sequences_fixture():
    config = read_config(str(VALID / "sequences" / "keepalived.conf"), "lb1")
    assert [(i.name, i.vrid, i.priority) for i in config.vrrp_instances[:3]] == [
        ("SEQ_1", 51, 110), ("SEQ_2", 52, 120), ("SEQ_3", 53, 130)]
    assert [v.address for v in config.vrrp_instances[3].vips] == [
        "fe80::60", "fd00::a", "fd00::b", "fd00::c"]
    assert [(rs.ip, rs.weight) for rs in config.virtual_servers[0].real_servers] == [
        ("192.168.200.73", 3), ("192.168.200.72", 2), ("192.168.200.71", 1),
        ("192.168.200.80", 5), ("192.168.200.81", 6)]


@pytest.mark.parametrize(
    ("seq", "values"),
    [
        ("~SEQ(i, 3)", ["1", "2", "3"]),
        ("~SEQ(i, 0)", ["1", "0"]),
        ("~SEQ(i, -2)", ["-1", "-2"]),
        ("~SEQ(i, 5, 3)", ["5", "4", "3"]),
        ("~SEQ(i, 1, 2, 6)", ["1", "3", "5"]),
        ("~SEQ(i, 0x8, 0x9)", ["8", "9"]),
        ("~SEQ(i, 010)", [str(n) for n in range(1, 9)]),  # C octal
        ("~SEQx(i, 9, 11)", ["9", "a", "b"]),
        ("$N=2\n~SEQ(i, $N)", ["1", "2"]),
    ],
)
def test_seq_values(tmp_path, seq, values):
    text = f"{seq} vrrp_script s$i {{ script x }}\nvrrp_instance V {{\n interface eth0\n" \
           " virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n" \
           f"{seq.splitlines()[-1]} s$i\n }}\n}}\n"
    config = read_config(conf(tmp_path, text), "lb1")
    names = [t.name for t in config.vrrp_instances[0].track_scripts]
    assert names == [f"s{v}" for v in values]


def test_lst(tmp_path):
    text = ("~LST(n, A, B, C, D) vrrp_script $n { script x }\n"
            + instance_block("V", 1, extra=" track_script {\n  ~LST(n, A, B) $n\n"
                             "  ~LST({n, w}, {C, 1}, {D}) $n weight 0$w\n }\n"))
    config = read_config(conf(tmp_path, text), "lb1")
    assert [(t.name, t.weight) for t in config.vrrp_instances[0].track_scripts] == [
        ("A", 0), ("B", 0), ("C", 1), ("D", 0)]


@pytest.mark.parametrize(
    "bad",
    ["~SEQ(i, 1, 0, 5) x", "~SEQ(i, 5, 1, 1) x", "~SEQ i, 3) x", "~SEQ(i, 3 x",
     "~SEQx(i, -3) x", "~LST(a, 1, 2 x", "~LST({a}, {1, 2}) x", "~SEQUENCE(i, 3) x"],
)
def test_bad_sequences_are_errors(tmp_path, bad):
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(conf(tmp_path, f"! one\n{bad}\n"), "lb1")
    assert caught.value.line == 2


def test_a_sequence_without_end_is_stopped(tmp_path):
    with pytest.raises(KeepalivedConfigError, match="more than"):
        read_config(conf(tmp_path, "~SEQ(i, 1, 99999999999) foo $i\n"), "lb1")


# -- braces ------------------------------------------------------------------------------


def test_braces_fixture():
    config = read_config(str(VALID / "braces" / "keepalived.conf"), "lb1")
    assert config.router_id == "braces#lab"
    one, two = config.vrrp_instances
    assert (one.vrid, [v.address for v in one.vips], one.track_scripts[0].weight) == (
        71, ["192.168.200.71"], 5)
    assert (two.vrid, two.priority) == (72, 100)  # "; priority 150" is no keyword of its own
    assert config.vrrp_sync_groups[0].instances == ("BR_1", "BR_2")


# -- broken files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("vrrp_instance A {\n interface eth0\n", 1, "never closed"),
        ("global_defs {\n}\n}\n", 3, "closes no block"),
        ("{\n}\n", 1, "no keyword before it"),
        ('global_defs {\n router_id "abc\n}\n', 2, "unterminated quote"),
        ("vrrp_instance A {\n virtual_router_id 256\n}\n", 2, "virtual_router_id"),
        ("vrrp_instance A {\n priority high\n}\n", 2, "priority"),
        ("vrrp_instance A {\n interface eth0\n virtual_router_id\n}\n", 3, "needs"),
        ("vrrp_instance A {\n state LEADER\n}\n", 2, "state"),
        ("vrrp_instance A {\n interface eth0\n virtual_ipaddress {\n  10.0.0.300\n }\n}\n", 4,
         "not an IP address"),
        ("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n}\n", 1,
         "no virtual_ipaddress"),  # VRRPv2 allows none; this global default is 2
        ("virtual_server 10.0.0.1 80 {\n lb_kind FAST\n}\n", 2, "use NAT, DR or TUN"),
        ("virtual_server 10.0.0.1 80 {\n lb_algo random\n}\n", 2, "scheduler"),
        ("virtual_server 10.0.0.1 70000 {\n}\n", 1, "port"),
        ("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  weight -1\n }\n}\n", 3,
         "weight"),
        ("virtual_server_group G {\n 10.0.0.5-3 80\n}\n", 2, "ends before it starts"),
        ("virtual_server_group G {\n 10.0.0.1/24 80\n}\n", 2, "host bits"),
        ("virtual_server fwmark 0 {\n}\n", 1, "fwmark"),
    ],
)
def test_broken_files_name_file_and_line(tmp_path, text, line, why):
    if "no virtual_ipaddress" in why:
        text = "global_defs {\n vrrp_version 3\n}\n" + text
        line += 3
    path = conf(tmp_path, text)
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(path, "lb1")
    assert (caught.value.path, caught.value.line) == (path, line), str(caught.value)
    assert why in str(caught.value)
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
    assert caught.value.hint


def test_a_missing_main_file(tmp_path):
    with pytest.raises(KeepalivedConfigError) as caught:
        read_config(str(tmp_path / "none.conf"), "lb1")
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{tmp_path / 'none.conf'}: cannot read")


def test_an_executable_main_file_is_refused_as_keepalived_does(tmp_path):
    path = conf(tmp_path, "global_defs {\n}\n")
    os.chmod(path, 0o755)
    with pytest.raises(KeepalivedConfigError, match="non-executable"):
        read_config(path, "lb1")


def test_keywords_lvsmon_does_not_use_are_counted_not_errors(tmp_path):
    text = ("static_routes {\n 10.0.0.0/8 via 10.0.0.1\n}\nnot_a_keyword at all\n"
            "global_defs {\n smtp_server 10.0.0.1\n notification_email {\n  a@b\n }\n}\n"
            + instance_block("V", 1, extra=" garp_master_delay 5\n garp_master_delay 6\n"))
    config = read_config(conf(tmp_path, text), "lb1")
    assert dict(config.skipped_keywords) == {
        "static_routes": 1, "not_a_keyword": 1, "global_defs.smtp_server": 1,
        "global_defs.notification_email": 1, "vrrp_instance.garp_master_delay": 2,
    }  # fmt: skip
    assert config.skipped_total == 6


def test_crlf_nul_and_bad_utf8_are_read(tmp_path):
    path = tmp_path / "keepalived.conf"
    path.write_bytes(b"global_defs {\r\n router_id lb\xff1\x00ignored\r\n}\r\n")
    assert read_config(str(path), "lb1").router_id == "lb\ufffd1"
