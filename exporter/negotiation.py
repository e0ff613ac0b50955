"""Which exposition format and encoding a scrape asked for (Accept, Accept-Encoding).

    wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")  True
    content_type(openmetrics)                                                    the header
    gzip_accepted("gzip, deflate")                                                True

The choice follows prometheus_client.exposition.choose_encoder: entries of Accept are read
in order (q-values are not weighed, as there); OpenMetrics without a version or with version
1.0.0 or later selects OpenMetrics 1.0.0, text/plain with version 1.0.0 or later selects the
text format, and without either the answer is the text format 0.0.4. Differences: media types
compare without regard to case, as HTTP says, and text/plain version 1.0.0 is answered as
0.0.4, whose body prometheus_client sends for it too (with lvsmon's plain metric names).
"""

from __future__ import annotations

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def wants_openmetrics(accept: str | None) -> bool:
    for entry in (accept or "").split(","):
        media_type, *parameters = entry.split(";")
        media_type = media_type.strip().lower()
        version = _parameter(parameters, "version")
        if media_type == "application/openmetrics-text":
            if version is None or _at_least_1_0_0(version):
                return True
        elif media_type == "text/plain" and version is not None and _at_least_1_0_0(version):
            return False
    return False


def content_type(openmetrics: bool) -> str:
    return OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE


def gzip_accepted(accept_encoding: str | None) -> bool:
    """True if gzip is listed (gzip;q=0 is a refusal; other q-values are not weighed)."""
    for entry in (accept_encoding or "").split(","):
        coding, *parameters = entry.split(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            quality = _parameter(parameters, "q")
            return quality is None or not _is_zero(quality)
    return False


def _parameter(parameters: list[str], name: str) -> str | None:
    for parameter in parameters:
        key, equals, value = parameter.partition("=")
        if equals and key.strip().lower() == name:
            return value.strip().strip('"')
    return None


def _at_least_1_0_0(version: str) -> bool:
    parts = version.split(".")
    if not all(part.isdigit() for part in parts):
        return False
    return tuple(int(part) for part in parts) >= (1, 0, 0)


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False
