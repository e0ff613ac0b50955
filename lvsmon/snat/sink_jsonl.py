"""A JSON-lines file of SNAT events for log shippers; reopened on SIGHUP for logrotate."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from lvsmon.errors import SnatError
from lvsmon.model import SnatConnection
from lvsmon.model.snat import iso_utc
from lvsmon.snat.record import to_json_dict
from lvsmon.snat.store_sqlite import Loss


class JsonlSink:
    name = "jsonl"

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self.reopen()

    def reopen(self) -> None:
        """Close and open the path again: after logrotate moved it, a new file starts."""
        self.close()
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o640)
        except OSError as exc:
            raise SnatError(f"cannot open {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, opens: Iterable[SnatConnection], closes: Iterable[SnatConnection],
              losses: Iterable[Loss] = ()) -> None:
        lines = [json.dumps(to_json_dict(r, "open"), separators=(",", ":")) for r in opens]
        lines += [json.dumps(to_json_dict(r, "close"), separators=(",", ":")) for r in closes]
        lines += [json.dumps({"event": "loss", "at": iso_utc(x.at_ns), "at_ns": x.at_ns,
                              "node": x.node, "kind": x.kind, "count": x.count,
                              "detail": x.detail}, separators=(",", ":")) for x in losses]
        if not lines:
            return
        if self._fd is None:
            self.reopen()
        data = ("\n".join(lines) + "\n").encode()
        try:
            # One write of whole lines: O_APPEND keeps them together for readers.
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise SnatError(f"writing {self.path} failed: {exc.strerror}") from exc
