"""Pool control for deploys: drain a real server, then put it back.

drain sets the real server's weight to 0 (the schedulers send it no new
connections) and waits until its active connections are gone; undrain puts
back the weight it had. The old weight is written to a state file *before*
the weight changes, so a crash or Ctrl-C between the two loses nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from lvsmon.errors import LvsmonError, NotFound, Timeout
from lvsmon.model import IpvsTable, RealServer, ServiceKey, join_host_port

DEFAULT_STATE_DIR = "/var/lib/lvsmon"
STATE_FILE = "drained.json"


class IpvsControl(Protocol):
    def read_table(self) -> IpvsTable: ...

    def set_weight(self, key: ServiceKey, address: str, port: int, weight: int) -> None: ...


@dataclass(frozen=True)
class DrainTarget:
    service: ServiceKey
    address: str
    port: int

    def __str__(self) -> str:
        return f"{join_host_port(self.address, self.port)} of {self.service}"

    @property
    def state_key(self) -> str:
        return f"{self.service} {join_host_port(self.address, self.port)}"


class DrainState:
    """The saved weights of drained real servers: a small JSON file, locked while used."""

    def __init__(self, directory: str | os.PathLike = DEFAULT_STATE_DIR):
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        """Yields the saved entries; changes to the dict are written back atomically."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock_fd = os.open(
                self.directory / (STATE_FILE + ".lock"), os.O_CREAT | os.O_RDWR, 0o600
            )
        except OSError as exc:
            raise LvsmonError(
                f"cannot use the state directory {self.directory}: {exc.strerror}",
                hint="run as root or pass --state-dir",
            ) from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            entries = self._load()
            before = json.dumps(entries, sort_keys=True)
            yield entries
            if json.dumps(entries, sort_keys=True) != before:
                self._save(entries)
        finally:
            os.close(lock_fd)

    def _load(self) -> dict:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            entries = json.loads(text)
            if not isinstance(entries, dict):
                raise ValueError("not a JSON object")
            return entries
        except ValueError as exc:
            raise LvsmonError(
                f"{self.path}: unreadable drain state ({exc})",
                hint="fix or remove the file; it holds the weights undrain restores",
            ) from exc

    def _save(self, entries: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(entries, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def find_real_server(table: IpvsTable, target: DrainTarget) -> RealServer:
    svc = table.service(target.service)
    if svc is None:
        known = ", ".join(str(s.key) for s in table.services) or "none"
        raise NotFound(f"no virtual service {target.service}", hint=f"services: {known}")
    rs = svc.real_server(target.address, target.port)
    if rs is None:
        known = ", ".join(r.endpoint for r in svc.real_servers) or "none"
        raise NotFound(
            f"no real server {join_host_port(target.address, target.port)} in {target.service}",
            hint=f"its real servers: {known}",
        )
    return rs


def drain(
    ipvs: IpvsControl,
    target: DrainTarget,
    state: DrainState,
    timeout_seconds: float,
    poll_seconds: float = 0.5,
    on_wait: Callable[[RealServer, float], None] | None = None,
) -> RealServer:
    """Weight 0, then wait for active connections to reach 0. Returns the last reading."""
    with state.locked() as entries:
        rs = find_real_server(ipvs.read_table(), target)
        if target.state_key not in entries:
            entries[target.state_key] = {
                "weight": rs.weight,
                "drained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
    # The saved weight is on disk now; only then change the kernel.
    if rs.weight != 0:
        ipvs.set_weight(target.service, target.address, target.port, 0)

    started = time.monotonic()
    while True:
        rs = find_real_server(ipvs.read_table(), target)
        if rs.active_connections == 0:
            return rs
        waited = time.monotonic() - started
        if waited >= timeout_seconds:
            raise Timeout(
                f"{target}: {rs.active_connections} active connection(s) remain "
                f"after {timeout_seconds:g} s",
                hint="its weight stays 0; wait longer or run `lvsmon undrain` to restore it",
            )
        if on_wait:
            on_wait(rs, waited)
        time.sleep(min(poll_seconds, max(0.0, timeout_seconds - waited)))


def undrain(ipvs: IpvsControl, target: DrainTarget, state: DrainState) -> int:
    """Restore the weight saved by drain. Returns it."""
    with state.locked() as entries:
        saved = entries.get(target.state_key)
        if saved is None:
            raise NotFound(
                f"{target} was not drained by lvsmon (no saved weight in {state.path})",
                hint="set the weight by hand: ipvsadm -e ... -w WEIGHT",
            )
        find_real_server(ipvs.read_table(), target)
        ipvs.set_weight(target.service, target.address, target.port, int(saved["weight"]))
        del entries[target.state_key]
        return int(saved["weight"])
