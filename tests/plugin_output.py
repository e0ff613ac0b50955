"""A strict reader of Monitoring Plugins output, for tests only.

    out = judged(code, stdout)      # raises PluginOutputError unless stdout follows the rules
    out.status_line, out.long_text, out.perfdata["tcp:10.0.0.1:80 available"].value
    run = run_plugin([python, "-m", "lvsmon_nagios.check_ipvs", ...])   # run.code, run.output

The rules (https://www.monitoring-plugins.org/doc/guidelines.html, "Plugin Output" and
"Performance data"):

- The first line is the status text, then optionally "|" and performance data. Further
  lines are long text, until a line holding "|": from there on, the rest of that line and
  every later line are performance data. Output ends with a newline.
- Performance data: items separated by spaces, each 'label'=value[UOM];[warn];[crit];[min];[max].
  A label holding a space, "=" or "'" must be quoted with single quotes ('' is a quote
  inside them); an unquoted label holds none of them. value, min and max are numbers
  ([-0-9.], one number); UOM is none, s, ms, us, %, B, KB, MB, TB, GB or c; warn and crit
  are ranges ([@][start:][end], start a number or ~, start <= end). Trailing empty fields
  may be dropped, no more than five fields.

Beyond the grammar, for lvsmon's checks: the status line starts "NAME STATE" with STATE the
word for the exit code (OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3), and a label appears once.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
UNITS = ("", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "GB", "c")
NUMBER = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_NUMBER = re.compile(NUMBER)
_VALUE_UNIT = re.compile(rf"(?P<value>{NUMBER})(?P<unit>[a-zA-Z%]*)")
_RANGE = re.compile(rf"@?(?:(?P<start>~|{NUMBER})?:)?(?P<end>{NUMBER})?")
_STATUS = re.compile(
    r"(?P<name>[A-Z][A-Z0-9_]*) (?P<state>OK|WARNING|CRITICAL|UNKNOWN)(?P<rest>.*)")


class PluginOutputError(AssertionError):
    """The output breaks a rule; the message says which and where."""


@dataclass(frozen=True)
class Perf:
    label: str
    value: float
    unit: str
    warn: str  # the range as written; "" when absent
    crit: str
    min: float | None
    max: float | None


@dataclass
class PluginOutput:
    name: str  # "IPVS"
    state: str  # "OK" ...
    status_line: str  # the first line without its performance data, stripped
    long_text: list[str] = field(default_factory=list)
    perfdata: dict[str, Perf] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The status line after "NAME STATE - "."""
        return self.status_line.split(" - ", 1)[1] if " - " in self.status_line else ""


def judged(code: int, stdout: str) -> PluginOutput:
    """Parse `stdout` strictly and check that its state word matches exit `code`."""
    if code not in STATES:
        raise PluginOutputError(f"exit code {code} is none of 0, 1, 2, 3\n{stdout}")
    out = parse(stdout)
    if out.state != STATES[code]:
        raise PluginOutputError(f"status line says {out.state}, exit code {code} means "
                                f"{STATES[code]}: {out.status_line!r}")
    return out


def parse(stdout: str) -> PluginOutput:
    if not stdout.endswith("\n"):
        raise PluginOutputError(f"output does not end with a newline: {stdout[-80:]!r}")
    lines = stdout[:-1].split("\n")
    first, _, perf_text = lines[0].partition("|")
    perf_parts = [perf_text] if perf_text else []
    if "|" in lines[0] and not perf_text.strip():
        raise PluginOutputError(f"'|' with no performance data after it: {lines[0]!r}")
    long_text: list[str] = []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            perf_parts.append(line)
        elif "|" in line:
            text, _, rest = line.partition("|")
            if text.strip():
                long_text.append(text)
            perf_parts.append(rest)
            in_perf = True
        else:
            long_text.append(line)
    status_line = first.strip()
    match = _STATUS.fullmatch(status_line)
    if match is None:
        raise PluginOutputError(f"status line is not 'NAME STATE[ - text]': {status_line!r}")
    if match["rest"] and not match["rest"].startswith(" - "):
        raise PluginOutputError(f"status line: expected ' - ' after the state: {status_line!r}")
    out = PluginOutput(match["name"], match["state"], status_line, long_text)
    for item in split_items(" ".join(perf_parts)):
        perf = parse_item(item)
        if perf.label in out.perfdata:
            raise PluginOutputError(f"label {perf.label!r} appears twice")
        out.perfdata[perf.label] = perf
    return out


