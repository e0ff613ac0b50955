"""Run the VRRP observer library inside a lab namespace; publish its snapshots as JSON.

    python -m tests.lab.vrrp_probe OUTPUT IFACE [IFACE ...]

Every 0.2 s the whole ObserverSnapshot (in the model's JSON encoding) is written to
OUTPUT.tmp and renamed over OUTPUT, so a test in the root namespace always reads a whole one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from lvsmon.model.codec import to_json
from lvsmon.vrrp.observer import Observer
from lvsmon.vrrp.segment import Settings

PUBLISH_SECONDS = 0.2


async def publish(output: str, interfaces: list[str]) -> None:
    settings = Settings(flap_threshold=5, flap_window_seconds=60)
    async with Observer(interfaces, settings) as observer:
        while True:
            snapshot = observer.snapshot()
            with open(output + ".tmp", "w") as handle:
                json.dump(to_json(snapshot), handle)
            os.replace(output + ".tmp", output)
            await asyncio.sleep(PUBLISH_SECONDS)


if __name__ == "__main__":
    asyncio.run(publish(sys.argv[1], sys.argv[2:]))
