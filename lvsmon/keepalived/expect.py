"""What the VRRP observer should hear, from keepalived.conf: one VrrpExpectation per instance.

    observer.update_expectations(expectations(conf, {"eth0": ("10.0.0.11", "fe80::1")}))

The observer reads no file; the daemon hands it these. ``addresses`` are this node's
addresses per interface (lvsmon.vrrp.local): keepalived sends from one of them (or from
the instance's unicast_src_ip), which is how the observer tells this node's own router.
"""

from __future__ import annotations

from collections.abc import Mapping

from lvsmon.model.addresses import family_of
from lvsmon.model.keepalived import KeepalivedConf, VrrpInstance
from lvsmon.model.vrrp import VrrpExpectation


def expectations(conf: KeepalivedConf, addresses: Mapping[str, tuple[str, ...]]
                 ) -> tuple[VrrpExpectation, ...]:
    return tuple(expectation(instance, addresses) for instance in conf.vrrp_instances)


def expectation(instance: VrrpInstance, addresses: Mapping[str, tuple[str, ...]]
                ) -> VrrpExpectation:
    if instance.interface is not None:
        own = list(addresses.get(instance.interface, ()))
    else:  # unicast without an interface: keepalived picks the route's
        own = [address for found in addresses.values() for address in found]
    if instance.unicast_src_ip is not None:
        own.append(instance.unicast_src_ip)
    return VrrpExpectation(
        instance=instance.name,
        interface=instance.interface,
        family=instance.family,
        vrid=instance.vrid,
        priority=instance.priority,
        advert_interval_centiseconds=instance.advert_interval_centiseconds,
        version=instance.version,
        # An advert carries the addresses of its own family only.
        vips=tuple(vip.address for vip in instance.vips
                   if family_of(vip.address) == instance.family),
        track_weights=tuple(track.weight for track in instance.track_scripts),
        own_addresses=tuple(sorted(set(own))),
    )
