"""Prometheus text format 0.0.4 and OpenMetrics 1.0.0 from metric families, fast.

    render(families)                      text format 0.0.4, bytes
    render(families, openmetrics=True)    OpenMetrics 1.0.0, ending in "# EOF"
    render_families(...)                  the same without "# EOF": pieces to concatenate
    LazyFamily(name, help, type, samples) a family whose samples are made as it is rendered
    SnapshotCache().render(snapshot, ...) one snapshot's piece, rendered once while current

The output is byte for byte what prometheus_client produces for the same families
(``exposition.generate_latest`` and ``openmetrics.exposition.generate_latest`` with their
default "underscores" escaping); tests/unit/test_exposition.py compares the two on many
families. It is faster on lvsmon's shape of data (benchmarks/exposition.py: 1,000 IPVS
services x 10 real servers, 108,000 samples, on this project's 2-core machine: the text
format 2.4-3.1x faster than prometheus_client, 2.7-3.6x with a warm LabelCache; OpenMetrics
5.2-5.6x and 6.0-6.8x, about 0.25 s instead of 1.3-1.7 s) because:

- label sets repeat: every real server has about ten series with the same labels, so each
  distinct label set is sorted, escaped and formatted once per render, not once per sample;
- names are checked once per family instead of escaped character by character per sample;
- integer values (counters, weights, connections) are formatted without a float round trip.

Anything outside that common case (names outside [a-zA-Z_][a-zA-Z0-9_]*, exemplars, native
histograms, a value prometheus_client would reject) sends that one family to prometheus_client
itself, so the output stays identical and errors are the library's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from prometheus_client.exposition import generate_latest as _text_reference
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as _openmetrics_reference
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

OPENMETRICS_EOF = b"# EOF\n"

# Names that every escaping scheme of prometheus_client leaves unchanged. (Colons are legal
# in metric names, but its OpenMetrics writer turns them into "_" on sample lines only.)
_PLAIN_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z").match

# Text format: the OpenMetrics type shown as its Prometheus 0.0.4 equivalent.
_TEXT_TYPES = {
    "counter": "counter",
    "gauge": "gauge",
    "summary": "summary",
    "histogram": "histogram",
    "info": "gauge",
    "stateset": "gauge",
    "gaugehistogram": "histogram",
    "unknown": "untyped",
}
# Text format: OpenMetrics-only samples, moved after their family as gauges of their own.
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")

_EXACT_INT = 2**53  # integers below this convert to float exactly


class SnapshotCache:
    """Rendered bytes of one snapshot's families, reused while that same snapshot object is
    the current one: the IPVS table changes only at each [ipvs] interval, but it may be
    scraped more often (two Prometheus servers, both formats, a benchmark's back-to-back
    scrapes). Keeps the last rendering per format (and a reference to its snapshot, so the
    identity check cannot be fooled by a reused id).

        ipvs_bytes = cache.render(state.ipvs.snapshot, ipvs_families, openmetrics, labels)

    Safe to share between worker threads (at worst two of them render the same piece).
    """

    def __init__(self) -> None:
        self._last: dict[bool, tuple[object, bytes]] = {}

    def render(self, snapshot: object, families: Callable[[object], Iterable[Metric]],
               openmetrics: bool, cache: LabelCache | None = None) -> bytes:  # fmt: skip
        """render_families(families(snapshot), ...) (no "# EOF"), from the cache if it holds
        this very snapshot."""
        last = self._last.get(openmetrics)
        if last is not None and last[0] is snapshot:
            return last[1]
        body = render_families(families(snapshot), openmetrics, cache)
        self._last[openmetrics] = (snapshot, body)
        return body


class LazyFamily(Metric):
    """A metric family whose samples are made while it is rendered.

        LazyFamily("lvsmon_ipvs_real_server_weight", "Weight.", "gauge",
                   lambda: (Sample("lvsmon_ipvs_real_server_weight",
                                   {"service": name, "real_server": rs.endpoint}, rs.weight)
                            for name, rs in table.real_servers()))

    `samples` is called on every render (each format) and gives Sample tuples with their full
    names, as add_metric would make them (counters: name + "_total"). Why: 100,000 series
    built as ordinary families are some 300,000 objects alive through the whole render, which
    Python's garbage collector promotes and then walks in a full collection holding the GIL
    (benchmarks/exporter_loop.py measured 100-320 ms of a stalled event loop); samples made
    on the fly die young and never get there. prometheus_client renders it too.
    """

    def __init__(self, name: str, documentation: str, typ: str,
                 samples: Callable[[], Iterable[Sample]], unit: str = "") -> None:  # fmt: skip
        self._make_samples = samples
        super().__init__(name, documentation, typ, unit)

    @property
    def samples(self) -> Iterable[Sample]:  # type: ignore[override]
        return self._make_samples()

    @samples.setter
    def samples(self, value) -> None:
        if value:  # Metric.__init__ sets [], which is fine
            raise TypeError("a LazyFamily's samples come from its function")


class _Unusual(Exception):
    """This family needs prometheus_client's own writer."""


def render(
    families: Iterable[Metric], openmetrics: bool = False, cache: LabelCache | None = None
) -> bytes:
    """A complete exposition of `families` (e.g. a collector's collect())."""
    body = render_families(families, openmetrics, cache)
    return body + OPENMETRICS_EOF if openmetrics else body


