"""Run one command inside a qemu guest that has a real IPVS kernel.

    from tests.vm.qemu import run_in_guest
    result = run_in_guest([".venv/bin/python", "-m", "pytest", "tests/vm/guest"], timeout=300)
    result.returncode, result.output

The guest sees the host's whole root read-only with a writable overlay on top
(tests/vm/image.py), so the command runs from the same repo path with the same
.venv. It has no network device: all traffic stays inside the guest.

The command is handed over, and its output and exit code come back, through a
private host temp dir shared with the guest over 9p. The serial console is only
kept for diagnosis, so kernel messages cannot mix with the result.

From a shell:  python -m tests.vm.qemu [--timeout S] [--env K=V] -- CMD ARGS...
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tests.vm.image import GUEST_TAG_HOSTROOT, GUEST_TAG_JOB, Image, ImageError, ensure_image

REPO = Path(__file__).resolve().parents[2]
JOBDIR_PREFIX = "lvsmon-vm-job-"

# The guest command gets this environment, updated with the caller's env.
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "PYTHONDONTWRITEBYTECODE": "1",  # writes would only land in the guest's tmpfs
    "LVSMON_IN_GUEST": "1",
}


@dataclass(frozen=True)
class GuestResult:
    returncode: int
    output: str  # the command's stdout and stderr, interleaved
    console: str  # kernel and init messages from the serial console, for diagnosis
    seconds: float  # qemu start to exit


class GuestError(RuntimeError):
    """The guest did not run the command to the end."""

    def __init__(self, message: str, output: str = "", console: str = ""):
        details = []
        if output:
            details.append(f"--- command output ---\n{output[-4000:]}")
        if console:
            details.append(f"--- guest console (tail) ---\n{console[-4000:]}")
        super().__init__("\n".join([message, *details]))
        self.output = output
        self.console = console


class GuestTimeout(GuestError):
    pass


def qemu_argv(image: Image, jobdir: Path, memory_mib: int, cpus: int, terminal: bool = False,
              forwards: tuple[tuple[int, int], ...] = ()) -> list[str]:
    """terminal: a second serial port (the guest's /dev/ttyS1) on this process's terminal.
    forwards: (host port, guest port) pairs: a NIC on qemu's user networking with
    restrict=on (the guest can reach nothing, not even the host) and each host port, on
    the host's loopback only, forwarded to the guest's 10.0.2.15."""
    nic = ["-nic", "none"]  # no network device: nothing can leave the guest
    if forwards:
        rules = "".join(f",hostfwd=tcp:127.0.0.1:{host}-:{guest}" for host, guest in forwards)
        nic = ["-nic", f"user,model=virtio-net-pci,restrict=on{rules}"]
    tty = ["-chardev", "stdio,id=term,signal=off", "-serial", "chardev:term"] if terminal else []
    return [
        "qemu-system-x86_64",
        # tcg: this machine's /dev/kvm is nested and refuses the guest (an MSR assertion
        # with -cpu max or host, a hang with arch-capabilities off), measured 2026-11-26.
        "-accel", "tcg",
        "-cpu", "max",  # offers RDRAND, so the guest's random pool is ready at once
        "-smp", str(cpus),
        "-m", str(memory_mib),
        "-nodefaults", "-display", "none", "-monitor", "none",
        "-no-reboot",
        *nic,
        "-kernel", str(image.kernel),
        "-initrd", str(image.initrd),
        "-append", "console=ttyS0 panic=-1 quiet",
        "-serial", f"file:{jobdir / 'console.log'}",
        *tty,
        "-virtfs", f"local,path=/,mount_tag={GUEST_TAG_HOSTROOT},"
                   "security_model=passthrough,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={jobdir / 'share'},mount_tag={GUEST_TAG_JOB},"
                   "security_model=none,multidevs=remap",
    ]


def _die_with_parent() -> None:
    """Runs in the qemu child: the kernel kills qemu if this process dies (even by SIGKILL)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _remove_stale_jobdirs() -> None:
    """Job dirs of runs whose process is gone (killed before it could clean up)."""
    for path in Path(tempfile.gettempdir()).glob(f"{JOBDIR_PREFIX}*"):
        pid = path.name[len(JOBDIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""


def run_in_guest(
    argv: list[str],
    timeout: float = 300,
    env: dict[str, str] | None = None,
    cwd: Path | str = REPO,
    memory_mib: int = 1024,
    cpus: int = 2,
    follow: TextIO | None = None,
    terminal: bool = False,
    forwards: tuple[tuple[int, int], ...] = (),
) -> GuestResult:
    """Boot the guest, run argv there (in cwd, with BASE_ENV updated by env), power off.

    Returns the command's exit code and output. Raises GuestTimeout if it did not
    finish within timeout seconds (boot included), GuestError if the guest did not
    get to run it. qemu is always killed and the temp dir removed. With `follow`, the
    command's output is also written there as it comes (a narrated demo). terminal and
    forwards: see qemu_argv (make demo-shell).
    """
    image = ensure_image()
    _remove_stale_jobdirs()
    jobdir = Path(tempfile.mkdtemp(prefix=f"{JOBDIR_PREFIX}{os.getpid()}-"))
    share = jobdir / "share"
    share.mkdir()
    job = {"argv": list(argv), "cwd": str(cwd), "env": {**BASE_ENV, **(env or {})}}
    (share / "job.json").write_text(json.dumps(job))
    started = time.monotonic()
    qemu = None
    try:
        with (jobdir / "qemu.log").open("wb") as qemu_log:
            qemu = subprocess.Popen(
                qemu_argv(image, jobdir, memory_mib, cpus, terminal, forwards),
                stdin=None if terminal else subprocess.DEVNULL,
                stdout=None if terminal else qemu_log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # only a prctl: safe before exec
            )
            try:
                _wait(qemu, timeout, share / "output", follow)
            except subprocess.TimeoutExpired:
                raise GuestTimeout(
                    f"guest command {argv!r} did not finish within {timeout} s",
                    _read(share / "output"), _read(jobdir / "console.log"),
                ) from None
        seconds = time.monotonic() - started
        output = _read(share / "output")
        console = _read(jobdir / "console.log")
        returncode = _read(share / "returncode").strip()
        if not returncode:
            raise GuestError(
                f"the guest stopped without finishing {argv!r} "
                f"(qemu exit {qemu.returncode}: {_read(jobdir / 'qemu.log').strip()})",
                output, console,
            )
        return GuestResult(int(returncode), output, console, seconds)
    finally:
        if qemu is not None and qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        shutil.rmtree(jobdir, ignore_errors=True)


def _wait(qemu: subprocess.Popen, timeout: float, output: Path, follow: TextIO | None) -> None:
    """qemu.wait(timeout), copying what the command writes to `follow` meanwhile."""
    if follow is None:
        qemu.wait(timeout=timeout)
        return
    deadline = time.monotonic() + timeout
    shown = 0

    def copy_new() -> None:
        nonlocal shown
        data = _read(output)
        if len(data) > shown:
            follow.write(data[shown:])
            follow.flush()
            shown = len(data)

    while True:
        try:
            qemu.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            copy_new()
            if time.monotonic() >= deadline:
                raise
    copy_new()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.vm.qemu",
        description="Run a command in the IPVS test guest (host root shared read-only, "
                    "writable overlay, no network device); exits with its exit code.",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds, boot included")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment variable for the command (repeatable)")
    parser.add_argument("--cwd", default=str(REPO), help="working directory in the guest")
    parser.add_argument("--console", action="store_true",
                        help="also print the guest's serial console (kernel messages)")
    parser.add_argument("--follow", action="store_true",
                        help="print the command's output as it comes, not at the end")
    parser.add_argument("--memory", type=int, default=1024, metavar="MIB",
                        help="guest memory [default: 1024]")
    parser.add_argument("--terminal", action="store_true",
                        help="this terminal as the guest's /dev/ttyS1 (an interactive shell)")
    parser.add_argument("--forward", action="append", default=[], metavar="HOST:GUEST",
                        help="forward 127.0.0.1:HOST on the host to the guest's port GUEST "
                             "(qemu user networking, restricted: no route out; repeatable)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command, e.g. -- ipvsadm -Ln")
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--env wants NAME=VALUE, got {item!r}")
        env[name] = value
    forwards = []
    for item in args.forward:
        host, sep, guest = item.partition(":")
        if not (sep and host.isdigit() and guest.isdigit()):
            parser.error(f"--forward wants HOST_PORT:GUEST_PORT, got {item!r}")
        forwards.append((int(host), int(guest)))
    try:
        result = run_in_guest(command, timeout=args.timeout, env=env, cwd=args.cwd,
                              memory_mib=args.memory, terminal=args.terminal,
                              forwards=tuple(forwards),
                              follow=sys.stdout if args.follow or args.terminal else None)
    except (GuestError, ImageError) as e:
        print(f"vm: {e}", file=sys.stderr)
        return 125
    if args.console:
        sys.stderr.write(result.console)
    if not (args.follow or args.terminal):
        sys.stdout.write(result.output)
    print(f"vm: exit {result.returncode} after {result.seconds:.1f} s (boot to power-off)",
          file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