def split_items(text: str) -> list[str]:
    """Space-separated items; a quoted label may hold spaces."""
    items: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        if text[pos] == " ":
            pos += 1
            continue
        start = pos
        if text[pos] == "'":
            _, pos = _quoted(text, pos)
        while pos < end and text[pos] != " ":
            pos += 1
        items.append(text[start:pos])
    return items


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted label at text[start] ("'"): (label, index after its closing quote)."""
    label, pos = [], start + 1
    while True:
        close = text.find("'", pos)
        if close < 0:
            raise PluginOutputError(f"unterminated quoted label: {text[start:]!r}")
        label.append(text[pos:close])
        if text.startswith("''", close):  # an escaped quote
            label.append("'")
            pos = close + 2
            continue
        return "".join(label), close + 1


def parse_item(item: str) -> Perf:
    if item.startswith("'"):
        label, pos = _quoted(item, 0)
        if not item.startswith("=", pos):
            raise PluginOutputError(f"quoted label not followed by '=': {item!r}")
        rest = item[pos + 1 :]
    else:
        label, eq, rest = item.partition("=")
        if not eq:
            raise PluginOutputError(f"no '=' in performance item {item!r}")
        if "'" in label:
            raise PluginOutputError(f"unquoted label holds a quote: {item!r}")
    if not label:
        raise PluginOutputError(f"empty label: {item!r}")
    fields = rest.split(";")
    if len(fields) > 5:
        raise PluginOutputError(f"more than 5 fields in {item!r}")
    fields += [""] * (5 - len(fields))
    value_unit = _VALUE_UNIT.fullmatch(fields[0])
    if value_unit is None:
        raise PluginOutputError(f"value {fields[0]!r} of {label!r} is not a number[UOM]")
    unit = value_unit["unit"]
    if unit not in UNITS:
        raise PluginOutputError(f"unit {unit!r} of {label!r} is none of {UNITS}")
    warn = _range(fields[1], label, "warn")
    crit = _range(fields[2], label, "crit")
    low = _number(fields[3], label, "min")
    high = _number(fields[4], label, "max")
    if low is not None and high is not None and low > high:
        raise PluginOutputError(f"min {low} > max {high} in {item!r}")
    return Perf(label, float(value_unit["value"]), unit, warn, crit, low, high)


def _range(text: str, label: str, which: str) -> str:
    if not text:
        return ""
    match = _RANGE.fullmatch(text)
    if match is None or not text.removeprefix("@"):
        raise PluginOutputError(f"{which} {text!r} of {label!r} is not a range")
    start = -math.inf if match["start"] == "~" else float(match["start"] or 0)
    end = float(match["end"]) if match["end"] else math.inf
    if start > end:
        raise PluginOutputError(f"{which} {text!r} of {label!r}: start > end")
    return text


def _number(text: str, label: str, which: str) -> float | None:
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise PluginOutputError(f"{which} {text!r} of {label!r} is not a number")
    return float(text)


@dataclass(frozen=True)
class PluginRun:
    code: int
    stdout: str
    output: PluginOutput

    @property
    def status_line(self) -> str:
        return self.output.status_line


def run_plugin(argv: list[str], timeout: float = 60, **kwargs) -> PluginRun:
    """Run a check as Nagios does (a process, its stdout and exit code); judge its output.

    Anything on stderr is a failure: a check writes only to stdout.
    """
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.stderr:
        raise PluginOutputError(f"the check wrote to stderr: {done.stderr!r}\n"
                                f"stdout: {done.stdout!r}")
    return PluginRun(done.returncode, done.stdout, judged(done.returncode, done.stdout))
