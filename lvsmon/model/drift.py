"""keepalived.conf against the IPVS table: where the kernel is not what the file configures.

lvsmon.keepalived.diff builds a KeepalivedDiff from a KeepalivedConf and an IpvsTable;
`lvsmon keepalived diff`, the daemon's state, the exporter and check_ipvs render it.
Services are spelled as `lvsmon drain` writes them, real servers as ADDRESS:PORT; a weight
of None is a real server the kernel does not have. ``findings`` lists what differs, one
Finding per thing, each of a kind in DRIFT_KINDS:

  service_missing           a service the file configures is not in the kernel (keepalived's
                            checker is not running, or could not create it)
  real_server_absent        a configured real server is not in the service (keepalived
                            removes a real server whose health check fails)
  real_server_weight_zero   a configured real server is at weight 0 though configured above
                            (a failed check with inhibit_on_failure, or drained)
  weight_changed            a configured real server has another weight than the file's
                            (changed by hand, a dynamic weight from a MISC_CHECK, ...)
  sorry_server_serving      the sorry server has weight: the quorum is lost
  real_server_unconfigured  a real server in the service that the file does not configure
  service_unconfigured      a service in the kernel that the file does not configure
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_MISSING = "service_missing"
REAL_SERVER_ABSENT = "real_server_absent"
REAL_SERVER_WEIGHT_ZERO = "real_server_weight_zero"
WEIGHT_CHANGED = "weight_changed"
SORRY_SERVER_SERVING = "sorry_server_serving"
REAL_SERVER_UNCONFIGURED = "real_server_unconfigured"
SERVICE_UNCONFIGURED = "service_unconfigured"
DRIFT_KINDS = (SERVICE_MISSING, REAL_SERVER_ABSENT, REAL_SERVER_WEIGHT_ZERO, WEIGHT_CHANGED,
               SORRY_SERVER_SERVING, REAL_SERVER_UNCONFIGURED, SERVICE_UNCONFIGURED)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing where the kernel differs from the file."""

    kind: str  # one of DRIFT_KINDS
    service: str
    real_server: str | None  # ADDRESS:PORT; None for what concerns the whole service
    detail: str


@dataclass(frozen=True, slots=True)
class RealServerDrift:
    """One real server of a configured service: the file's weight and the kernel's."""

    real_server: str  # ADDRESS:PORT
    configured_weight: int | None  # None: the file does not configure it
    weight: int | None  # in the kernel; None: not there

    @property
    def kind(self) -> str | None:
        """Its finding's kind; None when it is as configured."""
        if self.configured_weight is None:
            return REAL_SERVER_UNCONFIGURED
        if self.weight is None:
            return REAL_SERVER_ABSENT
        if self.weight == self.configured_weight:
            return None
        return REAL_SERVER_WEIGHT_ZERO if self.weight == 0 else WEIGHT_CHANGED

    @property
    def serving(self) -> bool:
        return self.weight is not None and self.weight > 0


@dataclass(frozen=True, slots=True)
class ServiceDrift:
    """One IPVS service a virtual_server block configures (a group's block makes several)."""

    service: str  # as lvsmon drain writes it
    virtual_server: str  # the block: its service, or "group NAME"
    where: str  # FILE:LINE of the block
    in_kernel: bool
    real_servers: tuple[RealServerDrift, ...] = ()  # the file's, then the kernel's others
    sorry_server: str | None = None  # ADDRESS:PORT, as configured
    sorry_weight: int | None = None  # in the kernel; None: not there
    quorum: int = 1

    @property
    def sorry_serving(self) -> bool:
        return self.sorry_weight is not None and self.sorry_weight > 0

    @property
    def not_serving(self) -> tuple[RealServerDrift, ...]:
        """The configured real servers that take no new connection (absent or at weight 0)."""
        return tuple(rs for rs in self.real_servers
                     if rs.configured_weight is not None and not rs.serving)

    def findings(self) -> list[Finding]:
        if not self.in_kernel:
            return [Finding(SERVICE_MISSING, self.service, None,
                            f"{self.service}: configured ({self.where}) but not in the kernel")]
        found = []
        for rs in self.real_servers:
            kind = rs.kind
            if kind is not None:
                found.append(Finding(kind, self.service, rs.real_server,
                                     f"{rs.real_server} of {self.service}: {_words(rs)}"))
        if self.sorry_serving:
            down = ", ".join(f"{rs.real_server} ({'absent' if rs.weight is None else 'weight 0'})"
                             for rs in self.not_serving) or "none"
            found.append(Finding(SORRY_SERVER_SERVING, self.service, self.sorry_server,
                                 f"{self.service}: sorry server {self.sorry_server} serving "
                                 f"(quorum {self.quorum} lost); not serving: {down}"))
        return found


def _words(rs: RealServerDrift) -> str:
    kind = rs.kind
    if kind == REAL_SERVER_UNCONFIGURED:
        return f"in the kernel (weight {rs.weight}), not in keepalived.conf"
    if kind == REAL_SERVER_ABSENT:
        return (f"configured weight {rs.configured_weight}, not in the kernel (keepalived "
                "removes a real server whose check fails)")
    if kind == REAL_SERVER_WEIGHT_ZERO:
        return (f"weight 0, configured {rs.configured_weight} (a failed check with "
                "inhibit_on_failure, or drained)")
    return (f"weight {rs.weight}, configured {rs.configured_weight} (changed by hand, or a "
            "dynamic weight)")


@dataclass(frozen=True, slots=True)
class KeepalivedDiff:
    """One comparison of a keepalived.conf read with an IPVS table read."""

    config_source: str  # the keepalived.conf read
    ipvs_read_at_seconds: float  # when the table was read
    services: tuple[ServiceDrift, ...] = ()  # in the file's order
    unconfigured_services: tuple[str, ...] = ()  # in the kernel, not in the file
    warnings: tuple[str, ...] = ()

    _json_extras = {"findings": "findings"}

    @property
    def findings(self) -> tuple[Finding, ...]:
        found = [finding for service in self.services for finding in service.findings()]
        found += [Finding(SERVICE_UNCONFIGURED, name, None,
                          f"{name}: in the kernel, not configured in keepalived.conf")
                  for name in self.unconfigured_services]
        return tuple(found)

    def service(self, name: str) -> ServiceDrift | None:
        for service in self.services:
            if service.service == name:
                return service
        return None
