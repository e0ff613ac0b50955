"""lvsmon_exporter.exposition writes byte for byte what prometheus_client writes, in both
formats, and its output passes Prometheus's own parsers (promtool)."""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Exemplar, Sample, Timestamp

from lvsmon_exporter.exposition import (
    OPENMETRICS_EOF,
    LabelCache,
    LazyFamily,
    SnapshotCache,
    render,
    render_families,
)


class Families:
    def __init__(self, families):
        self.families = list(families)

    def collect(self):
        return self.families


def reference(families, openmetrics: bool) -> bytes:
    produce = openmetrics_latest if openmetrics else generate_latest
    return produce(Families(families))


def assert_same(families, cache: LabelCache | None = None) -> None:
    for openmetrics in (False, True):
        expected = reference(families, openmetrics)
        assert render(families, openmetrics, cache) == expected, openmetrics


VALUES = [0, 1, -1, 7, 999_999, 1_000_000, 1_234_567, 120_000_000, 2**53 - 1, 2**53, 2**53 + 1,
          2**64, -(2**53) - 5, 10**16, 10**21, 0.0, -0.0, 0.5, 1e-7, 1.5e300, 123456.789,
          1234567.0, 1e16, float("inf"), float("-inf"), float("nan"), True, False]


def sample_families() -> list[Metric]:
    counter = CounterMetricFamily("lvsmon_test_connections_total", "Connections.\nMore \\ help",
                                  labels=["service", "real_server"])  # fmt: skip
    counter.add_metric(["tcp:10.0.0.1:80", "10.0.1.2:80"], 12, created=1700000000.25)
    counter.add_metric(["tcp:[2001:db8::1]:443", "[2001:db8::2]:80"], 2**40)
    plain = CounterMetricFamily("lvsmon_test_plain", 'Quote " and \\ and\nnewline', value=3)
    gauge = GaugeMetricFamily("lvsmon_test_value", "Values of every kind.", labels=["kind"])
    for index, value in enumerate(VALUES):
        gauge.add_metric([f"v{index}"], value)
    escapes = GaugeMetricFamily("lvsmon_test_escapes", "Label values needing escapes.",
                                labels=["value", "other"])  # fmt: skip
    for text in ['back\\slash', 'new\nline', 'quo"te', 'all \\ " \n', "ünïcödé ✓", "", "a=b,c"]:
        escapes.add_metric([text, "x"], 1)
    info = InfoMetricFamily("lvsmon_test_service", "Service facts.", labels=["service"])
    info.add_metric(["fwm:7"], {"scheduler": "wrr", "persistence": "300"})
    info.add_metric(["tcp:10.0.0.1:80"], {"scheduler": "rr", "persistence": ""})
    state = StateSetMetricFamily("lvsmon_test_state", "Instance state.", labels=["instance"])
    state.add_metric(["web"], {"master": True, "backup": False})
    summary = SummaryMetricFamily("lvsmon_test_seconds", "A summary.", count_value=4,
                                  sum_value=0.25)  # fmt: skip
    histogram = HistogramMetricFamily("lvsmon_test_histogram_seconds", "A histogram.",
                                      buckets=[("0.1", 1), ("1.0", 3), ("+Inf", 4)],
                                      sum_value=2.5)  # fmt: skip
    gauge_histogram = GaugeHistogramMetricFamily("lvsmon_test_queue", "A gauge histogram.",
                                                 buckets=[("10.0", 2), ("+Inf", 5)],
                                                 gsum_value=30)  # fmt: skip
    unknown = UnknownMetricFamily("lvsmon_test_unknown", "Untyped.", value=1.5)
    unit = GaugeMetricFamily("lvsmon_test_age_seconds", "With a unit.", value=3, unit="seconds")
    empty = GaugeMetricFamily("lvsmon_test_empty", "No samples at all.", labels=["x"])
    stamped = GaugeMetricFamily("lvsmon_test_stamped", "With timestamps.", labels=["at"])
    stamped.add_metric(["float"], 1, timestamp=1700000000.5)
    stamped.add_metric(["ns"], 2, timestamp=Timestamp(1700000000, 123))
    return [counter, plain, gauge, escapes, info, state, summary, histogram, gauge_histogram,
            unknown, unit, empty, stamped]


