"""`make demo`: the tour of lvsmon on a small site, in the IPVS guest (see tests/vm/guest/site.py).

Run from the host (boots the guest):

    .venv/bin/python -m tests.vm.qemu --follow --memory 2048 --timeout 900 -- \\
        .venv/bin/python -m tests.vm.guest.tour

Six steps, each printing the commands an operator would type and what came back (trimmed),
and its wall time; the tour ends with a table of every part's wall time (site build, each
step, teardown, total) so that a slow step shows:

1. the healthy site, seen through every frontend;
2. a deploy: one real server drained, its service restarted (its health check fails and
   passes: keepalived writes its weight back), still drained, undrained;
3. a failover: lb1's keepalived killed; the new master everywhere, no CRITICAL from it;
4. a split brain: VRRP from lb1 no longer reaches lb2; CRITICAL, the alert, the trap; healed;
5. the audit question: a real server's access-log line answered by `lvsmon snat who`;
6. only the sorry server left: every real server's service stopped.

Each step returns a StepResult whose `outcome` holds what the frontends answered, as data
(tests/vm/guest/test_tour.py asserts on it) and whose `problems` lists every expectation
that did not hold. The tour exits 0 when every step met its expectations, 1 otherwise;
everything is torn down either way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lvsmon_snmp.agentx import format_oid
from lvsmon_snmp.mib.keepalived_mib import REAL_SERVER_ENTRY
from lvsmon_snmp.mib.lvsmon_mib import SPLIT_BRAIN, Layout
from tests.lab.errors import WaitTimeout
from tests.lab.firewall import block_vrrp, unblock_vrrp
from tests.lab.keepalived import kill_hard
from tests.lab.waiting import wait_for
from tests.vm.guest.site import (
    CLIENTS,
    PYTHON_ENV,
    REAL_SERVERS,
    SERVICE,
    SNAT_PORTS,
    SORRY,
    VIP,
    VPORT,
    VRID,
    Director,
    Site,
    build_site,
    endpoint,
)

OK, WARNING, CRITICAL = 0, 1, 2
LAYOUT = Layout()  # LVSMON-MIB at its default base, as lvsmon run serves it
SEGMENT_MASTER = LAYOUT.segment_entry + (5,)  # lvsmonSegmentMaster
RS_ADDRESS, RS_PORT, RS_WEIGHT = (REAL_SERVER_ENTRY + (c,) for c in (4, 5, 7))
SPLIT_BRAIN_TRAP = format_oid(LAYOUT.notification(SPLIT_BRAIN))
DRAINED = "rs2"
AUDIT_REQUEST = "GET /orders/1042"
TRIM = 14  # output lines shown per command


@dataclass
class StepResult:
    number: int
    title: str
    seconds: float = 0.0
    outcome: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Narrator:
    """Prints what the operator types and sees; collects a step's expectations."""

    def __init__(self, site: Site, out=sys.stdout):
        self.site = site
        self.out = out
        self.result: StepResult | None = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show(self, where: str, command: str, output: str, trim: int = TRIM) -> None:
        """`where$ command` and the first `trim` lines of its output."""
        self.say(f"\n{where}$ {command}")
        lines = output.rstrip("\n").splitlines()
        for line in lines[:trim]:
            self.say(f"  {line}")
        if len(lines) > trim:
            self.say(f"  ... ({len(lines) - trim} more lines)")

    def expect(self, holds: bool, what: str) -> bool:
        """Record an expectation; a failed one is a problem of the step."""
        assert self.result is not None
        if not holds:
            self.result.problems.append(what)
            self.say(f"  !! expected: {what}")
        return holds

    # -- the operator's commands, narrated -------------------------------------------

    def lvsmon(self, director: Director, *args: str, trim: int = TRIM):
        done = self.site.lvsmon(director, *args)
        shown = shlex.join(_short(a, director) for a in args)
        self.show(director.name, f"lvsmon {shown}", _short(done.stdout + done.stderr, director),
                  trim)
        return done

    def check_nrpe(self, director: Director, command: str) -> int:
        """check_nrpe's exit code; shown is its status line (the perfdata after "|" cut)."""
        code, output = self.site.nrpe(director, command)
        line = output.splitlines()[0].split(" | ")[0] if output else ""
        self.show("monitor", f"check_nrpe -H {director.back} -c {command}   # exit {code}",
                  line)
        return code

    def promql(self, expression: str, *labels: str) -> dict[str, float]:
        """An instant query, shown with these labels (default instance); returns
        {first label's value: value}."""
        labels = labels or ("instance",)
        samples = self.site.prometheus.query(expression)
        self._show_samples(expression, samples, labels)
        return {found.get(labels[0], ""): value for found, value in samples}

    def promql_until(self, expression: str, wanted: Callable[[dict], bool], what: str,
                     label: str | None = None, timeout: float = 60) -> dict:
        """{director: value, or the value of `label`} of an instant query, asked again until
        `wanted` holds of it (the expectation `what`) or `timeout` seconds pass; the last
        answer is shown.

        Asked again because one answer is not enough: a scrape that timed out (a busy
        guest) marks that director's series stale until its next good scrape."""
        seen: list = []

        def holds() -> bool:
            seen[:] = self.site.prometheus.query(expression)
            return wanted(per_director(self.site, seen, label))
        with contextlib.suppress(WaitTimeout):  # recorded below, with what was seen last
            wait_for(holds, timeout, what=what, interval=0.5)
        self._show_samples(expression, seen, ("instance", label) if label else ("instance",))
        values = per_director(self.site, seen, label)
        self.expect(wanted(values), what)
        return values

    def _show_samples(self, expression: str, samples: list, labels: tuple[str, ...]) -> None:
        text = "\n".join(
            "{" + ", ".join(f'{name}="{found.get(name, "")}"' for name in labels) + f"}}  {value:g}"
            for found, value in sorted(samples, key=lambda s: sorted(s[0].items())))
        self.show("monitor", f"promtool query instant http://127.0.0.1:9090 '{expression}'",
                  text or "(empty)")

    def snmpwalk(self, director: Director, *columns: tuple[int, ...], trim: int = TRIM
                 ) -> list[list[tuple[str, str, str]]]:
        """Walk each column on the director's snmpd; the rows of each, as printed."""
        walks = [director.snmp.tool("snmpwalk", format_oid(column)) for column in columns]
        text = "\n".join(f".{oid} = {kind}: {value}" for walk in walks
                         for oid, kind, value in walk)
        oids = " ".join(format_oid(column) for column in columns)
        self.show(director.name, f"snmpwalk -v2c -c public -On localhost {oids}", text, trim)
        return walks


