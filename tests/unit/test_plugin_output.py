"""The strict plugin-output reader (tests/plugin_output.py) takes what the guidelines allow
and refuses the rest: a reader that took anything would prove nothing about the checks."""

import pytest

from tests.plugin_output import PluginOutputError, judged, parse

GOOD = [
    # (output, labels -> (value, unit, warn, crit, min, max))
    ("PING OK - Packet loss = 0% | rta=12.445ms;100.000000;200.000000;0.000000 pl=0%;5;15;0\n",
     {"rta": (12.445, "ms", "100.000000", "200.000000", 0.0, None),
      "pl": (0.0, "%", "5", "15", 0.0, None)}),
    ("DISK WARNING - /var at 91% | '/var used'=9.1GB;8:;@~:9.5;0;10\n",
     {"/var used": (9.1, "GB", "8:", "@~:9.5", 0.0, 10.0)}),
    ("X OK - quoted | 'it''s=odd'=-1.5;;~:;; 'a b'=.5c\n",
     {"it's=odd": (-1.5, "", "", "~:", None, None), "a b": (0.5, "c", "", "", None, None)}),
    ("X CRITICAL - first\nlong 1\nlong 2 | a=1\nb=2;3;4\n",
     {"a": (1.0, "", "", "", None, None), "b": (2.0, "", "3", "4", None, None)}),
    ("X OK\n", {}),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_accepts_what_the_guidelines_allow(text, expected):
    out = parse(text)
    got = {label: (p.value, p.unit, p.warn, p.crit, p.min, p.max)
           for label, p in out.perfdata.items()}
    assert got == expected


def test_long_text_and_status():
    out = parse("X CRITICAL - first | a=1\nlong 1\nlong 2 | b=2\nc=3\n")
    assert out.name == "X" and out.state == "CRITICAL" and out.summary == "first"
    assert out.long_text == ["long 1", "long 2 "]
    assert list(out.perfdata) == ["a", "b", "c"]


BAD = [
    ("X OK - no newline", "newline"),
    ("x OK - lower-case name\n", "status line"),
    ("X FINE - no such state\n", "status line"),
    ("X OK-no separator\n", "' - '"),
    ("X OK - a |\n", "no performance data"),
    ("X OK - a | a b=1\n", "no '='"),
    ("X OK - a | a=1 a=2\n", "twice"),
    ("X OK - a | a=1;2;3;4;5;6\n", "more than 5"),
    ("X OK - a | a=1,5\n", "not a number"),
    ("X OK - a | a=1e3\n", "not a number"),
    ("X OK - a | a=1 pct\n", "no '='"),
    ("X OK - a | a=1xB\n", "unit"),
    ("X OK - a | a=U\n", "not a number"),
    ("X OK - a | a=1;5:1\n", "start > end"),
    ("X OK - a | a=1;abc\n", "not a range"),
    ("X OK - a | a=1;;;x\n", "not a number"),
    ("X OK - a | a=1;;;5;1\n", "min"),
    ("X OK - a | a=1;@\n", "not a range"),
    ("X OK - a | 'a b=1\n", "unterminated"),
    ("X OK - a | 'a'b=1\n", "followed by '='"),
    ("X OK - a | a'b=1\n", "quote"),
    ("X OK - a | =1\n", "empty label"),
]


@pytest.mark.parametrize(("text", "why"), BAD)
def test_refuses_the_rest(text, why):
    with pytest.raises(PluginOutputError, match=why):
        parse(text)


def test_the_state_word_must_match_the_exit_code():
    assert judged(2, "X CRITICAL - down\n").state == "CRITICAL"
    with pytest.raises(PluginOutputError, match="exit code 0 means OK"):
        judged(0, "X CRITICAL - down\n")
    with pytest.raises(PluginOutputError, match="none of 0, 1, 2, 3"):
        judged(4, "X UNKNOWN - odd\n")
