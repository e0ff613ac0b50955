"""VRRP from the wire: the advert codec (and, built on it, the observer and participant).

``lvsmon.vrrp.codec`` turns what a raw socket for IP protocol 112 receives into
``lvsmon.model.Advert`` and back; ``lvsmon.vrrp.stats.DecodeStats`` counts what
was rejected and why.
"""
