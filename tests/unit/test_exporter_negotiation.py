"""Content negotiation follows prometheus_client's choose_encoder; gzip when asked."""

from __future__ import annotations

import pytest
from prometheus_client import exposition
from prometheus_client.openmetrics import exposition as openmetrics

from lvsmon_exporter.negotiation import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    content_type,
    gzip_accepted,
    wants_openmetrics,
)

PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;"
                "escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
ACCEPTS = [
    None, "", "*/*", "text/plain", "text/plain; version=0.0.4", PROMETHEUS_2, PROMETHEUS_3,
    "application/openmetrics-text", "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text;version=0.0.1", "application/openmetrics-text; version=2.0.0",
    "application/openmetrics-text; version=1.0", "text/plain;version=0.0.4,"
    "application/openmetrics-text;version=1.0.0", "application/json, text/html",
    "application/openmetrics-text;version=0.0.1,application/openmetrics-text",
    " application/openmetrics-text ; version=1.0.0 ; charset=utf-8",
    "text/plain;version=1.0.0;escaping=underscores,application/openmetrics-text",
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
]  # fmt: skip


def reference_is_openmetrics(accept) -> bool:
    encoder, kind = exposition.choose_encoder(accept)
    return getattr(encoder, "func", encoder) is openmetrics.generate_latest


@pytest.mark.parametrize("accept", ACCEPTS)
def test_same_choice_as_prometheus_client(accept):
    assert wants_openmetrics(accept) == reference_is_openmetrics(accept)


def test_prometheus_scrapes_get_openmetrics_and_others_text():
    assert wants_openmetrics(PROMETHEUS_2) and wants_openmetrics(PROMETHEUS_3)
    assert not wants_openmetrics(None) and not wants_openmetrics("text/plain")


def test_case_and_odd_versions():
    assert wants_openmetrics("Application/OpenMetrics-Text; Version=1.0.0")
    assert not wants_openmetrics("application/openmetrics-text; version=one")
    assert wants_openmetrics("application/openmetrics-text; version=one, "
                             "application/openmetrics-text")


def test_content_types():
    assert content_type(False) == TEXT_CONTENT_TYPE == exposition.CONTENT_TYPE_PLAIN_0_0_4
    assert content_type(True) == OPENMETRICS_CONTENT_TYPE == openmetrics.CONTENT_TYPE_LATEST


@pytest.mark.parametrize(("accept_encoding", "expected"), [
    (None, False), ("", False), ("gzip", True), ("GZIP", True), ("deflate, gzip;q=1.0", True),
    ("gzip, deflate, br", True), ("br", False), ("identity", False), ("gzip;q=0", False),
    ("gzip; q=0.0", False), ("gzip;q=0.5", True), ("x-gzip", True), ("*", False),
])  # fmt: skip
def test_gzip(accept_encoding, expected):
    assert gzip_accepted(accept_encoding) is expected
    if accept_encoding is None or ("q=0" not in accept_encoding and "x-gzip" not in
                                   accept_encoding):
        assert expected is exposition.gzip_accepted(accept_encoding)
