"""Real keepalived in lab namespaces: config text for VRRP instances, and starting it.

    conf = keepalived_conf("node-a", [
        vrrp_instance("V51", vrid=51, priority=150, vips=["10.20.0.100/24"], version=2,
                      auth_pass="secret12"),
    ])
    ka = spawn_keepalived(lab, namespace, conf)   # a tests.lab Process; ka.stop() ends it
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lab import Lab
    from .netns import Namespace
    from .process import Process


def vrrp_instance(
    name: str,
    *,
    vrid: int,
    priority: int,
    vips: list[str],
    version: int = 3,
    advert_int: float = 1,
    interface: str = "eth0",
    state: str = "BACKUP",
    auth_pass: str | None = None,
    unicast_src: str | None = None,
    unicast_peers: list[str] = (),
    extra: list[str] = (),
) -> str:
    """One `vrrp_instance` block. `auth_pass` selects VRRPv2 `auth_type PASS`."""
    lines = [
        f"vrrp_instance {name} {{",
        f"    state {state}",
        f"    interface {interface}",
        f"    virtual_router_id {vrid}",
        f"    version {version}",
        f"    priority {priority}",
        f"    advert_int {advert_int:g}",
    ]
    if auth_pass is not None:
        lines += ["    authentication {", "        auth_type PASS",
                  f"        auth_pass {auth_pass}", "    }"]
    if unicast_src:
        lines.append(f"    unicast_src_ip {unicast_src}")
    if unicast_peers:
        lines += ["    unicast_peer {", *[f"        {peer}" for peer in unicast_peers], "    }"]
    lines += [f"    {line}" for line in extra]
    lines += ["    virtual_ipaddress {", *[f"        {vip} dev {interface}" for vip in vips],
              "    }", "}"]
    return "\n".join(lines) + "\n"


def keepalived_conf(router_id: str, instances: list[str]) -> str:
    return f"global_defs {{\n    router_id {router_id}\n}}\n" + "".join(instances)


def spawn_keepalived(lab: Lab, namespace: Namespace, conf_text: str,
                     name: str | None = None, checker: bool = False) -> Process:
    """Start keepalived (logging to its lab log) in `namespace` with this config: VRRP only,
    or with checker=True also its checker (virtual servers and health checks; needs IPVS).

    Pid files are per namespace, so several keepalived run side by side in one lab. The
    file is lab.tmpdir/NAME.conf (NAME defaults to keepalived-<namespace>).
    """
    name = name or f"keepalived-{namespace.short}"
    conf = lab.tmpdir / f"{name}.conf"
    conf.write_text(conf_text)
    parts = ["-c", lab.tmpdir / f"{name}-check.pid"] if checker else ["-P"]
    return namespace.spawn(
        ["keepalived", "-n", "-l", "-D", *parts, "-f", conf,
         "-p", lab.tmpdir / f"{name}.pid", "-r", lab.tmpdir / f"{name}-vrrp.pid"],
        name=name,
    )  # fmt: skip


def kill_hard(process: Process) -> None:
    """SIGKILL keepalived and its VRRP child at once: a crash, no priority-0 advert."""
    if process.alive:
        os.killpg(process.pid, signal.SIGKILL)
    process.stop()
