"""Pool control for deploys: drain a real server, then put it back.

drain sets the real server's weight to 0 (the schedulers send it no new
connections) and waits until its active connections are gone; undrain puts
back its weight: keepalived's configured one when keepalived.conf configures
the real server, else the one it had. The old weight is written to a state
file *before* the weight changes, so a crash or Ctrl-C between the two loses
nothing. The state file is also what the daemon's drain guard
(lvsmon.drain_guard) holds at weight 0 while keepalived writes weights back.
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
from lvsmon.model import (
    ConfiguredRealServer,
    IpvsTable,
    KeepalivedConf,
    RealServer,
    ServiceKey,
    join_host_port,
)

DEFAULT_STATE_DIR = "/var/lib/lvsmon"
STATE_DIR_ENV = "LVSMON_STATE_DIR"
STATE_FILE = "drained.json"
LOCK_FILE = STATE_FILE + ".lock"


def resolve_state_dir(configured: str | None = None) -> str:
    """The drain state directory: [daemon] state_dir, else $LVSMON_STATE_DIR, else the default.

    `lvsmon drain`, `lvsmon undrain` and the daemon's drain guard all find it this way, so
    that they agree when they read the same lvsmon.toml.
    """
    return configured or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR


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
    def real_server(self) -> str:
        return join_host_port(self.address, self.port)

    @property
    def state_key(self) -> str:
        return f"{self.service} {self.real_server}"

    @classmethod
    def from_state_key(cls, key: str) -> DrainTarget:
        """The target a state file key names ("tcp:10.0.0.1:80 10.0.1.2:80"); UsageError."""
        from lvsmon.ipvs import parse_real_server, parse_service

        service, _, real_server = key.partition(" ")
        address, port = parse_real_server(real_server)
        return cls(parse_service(service), address, port)


class DrainState:
    """The saved weights of drained real servers: a small JSON file, locked while used.

    The files belong to the owner of the directory (a drain run by root in the daemon's
    state directory stays readable by the daemon's user), mode 0600 in a 0700 directory.
    """

    def __init__(self, directory: str | os.PathLike = DEFAULT_STATE_DIR):
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE
        self.lock_path = self.directory / LOCK_FILE
        self._written: str | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        """Yields the saved entries; changes to the dict are written back atomically.

        An exception inside the block writes nothing (beyond what commit() wrote).
        """
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock_fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise LvsmonError(
                f"cannot use the state directory {self.directory}: {exc.strerror}",
                hint="run as root or pass --state-dir",
            ) from exc
        try:
            self._give_to_directory_owner(lock_fd)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            entries = self._load()
            self._written = _text(entries)
            yield entries
            if _text(entries) != self._written:
                self._save(entries)
        finally:
            self._written = None
            os.close(lock_fd)

    def commit(self, entries: dict) -> None:
        """Inside locked(): write the entries now, before the block goes on to change IPVS."""
        if self._written is None:
            raise RuntimeError("DrainState.commit() outside locked()")
        if _text(entries) != self._written:
            self._save(entries)
            self._written = _text(entries)

    @contextlib.contextmanager
    def shared(self) -> Iterator[dict]:
        """The entries, under a shared lock held until the block ends (the drain guard's view).

        Creates nothing: a directory or file that does not exist holds no drains. While the
        block runs, no drain or undrain can change the file (they take the lock exclusively).
        """
        try:
            lock_fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            lock_fd = None  # never drained here (drain makes the lock file first)
        except OSError as exc:
            raise self._unreadable(exc) from exc
        try:
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_SH)
            yield self._load()
        finally:
            if lock_fd is not None:
                os.close(lock_fd)

    def _load(self) -> dict:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._unreadable(exc) from exc
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

    def _unreadable(self, exc: OSError) -> LvsmonError:
        return LvsmonError(
            f"cannot read the drain state in {self.directory}: {exc.strerror}",
            hint="the directory must belong to the user reading it (the daemon's: "
            "StateDirectory= in its unit) or pass another directory",
        )

    def _save(self, entries: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as out:
            self._give_to_directory_owner(fd)
            json.dump(entries, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _give_to_directory_owner(self, fd: int) -> None:
        """root writing in another user's directory leaves the file to that user."""
        if os.geteuid() != 0:
            return
        owner = os.stat(self.directory)
        mine = os.fstat(fd)
        if (mine.st_uid, mine.st_gid) != (owner.st_uid, owner.st_gid):
            os.fchown(fd, owner.st_uid, owner.st_gid)


def _text(entries: dict) -> str:
    return json.dumps(entries, sort_keys=True)


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


def begin_drain(ipvs: IpvsControl, target: DrainTarget, state: DrainState) -> RealServer:
    """Save the weight, then set 0. Returns the real server as it was."""
    with state.locked() as entries:
        rs = find_real_server(ipvs.read_table(), target)
        if target.state_key not in entries:
            entries[target.state_key] = {
                "weight": rs.weight,
                "drained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        state.commit(entries)
        # The saved weight is on disk now; only then change the kernel.
        if rs.weight != 0:
            ipvs.set_weight(target.service, target.address, target.port, 0)
    return rs


def wait_drained(
    ipvs: IpvsControl,
    target: DrainTarget,
    timeout_seconds: float,
    poll_seconds: float = 0.5,
    on_wait: Callable[[RealServer, float], None] | None = None,
) -> RealServer:
    """Wait for the active connections to reach 0. Returns the last reading."""
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


def drain(
    ipvs: IpvsControl,
    target: DrainTarget,
    state: DrainState,
    timeout_seconds: float,
    poll_seconds: float = 0.5,
    on_wait: Callable[[RealServer, float], None] | None = None,
) -> RealServer:
    """Weight 0, then wait for active connections to reach 0. Returns the last reading."""
    begin_drain(ipvs, target, state)
    return wait_drained(ipvs, target, timeout_seconds, poll_seconds, on_wait)


def configured_real_server(conf: KeepalivedConf,
                           target: DrainTarget) -> ConfiguredRealServer | None:
    """The real_server block of keepalived.conf that makes this real server, if any."""
    virtual_server = conf.virtual_server_for(target.service)
    if virtual_server is None:
        return None
    return virtual_server.real_server(target.address, target.port)


@dataclass(frozen=True)
class Undrained:
    weight: int  # the weight undrain gave it (or keepalived will, when absent)
    in_table: bool  # False: not in IPVS now (keepalived adds it when its check passes)
    configured: ConfiguredRealServer | None  # where the weight came from; None: saved


def undrain(
    ipvs: IpvsControl,
    target: DrainTarget,
    state: DrainState,
    configured: ConfiguredRealServer | None = None,
) -> Undrained:
    """Give the real server back: keepalived's configured weight, else the saved one.

    The entry leaves the state file before the weight changes, under the lock the drain
    guard takes too: the guard never sees the weight back while the entry is still there.
    """
    with state.locked() as entries:
        saved = entries.get(target.state_key)
        if saved is None:
            raise NotFound(
                f"{target} was not drained by lvsmon (no saved weight in {state.path})",
                hint="set the weight by hand: ipvsadm -e ... -w WEIGHT",
            )
        weight = configured.weight if configured is not None else int(saved["weight"])
        try:
            find_real_server(ipvs.read_table(), target)
        except NotFound:
            if configured is None:
                raise  # nobody would put it back: keep the saved weight
            # Out of IPVS (its health check fails): keepalived adds it back at its own
            # weight when the check passes, and nothing holds it at 0 any more.
            del entries[target.state_key]
            return Undrained(weight, False, configured)
        del entries[target.state_key]
        state.commit(entries)
        try:
            ipvs.set_weight(target.service, target.address, target.port, weight)
        except BaseException:
            entries[target.state_key] = saved  # still drained: undrain can run again
            state.commit(entries)
            raise
        return Undrained(weight, True, configured)