def _short(text: str, director: Director) -> str:
    """The lab's long paths, in commands and in what they print, shortened to what an
    operator's would be (the defaults of lvsmon, keepalived and net-snmp)."""
    paths = {str(director.home / "lvsmon.toml"): "/etc/lvsmon/lvsmon.toml",
             director.state_dir: "/var/lib/lvsmon",
             director.status_socket: "/run/lvsmon/status.sock",
             director.snat_store: "/var/lib/lvsmon/snat.sqlite",
             str(director.keepalived_conf): "/etc/keepalived/keepalived.conf"}
    if director.snmp is not None:
        paths[director.snmp.socket] = "/var/agentx/master"
    for lab_path, path in paths.items():
        text = text.replace(lab_path, path)
    return text


def inet_address(kind: str, text: str) -> str:
    """An InetAddress (IPv4) as snmpwalk prints it: Hex-STRING "0A 0A 00 0B" or a STRING."""
    if kind == "Hex-STRING":
        data = bytes.fromhex(text.replace(" ", ""))
    else:
        data = text.strip('"').encode("latin-1")
    return ".".join(str(byte) for byte in data) if len(data) == 4 else text


def segment_masters(walk: list[tuple[str, str, str]]) -> list[str]:
    return [inet_address(kind, value) for _, kind, value in walk]


