"""keepalived's own account of a configuration, to hold lvsmon's reading against.

    ns = witness_namespace(lab)                          # eth0..eth3 and eth0.1, with addresses
    config_test(ns, conf, config_id="lb1")               # `keepalived -t`: CompletedProcess
    text = data_dump(lab, ns, conf, config_id="lb1", part="vrrp")  # DATA dump of a keepalived
    ka = start_keepalived(lab, ns, conf, config_id="lb1", part="check")  # or step by step:
    text = request_dump(lab, ns, ka, part="check"); ka.stop()
    parse_vrrp_dump(text)   -> {instance name: {...}}, {sync group: (members...)}
    parse_check_dump(text)  -> [virtual server {...}], {group name: [members]}
    expected_vrrp(config)   -> the same shapes, from lvsmon's KeepalivedConf

keepalived 2.2 writes the dump on its DATA signal (`keepalived --signum=DATA`,
SIGUSR1) into $TMPDIR (default /tmp): keepalived.data from the VRRP process,
keepalived_check.data from the checker process. The checker only runs where the
kernel has IPVS (it exits "IPVS: Can't initialize ipvs" otherwise), so the
virtual server side runs in the qemu guest.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lab import Lab
    from .netns import Namespace

# What the samples and the fixtures name, with addresses their VIPs and sources fit in.
WITNESS_LINKS = {
    "eth0": ["192.168.200.1/24", "10.10.0.1/24", "10.1.0.1/24", "fd00::1/64"],
    "eth1": ["192.168.201.1/24", "10.10.1.254/24"],
    "eth2": ["2001:db8::1/64", "10.2.0.1/24"],
    "eth3": ["10.3.0.1/24"],
    "eth0.1": ["10.4.0.1/24"],
}
PARTS = {"vrrp": ("-P", "keepalived.data"), "check": ("-C", "keepalived_check.data")}


def witness_namespace(lab: Lab, short: str = "kaw"):
    """A namespace with the interfaces keepalived checks for (veths to a peer namespace)."""
    namespace = lab.namespace(short)
    peer = lab.namespace(short + "p")
    for index, (name, addresses) in enumerate(WITNESS_LINKS.items()):
        lab.veth(namespace, peer, addresses, None, a_ifname=name, b_ifname=f"p{index}")
    return namespace


def config_test(namespace: Namespace, conf: Path | str,
                config_id: str) -> subprocess.CompletedProcess:
    """`keepalived -t`: exit 0 when keepalived accepts the file; its complaints on stderr."""
    return namespace.run(["keepalived", "-t", "-i", config_id, "-f", str(conf)], check=False,
                         timeout=60)


def data_signal() -> int:
    done = subprocess.run(["keepalived", "--signum=DATA"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.strip())


def start_keepalived(lab: Lab, namespace: Namespace, conf: Path | str, *, config_id: str,
                     part: str, timeout: float = 60):
    """keepalived (only its `part`: vrrp or check) on this config, once it has started."""
    flag, _ = PARTS[part]
    lab.dumps = getattr(lab, "dumps", 0) + 1
    work = lab.tmpdir / f"keepalived-{lab.dumps}"
    work.mkdir()
    argv = ["keepalived", "-n", "-l", "-D", flag, "-i", config_id, "-f", str(conf),
            "-p", work / "keepalived.pid", "-r", work / "vrrp.pid", "-c", work / "check.pid"]
    process = namespace.spawn(argv, name=f"keepalived-{part}-{lab.dumps}",
                              env={"TMPDIR": str(work)})
    process.dump_dir = work
    lab.wait_for(lambda: not process.alive or "Startup complete" in process.log(),
                 timeout, what=f"keepalived ({part}) to finish starting")
    process.check_running()
    return process


def request_dump(lab: Lab, namespace: Namespace, process, *, part: str,
                 timeout: float = 60) -> str:
    """Send keepalived its DATA signal and return the dump its `part` writes."""
    dump = process.dump_dir / PARTS[part][1]
    dump.unlink(missing_ok=True)
    os.kill(process.pid, data_signal())
    lab.wait_for(lambda: _written_and_closed(dump, namespace), timeout,
                 what=f"keepalived to write {dump.name}")
    return dump.read_text()


def data_dump(lab: Lab, namespace: Namespace, conf: Path | str, *, config_id: str,
              part: str, timeout: float = 60) -> str:
    """Run keepalived (one part) with this config, send DATA, return the dump it writes."""
    process = start_keepalived(lab, namespace, conf, config_id=config_id, part=part,
                               timeout=timeout)
    text = request_dump(lab, namespace, process, part=part, timeout=timeout)
    process.stop()
    return text


def _written_and_closed(path: Path, namespace: Namespace) -> bool:
    """The dump exists and no process in the namespace still has it open."""
    if not path.exists():
        return False
    from .netns import pids_in_namespace

    target = os.stat(path)
    for pid in pids_in_namespace(namespace.name):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                return False
    return True


# -- the VRRP dump ------------------------------------------------------------------


def parse_vrrp_dump(text: str) -> tuple[dict[str, dict], dict[str, tuple[str, ...]]]:
    """keepalived.data -> ({instance: fields}, {sync group: member instances})."""
    instances: dict[str, dict] = {}
    groups: dict[str, tuple[str, ...]] = {}
    section = None
    current: dict | None = None
    listing = None
    for line in text.splitlines():
        if line.startswith("------<"):
            section, current, listing = line.strip("-<> "), None, None
            continue
        if section == "VRRP Topology":
            if line.startswith(" VRRP Instance = "):
                current = instances.setdefault(line.split(" = ", 1)[1], _empty_instance())
                listing = None
            elif current is not None:
                listing = _instance_line(current, line, listing)
        elif section == "VRRP Sync groups":
            if line.startswith(" VRRP Sync Group = "):
                name = line.split(" = ", 1)[1].split(",")[0]
                groups[name] = ()
                current, listing = {"group": name}, None
            elif line.strip() == "VRRP member instances :":
                listing = "members"
            elif listing == "members" and line.startswith("     "):
                name = current["group"]
                groups[name] = (*groups[name], line.strip())
            elif not line.startswith("     "):
                listing = None
    return instances, groups


def _empty_instance() -> dict:
    return {"vips": [], "unicast_peers": [], "track_scripts": [], "auth_type": "none",
            "unicast_src_ip": None, "sync_group": None}


_VRRP_KEYS = {
    "VRRP Version": ("version", int),
    "Virtual Router ID": ("vrid", int),
    "Priority": ("priority", int),
    "Sync group": ("sync_group", str),
}


def _instance_line(fields: dict, line: str, listing: str | None) -> str | None:
    if line.startswith("     ") and listing:
        item = line.strip()
        if listing == "vips":
            fields["vips"].append(_dumped_vip(item))
        elif listing == "peers":
            fields["unicast_peers"].append(item.split()[0])
        elif listing == "scripts":
            words = item.split()
            fields["track_scripts"].append((words[0], int(words[2])))
        return listing
    key, _, value = line.strip().partition(" = ")
    if key in _VRRP_KEYS:
        name, kind = _VRRP_KEYS[key]
        fields[name] = kind(value)
    elif key == "Interface":  # "vrrp.1, vmac on eth0" with use_vmac: the base interface
        fields["interface"] = value.split(" on ")[-1] if " on " in value else value
    elif key == "Configured interface":
        fields["interface"] = value
    elif key == "Advert interval":
        number, unit = value.split()
        fields["advert_interval_centiseconds"] = int(number) * (100 if unit == "sec" else 1) // (
            1 if unit == "sec" else 10)
    elif key == "Preempt":
        fields["nopreempt"] = value == "disabled"
    elif key == "Authentication type":
        fields["auth_type"] = {"SIMPLE_PASSWORD": "simple", "IPSEC_AH": "ah"}.get(value, "none")
    elif key == "Using src_ip" and value.endswith(" (from configuration)"):
        fields["unicast_src_ip"] = value.split()[0]
    elif line.startswith("   Virtual IP ("):
        return "vips"
    elif line.strip() == "Unicast Peer :":
        return "peers"
    elif line.strip() == "Tracked scripts :":
        return "scripts"
    return None


def _dumped_vip(item: str) -> tuple[str, int, str]:
    """'192.168.200.11/24 dev eth0 scope global' -> (address, prefix, device)."""
    words = item.split()
    address, _, prefix = words[0].partition("/")
    width = 128 if ":" in address else 32
    device = words[words.index("dev") + 1].split("@")[-1]  # vrrp.1@eth0: a VMAC on eth0
    return address, int(prefix) if prefix else width, device


def expected_vrrp(config) -> tuple[dict[str, dict], dict[str, tuple[str, ...]]]:
    """lvsmon's reading in parse_vrrp_dump's shape."""
    instances = {}
    for i in config.vrrp_instances:
        group = config.sync_group_of(i.name)
        instances[i.name] = {
            "version": i.version,
            "vrid": i.vrid,
            "priority": i.priority,
            "interface": i.interface,
            "advert_interval_centiseconds": i.advert_interval_centiseconds,
            "nopreempt": i.nopreempt,
            "auth_type": i.auth_type,
            "vips": [(v.address, v.prefix_length, v.interface or i.interface) for v in i.vips],
            "unicast_peers": list(i.unicast_peers),
            "unicast_src_ip": i.unicast_src_ip,
            "track_scripts": [(t.name, t.weight) for t in i.track_scripts],
            "sync_group": group.name if group else None,
        }
    groups = {g.name: g.instances for g in config.vrrp_sync_groups}
    return instances, groups


# -- the checker dump ---------------------------------------------------------------

_TRIO = re.compile(r"\[(?P<address>[^\]]*)\]:(?P<protocol>\w+):(?P<port>\d+)")
_METHOD_WORDS = {"NAT": "masq", "DR": "route", "TUN": "tunnel"}


def parse_check_dump(text: str) -> tuple[list[dict], dict[str, list[str]]]:
    """keepalived_check.data -> ([virtual server fields], {group: [member text]})."""
    servers: list[dict] = []
    groups: dict[str, list[str]] = {}
    checkers: dict[tuple[str, str], list[tuple]] = {}
    section = None
    vs = rs = None
    group = None
    checker_key = None
    sorry_lines = False
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith("------<"):
            section = stripped.strip("-<> ")
            continue
        if section == "LVS Topology":
            if stripped == "------< Virtual server group >------":
                group, vs, rs = None, None, None
                continue
            if stripped == "------< Virtual server >------":
                vs, rs, group = {"real_servers": []}, None, None
                servers.append(vs)
                continue
            if stripped == "------< Real server >------":
                rs = {}
                vs["real_servers"].append(rs)
                sorry_lines = False
                continue
            if line.startswith(" Virtual Server Group = "):
                group = line.split(" = ", 1)[1].split(",")[0]
                groups[group] = []
                continue
            if group is not None and vs is None:
                if stripped.startswith(("VIP Range = ", "VIP = ", "FWMARK = ")):
                    groups[group].append(stripped)
                continue
            if vs is not None:
                sorry_lines = _vs_line(vs, rs, stripped, sorry_lines)
        elif section == "Health checkers":
            match = re.match(r"^ (\S.*) -> (\[.*)$", line)
            if match:
                checker_key = (match.group(1), match.group(2))
                checkers.setdefault(checker_key, []).append({})
            elif checker_key and stripped.startswith("Keepalive method = "):
                method = stripped.split(" = ", 1)[1]  # "SSL_GET, http protocol 1.0"
                checkers[checker_key][-1]["kind"] = method.split(",")[0]
            elif checker_key and stripped.startswith("Dest = "):
                checkers[checker_key][-1]["dest"] = stripped.split(" = ", 1)[1]
    for server in servers:
        for real in server["real_servers"]:
            found = checkers.get((server["label"], real["trio"]), [])
            real["checkers"] = sorted((c.get("kind", "?"), c.get("dest")) for c in found)
    return servers, groups


def _vs_line(vs: dict, rs: dict | None, stripped: str, sorry_lines: bool) -> bool:
    key, _, value = stripped.partition(" = ")
    if rs is None:
        if key == "VS VIP":
            address, port = value.split(", VPORT = ")
            vs.update(address=address, port=int(port), label=None)
        elif key == "VS FWMARK":
            vs.update(fwmark=int(value), label=f"FWM {value}")
        elif key == "VS GROUP":
            vs.update(group=value.split("]")[0].lstrip("["), label=value)
        elif key == "lvs_sched":
            vs["scheduler"] = value
        elif key == "protocol":
            vs["protocol"] = None if value == "none" else value.lower()
            if vs.get("label") is None and "address" in vs:
                vs["label"] = f"[{vs['address']}]:{vs['protocol'] or 'none'}:{vs['port']}"
        elif key == "persistence timeout":
            vs["persistence"] = int(value)
        elif key == "quorum":
            quorum, hysteresis = value.split(", hysteresis = ")
            vs.update(quorum=int(quorum), hysteresis=int(hysteresis))
        elif key == "Inhibit on failure is ON" or stripped == "Inhibit on failure is ON":
            if sorry_lines:
                vs["sorry_inhibit"] = True
            else:
                vs["inhibit"] = True
        elif key == "default forwarding method":
            vs["method"] = _METHOD_WORDS[value.split(",")[0]]
        elif key == "Address family":
            vs["family"] = value if value in ("inet", "inet6") else None
        elif key.startswith("sorry server"):
            trio = _TRIO.search(value)
            vs["sorry"] = (trio["address"], int(trio["port"]))
            return True
        elif sorry_lines and key == "forwarding method":
            vs["sorry_method"] = _METHOD_WORDS[value.split(",")[0]]
            return True
        return sorry_lines and key != "alive"
    if key == "RIP":
        address, rest = value.split(", RPORT = ")
        rs.update(address=address, port=int(rest.split(",")[0]))
        rs["trio"] = f"[{address}]:{vs.get('protocol') or 'none'}:{rs['port']}"
    elif key == "forwarding method":
        rs["method"] = _METHOD_WORDS[value.split(",")[0]]
    elif stripped.startswith("Inhibit on failure is "):
        rs["inhibit"] = stripped.endswith("ON")
    elif key == "initial weight":
        rs["weight"] = int(value)
    return False


def expected_check(config) -> list[dict]:
    """lvsmon's virtual servers in parse_check_dump's shape (checker kinds sorted)."""
    out = []
    for vs in config.virtual_servers:
        item = {
            "scheduler": vs.scheduler,
            "protocol": vs.protocol,
            "method": vs.method,
            "quorum": vs.quorum,
            "hysteresis": vs.hysteresis,
            "inhibit": vs.inhibit_on_failure,
            "persistence": vs.persistence_timeout_seconds,
            "family": vs.family,
            "sorry": (vs.sorry.address, vs.sorry.port) if vs.sorry else None,
            "sorry_method": vs.sorry.method if vs.sorry else None,
            "sorry_inhibit": vs.sorry.inhibit if vs.sorry else False,
            "real_servers": [
                {"address": rs.ip, "port": rs.port, "weight": rs.weight,
                 "method": rs.method, "inhibit": rs.inhibit_on_failure,
                 "checkers": sorted((c.kind, _dest(rs, c)) for c in rs.checkers)}
                for rs in vs.real_servers
            ],
        }
        if vs.group:
            item["group"] = vs.group
        elif vs.key.protocol == "fwm":
            item["fwmark"] = vs.key.fwmark
        else:
            item.update(address=vs.key.address, port=vs.key.port)
        out.append(item)
    return out


NO_CONNECTION = ("FILE_CHECK", "MISC_CHECK", "BFD_CHECK")


def _dest(rs, checker) -> str | None:
    """Where keepalived's dump says a checker connects: "[ADDRESS]:PORT"."""
    if checker.kind in NO_CONNECTION:
        return None
    port = rs.port if checker.connect_port is None else checker.connect_port
    return f"[{checker.connect_ip or rs.ip}]:{port}"


def comparable_check(servers: list[dict]) -> list[dict]:
    """parse_check_dump's servers reduced to expected_check's keys."""
    out = []
    for vs in servers:
        item = {
            "scheduler": vs.get("scheduler"),
            "protocol": vs.get("protocol"),
            "method": vs.get("method"),
            "quorum": vs.get("quorum"),
            "hysteresis": vs.get("hysteresis"),
            "inhibit": vs.get("inhibit", False),
            "persistence": vs.get("persistence"),
            "family": vs.get("family"),
            "sorry": vs.get("sorry"),
            "sorry_method": vs.get("sorry_method"),
            "sorry_inhibit": vs.get("sorry_inhibit", False),
            "real_servers": [
                {"address": rs["address"], "port": rs["port"], "weight": rs["weight"],
                 "method": rs["method"], "inhibit": rs.get("inhibit", False),
                 "checkers": rs["checkers"]}
                for rs in vs["real_servers"]
            ],
        }
        for key in ("group", "fwmark", "address", "port"):
            if key in vs:
                item[key] = vs[key]
        out.append(item)
    return out
