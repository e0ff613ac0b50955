"""keepalived.conf lines and words cut as keepalived 2.2's parser cuts them; fuzzed.

Whatever text a configuration holds, reading it gives a KeepalivedConf or a
KeepalivedConfigError naming the file, and nothing else.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsmon.errors import KeepalivedConfigError
from lvsmon.keepalived import lexer, read_config
from lvsmon.model import KeepalivedConf
from lvsmon.model.codec import from_json, to_json

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("   priority 100   ", "priority 100"),
        ("priority 100 # a comment", "priority 100"),
        ("priority 100 ! a comment", "priority 100"),
        ("! only a comment", ""),
        ('script "kill -0 $(cat /x) # no comment"', 'script "kill -0 $(cat /x) # no comment"'),
        ("router_id lb\\#1", "router_id lb#1"),
        ("router_id lb\\!1", "router_id lb!1"),
        ('notify "a \\# b"', 'notify "a \\# b"'),
        ("$DEF=one two   \\", "$DEF=one two\\"),
        ("\tstate MASTER", "state MASTER"),
    ],
)
def test_decomment(line, expected):
    assert lexer.decomment(line) == (expected, True)


def test_an_unclosed_quote_is_reported():
    assert lexer.decomment('script "abc') == ('script "abc', False)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("virtual_server 10.0.0.1 80", ("virtual_server", "10.0.0.1", "80")),
        ('script "/bin/check  --fast"', ("script", "/bin/check  --fast")),
        ('a"b c"d', ("a", "b c", "d")),
        ('smtp_helo ""', ("smtp_helo", "")),
        ("a\tb\fc\vd", ("a", "b", "c", "d")),
    ],
)
def test_split_words(text, words):
    assert lexer.split_words(text) == (words, True)


def test_split_words_stops_at_an_unmatched_quote():
    assert lexer.split_words('a "b c') == (("a",), False)


@pytest.mark.parametrize(
    ("text", "head", "rest"),
    [
        ("vrrp_instance VI_1 {", "vrrp_instance VI_1", "{"),
        ("{", "{", None),
        ("{ state MASTER }", "{", "state MASTER }"),
        ("state MASTER }", "state MASTER", "}"),
        ("} }", "}", "}"),
        ('script "a{b}"', 'script "a{b}"', None),
        ('script "a{b', 'script "a{b', None),
        ("priority 100", "priority 100", None),
    ],
)
def test_split_brace(text, head, rest):
    assert lexer.split_brace(text) == (head, rest)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("include /etc/keepalived/conf.d/*.conf", ("", "/etc/keepalived/conf.d/*.conf")),
        ("include\t  a b.conf", ("", "a b.conf")),
        ("includer x.conf", ("r", "x.conf")),
        ("includea x.conf", ("a", "x.conf")),
        ("includex x.conf", None),
        ("include", None),
        ("included_file x", None),
    ],
)
def test_include_pattern(text, expected):
    assert lexer.include_pattern(text) == expected


@pytest.mark.parametrize(
    ("text", "config_id", "expected"),
    [
        ("@lb1 priority 200", "lb1", "priority 200"),
        ("@lb1 priority 200", "lb2", None),
        ("@^lb1 priority 100", "lb1", None),
        ("@^lb1 priority 100", "lb2", "priority 100"),
        ("@lb1", "lb1", None),  # nothing after the id: keepalived drops the line
        ("@lb priority 1", "lb1", None),  # the whole id must match
    ],
)
def test_conditional(text, config_id, expected):
    assert lexer.conditional(text, config_id) == expected


# -- fuzzing: only KeepalivedConfigError, whatever the text ---------------------------

keywords = st.sampled_from([
    "vrrp_instance", "virtual_server", "real_server", "virtual_server_group", "global_defs",
    "vrrp_sync_group", "group", "vrrp_script", "track_script", "virtual_ipaddress", "unicast_peer",
    "authentication", "auth_type", "auth_pass", "state", "interface", "virtual_router_id",
    "priority", "advert_int", "version", "weight", "lb_kind", "lvs_method", "lb_algo", "protocol",
    "sorry_server", "quorum", "hysteresis", "persistence_timeout", "persistence_granularity",
    "fwmark", "TCP_CHECK", "SMTP_CHECK", "host", "connect_ip", "connect_port", "include",
    "inhibit_on_failure", "nopreempt", "unicast_src_ip", "native_ipv6", "track_file",
])
pieces = st.one_of(
    keywords,
    st.sampled_from(["{", "}", '"', "#", "!", "\\", "$A", "${A}", "$A=", "@lb1", "@^lb1",
                     "~SEQ(i,1,3)", "~SEQx(i,3)", "~LST({a,b},{1,2})", "$i", "10.0.0.1",
                     "2001:db8::1", "10.0.0.1-5", "80", "0", "-1", "MASTER", "NAT", "DR",
                     "TUN", "rr", "TCP", "1.5", "/24", "inet6", "\n", "\n", "\n", " ", "\t"]),
    st.text(alphabet=string.printable, max_size=8),
)
config_text = st.lists(pieces, max_size=60).map(" ".join)


@FUZZ
@given(text=config_text)
def test_any_text_reads_or_fails_with_a_located_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "keepalived.conf"
    path.write_text(text)
    try:
        config = read_config(str(path), "lb1")
    except KeepalivedConfigError as exc:
        assert exc.path.startswith(str(path.parent)) or exc.path == str(path)
        assert str(exc).startswith(exc.path)
    else:
        assert isinstance(config, KeepalivedConf)
        assert from_json(KeepalivedConf, to_json(config)) == config


@FUZZ
@given(data=st.binary(max_size=400))
def test_any_bytes_read_or_fail_with_a_located_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "keepalived.conf"
    path.write_bytes(data)
    try:
        read_config(str(path), "lb1")
    except KeepalivedConfigError as exc:
        assert exc.path == str(path)


@FUZZ
@given(line=st.text(max_size=80))
def test_lexer_functions_take_any_line(line):
    text, _ = lexer.decomment(line)
    lexer.split_words(text)
    head, rest = lexer.split_brace(text)
    assert rest is None or rest[0] in "{}" or head in "{}"
    lexer.include_pattern(text)
    if text.startswith("@"):
        lexer.conditional(text, "lb1")