def real_server_rows(address_walk, port_walk, weight_walk) -> dict[str, int]:
    """{ADDRESS:PORT: weight} from realServerTable's columns (rows line up by index)."""
    rows = {}
    for (_, kind, address), (_, _, port), (_, _, weight) in zip(
            address_walk, port_walk, weight_walk, strict=True):
        rows[endpoint(inet_address(kind, address), int(port))] = int(weight)
    return rows


MASTER_ROUTER = f'lvsmon_vrrp_router_master{{vrid="{VRID}"}} == 1'


def master_routers(site: Site) -> dict[str, str]:
    """{director: the router it sees advertising as master}, per Prometheus."""
    return per_director(site, site.prometheus.query(MASTER_ROUTER), "router")


def per_director(site: Site, samples: list[tuple[dict, float]], label: str | None = None
                 ) -> dict:
    """{director: value, or the value of `label`} of a query's samples."""
    return by_director(site, {found.get("instance", ""): found.get(label, "") if label else value
                              for found, value in samples})


def by_director(site: Site, values: dict) -> dict:
    """Prometheus' instance labels (ADDRESS:PORT of the exporter) as director names."""
    names = {d.exporter: d.name for d in site.directors.values()}
    return {names.get(key, key): value for key, value in values.items()}


# -- the steps --------------------------------------------------------------------------


def step_healthy(n: Narrator) -> dict:
    site, lb1 = n.site, n.site.lb1
    n.say("Two directors, lb1 (priority 150) and lb2 (100), share VRID 51 and the VIP "
          f"{VIP};\nkeepalived balances {SERVICE} over rs1..rs3 (TCP_CHECK) with a sorry "
          "server; client1 sends requests.")
    n.lvsmon(lb1, "status", "--socket", lb1.status_socket)
    n.lvsmon(lb1, "ipvs", "--stats")
    diff = n.lvsmon(lb1, "keepalived", "diff", "--config", str(lb1.keepalived_conf))
    n.expect(diff.returncode == 0, "lvsmon keepalived diff: the kernel is as configured")
    masters = n.promql_until(f'lvsmon_vrrp_masters{{vrid="{VRID}"}}',
                             lambda seen: seen == {"lb1": 1, "lb2": 1},
                             "one master seen from both directors")
    routers = n.promql_until(MASTER_ROUTER,
                             lambda seen: seen == {"lb1": lb1.front, "lb2": lb1.front},
                             "both directors name lb1 master", label="router")
    connections = n.promql_until(
        f'lvsmon_ipvs_service_connections_total{{service="{SERVICE}"}}',
        lambda seen: seen.get("lb1", 0) > 0, "lb1 has forwarded connections")
    walks = n.snmpwalk(lb1, RS_ADDRESS, RS_PORT, RS_WEIGHT)
    snmp_rows = real_server_rows(*walks)
    n.expect(snmp_rows == site.weights(lb1), "realServerTable: the real servers as ipvsadm")
    checks = {name: n.check_nrpe(lb1, name)
              for name in ("check_vrrp", "check_ipvs", "check_snat")}
    n.expect(all(code == OK for code in checks.values()), "every check OK")
    return {"diff_exit": diff.returncode, "masters": masters,
            "master_router": routers, "connections": connections,
            "snmp_real_servers": snmp_rows, "checks": checks}


