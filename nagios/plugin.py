"""What every lvsmon check shares: the Monitoring Plugins conventions at the command-line edge.

    parser = PluginParser("check_ipvs", "IPVS", description=__doc__)
    parser.add_argument("-w", "--warning-available", type=threshold, metavar="RANGE")
    def main(argv=None) -> int:
        return run(parser, make_check, argv)     # the console script exits with it

A check itself stays a nagiosplugin pipeline (Resource -> Metric -> Context -> Summary);
this module is only its edge:

- exit 0/1/2/3 (OK, WARNING, CRITICAL, UNKNOWN); one status line "NAME STATE - summary",
  perfdata after "|", long output with -v (nagiosplugin's Output renders these);
- thresholds in the guidelines' range syntax (10, 10:, ~:10, 10:20, @10:20), checked when
  the options are parsed, and violations worded for people ("less than 2");
- a bad option, a bad range, a timeout (-t) or an lvsmon error is UNKNOWN with one line
  "NAME UNKNOWN - why": never argparse's exit 2 and never a traceback (the traceback of a
  bug in the check itself is added only with -vvv, the guidelines' debugging level);
- everything goes to stdout, which is all NRPE and Icinga read.

-h and -V print to stdout and exit 0: they are not check results.
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import re
import signal
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager

import nagiosplugin
from nagiosplugin.output import Output

from lvsmon import __version__
from lvsmon.errors import LvsmonError

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {"ok": nagiosplugin.Ok, "warning": nagiosplugin.Warn,
               "critical": nagiosplugin.Critical}
DEFAULT_TIMEOUT_SECONDS = 10
RANGE_EXAMPLES = ("the range that is OK: N (0..N), N: (N or more), ~:N (N or less), N:M; "
                  "or @N:M to alert inside N..M")


class PluginUsageError(Exception):
    """A command line the check cannot run with (reported as UNKNOWN, exit 3)."""


class PluginTimeout(BaseException):
    """-t ran out. A BaseException, so that no `except Exception` on the way swallows it."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


# -- the command line ------------------------------------------------------------------------


class PluginParser(argparse.ArgumentParser):
    """argparse with the options every plugin has (-h, -V, -v, -t) and UNKNOWN on misuse."""

    def __init__(self, prog: str, name: str, *, description: str | None = None,
                 epilog: str | None = None, default_timeout: int = DEFAULT_TIMEOUT_SECONDS):
        super().__init__(prog=prog, description=description, epilog=epilog,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         allow_abbrev=False)  # abbreviations would break as options are added
        self.check_name = name  # the status line's first word, e.g. "IPVS"
        self.add_argument("-V", "--version", action=_VersionAction, nargs=0,
                          help="Print the version and exit.")
        self.add_argument("-t", "--timeout", type=seconds, default=default_timeout,
                          metavar="SECONDS",
                          help="UNKNOWN when the check has no result after this many seconds "
                               "[default: %(default)s].")
        self.add_argument("-v", "--verbose", action="count", default=0,
                          help="Long output after the status line (repeat for more detail).")

    def error(self, message: str):
        # argparse would print usage on stderr and exit 2 (CRITICAL to Nagios).
        raise PluginUsageError(f"{self.prog}: {message}")


class _VersionAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(f"{parser.prog} (lvsmon) {__version__}\n")
        parser.exit(0)