def unusual_families() -> list[Metric]:
    """Families the fast path hands to prometheus_client: output must still be identical."""
    colon = GaugeMetricFamily("lvsmon:recorded", "A name with a colon.", value=1)
    dotted = GaugeMetricFamily("lvsmon.dotted", "A UTF-8 name.", labels=["a"])
    dotted.add_metric(["x"], 1)
    odd_label = Metric("lvsmon_odd_label", "A label name outside [a-zA-Z_].", "gauge")
    odd_label.add_sample("lvsmon_odd_label", {"läbel": "v"}, 1)
    exemplar = CounterMetricFamily("lvsmon_test_exemplar", "With an exemplar.", labels=["a"])
    exemplar.add_metric(["x"], 3, exemplar=Exemplar({"trace_id": "abc"}, 1.0, 1700000000))
    return [colon, dotted, odd_label, exemplar]


def test_every_kind_of_family_is_written_as_prometheus_client_writes_it():
    assert_same(sample_families())


def test_families_needing_the_library_still_come_out_identical():
    assert_same(unusual_families())
    assert_same(sample_families() + unusual_families())


def test_a_label_cache_gives_the_same_bytes_and_follows_changed_labels():
    cache = LabelCache()
    families = sample_families()
    assert_same(families, cache)
    assert_same(families, cache)  # warm
    changed = GaugeMetricFamily("lvsmon_test_value", "Changed labels.", labels=["kind"])
    changed.add_metric(['now "quoted"'], 2)
    assert_same([changed], cache)
    assert_same(families, cache)


def test_openmetrics_without_value_and_text_errors_match_the_library():
    none_value = Metric("lvsmon_none", "None as a value.", "gauge")
    none_value.add_sample("lvsmon_none", {"a": "b"}, None)
    assert render([none_value], True) == reference([none_value], True)
    with pytest.raises(TypeError):
        reference([none_value], False)
    with pytest.raises(TypeError):
        render([none_value], False)
    bad_label = GaugeMetricFamily("lvsmon_bad", "A label value that is not text.", labels=["a"])
    bad_label.add_metric([5], 1)
    with pytest.raises(AttributeError):
        render([bad_label])


def test_pieces_concatenate_to_the_whole():
    families = sample_families()
    for openmetrics in (False, True):
        pieces = render_families(families[:4], openmetrics) + render_families(families[4:],
                                                                              openmetrics)
        whole = render(families, openmetrics)
        assert pieces + (OPENMETRICS_EOF if openmetrics else b"") == whole


names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
label_values = st.text(max_size=12)
values = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(VALUES))


@st.composite
def families(draw) -> list[Metric]:
    result = []
    for index in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["counter", "gauge", "info", "unknown"]))
        name = f"{draw(names)}_{index}"
        documentation = draw(st.text(max_size=20))
        label_names = draw(st.lists(names, max_size=3, unique=True))
        maker = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily,
                 "info": InfoMetricFamily, "unknown": UnknownMetricFamily}[kind]
        family = maker(name, documentation, labels=label_names)
        for _ in range(draw(st.integers(0, 4))):
            labels = [draw(label_values) for _ in label_names]
            if kind == "info":
                family.add_metric(labels, {"extra_label": draw(label_values)})
            elif kind == "counter":
                family.add_metric(labels, draw(values), created=draw(st.none() | st.floats(
                    min_value=0, max_value=2e9)))
            else:
                family.add_metric(labels, draw(values))
        result.append(family)
    return result


@settings(max_examples=300, deadline=None)
@given(families())
def test_random_families_match_the_library(drawn):
    assert_same(drawn)


