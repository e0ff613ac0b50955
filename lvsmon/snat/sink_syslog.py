"""SNAT events as RFC 5424 syslog messages to the local syslog socket (datagrams)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from lvsmon.errors import SnatError
from lvsmon.model import SnatConnection
from lvsmon.model.snat import iso_utc
from lvsmon.snat.query import format_record
from lvsmon.snat.store_sqlite import Loss

FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "authpriv": 10,
              **{f"local{n}": 16 + n for n in range(8)}}
INFO, WARNING = 6, 4
# Structured-data id: "snat" under the example enterprise number of RFC 5612 (32473).
SD_ID = "snat@32473"


def _sd_value(value: object) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(record: SnatConnection) -> str:
    params = {"proto": record.protocol, "inside": record.inside,
              "translated": record.translated, "start": iso_utc(record.start_ns),
              "node": record.node, "ctid": record.conntrack_id, "zone": record.zone}
    if record.end_ns is not None:
        params["end"] = iso_utc(record.end_ns)
    if record.original_destination_address is not None:
        params["dst"] = f"{record.original_destination_address}:{record.original_destination_port}"
        params["real"] = f"{record.real_destination_address}:{record.real_destination_port}"
    body = " ".join(f'{k}="{_sd_value(v)}"' for k, v in params.items())
    return f"[{SD_ID} {body}]"


class SyslogSink:
    name = "syslog"

    def __init__(self, path: str = "/dev/log", facility: str = "local0",
                 hostname: str | None = None):
        if facility not in FACILITIES:
            raise SnatError(f"unknown syslog facility {facility!r}",
                            f"use one of {', '.join(FACILITIES)}")
        self.path = path
        self.facility = FACILITIES[facility]
        self.hostname = (hostname or socket.gethostname())[:255] or "-"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def reopen(self) -> None:
        pass  # datagrams: nothing held open that logrotate moves

    def close(self) -> None:
        self.sock.close()

    def _message(self, severity: int, msgid: str, at_ns: int, sd: str, text: str) -> bytes:
        header = (f"<{self.facility * 8 + severity}>1 {iso_utc(at_ns)} {self.hostname} "
                  f"lvsmon-snat {os.getpid()} {msgid} {sd} ")
        return header.encode() + b"\xef\xbb\xbf" + text.encode()  # BOM: MSG is UTF-8

    def write(self, opens: Iterable[SnatConnection], closes: Iterable[SnatConnection],
              losses: Iterable[Loss] = ()) -> None:
        messages = [self._message(INFO, "open", r.start_ns, structured_data(r), format_record(r))
                    for r in opens]
        messages += [self._message(INFO, "close", r.end_ns, structured_data(r),
                                   format_record(r)) for r in closes]
        messages += [self._message(WARNING, "loss", x.at_ns,
                                   f'[{SD_ID} kind="{x.kind}" count="{x.count}"]',
                                   f"lost {x.count} ({x.kind}): {x.detail or ''}")
                     for x in losses]
        try:
            for message in messages:
                self.sock.sendto(message, self.path)
        except OSError as exc:
            raise SnatError(f"sending to syslog at {self.path} failed: {exc.strerror}") from exc
