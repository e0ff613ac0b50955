"""check_snat and the SNAT Prometheus collector on status snapshots written to temp files.

The check runs as its own process (`python -m lvsmon_nagios.check_snat`), as Nagios or NRPE
would run it: its exit code and output line are what we judge. The collector's exposition
is parsed back and, where promtool is installed, linted by it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lvsmon.model import SnatConnection
from lvsmon.model.codec import from_json
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.snat import RecorderStatus, SinkStatus, SnatStatus
from lvsmon.snat.status import read_status
from lvsmon.snat.store_sqlite import Loss, SqliteStore
from lvsmon_exporter.snat import registry_for
from tests.plugin_output import run_plugin
from tests.snat_status import status_doc

REPO = Path(__file__).resolve().parents[2]
S = 1_000_000_000
T0 = 1_800_000_000 * S
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "snat.sqlite"
    db = SqliteStore(path)
    base = dict(protocol="tcp", family="inet", inside_address="192.168.1.20",
                translated_address="10.0.0.5", original_destination_address="10.0.0.100",
                original_destination_port=80, real_destination_address="10.0.1.12",
                real_destination_port=8080, node="lb1", start_exact=True)
    db.write([SnatConnection(conntrack_id=1, inside_port=51000, translated_port=40001,
                             start_ns=T0, **base),
              SnatConnection(conntrack_id=2, inside_port=51001, translated_port=40002,
                             start_ns=T0 + 5 * S, **base)],
             [], [Loss(T0, "lb1", "enobufs", 2), Loss(T0, "lb1", "events_dropped", 40)])
    db.write([], [SnatConnection(conntrack_id=1, inside_port=51000, translated_port=40001,
                                 start_ns=T0, end_ns=T0 + S, **base)])
    db.close()
    return path


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "status.json"
    path.write_text(json.dumps(doc))
    return path


def check(*args: str) -> tuple[int, str]:
    """Exit code and stdout of check_snat; its output strictly judged (tests.plugin_output)."""
    run = run_plugin([sys.executable, "-m", "lvsmon_nagios.check_snat", *args], timeout=30,
                     cwd=REPO)
    return run.code, run.stdout


def perfdata(output: str) -> dict[str, str]:
    data = output.split("|", 1)[1].split()
    return dict(item.split("=", 1) for item in data)


# -- check_snat -----------------------------------------------------------------------


def test_check_ok_with_perfdata(tmp_path, store):
    code, out = check("--status-file", str(write(tmp_path, status_doc(store))))
    assert code == OK, out
    assert out.startswith(f"SNAT OK - recorder running (pid {os.getpid()}, node lb1): "
                          "12.5 events/s, 0 events lost, 2 records stored")
    perf = perfdata(out)
    assert perf["lost_events"] == "0c;0;1000;0"
    assert perf["events_per_second"] == "12.5;;;0"
    assert perf["records"] == "2;;;0"
    assert perf["overflows"] == "0c;;;0"
    assert perf["running"] == "1;;;0;1"


def test_check_warns_on_any_loss_and_is_critical_past_1000(tmp_path, store):
    few = write(tmp_path, status_doc(store, overflows=1, events_dropped=5))
    code, out = check("--status-file", str(few))
    assert code == WARNING, out
    assert out.startswith("SNAT WARNING - 5 events lost since the recorder started "
                          "(more than 0) |")
    assert perfdata(out)["lost_events"] == "5c;0;1000;0"
    assert perfdata(out)["overflows"] == "1c;;;0"
    many = write(tmp_path, status_doc(store, overflows=9, events_dropped=1001))
    code, out = check("--status-file", str(many))
    assert code == CRITICAL and "1001 events lost since the recorder started (more than 1000)" \
        in out, out


def test_check_thresholds_are_nagios_ranges(tmp_path, store):
    path = write(tmp_path, status_doc(store, overflows=1, events_dropped=5))
    assert check("--status-file", str(path), "-w", "10", "-c", "20")[0] == OK
    assert check("--status-file", str(path), "-w", "2", "-c", "20")[0] == WARNING
    assert check("--status-file", str(path), "-w", "2", "-c", "4")[0] == CRITICAL


def test_check_counts_an_overflow_as_a_loss_when_the_kernel_gives_no_drop_count(tmp_path,
                                                                                 store):
    code, out = check("--status-file", str(write(tmp_path, status_doc(store, overflows=3))))
    assert code == WARNING and "3 events lost" in out, out


def test_check_critical_when_the_recorder_is_not_running(tmp_path, store):
    code, out = check("--status-file", str(tmp_path / "none.json"))
    assert code == CRITICAL, out
    assert out.startswith(f"SNAT CRITICAL - recorder not running: no status file "
                          f"{tmp_path / 'none.json'}")
    stale = write(tmp_path, status_doc(store, updated_ns=time.time_ns() - 30 * S))
    code, out = check("--status-file", str(stale))
    assert code == CRITICAL and "not updated for 30 s" in out, out
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = write(tmp_path, status_doc(store, pid=int(gone.stdout)))
    code, out = check("--status-file", str(dead))
    assert code == CRITICAL and f"process {int(gone.stdout)} is gone" in out, out
    stopped = write(tmp_path, status_doc(store, stopped=True))
    code, out = check("--status-file", str(stopped))
    assert code == CRITICAL and "recorder not running: stopped at" in out, out
    (tmp_path / "status.json").write_text("{not json")
    code, out = check("--status-file", str(tmp_path / "status.json"))
    assert code == CRITICAL and "unreadable status file" in out, out


def test_check_dropped_records_are_critical_and_a_failing_sink_warns(tmp_path, store):
    failing = FrozenDict(sqlite=SinkStatus(ok=False, error="database or disk is full",
                                           written_records=3, pending_records=7))
    code, out = check("--status-file", str(write(tmp_path, status_doc(store, sinks=failing))))
    assert code == WARNING, out
    assert "sink failing: sqlite: database or disk is full" in out
    code, out = check("--status-file", str(write(tmp_path, status_doc(
        store, sinks=failing, store_dropped=4))))
    assert code == CRITICAL, out
    assert out.startswith("SNAT CRITICAL - 4 records dropped")


def test_check_usage_error_is_unknown_and_help_explains(tmp_path):
    code, out = check("--no-such-option")
    assert code == UNKNOWN and "SNAT UNKNOWN" in out
    done = subprocess.run([sys.executable, "-m", "lvsmon_nagios.check_snat", "--help"],
                          capture_output=True, text=True, timeout=30, cwd=REPO)
    code, out = done.returncode, done.stdout
    assert code == OK and not done.stderr
    assert "CRITICAL when the recorder is not running" in out and "Exit codes" in out


# -- the collector --------------------------------------------------------------------


def scrape(status_file: Path, store: Path | None = None) -> tuple[str, dict]:
    text = generate_latest(registry_for(str(status_file), str(store) if store else None))
    samples = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            key = sample.name + ("{" + ",".join(f"{k}={v}" for k, v in
                                                sorted(sample.labels.items())) + "}"
                                 if sample.labels else "")
            samples[key] = sample.value
    return text.decode(), samples


def test_collector_renders_a_running_recorder(tmp_path, store):
    doc = status_doc(store, overflows=3, events_dropped=41, dumps=4, end_unknown=2,
                     store_dropped=0)
    text, samples = scrape(write(tmp_path, doc))
    assert samples["lvsmon_snat_up"] == 1
    assert samples["lvsmon_snat_events_received_total"] == 340
    assert samples["lvsmon_snat_events_lost_total"] == 41
    assert samples["lvsmon_snat_overflows_total"] == 3
    assert samples["lvsmon_snat_redumps_total"] == 3  # the dump at start is not a re-dump
    assert samples["lvsmon_snat_connection_ends_lost_total"] == 2
    assert samples["lvsmon_snat_records_dropped_total"] == 0
    assert samples["lvsmon_snat_records_stored"] == 2
    assert samples["lvsmon_snat_open_records"] == 1
    assert samples["lvsmon_snat_oldest_record_timestamp_seconds"] == T0 / 1e9
    assert samples["lvsmon_snat_start_time_seconds"] == pytest.approx(doc["started_ns"] / 1e9)
    assert samples["lvsmon_snat_sink_up{sink=sqlite}"] == 1
    assert samples["lvsmon_snat_sink_records_written_total{sink=sqlite}"] == 150
    assert samples["lvsmon_snat_store_losses{kind=enobufs}"] == 2
    assert samples["lvsmon_snat_store_losses{kind=events_dropped}"] == 40
    assert "# HELP lvsmon_snat_events_lost_total Conntrack events lost" in text
    assert "# TYPE lvsmon_snat_events_lost_total counter" in text


def test_collector_reads_again_on_every_scrape(tmp_path, store):
    path = write(tmp_path, status_doc(store))
    registry = registry_for(str(path))
    assert b"lvsmon_snat_events_lost_total 0.0" in generate_latest(registry)
    write(tmp_path, status_doc(store, overflows=1, events_dropped=7))
    assert b"lvsmon_snat_events_lost_total 7.0" in generate_latest(registry)


def test_collector_exports_only_up_0_and_the_store_when_not_running(tmp_path, store):
    stale = write(tmp_path, status_doc(store, updated_ns=time.time_ns() - 60 * S,
                                       events_dropped=9))
    _, samples = scrape(stale)
    assert samples["lvsmon_snat_up"] == 0
    assert "lvsmon_snat_events_lost_total" not in samples
    assert samples["lvsmon_snat_records_stored"] == 2  # the store still answers
    _, samples = scrape(tmp_path / "missing.json")
    assert samples == {"lvsmon_snat_up": 0, "lvsmon_snat_store_up": 0}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus)")
def test_promtool_accepts_the_exposition(tmp_path, store):
    text, _ = scrape(write(tmp_path, status_doc(store, overflows=1, events_dropped=3)))
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


# -- the shared reading -----------------------------------------------------------------


def test_status_reads_back_typed_and_the_command_prints_the_same(tmp_path, store):
    doc = status_doc(store, overflows=2, events_dropped=5)
    reading = read_status(write(tmp_path, doc))
    assert reading.running is True and reading.lost_events == 5
    assert reading.recorder == from_json(RecorderStatus, doc)
    assert (reading.store.records, reading.store.open_records) == (2, 1)
    assert reading.store.lost_by_kind == {"enobufs": 2, "events_dropped": 40}
    done = subprocess.run([sys.executable, "-m", "lvsmon", "snat", "status", "--status-file",
                           str(tmp_path / "status.json"), "--json"], capture_output=True,
                          text=True, timeout=30, cwd=REPO)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["recorder"]["lost_events"] == 5 and printed["not_running_because"] is None
    assert from_json(SnatStatus, printed).store == reading.store


def test_a_status_file_missing_a_key_is_unreadable_not_zero(tmp_path, store):
    doc = status_doc(store, events_dropped=9)
    del doc["events_dropped"]  # e.g. a renamed key: never read silently as 0
    reading = read_status(write(tmp_path, doc))
    assert reading.running is False and reading.recorder is None
    assert "events_dropped: missing" in reading.not_running_because


def test_stale_after_is_the_callers(tmp_path, store):
    doc = status_doc(store, updated_ns=time.time_ns() - 20 * S)
    reading = read_status(write(tmp_path, doc), stale_after_seconds=15)
    assert reading.not_running_because.endswith("not updated for 20 s")
    reading = read_status(write(tmp_path, doc), stale_after_seconds=30)
    assert reading.running