def step_deploy(n: Narrator) -> dict:
    site, lb1, lb2 = n.site, n.site.lb1, n.site.lb2
    target = endpoint(REAL_SERVERS[DRAINED])
    n.say(f"Deploying {DRAINED}: drain it on both directors (the backup has no connections "
          "and returns at once),\nrestart its service (keepalived's TCP_CHECK fails, then "
          "passes and keepalived writes weight 1 back), undrain.")
    drains = {}
    for director in (lb2, lb1):
        done = n.lvsmon(director, "drain", "-c", str(director.home / "lvsmon.toml"), SERVICE,
                        target, "--timeout", "60")
        drains[director.name] = done.returncode
    n.expect(drains == {"lb2": 0, "lb1": 0}, "both drains done")
    n.expect(site.weights(lb1).get(target) == 0, f"{target} at weight 0 on lb1")
    n.say(f"\n# the service on {DRAINED} restarts: stopped ...")
    site.stop_server(DRAINED)
    site.lab.wait_for(lambda: target not in site.weights(lb1), 60,
                      what=f"keepalived to take {target} out (health check failed)")
    n.show("lb1", f"ipvsadm -Ln -t {VIP}:{VPORT}", site.ipvsadm(lb1, "-Ln", "-t",
                                                                  f"{VIP}:{VPORT}"))
    n.say(f"\n# ... and started again: the health check passes, keepalived adds {target} "
          "back at its configured weight")
    site.start_server(DRAINED)
    site.lab.wait_for(lambda: target in site.weights(lb1), 60,
                      what=f"keepalived to put {target} back (health check passed)")
    # keepalived has just written weight 1; the drain holds if it is 0 again within a few
    # IPVS reads of lvsmon run and stays there.
    held = _held_at_zero(site, lb1, target)
    n.show("lb1", f"ipvsadm -Ln -t {VIP}:{VPORT}", site.ipvsadm(lb1, "-Ln", "-t",
                                                                  f"{VIP}:{VPORT}"))
    n.lvsmon(lb1, "status", "--socket", lb1.status_socket)
    n.expect(held, f"{target} still drained (weight 0) after its health check flapped")
    undrains = {}
    for director in (lb1, lb2):
        undrains[director.name] = n.lvsmon(director, "undrain", "-c",
                                           str(director.home / "lvsmon.toml"), SERVICE,
                                           target).returncode
    weight = site.weights(lb1).get(target)
    n.expect(weight == 1, f"{target} back at weight 1 after undrain")
    return {"drains": drains, "held": held, "undrains": undrains,
            "weight_after_undrain": weight}


def _held_at_zero(site: Site, director: Director, target: str) -> bool:
    try:
        site.lab.wait_for(lambda: site.weights(director).get(target) == 0, 30,
                          what=f"{target} at weight 0")
    except Exception:  # noqa: BLE001 - not held: the outcome says so
        return False
    deadline = time.monotonic() + 3  # and it stays there while the checks keep passing
    while time.monotonic() < deadline:
        if site.weights(director).get(target) != 0:
            return False
        time.sleep(0.2)
    return True


def step_failover(n: Narrator) -> dict:
    site, lb1, lb2 = n.site, n.site.lb1, n.site.lb2
    n.say("lb1's keepalived dies (kill -9: no goodbye advert). lb2 takes over after three "
          "missed adverts.")
    n.show("lb1", "pkill -9 keepalived", "")
    kill_hard(lb1.keepalived)
    codes: list[int] = []

    def taken_over() -> bool:  # check_vrrp on both directors between two looks
        codes.extend(site.nrpe(d, "check_vrrp")[0] for d in (lb1, lb2))
        return master_routers(site) == {"lb1": lb2.front, "lb2": lb2.front}

    try:
        site.lab.wait_for(taken_over, 90, what="lb2 master, seen from both exporters")
        return _failover_seen(n, codes)
    finally:
        n.say("\n# lb1's keepalived started again: it has the higher priority and takes back over")
        _restart_keepalived(site, lb1)


