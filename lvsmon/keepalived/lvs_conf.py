"""virtual_server, virtual_server_group and track_file blocks -> model, with keepalived's rules.

Defaults and corrections are keepalived 2.2's (check_parser.c, check_data.c):
scheduler ``wlc``, method NAT (masq) for real and sorry servers that set none,
weight 1 (or the virtual server's ``weight``), quorum 1, hysteresis 0,
persistence 360 s when ``persistence_timeout`` has no value, when only
``persistence_granularity`` is given, or when the port is 0; no protocol is UDP;
a firewall-mark service has none. A virtual server without real servers is
dropped, as is a second real server with the same address and port. A real
server's port 0 becomes the virtual server's; with DR or TUN a different port is
reset to it, and a firewall-mark service's real servers lose theirs. A quorum
above the real servers' total weight comes down to it, and the hysteresis to
quorum - 1. An SMTP_CHECK's host blocks are checkers of their own (the block
itself is one too when it sets a connection option). Where keepalived corrects,
lvsmon does the same and adds a warning. What keepalived decides only when it
runs (a MISC_CHECK script that does not exist is dropped) is not anticipated.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from lvsmon.keepalived import values as v
from lvsmon.keepalived.tree import Statement
from lvsmon.model import ServiceKey
from lvsmon.model.keepalived import (
    CHECKER_KINDS,
    METHODS,
    Checker,
    ConfiguredRealServer,
    ConfiguredVirtualServer,
    GroupMember,
    SorryServer,
    TrackFile,
    VirtualServerGroup,
)

SCHEDULERS = (
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
)  # fmt: skip
DEFAULT_SCHEDULER = "wlc"
DEFAULT_PERSISTENCE = 360
MAX_PERSISTENCE = 86400 * 31
PROTOCOLS = ("tcp", "udp", "sctp")
# What makes an SMTP_CHECK with host blocks a checker of its own too (check_smtp.c).
CONNECTION_KEYWORDS = (
    "connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark", "connect_timeout",
)  # fmt: skip


@dataclass
class _RealServer:
    statement: Statement
    address: str
    port: int
    weight: int | None = None
    method: str | None = None
    inhibit: bool | None = None
    upper_threshold: int = 0
    lower_threshold: int = 0
    checkers: list[Checker] = field(default_factory=list)


@dataclass
class _VirtualServer:
    statement: Statement
    address: str | None = None
    port: int = 0
    fwmark: int | None = None
    group: str | None = None
    family: str | None = None
    scheduler: str | None = None
    method: str | None = None
    protocol: str | None = None
    persistence: int | None = None
    prefix_length: int | None = None
    quorum: int = 1
    hysteresis: int = 0
    inhibit: bool = False
    weight: int = 1
    sorry: _RealServer | None = None
    real_servers: list[_RealServer] = field(default_factory=list)


class LvsReader:
    """Feed it the root statements in order; then ``virtual_servers()`` and ``groups()``."""

    def __init__(self, notes: v.Notes):
        self.notes = notes
        self._groups: list[VirtualServerGroup] = []
        self._servers: list[_VirtualServer] = []
        self.track_files: list[TrackFile] = []

    # -- virtual_server_group -------------------------------------------------------

    def virtual_server_group(self, statement: Statement) -> None:
        name = v.arg(statement, 1, "name")
        members = [self._member(line) for line in v.block(statement)]
        if not members:
            self.notes.warn(statement, f"virtual_server_group {name} is empty: keepalived "
                            "removes it")  # fmt: skip
            return
        families = {m.family for m in members if m.family}
        if len(families) == 2 and any(m.is_fwmark and m.family is None for m in members):
            self.notes.warn(statement, f"virtual_server_group {name} has IPv4, IPv6 and a fwmark "
                            "without family: keepalived removes it")  # fmt: skip
            return
        if any(g.name == name for g in self._groups):
            self.notes.warn(statement, f"virtual_server_group {name} defined again: keepalived "
                            "uses the first")  # fmt: skip
            return
        self._groups.append(VirtualServerGroup(name, tuple(members)))

    def _member(self, line: Statement) -> GroupMember:
        if line.keyword == "fwmark":
            mark = v.unsigned(line, 1, 0, v.UINT_MAX, "mark")
            family = None
            if len(line.words) > 2:
                family = line.words[2]
                if family not in ("inet", "inet6"):
                    raise v.error(line, f"fwmark family {family!r} is not valid",
                                  "use inet or inet6")  # fmt: skip
            return GroupMember(fwmark=mark, family=family)
        text = line.keyword
        member_port = v.port(line, line.words[1] if len(line.words) > 1 else None)
        family = v.family_of(text)
        if "/" in text:
            return self._member_subnet(line, text, member_port, family)
        if "-" not in text:
            address = v.address(line, text)
            return GroupMember(address, address, member_port, family=family)
        start_text, _, end_text = text.partition("-")
        start = ipaddress.ip_address(v.address(line, start_text))
        if ("." if family == "inet" else ":") in end_text:
            end = ipaddress.ip_address(v.address(line, end_text))
            if end.version != start.version or end < start:
                raise v.error(line, f"range {text} ends before it starts",
                              "write FIRST-LAST with LAST not below FIRST")  # fmt: skip
        else:
            end = self._range_end(line, start, end_text, text)
        return GroupMember(str(start), str(end), member_port, family=family)

    def _range_end(self, line: Statement, start, end_text: str, text: str):
        """``10.0.0.1-10``: the last byte (IPv4) or last 16 bits in hex (IPv6) of the range."""
        base, limit = (16, 0xFFFF) if start.version == 6 else (10, 255)
        bits = 16 if start.version == 6 else 8
        try:
            last = int(end_text, base)
        except ValueError:
            last = -1
        if not 0 <= last <= limit or end_text.lstrip().startswith("-"):
            hint = f"use a hex number up to {limit:#x}" if base == 16 else "use 0..255"
            raise v.error(line, f"range end {end_text!r} in {text} is not valid", hint)
        mask = (1 << bits) - 1
        if int(start) & mask >= last:
            raise v.error(line, f"range {text} ends before it starts",
                          "the end must be above the start's last part")  # fmt: skip
        return ipaddress.ip_address((int(start) & ~mask) | last)

    def _member_subnet(self, line: Statement, text: str, member_port: int, family: str):
        address_text, _, prefix_text = text.partition("/")
        width = 128 if family == "inet6" else 32
        start = ipaddress.ip_address(v.address(line, address_text))
        prefix = v.whole(line, prefix_text, 1, width, "prefix length")
        try:
            network = ipaddress.ip_network(f"{start}/{prefix}")
        except ValueError:
            raise v.error(line, f"{text} has host bits set",
                          "write the network's first address") from None  # fmt: skip
        return GroupMember(
            str(network.network_address), str(network.broadcast_address), member_port,
            family=family,
        )  # fmt: skip

    # -- track_file ---------------------------------------------------------------

    def track_file(self, statement: Statement) -> None:
        name = v.arg(statement, 1, "name")
        path, weight = None, 1
        for line in v.block(statement):
            if line.keyword == "file":
                path = v.arg(line, 1, "path")
            elif line.keyword == "weight":
                weight = v.signed(line, 1, -254, 254, "weight")
            else:
                self.notes.skip(f"{statement.keyword}.{line.keyword}")
        self.track_files.append(TrackFile(name, path, weight))

    # -- virtual_server -----------------------------------------------------------

    def virtual_server(self, statement: Statement) -> None:
        first = v.arg(statement, 1, "address")
        vs = _VirtualServer(statement)
        if first == "group":
            vs.group = v.arg(statement, 2, "group name")
        elif first == "fwmark":
            vs.fwmark = v.whole(statement, v.arg(statement, 2, "mark"), 1, v.UINT_MAX, "fwmark")
        else:
            vs.address = v.address(statement, first)
            vs.family = v.family_of(first)
            vs.port = v.port(statement, statement.words[2] if len(statement.words) > 2 else None)
        for item in v.block(statement):
            handler = _VS_KEYWORDS.get(item.keyword)
            if handler is None:
                self.notes.skip(f"virtual_server.{item.keyword}")
            else:
                handler(self, vs, item)
        self._servers.append(vs)

    def _ip_family(self, vs: _VirtualServer, item: Statement) -> None:
        family = v.arg(item, 1, "family")
        if family not in ("inet", "inet6"):
            raise v.error(item, f"ip_family {family!r} is not valid", "use inet or inet6")
        if vs.family is not None and vs.family != family:
            raise v.error(item, f"ip_family {family} conflicts with the server's address",
                          "remove ip_family or fix the address")  # fmt: skip
        vs.family = family

    def _scheduler(self, vs: _VirtualServer, item: Statement) -> None:
        name = v.arg(item, 1, "scheduler")
        if name not in SCHEDULERS:
            raise v.error(item, f"scheduler {name!r} is not one keepalived knows",
                          "use one of " + " ".join(SCHEDULERS))  # fmt: skip
        vs.scheduler = name

    def _vs_method(self, vs: _VirtualServer, item: Statement) -> None:
        vs.method = _method(item)

    def _persistence_timeout(self, vs: _VirtualServer, item: Statement) -> None:
        if len(item.words) < 2:
            vs.persistence = DEFAULT_PERSISTENCE
        else:
            vs.persistence = v.unsigned(item, 1, 1, MAX_PERSISTENCE, "seconds")

    def _persistence_granularity(self, vs: _VirtualServer, item: Statement) -> None:
        text = v.arg(item, 1, "netmask")
        if (vs.family or ("inet" if "." in text else "inet6")) == "inet6":
            vs.prefix_length = v.whole(item, text, 1, 128)
        else:
            try:
                vs.prefix_length = ipaddress.ip_network(f"0.0.0.0/{text}").prefixlen
            except ValueError:
                raise v.error(item, f"persistence_granularity {text!r} is not a netmask",
                              "write an IPv4 netmask such as 255.255.255.0") from None  # fmt: skip
        if vs.persistence is None:
            vs.persistence = DEFAULT_PERSISTENCE

    def _protocol(self, vs: _VirtualServer, item: Statement) -> None:
        name = v.arg(item, 1, "protocol").lower()
        if name not in PROTOCOLS:
            raise v.error(item, f"protocol {item.words[1]!r} is not valid", "use TCP, UDP or SCTP")
        vs.protocol = name

    def _quorum(self, vs: _VirtualServer, item: Statement) -> None:
        vs.quorum = v.unsigned(item, 1, 1, v.UINT_MAX, "weight")

    def _hysteresis(self, vs: _VirtualServer, item: Statement) -> None:
        vs.hysteresis = v.unsigned(item, 1, 0, v.UINT_MAX, "weight")

    def _vs_inhibit(self, vs: _VirtualServer, item: Statement) -> None:
        vs.inhibit = True

    def _vs_weight(self, vs: _VirtualServer, item: Statement) -> None:
        vs.weight = v.unsigned(item, 1, 1, v.INT32_MAX, "weight")

    def _sorry_server(self, vs: _VirtualServer, item: Statement) -> None:
        address_text = v.arg(item, 1, "address")
        vs.sorry = _RealServer(
            item, v.address(item, address_text),
            v.port(item, item.words[2] if len(item.words) > 2 else None),
        )  # fmt: skip

    def _sorry_inhibit(self, vs: _VirtualServer, item: Statement) -> None:
        if vs.sorry is None:
            self.notes.warn(item, "sorry_server_inhibit before any sorry_server: keepalived "
                            "ignores it")  # fmt: skip
        else:
            vs.sorry.inhibit = True

    def _sorry_method(self, vs: _VirtualServer, item: Statement) -> None:
        if vs.sorry is None:
            self.notes.warn(item, "sorry_server_lvs_method before any sorry_server: keepalived "
                            "ignores it")  # fmt: skip
        else:
            vs.sorry.method = _method(item)

    def _real_server(self, vs: _VirtualServer, item: Statement) -> None:
        address_text = v.arg(item, 1, "address")
        rs = _RealServer(
            item, v.address(item, address_text),
            v.port(item, item.words[2] if len(item.words) > 2 else None),
        )  # fmt: skip
        for line in item.block or ():
            keyword = line.keyword
            if keyword == "weight":
                rs.weight = v.unsigned(line, 1, 0, v.INT32_MAX, "weight")
            elif keyword == "lvs_method":
                rs.method = _method(line)
            elif keyword == "inhibit_on_failure":
                rs.inhibit = v.boolean(line, 1)
            elif keyword == "uthreshold":
                rs.upper_threshold = v.unsigned(line, 1, 0, v.UINT_MAX, "connections")
            elif keyword == "lthreshold":
                rs.lower_threshold = v.unsigned(line, 1, 0, v.UINT_MAX, "connections")
            elif keyword in CHECKER_KINDS:
                rs.checkers.extend(self._checkers(line))
            else:
                self.notes.skip(f"virtual_server.real_server.{keyword}")
        vs.real_servers.append(rs)

    def _checkers(self, statement: Statement) -> list[Checker]:
        """One checker block; SMTP_CHECK's (deprecated) host blocks are one checker each."""
        outer, hosts, outer_connects = self._checker(statement, statement.block or ())
        if statement.keyword == "SMTP_CHECK" and hosts:
            return ([outer] if outer_connects else []) + hosts
        return [outer]

    def _checker(self, statement: Statement, lines) -> tuple[Checker, list[Checker], bool]:
        """(the checker, its SMTP hosts, whether it sets any connection option itself)."""
        connect_ip = connect_port = track_file = None
        hosts: list[Checker] = []
        connects = False
        path = f"virtual_server.real_server.{statement.keyword}"
        for line in lines:
            if line.keyword == "connect_ip":
                connect_ip = v.address(line, v.arg(line, 1, "address"))
            elif line.keyword == "connect_port":
                connect_port = v.port(line, v.arg(line, 1, "port"))
            elif line.keyword == "track_file" and statement.keyword == "FILE_CHECK":
                track_file = v.arg(line, 1, "name")
            elif line.keyword == "host" and statement.keyword == "SMTP_CHECK":
                hosts.append(self._checker(statement, line.block or ())[0])
                continue
            else:
                self.notes.skip(f"{path}.{line.keyword}")
            connects = connects or line.keyword in CONNECTION_KEYWORDS
        return Checker(statement.keyword, connect_ip, connect_port, track_file), hosts, connects

    # -- completion ---------------------------------------------------------------

    def groups(self) -> tuple[VirtualServerGroup, ...]:
        return tuple(self._groups)

    def virtual_servers(self) -> tuple[ConfiguredVirtualServer, ...]:
        done = []
        for vs in self._servers:
            completed = self._complete(vs)
            if completed is not None:
                done.append(completed)
        return tuple(done)

    def _complete(self, vs: _VirtualServer) -> ConfiguredVirtualServer | None:
        warn = self.notes.warn
        label = vs.group and f"group {vs.group}" or (
            f"fwmark {vs.fwmark}" if vs.fwmark is not None else f"{vs.address} {vs.port}"
        )
        group = None
        if vs.group is not None:
            group = next((g for g in self._groups if g.name == vs.group), None)
            if group is None:
                warn(vs.statement, f"virtual_server group {vs.group}: no such "
                     "virtual_server_group: keepalived ignores the server")  # fmt: skip
                return None
        if not vs.real_servers:
            warn(vs.statement, f"virtual_server {label} has no real servers: keepalived "
                 "ignores it")  # fmt: skip
            return None
        method = vs.method
        if method is None:
            servers = ([vs.sorry] if vs.sorry else []) + vs.real_servers
            if any(server.method is None for server in servers):
                warn(vs.statement, f"virtual_server {label}: no lvs_method: keepalived uses NAT")
            method = "masq"
        family = self._family(vs, group, method)
        real_servers = self._real_servers(vs, family, method)
        if not real_servers:
            warn(vs.statement, f"virtual_server {label} has no real servers left: keepalived "
                 "ignores it")  # fmt: skip
            return None
        has_addresses = vs.fwmark is None and (
            group is None or any(not m.is_fwmark for m in group.members)
        )
        protocol = vs.protocol
        persistence = vs.persistence
        if has_addresses:
            if protocol is None:
                warn(vs.statement, f"virtual_server {label}: no protocol: keepalived uses UDP")
                protocol = "udp"
            zero_port = (group is None and vs.port == 0) or (
                group is not None and any(not m.is_fwmark and m.port == 0 for m in group.members)
            )
            if zero_port and persistence is None:
                warn(vs.statement, f"virtual_server {label}: port 0 needs persistence: "
                     f"keepalived sets persistence_timeout {DEFAULT_PERSISTENCE}")  # fmt: skip
                persistence = DEFAULT_PERSISTENCE
        elif protocol is not None:
            warn(vs.statement, f"virtual_server {label}: a firewall-mark service has no "
                 "protocol: keepalived ignores it")  # fmt: skip
            protocol = None
        scheduler = vs.scheduler
        if scheduler is None:
            warn(vs.statement, f"virtual_server {label}: no lvs_sched: keepalived uses "
                 f"{DEFAULT_SCHEDULER}")  # fmt: skip
            scheduler = DEFAULT_SCHEDULER
        sorry = self._sorry(vs, family, method)
        quorum, hysteresis = self._quorum_hysteresis(vs, real_servers, label)
        key = None
        if vs.fwmark is not None:
            key = ServiceKey("fwm", family, fwmark=vs.fwmark)
        elif vs.address is not None:
            assert protocol is not None
            key = ServiceKey(protocol, family, vs.address, vs.port)
        return ConfiguredVirtualServer(
            scheduler=scheduler,
            method=method,
            key=key,
            group=vs.group,
            protocol=protocol,
            family=family,
            persistence_timeout_seconds=persistence,
            persistence_prefix_length=vs.prefix_length,
            quorum=quorum,
            hysteresis=hysteresis,
            inhibit_on_failure=vs.inhibit,
            sorry=sorry,
            real_servers=tuple(real_servers),
            where=str(vs.statement.where),
        )

    def _family(self, vs: _VirtualServer, group: VirtualServerGroup | None, method: str):
        """The address family as keepalived settles it (None: a group with both)."""
        if vs.family is not None:
            return vs.family
        if group is not None:
            families = group.families
            if len(families) == 1:
                return families[0]
            if len(families) == 2:
                return None
        servers = ([vs.sorry] if vs.sorry else []) + vs.real_servers
        for server in servers:
            if (server.method or method) != "tunnel":
                return v.family_of(server.address)
        found = {v.family_of(s.address) for s in servers}
        return found.pop() if len(found) == 1 else "inet"

    def _real_servers(self, vs: _VirtualServer, family, method: str) -> list:
        kept: list[ConfiguredRealServer] = []
        for rs in vs.real_servers:
            rs_method = rs.method or method
            if family and rs_method != "tunnel" and v.family_of(rs.address) != family:
                self.notes.warn(rs.statement, f"real server {rs.address} is not of the virtual "
                                "server's family: keepalived skips it")  # fmt: skip
                continue
            rs_port = self._server_port(vs, rs, rs_method, "real server")
            if any(k.ip == rs.address and k.port == rs_port for k in kept):
                self.notes.warn(rs.statement, f"real server {rs.address} {rs_port} given twice: "
                                "keepalived removes the second")  # fmt: skip
                continue
            kept.append(ConfiguredRealServer(
                ip=rs.address,
                port=rs_port,
                weight=vs.weight if rs.weight is None else rs.weight,
                method=rs_method,
                inhibit_on_failure=vs.inhibit if rs.inhibit is None else rs.inhibit,
                upper_threshold=rs.upper_threshold,
                lower_threshold=rs.lower_threshold,
                checkers=tuple(rs.checkers),
                where=str(rs.statement.where),
            ))  # fmt: skip
        return kept

    def _server_port(self, vs: _VirtualServer, rs: _RealServer, method: str, what: str) -> int:
        """keepalived's port corrections for a real or sorry server of a non-group service."""
        if vs.group is not None:
            return rs.port
        if method == "masq":
            if what == "real server" and vs.fwmark is None and rs.port == 0:
                return vs.port
            return rs.port
        if vs.fwmark is not None:
            if rs.port:
                self.notes.warn(rs.statement, f"{what} {rs.address}: a firewall-mark service "
                                "with DR/TUN takes no port: keepalived clears it")  # fmt: skip
            return 0
        if rs.port and rs.port != vs.port:
            self.notes.warn(rs.statement, f"{what} {rs.address}: port {rs.port} differs from the "
                            f"virtual server's with DR/TUN: keepalived uses {vs.port}")  # fmt: skip
        return vs.port

    def _sorry(self, vs: _VirtualServer, family, method: str) -> SorryServer | None:
        sorry = vs.sorry
        if sorry is None:
            return None
        sorry_method = sorry.method or method
        if family and sorry_method != "tunnel" and v.family_of(sorry.address) != family:
            self.notes.warn(sorry.statement, f"sorry server {sorry.address} is not of the virtual "
                            "server's family: keepalived skips it")  # fmt: skip
            return None
        return SorryServer(
            sorry.address, self._server_port(vs, sorry, sorry_method, "sorry server"),
            sorry_method, bool(sorry.inhibit),
        )  # fmt: skip

    def _quorum_hysteresis(self, vs: _VirtualServer, real_servers, label: str):
        quorum, hysteresis = vs.quorum, vs.hysteresis
        total = sum(rs.weight for rs in real_servers)
        if quorum > total:
            self.notes.warn(vs.statement, f"virtual_server {label}: quorum {quorum} is above the "
                            f"real servers' total weight: keepalived uses {total}")  # fmt: skip
            quorum = total
        if hysteresis >= quorum:
            corrected = (quorum - 1) % 2**32  # keepalived's unsigned arithmetic
            self.notes.warn(vs.statement, f"virtual_server {label}: hysteresis {hysteresis} is "
                            f"not below the quorum: keepalived uses {corrected}")  # fmt: skip
            hysteresis = corrected
        return quorum, hysteresis


def _method(item: Statement) -> str:
    word = v.arg(item, 1, "method")
    if word not in METHODS:
        raise v.error(item, f"{item.keyword} {word!r} is not valid", "use NAT, DR or TUN")
    return METHODS[word]


_VS_KEYWORDS = {
    "ip_family": LvsReader._ip_family,
    "lb_algo": LvsReader._scheduler,
    "lvs_sched": LvsReader._scheduler,
    "lb_kind": LvsReader._vs_method,
    "lvs_method": LvsReader._vs_method,
    "persistence_timeout": LvsReader._persistence_timeout,
    "persistence_granularity": LvsReader._persistence_granularity,
    "protocol": LvsReader._protocol,
    "quorum": LvsReader._quorum,
    "hysteresis": LvsReader._hysteresis,
    "inhibit_on_failure": LvsReader._vs_inhibit,
    "weight": LvsReader._vs_weight,
    "sorry_server": LvsReader._sorry_server,
    "sorry_server_inhibit": LvsReader._sorry_inhibit,
    "sorry_server_lvs_method": LvsReader._sorry_method,
    "real_server": LvsReader._real_server,
}