def test_a_large_table_matches_and_repeats_label_sets():
    services = [f"tcp:10.0.{n // 256}.{n % 256}:80" for n in range(50)]
    weight = GaugeMetricFamily("lvsmon_ipvs_real_server_weight", "Weight.",
                               labels=["service", "real_server"])  # fmt: skip
    packets = CounterMetricFamily("lvsmon_ipvs_real_server_packets_in", "Packets in.",
                                  labels=["service", "real_server"])  # fmt: skip
    for number, service in enumerate(services):
        for real in range(10):
            weight.add_metric([service, f"10.1.0.{real}:80"], real)
            packets.add_metric([service, f"10.1.0.{real}:80"], number * 10**9 + real)
    assert_same([weight, packets], LabelCache())


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian prometheus)")
def test_promtool_accepts_the_text_format():
    body = render(sample_families()[:6])
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian prometheus)")
def test_promtool_reads_the_openmetrics_format(tmp_path):
    # promtool's OpenMetrics reader is its backfill command, which wants a timestamp on every
    # sample; `promtool check metrics` reads the text format only.
    stamped = []
    for family in sample_families():
        if family.type in ("counter", "gauge", "info", "stateset", "unknown"):
            copy = Metric(family.name, family.documentation, family.type, family.unit)
            copy.samples = [sample._replace(timestamp=1700000000 + number)
                            for number, sample in enumerate(family.samples)]
            stamped.append(copy)
    body = render(stamped, openmetrics=True)
    assert body == reference(stamped, True)
    source = tmp_path / "metrics.om"
    source.write_bytes(body)
    result = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                             str(source), str(tmp_path / "blocks")], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    header, *blocks = result.stdout.splitlines()
    assert header.split()[7:9] == ["NUM", "SAMPLES"], header
    samples = [int(line.split()[4]) for line in blocks if line.strip()]
    assert sum(samples) == sum(len(f.samples) for f in stamped), result.stdout


def test_openmetrics_parser_reads_the_openmetrics_output_back():
    families_in = sample_families()[:6]
    parsed = {f.name: f for f in text_string_to_metric_families(render(families_in, True).decode())}
    gauge = parsed["lvsmon_test_value"]
    by_kind = {s.labels["kind"]: s.value for s in gauge.samples}
    assert by_kind["v5"] == 1_000_000 and math.isnan(by_kind["v25"])
    assert parsed["lvsmon_test_escapes"].samples[3].labels["value"] == 'all \\ " \n'
    assert parsed["lvsmon_test_service"].type == "info"


def test_a_lazy_family_renders_as_the_same_eager_family():
    eager = sample_families()[:5] + [sample_families()[10]]
    lazy = [LazyFamily(f.name, f.documentation, f.type,
                       lambda samples=tuple(f.samples): iter(samples), f.unit) for f in eager]
    for openmetrics in (False, True):
        expected = reference(eager, openmetrics)
        assert render(lazy, openmetrics) == expected == reference(lazy, openmetrics)
        assert render(lazy, openmetrics, LabelCache()) == expected  # samples made again


def test_a_lazy_family_makes_its_samples_on_each_render():
    calls = []

    def samples():
        calls.append(1)
        yield Sample("lvsmon_lazy", {"n": str(len(calls))}, len(calls))

    family = LazyFamily("lvsmon_lazy", "Made when read.", "gauge", samples)
    assert calls == []
    assert render([family]).endswith(b'lvsmon_lazy{n="1"} 1.0\n')
    assert render([family]).endswith(b'lvsmon_lazy{n="2"} 2.0\n')
    with pytest.raises(TypeError):
        family.samples = [Sample("lvsmon_lazy", {}, 1)]


def test_a_snapshot_cache_renders_each_snapshot_once_per_format():
    made = []

    def build(snapshot):
        family = GaugeMetricFamily("lvsmon_test_weight", "Weights.", labels=["real_server"])
        for name, weight in snapshot:
            family.add_metric([name], weight)
        return [family]

    def ipvs_families(snapshot):
        made.append(snapshot)
        return build(snapshot)

    def expected(snapshot, openmetrics=False):
        return reference(build(snapshot), openmetrics).removesuffix(OPENMETRICS_EOF)

    cache = SnapshotCache()
    first, second = [("a", 1), ("b", 2)], [("a", 3)]
    text = cache.render(first, ipvs_families, False)
    assert text == expected(first) and len(made) == 1
    assert cache.render(first, ipvs_families, False) is text and len(made) == 1
    assert cache.render(first, ipvs_families, True, LabelCache()) == expected(first, True)
    assert len(made) == 2  # one rendering per format
    assert cache.render(second, ipvs_families, False) == expected(second) and len(made) == 3
    assert cache.render(list(second), ipvs_families, False) == expected(second)
    assert len(made) == 4  # an equal snapshot that is another object: rendered again
