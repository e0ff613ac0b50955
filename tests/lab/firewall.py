"""nftables in a lab namespace: make VRRP faults that keepalived cannot tell from a bad link.

    block_vrrp(a, "10.30.0.12", "fe80::2")   # a no longer hears those routers: split brain
    unblock_vrrp(a)
"""

from __future__ import annotations

import ipaddress

TABLE = "lvsmt_block"


def block_vrrp(namespace, *sources: str) -> None:
    """Drop VRRP arriving from these addresses (IPv4 or IPv6)."""
    rules = []
    for source in sources:
        if ipaddress.ip_address(source).version == 4:
            rules.append(f"    ip saddr {source} ip protocol vrrp drop\n")
        else:
            rules.append(f"    ip6 saddr {source} meta l4proto vrrp drop\n")
    ruleset = (f"table inet {TABLE} {{\n  chain input {{\n"
               "    type filter hook input priority 0; policy accept;\n"
               + "".join(rules) + "  }\n}\n")  # fmt: skip
    namespace.run(["nft", "-f", "-"], input=ruleset)


def unblock_vrrp(namespace) -> None:
    namespace.run(["nft", "delete", "table", "inet", TABLE])


def link_local(namespace, ifname: str = "eth0") -> str:
    """The namespace's IPv6 link-local address on ifname: the source of its VRRPv3 IPv6 adverts."""
    return next(a.split("/")[0] for a in namespace.addresses(ifname) if a.startswith("fe80:"))
