"""Watchdog of one lab run: cleans up at once if the process that opened the Lab dies.

PR_SET_PDEATHSIG kills the processes a lab spawned, but not what they forked (keepalived's
VRRP child), and nothing removes the namespaces. So each Lab starts this watchdog in its
own session with a pipe on stdin. Lab.close() writes CLOSED and closes the pipe; if the
pipe ends without it, the lab's process died and the watchdog removes the whole run.

    python -m tests.lab.watchdog PREFIX
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .cleanup import remove_run

CLOSED = b"closed\n"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding tests/


def start(prefix: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lab.watchdog", prefix],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        cwd=_PACKAGE_ROOT, start_new_session=True,  # Ctrl-C of the test run must not stop it
        env={**os.environ, "PYTHONPATH": str(_PACKAGE_ROOT)},
    )


def stop(watchdog: subprocess.Popen) -> None:
    """Tell the watchdog the lab closed normally, and wait for it to exit."""
    try:
        watchdog.stdin.write(CLOSED)
        watchdog.stdin.close()
        watchdog.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        watchdog.kill()
        watchdog.wait()


def main(argv: list[str]) -> int:
    prefix = argv[1]
    said = sys.stdin.buffer.read()  # returns when the lab closes the pipe or its process dies
    if said == CLOSED:
        return 0
    removed = remove_run(prefix)
    print(f"lab watchdog: run {prefix} died; removed {', '.join(removed) or 'nothing'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
