"""Run the VRRP observer library inside a lab namespace; publish its snapshots as JSON.

    python -m tests.lab.vrrp_probe OUTPUT IFACE [IFACE ...]

Every 0.2 s the whole ObserverSnapshot (in the model's JSON encoding) is written to
OUTPUT.tmp and renamed over OUTPUT, so a test in the root namespace always reads a whole one.
From a test: ``probe = Probe(lab, namespace)``, then ``probe.segments()`` (by VRID) and
``probe.wait(predicate, timeout, what)``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from lvsmon.model.codec import to_json
from lvsmon.vrrp.observer import Observer
from lvsmon.vrrp.segment import Settings

PUBLISH_SECONDS = 0.2
REPO = Path(__file__).resolve().parents[2]


async def publish(output: str, interfaces: list[str]) -> None:
    settings = Settings(flap_threshold=5, flap_window_seconds=60)
    async with Observer(interfaces, settings) as observer:
        while True:
            snapshot = observer.snapshot()
            with open(output + ".tmp", "w") as handle:
                json.dump(to_json(snapshot), handle)
            os.replace(output + ".tmp", output)
            await asyncio.sleep(PUBLISH_SECONDS)


class Probe:
    """The observer library running in the observer namespace, read through its snapshot file."""

    def __init__(self, lab, namespace, interface: str = "eth0"):
        self.lab = lab
        self.path = lab.tmpdir / "vrrp-snapshot.json"
        self.process = namespace.spawn(
            [sys.executable, "-m", "tests.lab.vrrp_probe", self.path, interface],
            name="vrrp-probe",
            env={"PYTHONPATH": REPO},
        )
        lab.wait_for(self.path.exists, 10, what="first observer snapshot")

    def segments(self) -> dict[int, dict]:
        if not self.process.alive:
            # An empty log with an exit code of 1 has meant the lab's temp dir had vanished.
            present = self.lab.tmpdir.is_dir()
            raise AssertionError(f"{self.process.describe()}\nlab tmpdir present: {present}")
        document = json.loads(self.path.read_text())
        return {segment["vrid"]: segment for segment in document["segments"]}

    def wait(self, predicate, timeout: float, what: str):
        """Wait until predicate(segments by VRID) is truthy; returns the segments then."""

        def check():
            segments = self.segments()
            return segments if predicate(segments) else None

        try:
            return self.lab.wait_for(check, timeout, what=what)
        except Exception as error:
            raise AssertionError(f"{error}\nlast snapshot: {self.segments()}") from None


def router(segment: dict, address: str) -> dict | None:
    return next((r for r in segment["routers"] if r["address"] == address), None)


def history(segment: dict, name: str) -> list[dict]:
    return [item for item in segment["anomaly_history"] if item["name"] == name]


def masters_are(addresses: dict[int, str]):
    return lambda segments: all(
        vrid in segments and segments[vrid]["master"] == address
        for vrid, address in addresses.items()
    )


if __name__ == "__main__":
    asyncio.run(publish(sys.argv[1], sys.argv[2:]))