def _failover_seen(n: Narrator, codes: list[int]) -> dict:
    lb1, lb2 = n.site.lb1, n.site.lb2
    n.say(f"# check_vrrp on both directors, run {len(codes)} times through the failover: "
          f"exit codes {sorted(set(codes))}")
    routers = n.promql_until(MASTER_ROUTER,
                             lambda seen: seen == {"lb1": lb2.front, "lb2": lb2.front},
                             "the exporters name lb2 master", label="router")
    walk = n.snmpwalk(lb2, SEGMENT_MASTER)[0]
    agentx = segment_masters(walk)
    final = {d.name: n.check_nrpe(d, "check_vrrp") for d in (lb1, lb2)}
    n.expect(agentx == [lb2.front], "lvsmonSegmentMaster on lb2 names lb2")
    n.expect(CRITICAL not in codes and CRITICAL not in final.values(),
             "no CRITICAL from the failover alone")
    n.expect(len(codes) > 0, "check_vrrp ran during the failover")
    return {"master_router": routers, "agentx_master": agentx,
            "check_vrrp_codes": sorted(set(codes)), "check_vrrp_after": final}


def _restart_keepalived(site: Site, lb1: Director) -> None:
    site.start_keepalived(lb1)
    site.lab.wait_for(lambda: set(master_routers(site).values()) == {lb1.front}, 90,
                      what="lb1 master again")
    site.lab.wait_for(lambda: len(site.weights(lb1)) == len(REAL_SERVERS), 60,
                      what="lb1's virtual server back")


def step_split_brain(n: Narrator) -> dict:
    site, lb1, lb2 = n.site, n.site.lb1, n.site.lb2
    n.say("VRRP from lb1 stops reaching lb2 (a filter on lb2, as a misconfigured switch or "
          "firewall does):\nlb2 hears no master and takes the VIP too; lb1 still hears lb2.")
    n.show("lb2", f"nft add rule ... ip saddr {lb1.front} ip protocol vrrp drop", "")
    block_vrrp(lb2.ns, lb1.front)
    try:
        code = site.lab.wait_for(lambda: site.nrpe(lb1, "check_vrrp")[0] == CRITICAL, 60,
                                 what="check_vrrp CRITICAL on lb1") and CRITICAL
        n.check_nrpe(lb1, "check_vrrp")
        alert = site.prometheus.wait_for(
            'ALERTS{alertname="LvsmonVrrpSplitBrain",alertstate="firing"}', 60,
            what="the split brain alert firing")
        n.promql('ALERTS{alertname="LvsmonVrrpSplitBrain"}', "instance", "alertstate")
        site.lab.wait_for(lambda: SPLIT_BRAIN_TRAP in lb1.snmp.snmptrapd.log(), 30,
                          what="the split brain trap at snmptrapd")
        trap = [line for line in lb1.snmp.snmptrapd.log().splitlines()
                if SPLIT_BRAIN_TRAP in line]
        n.show("lb1", "tail -1 /var/log/snmptrapd.log   (lvsmonSplitBrain, one varbind a line)",
               "\n".join(trap[-1].split("\t")))
    finally:
        n.say("\n# the filter removed: lb2 hears lb1 again and steps back")
        unblock_vrrp(lb2.ns)
    site.lab.wait_for(lambda: site.nrpe(lb1, "check_vrrp")[0] != CRITICAL, 60,
                      what="check_vrrp no longer CRITICAL")
    site.prometheus.lab.wait_for(lambda: not site.prometheus.query(
        'ALERTS{alertname="LvsmonVrrpSplitBrain",alertstate="firing"}'), 60,
        what="the alert resolved")
    healed = n.check_nrpe(lb1, "check_vrrp")
    n.expect(healed != CRITICAL, "check_vrrp not CRITICAL once healed")
    masters = n.promql_until(f'lvsmon_vrrp_masters{{vrid="{VRID}"}}',
                             lambda seen: seen == {"lb1": 1, "lb2": 1}, "one master again")
    return {"check_vrrp": code, "alert_firing": bool(alert), "trap": bool(trap),
            "check_vrrp_healed": healed, "masters_healed": masters}