def seconds(text: str) -> int:
    """-t: a whole number of seconds, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a timeout: use 1 or more seconds")
    return value


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE = re.compile(rf"(?P<invert>@)?(?:(?P<start>~|{_NUMBER})?(?P<colon>:))?(?P<end>{_NUMBER})?")


def threshold(text: str) -> nagiosplugin.Range | None:
    """A range of the guidelines' syntax -> nagiosplugin.Range; "" -> None (no threshold).

    Stricter than nagiosplugin.Range, which takes "1:2:3" or "abc" only to fail later with
    a traceback: here every bad range is an argparse error, so UNKNOWN with one line.
    """
    text = text.strip()
    if not text:
        return None
    match = _RANGE.fullmatch(text)
    if match is None or not (match["colon"] or match["end"]):
        raise argparse.ArgumentTypeError(f"bad range {text!r}: write {RANGE_EXAMPLES}")
    start = match["start"]
    low = -math.inf if start == "~" else _number(start) if start else 0
    high = _number(match["end"]) if match["end"] else math.inf
    if low > high:
        raise argparse.ArgumentTypeError(
            f"bad range {text!r}: its start {_show(low)} is greater than its end {_show(high)}")
    return nagiosplugin.Range(text)


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _show(value: float) -> str:
    if value == math.inf:
        return "infinity"
    if value == -math.inf:
        return "-infinity"
    return f"{value:g}"


# -- wording -----------------------------------------------------------------------------------


def violation(value: float, limit: nagiosplugin.Range) -> str:
    """Why `value` is outside `limit`, in words: "more than 5", "less than 2", "between 1 and 3"."""
    if limit.invert:
        if limit.end == math.inf:
            return f"{_show(limit.start)} or more"
        if limit.start == -math.inf:
            return f"{_show(limit.end)} or less"
        return f"between {_show(limit.start)} and {_show(limit.end)}"
    if value > limit.end:
        return f"more than {_show(limit.end)}"
    return f"less than {_show(limit.start)}"


def perf_label(*parts: str) -> str:
    """A perfdata label from parts, e.g. ("tcp:10.0.0.1:80", "available").

    nagiosplugin quotes a label with anything but word characters; "'" and "=" cannot be
    written inside a label at all there, so they become "_" (an interface may be named so).
    """
    return " ".join(parts).replace("'", "_").replace("=", "_")


class ThresholdContext(nagiosplugin.ScalarContext):
    """A ScalarContext whose problems read "<what> (<violation>)", e.g.
    "tcp:10.0.0.1:80: 1 of 3 real servers available (less than 2)".

    describe: the metric in words, a format string of nagiosplugin's fields ({value}, ...)
    or a callable (metric -> str; metric.resource is the resource that made it).
    """

    def __init__(self, name: str, warning: nagiosplugin.Range | None = None,
                 critical: nagiosplugin.Range | None = None,
                 describe: str | Callable[[nagiosplugin.Metric], str] = "{name} is {valueunit}"):
        fmt = (lambda metric, _context: describe(metric)) if callable(describe) else describe
        super().__init__(name, warning, critical, fmt_metric=fmt)

    def evaluate(self, metric, resource):
        if not self.critical.match(metric.value):
            return self.result_cls(nagiosplugin.Critical,
                                   violation(metric.value, self.critical), metric)
        if not self.warning.match(metric.value):
            return self.result_cls(nagiosplugin.Warn, violation(metric.value, self.warning),
                                   metric)
        return self.result_cls(nagiosplugin.Ok, None, metric)


class WorstFirstSummary(nagiosplugin.Summary):
    """The status line of a problem: every problem, worst first, joined by "; "."""

    def problem(self, results):
        return "; ".join(str(result) for result in results if result.state != nagiosplugin.Ok)


# -- running -----------------------------------------------------------------------------------


def run(parser: PluginParser, build: Callable[[argparse.Namespace], nagiosplugin.Check],
        argv: list[str] | None = None) -> int:
    """Parse the options, build and run the check within -t, print its output; the exit code.

    build(args) makes the nagiosplugin.Check; an LvsmonError or nagiosplugin.CheckError it
    raises (or the check's probe raises) is UNKNOWN with its message.
    """
    try:
        args = parser.parse_args(argv)
    except PluginUsageError as exc:
        return unknown(parser.check_name, str(exc))
    except SystemExit as exc:  # -h, -V: printed, done
        return exc.code or 0
    verbose = args.verbose
    try:
        with deadline(args.timeout):
            check = build(args)
            text, code = render(check, verbose)
    except PluginTimeout as exc:
        return unknown(parser.check_name,
                       f"timed out: no result within {exc.seconds} s (-t {exc.seconds})")
    except (LvsmonError, nagiosplugin.CheckError) as exc:
        return unknown(parser.check_name, str(exc))
    except OSError as exc:  # a file or socket the check needs, outside lvsmon's own errors
        where = f"{exc.filename}: " if exc.filename else ""
        return unknown(parser.check_name, f"{where}{exc.strerror or exc}")
    except Exception as exc:  # a bug in the check: still one UNKNOWN line, for Nagios
        details = traceback.format_exc() if verbose >= 3 else None
        return unknown(parser.check_name,
                       f"internal error: {type(exc).__name__}: {exc}", details)
    sys.stdout.write(text)
    return code


@contextmanager
def deadline(seconds: float):
    """Raise PluginTimeout in the main thread after `seconds` (SIGALRM)."""

    def expire(_signum, _frame):
        raise PluginTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render(check: nagiosplugin.Check, verbose: int) -> tuple[str, int]:
    """Run the check; its output as nagiosplugin words it, and its exit code.

    nagiosplugin.Runtime does the same but is a process-wide singleton that exits; this
    keeps one run's output to itself, and so can run in-process more than once (tests).
    """
    log = logging.StreamHandler(io.StringIO())  # what the library logs joins the long output
    log.setLevel(logging.WARNING if verbose < 2 else
                 logging.INFO if verbose == 2 else logging.DEBUG)
    logger = logging.getLogger("nagiosplugin")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(log)
    try:
        check()
        output = Output(log, verbose=min(verbose, 3))
        output.add(check)
        return str(output), check.exitcode
    finally:
        logger.removeHandler(log)


def unknown(name: str, message: str, details: str | None = None) -> int:
    """Print the one UNKNOWN line (details, if any, as long output); return 3."""
    line = " ".join(message.split()).replace("|", "/")  # one line; "|" would start perfdata
    sys.stdout.write(f"{name} UNKNOWN - {line}\n")
    if details:
        sys.stdout.write(details.replace("|", "/"))
    return UNKNOWN
