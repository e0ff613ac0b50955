"""AgentxSettings: what the `[agentx]` table of lvsmon.toml says, checked when built.

    [agentx]
    enabled = false                  # needs snmpd with `master agentx`
    master = "/var/agentx/master"    # net-snmp's default socket; or "tcp:HOST:PORT"
    timeout = 5.0                    # seconds to wait for each answer of the master
    priority = 127                   # registration priority, 1 (wins) .. 255
    base_oid = "1.3.6.1.4.1.8072.9999.9999.5866"   # lvsmon's own MIB (LVSMON-MIB)
    ping_interval = 10.0             # seconds of silence before asking the master (Ping)

A bad value raises lvsmon.errors.UsageError naming the key. lvsmon.config reads the
table (AgentxConfig, without ping_interval); AgentxSettings.from_config() takes that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lvsmon.errors import UsageError
from lvsmon_snmp.agentx.oids import Oid, OidError, format_oid, parse_oid

DEFAULT_MASTER = "/var/agentx/master"  # net-snmp's NETSNMP_AGENTX_SOCKET
# Under NET-SNMP-MIB's netSnmpPlaypen (1.3.6.1.4.1.8072.9999.9999), as lvsmon.config's
# [agentx] default and LVSMON-MIB say.
DEFAULT_BASE_OID = "1.3.6.1.4.1.8072.9999.9999.5866"


@dataclass(frozen=True, slots=True)
class MasterAddress:
    """Where the master agent listens: a unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    @property
    def is_tcp(self) -> bool:
        return self.host is not None

    def __str__(self) -> str:
        if self.is_tcp:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"tcp:{host}:{self.port}"
        return str(self.path)


def parse_master(text: str) -> MasterAddress:
    """"/path", "unix:/path", "tcp:HOST:PORT" or "tcp:[v6]:PORT" (net-snmp's spellings)."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"[agentx] master {text!r}: give a socket path or tcp:HOST:PORT")
    text = text.strip()
    if text.lower().startswith("tcp:"):
        rest = text[4:]
        host, sep, port_text = rest.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"[agentx] master {text!r}: expected tcp:HOST:PORT, "
                             "e.g. tcp:127.0.0.1:705")
        return MasterAddress(host=host, port=int(port_text))
    path = text[5:] if text.lower().startswith("unix:") else text
    if not path.startswith("/"):
        raise UsageError(f"[agentx] master {text!r}: a unix socket path must be absolute "
                         "(net-snmp's default is /var/agentx/master)")
    return MasterAddress(path=path)


@dataclass(frozen=True, slots=True)
class AgentxSettings:
    enabled: bool = False
    master: str = DEFAULT_MASTER
    timeout: float = 5.0
    priority: int = 127
    base_oid: str = DEFAULT_BASE_OID
    ping_interval: float = 10.0
    address: MasterAddress = field(init=False, repr=False, compare=False)
    base: Oid = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise UsageError(f"[agentx] enabled {self.enabled!r}: true or false")
        object.__setattr__(self, "address", parse_master(self.master))
        _seconds("timeout", self.timeout, 0.1, 255.0)
        _seconds("ping_interval", self.ping_interval, 0.5, 3600.0)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int) or not (
                1 <= self.priority <= 255):
            raise UsageError(f"[agentx] priority {self.priority!r} out of range 1..255 "
                             "(lower wins; net-snmp's default is 127)")
        try:
            base = parse_oid(self.base_oid)
        except OidError as exc:
            raise UsageError(f"[agentx] base_oid: {exc}") from None
        object.__setattr__(self, "base", base)

    @classmethod
    def from_config(cls, config, **extra) -> AgentxSettings:
        """From lvsmon.config's AgentxConfig (or anything with its five attributes)."""
        return cls(enabled=config.enabled, master=config.master, timeout=config.timeout,
                   priority=config.priority, base_oid=config.base_oid, **extra)

    @property
    def open_timeout(self) -> int:
        """o.timeout of the Open PDU: whole seconds, 1..255."""
        return max(1, min(255, math.ceil(self.timeout)))

    @property
    def base_text(self) -> str:
        return format_oid(self.base)


def _seconds(key: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high):
        raise UsageError(f"[agentx] {key} {value!r}: seconds in {low:g}..{high:g}")
