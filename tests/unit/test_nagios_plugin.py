"""The parts every check shares (lvsmon_nagios.plugin): ranges, wording, the UNKNOWN edge."""

from __future__ import annotations

import argparse
import math

import nagiosplugin
import pytest

from lvsmon.errors import IpvsUnavailable
from lvsmon_nagios.plugin import (
    PluginParser,
    ThresholdContext,
    WorstFirstSummary,
    perf_label,
    run,
    threshold,
    violation,
)
from tests.plugin_output import judged


@pytest.mark.parametrize(("text", "invert", "start", "end"), [
    ("10", False, 0, 10),
    ("10:", False, 10, math.inf),
    ("~:10", False, -math.inf, 10),
    ("10:20", False, 10, 20),
    ("@10:20", True, 10, 20),
    ("@~:2.5", True, -math.inf, 2.5),
    ("-5:-1", False, -5, -1),
    (":", False, 0, math.inf),
    (" 3: ", False, 3, math.inf),
])
def test_threshold_reads_the_guidelines_range_syntax(text, invert, start, end):
    limit = threshold(text)
    assert (limit.invert, limit.start, limit.end) == (invert, start, end)


@pytest.mark.parametrize(("text", "why"), [
    ("1:2:3", "bad range '1:2:3'"),
    ("abc", "bad range 'abc'"),
    ("@", "bad range '@'"),
    ("10:5", "its start 10 is greater than its end 5"),
    ("-1", "its start 0 is greater than its end -1"),
    ("~", "bad range '~'"),
    ("1e3", "bad range '1e3'"),
    ("5%", "bad range '5%'"),
])
def test_threshold_refuses_anything_else(text, why):
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        threshold(text)


def test_an_empty_threshold_is_none():
    assert threshold("") is None and threshold("  ") is None


@pytest.mark.parametrize(("value", "text", "words"), [
    (5, "0", "more than 0"),
    (1, "2:", "less than 2"),
    (12, "~:10", "more than 10"),
    (25, "10:20", "more than 20"),
    (15, "@10:20", "between 10 and 20"),
    (30, "@10:", "10 or more"),
    (1.5, "@~:2.5", "2.5 or less"),
])
def test_violation_in_words(value, text, words):
    limit = threshold(text)
    assert not limit.match(value)
    assert violation(value, limit) == words


def test_perf_label_keeps_what_the_grammar_can_carry():
    assert perf_label("tcp:[2001:db8::1]:80", "available") == "tcp:[2001:db8::1]:80 available"
    assert perf_label("eth'0=x", "masters") == "eth_0_x masters"


# -- the edge: run() -----------------------------------------------------------------------


class Counted(nagiosplugin.Resource):
    """A resource that yields what it is given, or raises it."""

    def __init__(self, value):
        self.value = value

    @property
    def name(self):
        return "DEMO"

    def probe(self):
        if isinstance(self.value, BaseException):
            raise self.value
        yield nagiosplugin.Metric("things", self.value, min=0, context="things")


def demo_parser() -> PluginParser:
    parser = PluginParser("check_demo", "DEMO", description="A demo check.")
    parser.add_argument("-w", "--warning", type=threshold, metavar="RANGE")
    parser.add_argument("--value", default="3")
    return parser


def demo_check(value):
    def build(args):
        return nagiosplugin.Check(
            Counted(value), ThresholdContext("things", args.warning, None,
                                             describe="{value} things"),
            WorstFirstSummary())
    return build


def run_demo(capsys, value, *argv) -> tuple[int, str]:
    code = run(demo_parser(), demo_check(value), list(argv))
    out = capsys.readouterr()
    assert out.err == ""
    if not {"-V", "--help"} & set(argv):
        judged(code, out.out)
    return code, out.out


def test_ok_warning_and_perfdata(capsys):
    code, out = run_demo(capsys, 3)
    assert judged(code, out).status_line == "DEMO OK - 3 things"
    code, out = run_demo(capsys, 3, "-w", "2")
    assert code == 1 and out == "DEMO WARNING - 3 things (more than 2) | things=3;2;;0\n"
    code, out = run_demo(capsys, 3, "-w", "2", "-v")
    assert judged(code, out).long_text == ["warning: 3 things (more than 2)"]


def test_runs_twice_in_one_process_without_mixing_output(capsys):
    first = run_demo(capsys, 1)
    assert run_demo(capsys, 1) == first


def test_usage_errors_are_unknown_on_stdout(capsys):
    code, out = run_demo(capsys, 3, "--nope")
    assert (code, out) == (3, "DEMO UNKNOWN - check_demo: unrecognized arguments: --nope\n")
    code, out = run_demo(capsys, 3, "-w", "x")
    assert code == 3 and out.startswith("DEMO UNKNOWN - check_demo: argument -w/--warning: "
                                        "bad range 'x': write the range that is OK")


def test_lvsmon_errors_are_unknown_with_their_message(capsys):
    error = IpvsUnavailable("no IPVS in this kernel", hint="load the ip_vs module")
    code, out = run_demo(capsys, error)
    assert (code, out) == (3, "DEMO UNKNOWN - no IPVS in this kernel: load the ip_vs module\n")
    code, out = run_demo(capsys, IpvsUnavailable("gone | really\nat all"))
    assert (code, out) == (3, "DEMO UNKNOWN - gone / really at all\n")  # "|": perfdata
    # nagiosplugin's own way: a CheckError in probe() is an UNKNOWN result of the check.
    code, out = run_demo(capsys, nagiosplugin.CheckError("socket gone"))
    assert (code, out) == (3, "DEMO UNKNOWN - socket gone\n")


def test_a_bug_is_one_unknown_line_and_its_traceback_only_with_vvv(capsys):
    code, out = run_demo(capsys, ZeroDivisionError("division by zero"))
    assert (code, out) == (3, "DEMO UNKNOWN - internal error: ZeroDivisionError: "
                              "division by zero\n")
    code, out = run_demo(capsys, ZeroDivisionError("division by zero"), "-vvv")
    assert code == 3 and out.splitlines()[1] == "Traceback (most recent call last):"
    assert judged(code, out).state == "UNKNOWN"


def test_version_and_help_exit_0_on_stdout(capsys):
    code, out = run_demo(capsys, 1, "-V")
    assert code == 0 and out.startswith("check_demo (lvsmon) ")
    code, out = run_demo(capsys, 1, "--help")
    assert code == 0 and "-t SECONDS, --timeout SECONDS" in out and "A demo check." in out
