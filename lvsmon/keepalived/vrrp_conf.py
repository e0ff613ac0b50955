"""vrrp_instance, vrrp_sync_group and vrrp_script blocks -> model, with keepalived's defaults.

Defaults and corrections are keepalived 2.2's (vrrp_parser.c, vrrp.c): no
priority is 255 for ``state MASTER`` and 100 otherwise; no state is MASTER at
priority 255 and BACKUP otherwise; the version is 3 for IPv6 and global_defs'
``vrrp_version`` (2 unless set) for IPv4; advert_int is 1 s, rounded to whole
seconds for VRRPv2 and to centiseconds for VRRPv3; VRRPv3 has no
authentication; ``nopreempt`` is cleared for priority 255 or state MASTER; AH
with state MASTER below priority 255 starts as BACKUP; unicast needs peers; a
weighted track script is dropped from an instance at priority 255 or in a sync
group without ``sync_group_tracking_weight``; sync group members must exist and
belong to one group only. Where keepalived corrects, lvsmon does the same and
adds a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lvsmon.keepalived import values as v
from lvsmon.keepalived.tree import Statement
from lvsmon.model.keepalived import (
    TrackScript,
    Vip,
    VrrpInstance,
    VrrpSyncGroup,
    auth_pass_digest,
)

PRIORITY_OWNER = 255
PRIORITY_DEFAULT = 100
IFNAMSIZ = 16
MICROSECONDS = 6  # keepalived reads timers to the microsecond


@dataclass
class VrrpGlobals:
    vrrp_version: int = 2
    strict: bool = False
    router_id: str | None = None


@dataclass
class _Script:
    weight: int = 0
    has_script: bool = False


@dataclass
class _Instance:
    """An instance while its block is read: None is 'not set', as keepalived tracks it."""

    name: str
    statement: Statement
    vrid: int | None = None
    state: str | None = None
    priority: int | None = None
    advert_us: int | None = None
    version: int | None = None
    family: str | None = None
    interface: str | None = None
    auth_type: str = "none"
    auth_pass: str | None = None
    source_ip: str | None = None
    peers: list[str] = field(default_factory=list)
    vips: list[Vip] = field(default_factory=list)
    nopreempt: bool = False
    strict: bool | None = None
    track_scripts: list[TrackScript] = field(default_factory=list)


class VrrpReader:
    """Feed it the root statements in order; then ``instances()`` and ``sync_groups()``."""

    def __init__(self, notes: v.Notes):
        self.notes = notes
        self.globals = VrrpGlobals()
        self._scripts: dict[str, _Script] = {}
        self._instances: list[_Instance] = []
        self._groups: list[tuple[Statement, list[str], bool]] = []
        self._resolved: list[tuple[VrrpSyncGroup, bool]] | None = None

    # -- root blocks --------------------------------------------------------------

    def global_defs(self, statement: Statement) -> None:
        for item in v.block(statement):
            if item.keyword == "vrrp_version":
                self.globals.vrrp_version = v.signed(item, 1, 2, 3, "version")
            elif item.keyword == "vrrp_strict":
                self.globals.strict = True
            elif item.keyword == "router_id":
                self.globals.router_id = v.arg(item, 1, "name")
            else:
                self.notes.skip(f"global_defs.{item.keyword}")

    def vrrp_script(self, statement: Statement) -> None:
        name = v.arg(statement, 1, "name")
        script = _Script()
        for item in v.block(statement):
            if item.keyword == "script":
                script.has_script = True
            elif item.keyword == "weight":
                script.weight = v.signed(item, 1, -253, 253, "weight")
            else:
                self.notes.skip(f"vrrp_script.{item.keyword}")
        if not script.has_script:
            self.notes.warn(statement, f"vrrp_script {name} has no script: keepalived removes it")
            self._scripts.pop(name, None)
            return
        self._scripts[name] = script

    def vrrp_sync_group(self, statement: Statement) -> None:
        if len(statement.words) != 2:
            raise v.error(statement, "vrrp_sync_group needs one name", "vrrp_sync_group NAME {")
        members: list[str] = []
        tracking_weight = False
        for item in v.block(statement):
            if item.keyword == "group":
                for line in v.block(item):
                    members.extend(line.words)
            elif item.keyword == "sync_group_tracking_weight":
                tracking_weight = True
            else:
                self.notes.skip(f"vrrp_sync_group.{item.keyword}")
        if any(s.args[0] == statement.args[0] for s, _, _ in self._groups):
            self.notes.warn(statement, f"sync group {statement.args[0]} defined again: "
                            "keepalived skips it")  # fmt: skip
            return
        self._groups.append((statement, members, tracking_weight))

    def vrrp_instance(self, statement: Statement) -> None:
        if len(statement.words) != 2:
            raise v.error(statement, "vrrp_instance needs one name", "vrrp_instance NAME {")
        name = statement.args[0]
        if any(i.name == name for i in self._instances):
            self.notes.warn(statement, f"vrrp_instance {name} defined again: keepalived skips it")
            return
        instance = _Instance(name, statement)
        for item in v.block(statement):
            handler = _INSTANCE_KEYWORDS.get(item.keyword)
            if handler is None:
                self.notes.skip(f"vrrp_instance.{item.keyword}")
            else:
                handler(self, instance, item)
        self._instances.append(instance)

    # -- instance keywords ----------------------------------------------------------

    def _state(self, instance: _Instance, item: Statement) -> None:
        word = v.arg(item, 1, "state")
        if word not in ("MASTER", "BACKUP"):
            raise v.error(item, f"state {word!r} is not valid", "use MASTER or BACKUP")
        if word == "BACKUP" and instance.state == "MASTER":
            self.notes.warn(item, "state MASTER given before: keepalived ignores BACKUP")
            return
        instance.state = word

    def _interface(self, instance: _Instance, item: Statement) -> None:
        name = v.arg(item, 1, "interface name")
        if len(name) >= IFNAMSIZ:
            raise v.error(item, f"interface name {name!r} is too long",
                          f"interface names have at most {IFNAMSIZ - 1} characters")  # fmt: skip
        instance.interface = name

    def _vrid(self, instance: _Instance, item: Statement) -> None:
        instance.vrid = v.unsigned(item, 1, 1, 255, "vrid")

    def _priority(self, instance: _Instance, item: Statement) -> None:
        instance.priority = v.unsigned(item, 1, 1, PRIORITY_OWNER, "priority")

    def _advert_int(self, instance: _Instance, item: Statement) -> None:
        instance.advert_us = v.decimal(item, 1, MICROSECONDS, 10_000, 255_000_000, "seconds")

    def _version(self, instance: _Instance, item: Statement) -> None:
        version = v.signed(item, 1, 2, 3, "version")
        if (instance.version and instance.version != version) or (
            version == 2 and instance.family == "inet6"
        ):
            self.notes.warn(item, f"version {version} conflicts with the instance's version "
                            f"{instance.version or 3}: keepalived ignores it")  # fmt: skip
            return
        instance.version = version

    def _native_ipv6(self, instance: _Instance, item: Statement) -> None:
        if instance.family == "inet":
            self.notes.warn(item, "native_ipv6 with IPv4 addresses: keepalived ignores it")
            return
        instance.family, instance.version = "inet6", 3

    def _authentication(self, instance: _Instance, item: Statement) -> None:
        for line in v.block(item):
            if line.keyword == "auth_type":
                kind = v.arg(line, 1, "type")
                if kind not in ("PASS", "AH"):
                    raise v.error(line, f"auth_type {kind!r} is not valid", "use PASS or AH")
                instance.auth_type = "simple" if kind == "PASS" else "ah"
            elif line.keyword == "auth_pass":
                password = v.arg(line, 1, "password")
                if len(password.encode("utf-8", "surrogateescape")) > 8:
                    self.notes.warn(line, "auth_pass longer than 8 characters: keepalived "
                                    "uses the first 8")  # fmt: skip
                instance.auth_pass = password
            else:
                self.notes.skip(f"vrrp_instance.authentication.{line.keyword}")

    def _source_ip(self, instance: _Instance, item: Statement) -> None:
        text = v.arg(item, 1, "address")
        address = v.address(item, text)
        if not self._same_family(instance, item, text):
            return
        instance.source_ip = address

    def _unicast_peer(self, instance: _Instance, item: Statement) -> None:
        for line in v.block(item):
            address = v.address(line, line.keyword)
            words = line.args
            for option, value in zip(words[::2], words[1::2], strict=False):
                if option not in ("min_ttl", "max_ttl"):
                    raise v.error(line, f"unknown unicast_peer option {option!r}",
                                  "use min_ttl N or max_ttl N")  # fmt: skip
                v.whole(line, value, 0, 255, option)
            if len(words) % 2:
                raise v.error(line, f"{words[-1]} needs a value", f"{words[-1]} N")
            if self._same_family(instance, line, line.keyword):
                instance.peers.append(address)

    def _vips(self, instance: _Instance, item: Statement) -> None:
        for line in v.block(item):
            text = line.keyword
            address_text, slash, prefix_text = text.partition("/")
            address = v.address(line, address_text)
            family = v.family_of(address_text)
            width = 128 if family == "inet6" else 32
            prefix = width
            if slash:
                prefix = v.whole(line, prefix_text, 0, width, "prefix length")
            device = None
            if "dev" in line.args:
                device = v.arg(line, line.words.index("dev") + 1, "interface name")
            if self._same_family(instance, line, address_text):
                instance.vips.append(Vip(address, prefix, device))

    def _same_family(self, instance: _Instance, line: Statement, text: str) -> bool:
        family = v.family_of(text)
        if instance.family is None:
            instance.family = family
            return True
        if instance.family != family:
            raise v.error(line, f"{text} is not of the instance's address family",
                          "one instance advertises either IPv4 or IPv6")  # fmt: skip
        return True

    def _nopreempt(self, instance: _Instance, item: Statement) -> None:
        instance.nopreempt = True

    def _preempt(self, instance: _Instance, item: Statement) -> None:
        instance.nopreempt = False

    def _strict_mode(self, instance: _Instance, item: Statement) -> None:
        instance.strict = v.boolean(item, 1)

    def _track_script(self, instance: _Instance, item: Statement) -> None:
        for line in v.block(item):
            name = line.keyword
            script = self._scripts.get(name)
            if script is None:
                self.notes.warn(line, f"track script {name} is not defined above: "
                                "keepalived ignores it")  # fmt: skip
                continue
            if any(t.name == name for t in instance.track_scripts):
                self.notes.warn(line, f"track script {name} tracked twice: keepalived "
                                "ignores the second")  # fmt: skip
                continue
            weight = script.weight
            if line.args:
                if line.args[0] != "weight":
                    raise v.error(line, f"unknown track_script option {line.args[0]!r}",
                                  f"write {name} weight N")  # fmt: skip
                weight = v.signed(line, 2, -254, 254, "weight")
                if abs(weight) == 254:
                    self.notes.warn(line, "weight +/-254: keepalived uses +/-253")
                    weight = 253 if weight > 0 else -253
            instance.track_scripts.append(TrackScript(name, weight))

    # -- completion ---------------------------------------------------------------

    def instances(self) -> tuple[VrrpInstance, ...]:
        unweighted = {
            name
            for group, tracking_weight in self._resolved_groups()
            if not tracking_weight
            for name in group.instances
        }
        return tuple(self._complete(i, i.name in unweighted) for i in self._instances)

    def sync_groups(self) -> tuple[VrrpSyncGroup, ...]:
        return tuple(group for group, _ in self._resolved_groups())

    def _resolved_groups(self) -> list[tuple[VrrpSyncGroup, bool]]:
        """The sync groups keepalived keeps, with their members; and their tracking weight."""
        if self._resolved is not None:
            return self._resolved
        names = {i.name for i in self._instances}
        taken: set[str] = set()
        self._resolved = []
        for statement, members, tracking_weight in self._groups:
            kept = []
            for member in members:
                if member not in names:
                    self.notes.warn(statement, f"sync group {statement.args[0]}: instance "
                                    f"{member} does not exist: keepalived ignores it")  # fmt: skip
                elif member in taken:
                    self.notes.warn(statement, f"sync group {statement.args[0]}: {member} is "
                                    "in another sync group: keepalived ignores it")  # fmt: skip
                else:
                    kept.append(member)
                    taken.add(member)
            if not kept:
                self.notes.warn(statement, f"sync group {statement.args[0]} has no instances: "
                                "keepalived removes it")  # fmt: skip
                continue
            self._resolved.append((VrrpSyncGroup(statement.args[0], tuple(kept)), tracking_weight))
        return self._resolved

    def _complete(self, i: _Instance, in_unweighted_group: bool) -> VrrpInstance:
        statement = i.statement
        warn = self.notes.warn
        strict = self.globals.strict if i.strict is None else i.strict
        if i.vrid is None:
            raise v.error(statement, f"vrrp_instance {i.name} has no virtual_router_id",
                          "add virtual_router_id 1..255")  # fmt: skip
        family = i.family or "inet"
        version = i.version
        if family == "inet6" and version == 2 and strict:
            warn(statement, f"({i.name}) IPv6 needs VRRP version 3 in strict mode: "
                 "keepalived uses 3")  # fmt: skip
            version = 3
        if version is None:
            version = 3 if family == "inet6" else self.globals.vrrp_version
        if not i.vips:
            if version == 3 or family == "inet6" or strict:
                raise v.error(statement, f"vrrp_instance {i.name} has no virtual_ipaddress",
                              "VRRP version 3 needs at least one VIP")  # fmt: skip
            warn(statement, f"({i.name}) no virtual_ipaddress")
        priority = i.priority
        if priority is None:
            priority = PRIORITY_OWNER if i.state == "MASTER" else PRIORITY_DEFAULT
        state = i.state
        if state is None:
            state = "MASTER" if priority == PRIORITY_OWNER else "BACKUP"
        elif strict and (state == "MASTER") != (priority == PRIORITY_OWNER):
            warn(statement, f"({i.name}) strict mode: state must match priority 255: "
                 "keepalived corrects it")  # fmt: skip
            state = "MASTER" if priority == PRIORITY_OWNER else "BACKUP"
        auth_type = i.auth_type
        if auth_type != "none":
            reason = None
            if strict:
                reason = "strict mode has no authentication"
            elif version == 3:
                reason = "VRRP version 3 has no authentication"
            elif not i.auth_pass:
                reason = "no auth_pass"
            elif family == "inet6" and auth_type == "ah":
                reason = "no AH with IPv6"
            if reason:
                warn(statement, f"({i.name}) {reason}: keepalived ignores the authentication")
                auth_type = "none"
            elif auth_type == "ah" and state == "MASTER" and priority != PRIORITY_OWNER:
                warn(statement, f"({i.name}) AH with state MASTER: keepalived starts as BACKUP")
                state = "BACKUP"
        if i.interface is None and i.source_ip is None:
            raise v.error(statement, f"vrrp_instance {i.name} has no interface",
                          "add interface NAME (or unicast_src_ip for unicast)")  # fmt: skip
        if strict and i.peers:
            raise v.error(statement, f"({i.name}) unicast peers in strict mode",
                          "keepalived refuses them: remove vrrp_strict or the peers")  # fmt: skip
        track_scripts = tuple(i.track_scripts)
        if in_unweighted_group or priority == PRIORITY_OWNER:
            why = "sync group" if in_unweighted_group else "priority 255"
            for script in track_scripts:
                if script.weight:
                    warn(statement, f"({i.name}) track script {script.name} has a weight: "
                         f"keepalived ignores it ({why})")  # fmt: skip
            track_scripts = tuple(t for t in track_scripts if not t.weight)
        nopreempt = i.nopreempt
        if nopreempt and (priority == PRIORITY_OWNER or state == "MASTER"):
            warn(statement, f"({i.name}) nopreempt with priority 255 or state MASTER: "
                 "keepalived clears nopreempt")  # fmt: skip
            nopreempt = False
        return VrrpInstance(
            name=i.name,
            vrid=i.vrid,
            state=state,
            priority=priority,
            advert_interval_centiseconds=self._advert(i, version),
            version=version,
            family=family,
            interface=i.interface,
            auth_type=auth_type,
            auth_pass_digest=(
                auth_pass_digest(i.name, i.auth_pass) if auth_type != "none" and i.auth_pass
                else None
            ),
            unicast_src_ip=i.source_ip,
            unicast_peers=tuple(i.peers),
            vips=tuple(i.vips),
            nopreempt=nopreempt,
            track_scripts=track_scripts,
            where=str(statement.where),
        )  # fmt: skip

    def _advert(self, i: _Instance, version: int) -> int:
        """advert_int in centiseconds after keepalived's range checks and rounding."""
        micro = 1_000_000 if i.advert_us is None else i.advert_us
        if version == 2:
            if micro >= 256 * 1_000_000:
                micro = 255 * 1_000_000
                self.notes.warn(i.statement, f"({i.name}) VRRPv2 advert_int above 255 s: "
                                "keepalived uses 255")  # fmt: skip
            elif micro % 1_000_000:
                micro = max(1_000_000, (micro + 500_000) // 1_000_000 * 1_000_000)
                self.notes.warn(i.statement, f"({i.name}) VRRPv2 advert_int must be whole "
                                "seconds: keepalived rounds it")  # fmt: skip
        elif micro >= 4096 * 10_000:
            micro = 4095 * 10_000
            self.notes.warn(i.statement, f"({i.name}) VRRPv3 advert_int above 40.95 s: "
                            "keepalived uses 40.95")  # fmt: skip
        elif micro % 10_000:
            micro = max(10_000, (micro + 5_000) // 10_000 * 10_000)
            self.notes.warn(i.statement, f"({i.name}) VRRPv3 advert_int must be in 10 ms steps: "
                            "keepalived rounds it")  # fmt: skip
        return micro // 10_000


_INSTANCE_KEYWORDS = {
    "state": VrrpReader._state,
    "interface": VrrpReader._interface,
    "virtual_router_id": VrrpReader._vrid,
    "priority": VrrpReader._priority,
    "advert_int": VrrpReader._advert_int,
    "version": VrrpReader._version,
    "native_ipv6": VrrpReader._native_ipv6,
    "authentication": VrrpReader._authentication,
    "unicast_src_ip": VrrpReader._source_ip,
    "mcast_src_ip": VrrpReader._source_ip,
    "unicast_peer": VrrpReader._unicast_peer,
    "virtual_ipaddress": VrrpReader._vips,
    "nopreempt": VrrpReader._nopreempt,
    "preempt": VrrpReader._preempt,
    "strict_mode": VrrpReader._strict_mode,
    "track_script": VrrpReader._track_script,
}