def step_audit(n: Narrator) -> dict:
    site, lb1 = n.site, n.site.lb1
    n.say(f"client2 asks for {AUDIT_REQUEST!r}. The real server's access log shows only the "
          "director's address\nand a translated port: who was it?")
    done = site.clients["client2"].run(
        [sys.executable, "-m", "tests.lab.snat_peers", "client", VIP, str(VPORT), "1", "tcp",
         AUDIT_REQUEST], env=PYTHON_ENV, timeout=60)
    flow = json.loads(done.stdout.splitlines()[-1])

    def logged():
        for host in REAL_SERVERS:
            for line in site.access_log(host):
                if line.get("request") == AUDIT_REQUEST:
                    return host, line
        return None

    host, line = site.lab.wait_for(logged, 30, what="the request in an access log")
    at = datetime.fromtimestamp(line["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    n.show(host, "grep orders/1042 access.log",
           f"{line['peer']}:{line['peer_port']} [{at} UTC] \"{line['request']}\"")
    translated = f"{line['peer']}:{line['peer_port']}"
    n.expect(line["peer"] == lb1.back and SNAT_PORTS[0] <= line["peer_port"] <= SNAT_PORTS[1],
             "the real server saw lb1's address and a translated port")

    def answered():
        done = site.lvsmon(lb1, "snat", "who", "--store", lb1.snat_store, "--translated",
                           translated, "--at", at, "--dest", endpoint(REAL_SERVERS[host]),
                           "--json")
        return [json.loads(x) for x in done.stdout.splitlines()] or None

    answers = site.lab.wait_for(answered, 30, what="lvsmon snat who to answer")
    n.lvsmon(lb1, "snat", "who", "--store", lb1.snat_store, "--translated", translated,
             "--at", at, "--dest", endpoint(REAL_SERVERS[host]))
    first = answers[0]
    answer = {"inside_address": first.get("inside_address"),
              "inside_port": first.get("inside_port"),
              "original_destination": endpoint(first.get("original_destination_address", ""),
                                               first.get("original_destination_port", 0))}
    n.expect(len(answers) == 1, "one record answers")
    n.expect((answer["inside_address"], answer["inside_port"]) ==
             (CLIENTS["client2"], flow["inside_port"]), "the answer names client2 and its port")
    return {"translated": translated, "at": at, "real_server": host, "answers": len(answers),
            "answer": answer, "client": {"address": flow["inside"], "port": flow["inside_port"]}}


def step_sorry(n: Narrator) -> dict:
    site, lb1 = n.site, n.site.lb1
    n.say("A bad release everywhere: every real server's service stops. keepalived's checks "
          "fail, the quorum is lost,\nand keepalived puts the sorry server in: the VIP still "
          "answers, with an apology.")
    for host in REAL_SERVERS:
        site.stop_server(host)
    sorry = endpoint(SORRY[1])
    site.lab.wait_for(lambda: list(site.weights(lb1)) == [sorry], 60,
                      what="only the sorry server in lb1's table")
    diff = n.lvsmon(lb1, "keepalived", "diff", "--config", str(lb1.keepalived_conf))
    as_json = site.lvsmon(lb1, "keepalived", "diff", "--config", str(lb1.keepalived_conf),
                          "--json")
    kinds = sorted(set(_kinds(json.loads(as_json.stdout or "{}"))))
    check = n.check_nrpe(lb1, "check_ipvs_web")
    gauge = n.promql_until(f'lvsmon_keepalived_sorry_server_active{{service="{SERVICE}"}}',
                           lambda seen: seen.get("lb1") == 1,
                           "lb1's exporter: the sorry server active")
    n.expect(diff.returncode == 1 and "sorry_server_serving" in kinds,
             "lvsmon keepalived diff: the sorry server is serving")
    n.expect(check == CRITICAL, "check_ipvs with the sorry server: CRITICAL")
    return {"diff_exit": diff.returncode, "diff_kinds": kinds, "check_ipvs": check,
            "sorry_gauge": gauge}


def _kinds(document) -> list[str]:
    """Every "kind" value anywhere in a JSON document (the diff's findings)."""
    if isinstance(document, dict):
        found = [document["kind"]] if isinstance(document.get("kind"), str) else []
        return found + [k for value in document.values() for k in _kinds(value)]
    if isinstance(document, list):
        return [k for value in document for k in _kinds(value)]
    return []


STEPS: list[tuple[str, Callable[[Narrator], dict]]] = [
    ("the healthy site", step_healthy),
    ("a deploy: drain, restart, still drained, undrain", step_deploy),
    ("a failover: the master's keepalived killed", step_failover),
    ("a split brain, and healed", step_split_brain),
    ("the audit question: who was behind that translated port?", step_audit),
    ("only the sorry server left", step_sorry),
]


def run_tour(out=sys.stdout, only: set[int] | None = None,
             on_ready: Callable[[Site], None] | None = None) -> list[StepResult]:
    """Build the site, run the steps (all, or the numbers in `only`), tear down.

    A step that raises is recorded as a problem and the tour goes on with the next.
    on_ready(site) runs once the site is up, before the steps (demo-shell keeps it there).
    """
    results = []
    started = time.monotonic()
    built = teardown = None
    print("=== building the site: 2 directors, 3 real servers + sorry server, 2 clients, "
          "monitor ===", file=out, flush=True)
    try:
        with build_site() as site:
            built = time.monotonic() - started
            print(f"=== site up in {built:.0f} s ===", file=out, flush=True)
            if on_ready is not None:
                on_ready(site)
            narrator = Narrator(site, out)
            for number, (title, step) in enumerate(STEPS, start=1):
                if not only or number in only:
                    results.append(_run_step(narrator, number, title, step, out))
            print("\n=== tearing down ===", file=out, flush=True)
            teardown_started = time.monotonic()
        teardown = time.monotonic() - teardown_started
    finally:
        print(wall_times(built, results, teardown, time.monotonic() - started), file=out,
              flush=True)
    return results


def _run_step(narrator: Narrator, number: int, title: str, step: Callable[[Narrator], dict],
              out) -> StepResult:
    result = StepResult(number, title)
    narrator.result = result
    print(f"\n=== step {number}: {title} ===", file=out, flush=True)
    step_started = time.monotonic()
    try:
        result.outcome = step(narrator)
    except Exception as exc:  # noqa: BLE001 - reported; the next steps still run
        result.problems.append(f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=out)
    result.seconds = time.monotonic() - step_started
    state = "ok" if result.ok else "NOT AS EXPECTED: " + "; ".join(result.problems)
    print(f"--- step {number}: {result.seconds:.1f} s, {state}", file=out, flush=True)
    return result


def wall_times(built: float | None, results: list[StepResult], teardown: float | None,
               total: float) -> str:
    """The closing table: each part's wall time (a part that did not run: -), and the total."""
    parts = [("site build", built, "")]
    parts += [(f"step {r.number}: {r.title}", r.seconds, "ok" if r.ok else "FAILED")
              for r in results]
    parts += [("teardown", teardown, ""), ("total", total, "")]
    width = max(len(part) for part, _, _ in parts)
    rows = ["", "=== wall time (s) ==="]
    for part, seconds, state in parts:
        shown = "-" if seconds is None else f"{seconds:.1f}"
        rows.append(f"  {part:<{width}} {shown:>6}  {state}".rstrip())
    return "\n".join(rows)


def main() -> int:
    if os.environ.get("LVSMON_IN_GUEST") != "1":
        print("tour: run me inside the IPVS guest: make demo, or\n"
              "  python -m tests.vm.qemu --follow --memory 2048 -- "
              ".venv/bin/python -m tests.vm.guest.tour", file=sys.stderr)
        return 2
    only = {int(a) for a in sys.argv[1:]} or None
    results = run_tour(only=only)
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
