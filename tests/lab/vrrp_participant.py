"""The lvsmon VRRP participant (`lvsmon vrrp participate`) in a lab namespace.

    text = participant_toml([{"name": "web", "interface": "eth0", "vrid": 61,
                              "priority": 150, "vips": ["10.31.0.100/24"]}])
    process = spawn_participant(lab, namespace, text)   # a tests.lab Process
    process.stop()                                       # SIGTERM: priority 0, VIPs removed
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lab import Lab
    from .netns import Namespace
    from .process import Process

REPO = Path(__file__).resolve().parents[2]


def _value(value) -> str:
    # JSON strings, numbers, booleans and lists of them are valid TOML too.
    return json.dumps(value)


def participant_toml(instances: list[dict]) -> str:
    """[[vrrp.instance]] tables; a "track" key holds a list of [[vrrp.instance.track]] dicts."""
    lines = []
    for instance in instances:
        lines.append("[[vrrp.instance]]")
        for key, value in instance.items():
            if key != "track":
                lines.append(f"{key} = {_value(value)}")
        for track in instance.get("track", []):
            lines.append("[[vrrp.instance.track]]")
            lines += [f"{key} = {_value(value)}" for key, value in track.items()]
    return "\n".join(lines) + "\n"


def spawn_participant(lab: Lab, namespace: Namespace, toml_text: str,
                      name: str | None = None, prefix: list[str] = (),
                      state_file: Path | None = None) -> Process:
    """`prefix` goes before the command (e.g. setpriv to drop privileges)."""
    name = name or f"lvsmon-vrrp-{namespace.short}"
    path = lab.tmpdir / f"{name}.toml"
    path.write_text(toml_text)
    extra = ["--state-file", state_file] if state_file else []
    return namespace.spawn(
        [*prefix, sys.executable, "-m", "lvsmon", "vrrp", "participate", "--config", path,
         *extra],
        name=name,
        env={"PYTHONPATH": REPO},
    )


def mac_address(namespace: Namespace, ifname: str = "eth0") -> str:
    (link,) = json.loads(namespace.ip("-j", "link", "show", "dev", ifname).stdout)
    return link["address"]


def neighbour_mac(namespace: Namespace, address: str) -> str | None:
    """The MAC this namespace's neighbour cache holds for `address`, if any."""
    for entry in json.loads(namespace.ip("-j", "neigh", "show", address).stdout or "[]"):
        if entry.get("lladdr"):
            return entry["lladdr"]
    return None
