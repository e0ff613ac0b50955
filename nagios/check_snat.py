"""check_snat: is the SNAT audit logger (`lvsmon snat run`) recording, and did it lose events?

CRITICAL when the recorder is not running (status file missing, not rewritten for
--stale-after seconds, or its process gone). WARNING or CRITICAL when the events lost
since the recorder started pass -w / -c (Nagios ranges; by default any loss warns and more
than 1000 lost events is critical). CRITICAL when a record was dropped because no sink could
take it; WARNING while a sink (store, JSON lines, syslog) fails to write.

Reads the status file the recorder rewrites every second and the summary of its SQLite
store (lvsmon.snat.status): the same reading `lvsmon snat status` prints. Run it as the
recorder's user or one that may read both.
"""

from __future__ import annotations

import argparse

import nagiosplugin

from lvsmon.snat.config import DEFAULT_STATUS_FILE, load_config
from lvsmon.snat.status import STALE_AFTER_SECONDS, SnatStatus, read_status
from lvsmon_nagios.plugin import PluginParser, ThresholdContext, WorstFirstSummary, run, threshold

DEFAULT_WARNING = "0"  # Nagios range: warn outside 0..0, that is on any lost event
DEFAULT_CRITICAL = "1000"


class SnatRecorder(nagiosplugin.Resource):
    """Probes one reading of the recorder's status file and store."""

    def __init__(self, status_file: str, store: str | None,
                 stale_after_seconds: float = STALE_AFTER_SECONDS):
        self.status_file = status_file
        self.store = store
        self.stale_after_seconds = stale_after_seconds
        self.status: SnatStatus | None = None  # kept for the contexts and the summary

    @property
    def name(self) -> str:
        return "SNAT"

    def probe(self):
        status = read_status(self.status_file, self.store,
                             stale_after_seconds=self.stale_after_seconds)
        self.status = status
        yield nagiosplugin.Metric("running", int(status.running), min=0, max=1,
                                  context="running")
        if not status.running:
            return  # the counters of a dead recorder say nothing about now
        recorder = status.recorder
        yield nagiosplugin.Metric("lost_events", recorder.lost_events, "c", min=0,
                                  context="lost_events")
        yield nagiosplugin.Metric("records_dropped", recorder.store_dropped, "c", min=0,
                                  context="records_dropped")
        yield nagiosplugin.Metric("failing_sinks", len(recorder.failing_sinks),
                                  min=0, max=len(recorder.sinks), context="failing_sinks")
        yield nagiosplugin.Metric("events_per_second", recorder.events_per_second,
                                  min=0, context="events_per_second")
        yield nagiosplugin.Metric("overflows", recorder.overflows, "c", min=0,
                                  context="overflows")
        yield nagiosplugin.Metric("ends_lost", recorder.end_unknown, "c", min=0,
                                  context="ends_lost")
        if status.store is not None:
            yield nagiosplugin.Metric("records", status.store.records, min=0, context="records")


class RunningContext(nagiosplugin.Context):
    """CRITICAL when the recorder does not run, saying why."""

    def evaluate(self, metric, resource):
        if metric.value:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        return self.result_cls(nagiosplugin.Critical,
                               f"recorder not running: {resource.status.not_running_because}",
                               metric)

    def performance(self, metric, resource):
        return nagiosplugin.Performance(metric.name, metric.value, min=0, max=1)


class FailingSinksContext(nagiosplugin.ScalarContext):
    """WARNING while a sink cannot write (the recorder holds its records and retries)."""

    def __init__(self):
        super().__init__("failing_sinks", warning="0", fmt_metric=None)

    def evaluate(self, metric, resource):
        if not metric.value:
            return self.result_cls(nagiosplugin.Ok, None, metric)
        sinks = resource.status.recorder.sinks
        failing = "; ".join(f"{name}: {sinks[name].error}"
                            for name in resource.status.recorder.failing_sinks)
        return self.result_cls(nagiosplugin.Warn, f"sink failing: {failing}", metric)


class SnatSummary(WorstFirstSummary):
    """One line: the recorder's state when all is well, else every problem, worst first."""

    def ok(self, results):
        status = results["running"].resource.status
        recorder = status.recorder
        stored = f", {status.store.records} records stored" if status.store else ""
        return (f"recorder running (pid {recorder.pid}, node {recorder.node}): "
                f"{recorder.events_per_second} events/s, "
                f"{recorder.lost_events} events lost{stored}")


def make_check(status_file: str, store: str | None, warning: nagiosplugin.Range | None,
               critical: nagiosplugin.Range | None,
               stale_after_seconds: float = STALE_AFTER_SECONDS) -> nagiosplugin.Check:
    return nagiosplugin.Check(
        SnatRecorder(status_file, store, stale_after_seconds),
        RunningContext("running"),
        ThresholdContext("lost_events", warning, critical,
                         describe="{value} events lost since the recorder started"),
        nagiosplugin.ScalarContext(
            "records_dropped", critical="0",
            fmt_metric="{value} records dropped: no sink could take them in time"),
        FailingSinksContext(),
        nagiosplugin.ScalarContext("events_per_second"),
        nagiosplugin.ScalarContext("overflows"),
        nagiosplugin.ScalarContext("ends_lost"),
        nagiosplugin.ScalarContext("records"),
        SnatSummary(),
    )


def make_parser() -> PluginParser:
    parser = PluginParser(
        "check_snat", "SNAT", description=__doc__,
        epilog="Performance data: running, lost_events, records_dropped, failing_sinks, "
               "events_per_second, overflows (ENOBUFS on the event socket), ends_lost "
               "(connections whose end was not seen) and records (in the store). Counters "
               "start at 0 when the recorder starts; losses stay in the store for good "
               "(`lvsmon snat status`).\n\n"
               "Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n\n"
               "Example (nrpe.cfg):\n"
               "  command[check_snat]=/usr/bin/check_snat -w 0 -c 1000 "
               "--status-file /run/lvsmon/snat-status.json")
    parser.add_argument("-w", "--warning", type=threshold, default=DEFAULT_WARNING,
                        metavar="RANGE",
                        help="Nagios range of lost events that is still OK; outside it: "
                             "WARNING [default: %(default)s, any loss warns].")
    parser.add_argument("-c", "--critical", type=threshold, default=DEFAULT_CRITICAL,
                        metavar="RANGE",
                        help="Nagios range of lost events that is not yet CRITICAL "
                             "[default: %(default)s].")
    parser.add_argument("--status-file", metavar="PATH",
                        help="Status file of `lvsmon snat run` [default: the config's, else "
                             f"{DEFAULT_STATUS_FILE}].")
    parser.add_argument("--config", metavar="PATH",
                        help="The recorder's TOML file (for its status file).")
    parser.add_argument("--store", metavar="PATH",
                        help="SQLite store [default: the one the recorder writes].")
    parser.add_argument("--stale-after", type=float, default=STALE_AFTER_SECONDS,
                        metavar="SECONDS",
                        help="A status file older than this means the recorder is not "
                             "running [default: %(default)g].")
    return parser


def build(args: argparse.Namespace) -> nagiosplugin.Check:
    status_file = args.status_file or load_config(args.config).status_file
    return make_check(status_file, args.store, args.warning, args.critical, args.stale_after)


def main(argv: list[str] | None = None) -> int:
    return run(make_parser(), build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
