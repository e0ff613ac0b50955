"""This host's own addresses, per interface: how the observer tells its own VRRP router.

One netlink dump (pyroute2, no privilege needed); blocking, so the daemon calls it in a
worker thread.
"""

from __future__ import annotations

from pyroute2 import IPRoute


def local_addresses() -> dict[str, tuple[str, ...]]:
    """{interface name: its addresses (IPv4 and IPv6, link-local included, sorted)}."""
    found: dict[str, set[str]] = {}
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for entry in ipr.get_addr():
            name = names.get(entry["index"])
            # IFA_LOCAL is this end of a point-to-point link, where IFA_ADDRESS is the peer.
            address = entry.get_attr("IFA_LOCAL") or entry.get_attr("IFA_ADDRESS")
            if name is not None and address is not None:
                found.setdefault(name, set()).add(address)
    return {name: tuple(sorted(addresses)) for name, addresses in sorted(found.items())}
