"""Wait until a condition holds, and say clearly what was last seen when it does not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .errors import WaitTimeout

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.1) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    An exception from `predicate` counts as "not yet" (a daemon still starting); after
    `timeout` seconds raise WaitTimeout naming `what` and the last result or error.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except Exception as exc:  # noqa: BLE001 - "not yet"; reported on timeout
            last = f"last error: {type(exc).__name__}: {exc}"
        else:
            if result:
                return result
            last = f"last result: {result!r}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}; {last}")
        time.sleep(interval)
