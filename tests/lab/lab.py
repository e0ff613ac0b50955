"""The Lab: one run's namespaces, links, processes and temp dir, all removed on exit."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import naming, watchdog
from .cleanup import KEEP_FILE, remove_stale
from .errors import LabError, WaitTimeout
from .links import Segment, Veth, connect
from .netns import Namespace, create_namespace, delete_namespace
from .process import Process
from .waiting import wait_for

T = TypeVar("T")
KEEP_ENV = "LVSMON_KEEP_LAB"
_open_labs: set[int] = set()  # pids with an open Lab: two at once would share the prefix


class Lab:
    """Use as a context manager; see the package docstring for the tour."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.prefix = naming.run_prefix(self.pid)
        self.tmpdir: Path | None = None
        self.namespaces: dict[str, Namespace] = {}
        self.segments: dict[str, Segment] = {}
        self.processes: list[Process] = []
        self._cleanups: list[tuple[Callable, tuple]] = []
        self._open = False
        self._watchdog = None

    # -- lifetime -------------------------------------------------------------

    def __enter__(self) -> Lab:
        if self.pid in _open_labs:
            raise LabError("a Lab is already open in this process (they would share names)")
        remove_stale()
        _open_labs.add(self.pid)
        self._open = True
        naming.write_marker(self.pid)
        self._watchdog = watchdog.start(self.prefix)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=self.prefix))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        errors = self.close()
        if not errors:
            return
        message = "lab cleanup failed: " + "; ".join(errors)
        if exc is not None:  # do not hide the test's own error
            exc.add_note(message)
            print(message, file=sys.stderr)
        else:
            raise LabError(message)

    def close(self) -> list[str]:
        """Stop processes, run deferred cleanups, delete namespaces, remove tmpdir.

        Every step runs even if an earlier one failed; returns the errors (empty if none).
        """
        if not self._open:
            return []
        errors: list[str] = []
        # TERM all first so daemons that take a while to exit (keepalived: ~1 s) do it together.
        for process in reversed(self.processes):
            _collect(errors, process.terminate)
        for process in reversed(self.processes):
            _collect(errors, process.stop)
        while self._cleanups:
            function, args = self._cleanups.pop()
            _collect(errors, function, *args)
        for namespace in reversed(list(self.namespaces.values())):
            _collect(errors, delete_namespace, namespace.name)
        self.namespaces.clear()
        self.segments.clear()
        self._remove_tmpdir()
        naming.remove_marker(self.pid)
        if self._watchdog is not None:
            watchdog.stop(self._watchdog)
        _open_labs.discard(self.pid)
        self._open = False
        return errors

    def _remove_tmpdir(self) -> None:
        if self.tmpdir is None:
            return
        if os.environ.get(KEEP_ENV) == "1":
            (self.tmpdir / KEEP_FILE).touch()
            print(f"lab: kept {self.tmpdir} ({KEEP_ENV}=1)", file=sys.stderr)
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def defer(self, function: Callable, *args) -> None:
        """Run function(*args) on exit, after processes stop and before namespaces go
        (last deferred runs first): for mounts or other things a test sets up itself."""
        self._cleanups.append((function, args))

    # -- building -------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._open:
            raise LabError("use the Lab as a context manager: `with Lab() as lab:`")

    def namespace(self, short: str) -> Namespace:
        """A new network namespace named prefix + short, with lo up and IPv6 DAD off."""
        self._require_open()
        naming.check_short_name(short)
        if short in self.namespaces:
            raise LabError(f"namespace {short!r} exists already in this lab")
        name = self.prefix + short
        create_namespace(name)
        namespace = Namespace(self, short, name)
        self.namespaces[short] = namespace
        return namespace

    def veth(self, a: Namespace, b: Namespace, a_addresses: str | list[str] | None = None,
             b_addresses: str | list[str] | None = None, *, a_ifname: str | None = None,
             b_ifname: str | None = None) -> Veth:
        """A veth pair between two namespaces, links up; default names "to-<peer>"."""
        self._require_open()
        return connect(a, b, a_addresses, b_addresses, a_ifname=a_ifname, b_ifname=b_ifname)

    def segment(self, name: str) -> Segment:
        """A bridge called `name` in its own hub namespace "seg-<name>"; attach() to it."""
        self._require_open()
        if name in self.segments:
            raise LabError(f"segment {name!r} exists already in this lab")
        segment = Segment(self, name)
        self.segments[name] = segment
        return segment

    # -- processes and waiting ------------------------------------------------

    def _start_process(self, base: str, argv: list[str], env: dict | None) -> Process:
        self._require_open()
        assert self.tmpdir is not None
        taken = {process.name for process in self.processes}
        name, counter = base, 1
        while name in taken:
            counter += 1
            name = f"{base}-{counter}"
        process = Process(name, argv, self.tmpdir / f"{name}.log", env)
        self.processes.append(process)
        return process

    def process(self, name: str) -> Process:
        for process in self.processes:
            if process.name == name:
                return process
        raise KeyError(name)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0,
                 what: str = "condition", interval: float = 0.1) -> T:
        """lab-aware wait_for(): on timeout, the error also shows processes that exited."""
        try:
            return wait_for(predicate, timeout, what, interval)
        except WaitTimeout as exc:
            dead = [process.describe(10) for process in self.processes if not process.alive]
            if dead:
                raise WaitTimeout(f"{exc}\nexited meanwhile:\n" + "\n".join(dead)) from None
            raise


def _collect(errors: list[str], function: Callable, *args) -> None:
    try:
        function(*args)
    except Exception as exc:  # noqa: BLE001 - cleanup goes on; errors are reported together
        errors.append(f"{getattr(function, '__qualname__', function)}{args}: {exc}")
