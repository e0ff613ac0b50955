"""What `lvsmon snat who` and `lvsmon snat log` ask: time and endpoint parsing, and rendering."""

from __future__ import annotations

import ipaddress
import re
import time
from datetime import UTC, datetime

from lvsmon.errors import UsageError
from lvsmon.model import SnatConnection, join_host_port
from lvsmon.model.snat import iso_utc
from lvsmon.netlink import IP_PROTOCOL_NUMBERS, protocol_name

_UNIT_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago$")

TIME_HELP = ("ISO 8601 (2026-11-24T10:03:12, 2026-11-24 10:03:12.5+01:00; no offset means UTC), "
             "'now', '10 minutes ago', '2h ago', or @EPOCH_SECONDS")


def parse_time(text: str, now_ns: int | None = None) -> int:
    """A point in time as ns since the epoch. Naive ISO times are UTC, like the store."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    value = text.strip().lower()
    if value == "now":
        return now_ns
    if value.startswith("@"):
        try:
            return int(float(value[1:]) * 1e9)
        except ValueError:
            raise UsageError(f"bad epoch time {text!r}", TIME_HELP) from None
    match = _RELATIVE.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        if unit not in _UNIT_SECONDS:
            raise UsageError(f"unknown time unit {unit!r} in {text!r}", TIME_HELP)
        return now_ns - int(amount * _UNIT_SECONDS[unit] * 1e9)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"cannot read the time {text!r}", TIME_HELP) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000


def parse_protocol(text: str) -> str:
    """"tcp", "TCP" or "6" -> "tcp": the protocol as the store names it (a protocol without
    a name here is stored as its number)."""
    value = text.strip().lower()
    if value.isdigit() and int(value) <= 255:
        return protocol_name(int(value))
    if value in IP_PROTOCOL_NUMBERS:
        return value
    raise UsageError(f"unknown protocol {text!r}",
                     f"a name ({', '.join(sorted(IP_PROTOCOL_NUMBERS))}) or a number 0-255")


def parse_endpoint(text: str, *, port_required: bool = False) -> tuple[str, int | None]:
    """"10.0.0.5:40001", "[2001:db8::5]:40001", "10.0.0.5" or "2001:db8::5" -> (address, port)."""
    value = text.strip()
    address, port = value, None
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            raise UsageError(f"bad address {text!r}", "write IPv6 as [2001:db8::5]:40001")
        address, rest = value[1:close], value[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"bad address {text!r}", "write IPv6 as [2001:db8::5]:40001")
            port = rest[1:]
    elif value.count(":") == 1:
        address, port = value.split(":")
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        raise UsageError(f"bad IP address in {text!r}") from None
    if port is not None:
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise UsageError(f"bad port in {text!r}")
        port = int(port)
    elif port_required:
        raise UsageError(f"{text!r} needs a port", "write IP:PORT or [IPv6]:PORT")
    return address, port


def format_record(record: SnatConnection) -> str:
    """One line for people: times in UTC, ~ marks a start or end lvsmon only approximates."""
    start = iso_utc(record.start_ns) + ("" if record.start_exact else "~")
    if record.end_ns is None:
        end = "open"
    else:
        end = iso_utc(record.end_ns) + (" (end lost, at latest)" if record.end_lost else "")
    line = (f"{start} -> {end}  {record.protocol} {record.inside} as {record.translated}")
    if record.original_destination_address is not None:
        line += (" to " + join_host_port(record.original_destination_address,
                                          record.original_destination_port))
        real = join_host_port(record.real_destination_address, record.real_destination_port)
        if real != join_host_port(record.original_destination_address,
                                  record.original_destination_port):
            line += f" (real {real})"
    if record.bytes_out is not None:
        line += f"  {record.packets_out}/{record.bytes_out} out {record.packets_in}/" \
                f"{record.bytes_in} in (packets/bytes)"
    return line + f"  [node {record.node} zone {record.zone} id {record.conntrack_id}]"