def render_families(
    families: Iterable[Metric], openmetrics: bool = False, cache: LabelCache | None = None
) -> bytes:
    """`families` without the OpenMetrics "# EOF" line: pieces rendered separately (one per
    snapshot, say) concatenate to the rendering of all their families at once."""
    family = _openmetrics_family if openmetrics else _text_family
    known = cache.texts if cache is not None else {}
    labels: dict[tuple, str] = {(): ""}  # label items in dict order -> '{a="x",b="y"}'
    out: list[bytes] = []
    for metric in families:
        try:
            text = "".join(family(metric, labels, known))
        except Exception:  # noqa: BLE001 - _Unusual, or the library's error to raise
            text = _reference(metric, openmetrics)
        out.append(text.encode())  # per family: no single long C call holding the GIL
    if cache is not None:
        cache.texts = labels
    return b"".join(out)


class LabelCache:
    """Label texts kept from one render to the next: the label sets of a scrape are mostly
    those of the previous one, and formatting them is a quarter of a render. Holds the sets
    of the last render only, so services that went away are forgotten. Safe to share between
    threads (a render reads the old dict and replaces it with its own)."""

    def __init__(self) -> None:
        self.texts: dict[tuple, str] = {}


def _reference(metric: Metric, openmetrics: bool) -> str:
    """prometheus_client's rendering of one family (its errors propagate)."""
    one = _OneFamily(metric)
    if openmetrics:
        return _openmetrics_reference(one)[: -len(OPENMETRICS_EOF)].decode()
    return _text_reference(one).decode()


class _OneFamily:
    def __init__(self, metric: Metric):
        self.metric = metric

    def collect(self) -> list[Metric]:
        return [self.metric]


def _text_family(metric: Metric, labels: dict[tuple, str], known: dict[tuple, str]) -> list[str]:
    name = metric.name
    if not _PLAIN_NAME(name):
        raise _Unusual
    shown = name
    if metric.type == "counter":
        shown = name + "_total"
    elif metric.type == "info":
        shown = name + "_info"
    text = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines = [f"# HELP {shown} {text}\n# TYPE {shown} {_TEXT_TYPES[metric.type]}\n"]
    moved: dict[str, list[str]] = {}
    target = lines
    previous = None
    low, high = -_EXACT_INT, _EXACT_INT
    for sample_name, sample_labels, value, timestamp, _exemplar, native in metric.samples:
        if sample_name != previous:
            previous = sample_name
            if not _PLAIN_NAME(sample_name):
                raise _Unusual
            target = lines
            for suffix in _MOVED_SUFFIXES:
                if sample_name == name + suffix:
                    target = moved.setdefault(suffix, [])
                    break
        if native is not None:
            raise _Unusual
        try:
            label_text = labels[key := tuple(sample_labels.items())]
        except KeyError:
            label_text = labels[key] = known.get(key) or _label_text(sample_labels)
        if value.__class__ is int and low < value < high:
            value = f"{value}.0" if value < 1_000_000 else _exponent(value)
        else:
            value = floatToGoString(value)
        if timestamp is None:
            target.append(f"{sample_name}{label_text} {value}\n")
        else:
            target.append(f"{sample_name}{label_text} {value} {int(float(timestamp) * 1000):d}\n")
    for suffix, extra in sorted(moved.items()):
        lines.append(f"# HELP {name}{suffix} {text}\n# TYPE {name}{suffix} gauge\n")
        lines += extra
    return lines


def _openmetrics_family(
    metric: Metric, labels: dict[tuple, str], known: dict[tuple, str]
) -> list[str]:
    name = metric.name
    if not _PLAIN_NAME(name):
        raise _Unusual
    text = metric.documentation.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    lines = [f"# HELP {name} {text}\n# TYPE {name} {metric.type}\n"]
    if metric.unit:
        lines.append(f"# UNIT {name} {metric.unit}\n")
    previous = None
    low, high = -_EXACT_INT, _EXACT_INT
    for sample_name, sample_labels, value, timestamp, exemplar, native in metric.samples:
        if sample_name != previous:
            previous = sample_name
            if not _PLAIN_NAME(sample_name):
                raise _Unusual
        if exemplar is not None or native is not None:
            raise _Unusual
        try:
            label_text = labels[key := tuple(sample_labels.items())]
        except KeyError:
            label_text = labels[key] = known.get(key) or _label_text(sample_labels)
        if value.__class__ is int and low < value < high:
            value = f"{value}.0" if value < 1_000_000 else _exponent(value)
        elif value is None:
            value = ""
        else:
            value = floatToGoString(value)
        if timestamp is None:
            lines.append(f"{sample_name}{label_text} {value}\n")
        else:
            lines.append(f"{sample_name}{label_text} {value} {timestamp}\n")
    return lines


def _label_text(labels: dict[str, str]) -> str:
    """'{a="x",b="y"}': sorted by name, values escaped as both formats do."""
    if not labels:
        return ""
    parts = []
    for label, value in sorted(labels.items()):
        if not _PLAIN_NAME(label):
            raise _Unusual
        value = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        parts.append(f'{label}="{value}"')
    return "{" + ",".join(parts) + "}"


def _exponent(value: int) -> str:
    """floatToGoString for an integer from 1e6 to 2**53: Go's exponent form, 1.234567e+06."""
    digits = str(value)
    significant = digits.rstrip("0")
    if len(significant) > 1:
        return f"{significant[0]}.{significant[1:]}e+{len(digits) - 1:02d}"
    return f"{significant}e+{len(digits) - 1:02d}"
