"""keepalived.conf against the IPVS table: a pure function, (KeepalivedConf, IpvsTable) -> diff.

    found = compare(read_config(path), read_table("auto"))   # lvsmon.model.drift.KeepalivedDiff
    for finding in found.findings: ...

Every IPVS service the file configures is looked up in the table: a `virtual_server`
block makes one, a `virtual_server group NAME` block one per address (and port) of each
group member and one per firewall mark. Its real servers are held against the file's,
by address and port; the sorry server is not a real server. The daemon runs this in a
worker thread whenever either snapshot changes; `lvsmon keepalived diff` and check_ipvs
run it once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from lvsmon.ipvs import find_service
from lvsmon.model import IpvsTable, ServiceKey, VirtualService
from lvsmon.model.addresses import family_of, join_host_port
from lvsmon.model.drift import KeepalivedDiff, RealServerDrift, ServiceDrift
from lvsmon.model.keepalived import ConfiguredVirtualServer, KeepalivedConf

# A group member's address range is compared address by address, up to this many.
MAX_SERVICES_PER_MEMBER = 4096


def compare(conf: KeepalivedConf, table: IpvsTable) -> KeepalivedDiff:
    warnings: list[str] = []
    services = []
    for vs, key in _configured_services(conf, warnings):
        kernel = find_service(table, key)
        services.append(_service(vs, key, kernel))
    unconfigured = tuple(svc.name for svc in table.services
                         if conf.virtual_server_for(svc.key) is None)
    return KeepalivedDiff(config_source=conf.source, ipvs_read_at_seconds=table.read_at_seconds,
                          services=tuple(services), unconfigured_services=unconfigured,
                          warnings=tuple(warnings))


def _configured_services(conf: KeepalivedConf, warnings: list[str]
                         ) -> Iterator[tuple[ConfiguredVirtualServer, ServiceKey]]:
    """Each (virtual_server block, IPVS service it makes), in the file's order."""
    for vs in conf.virtual_servers:
        if vs.key is not None:
            yield vs, vs.key
            continue
        group = conf.virtual_server_group(vs.group or "")
        if group is None:
            continue  # the reader warned: keepalived makes nothing of it
        for member in group.members:
            if member.is_fwmark:
                yield vs, ServiceKey("fwm", member.family or vs.family, fwmark=member.fwmark)
                continue
            if vs.protocol is None or member.first_address is None:
                continue
            count = member.address_count
            if count > MAX_SERVICES_PER_MEMBER:
                warnings.append(f"{vs.where}: group {group.name} member {member}: only its "
                                f"first {MAX_SERVICES_PER_MEMBER} of {count} addresses compared")
            first = int(ipaddress.ip_address(member.first_address))
            for number in range(first, first + min(count, MAX_SERVICES_PER_MEMBER)):
                address = str(ipaddress.ip_address(number))
                yield vs, ServiceKey(vs.protocol, family_of(address), address, member.port)


def _service(vs: ConfiguredVirtualServer, key: ServiceKey,
             kernel: VirtualService | None) -> ServiceDrift:
    sorry = vs.sorry
    common = {"virtual_server": vs.label, "where": vs.where, "quorum": vs.quorum,
              "sorry_server": None if sorry is None else sorry.endpoint}
    if kernel is None:
        configured = tuple(RealServerDrift(rs.endpoint, rs.weight, None) for rs in vs.real_servers)
        return ServiceDrift(service=str(key), in_kernel=False, real_servers=configured, **common)
    weights = {(rs.address, rs.port): rs.weight for rs in kernel.real_servers}
    real_servers = [RealServerDrift(rs.endpoint, rs.weight, weights.pop((rs.ip, rs.port), None))
                    for rs in vs.real_servers]
    sorry_weight = None if sorry is None else weights.pop((sorry.address, sorry.port), None)
    real_servers += [RealServerDrift(join_host_port(address, port), None, weight)
                     for (address, port), weight in weights.items()]
    return ServiceDrift(service=kernel.name, in_kernel=True, real_servers=tuple(real_servers),
                        sorry_weight=sorry_weight, **common)
