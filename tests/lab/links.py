"""Links between namespaces: veth pairs, and segments (a bridge in its own hub namespace).

Both ends of every veth are created directly in their namespaces (`ip -n A link add ...
peer ... netns B`), so no link ever exists in the root namespace, not even for a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .naming import check_ifname
from .netns import Namespace, run_argv

if TYPE_CHECKING:
    from .lab import Lab

# The hub only switches frames: no IPv6 of its own (no router solicitations, no ND noise).
_HUB_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": 1,
    "net.ipv6.conf.default.disable_ipv6": 1,
}


@dataclass(frozen=True)
class Veth:
    """A veth pair: `a_ifname` inside namespace `a`, `b_ifname` inside namespace `b`."""

    a: Namespace
    a_ifname: str
    b: Namespace
    b_ifname: str


def make_veth(a: Namespace, b: Namespace, a_ifname: str, b_ifname: str) -> None:
    # "name" spelled out: a bare short name like "a" would be read as a keyword.
    run_argv(["ip", "-n", a.name, "link", "add", "name", a_ifname, "type", "veth",
              "peer", "name", b_ifname, "netns", b.name])


def connect(a: Namespace, b: Namespace, a_addresses=None, b_addresses=None, *,
            a_ifname: str | None = None, b_ifname: str | None = None) -> Veth:
    """Join two namespaces point to point. Default names: "to-<peer's short name>"."""
    if a is b:
        raise ValueError(f"a veth needs two different namespaces, got {a.name} twice")
    name_a = a.interface_name(a_ifname, f"to-{b.short}")
    name_b = b.interface_name(b_ifname, f"to-{a.short}")
    make_veth(a, b, name_a, name_b)
    a.configure_link(name_a, a_addresses)
    b.configure_link(name_b, b_addresses)
    a.wait_link_up(name_a)
    b.wait_link_up(name_b)
    return Veth(a, name_a, b, name_b)


class Segment:
    """A shared L2 segment: bridge `bridge` inside the hub namespace `hub`.

    STP is off (ports forward at once) and multicast snooping is off (VRRP and IPv6
    neighbour discovery are flooded to every port, like on a plain switch).
    """

    def __init__(self, lab: Lab, name: str):
        self.name = name
        self.bridge = check_ifname(name)
        self.hub = lab.namespace(f"seg-{name}")
        for key, value in _HUB_SYSCTLS.items():
            self.hub.sysctl(key, value)
        self.hub.interface_name(self.bridge, self.bridge)
        self.hub.ip("link", "add", "name", self.bridge, "type", "bridge", "stp_state", "0",
                    "forward_delay", "0", "mcast_snooping", "0")
        self.hub.link_up(self.bridge)
        self.ports: list[Veth] = []

    def __repr__(self) -> str:
        return f"<Segment {self.name} in {self.hub.name}>"

    def attach(self, namespace: Namespace, addresses=None, ifname: str = "eth0") -> str:
        """Plug `namespace` into the segment as `ifname` (with addresses); returns ifname."""
        inner = namespace.interface_name(ifname, ifname)
        port = self.hub.interface_name(None, namespace.short)
        make_veth(self.hub, namespace, port, inner)
        self.hub.ip("link", "set", "dev", port, "master", self.bridge)
        self.hub.link_up(port)
        namespace.configure_link(inner, addresses)
        self.hub.wait_link_up(port)
        namespace.wait_link_up(inner)
        self.ports.append(Veth(self.hub, port, namespace, inner))
        return inner
