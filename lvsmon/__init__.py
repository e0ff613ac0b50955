"""lvsmon: one view of keepalived (VRRP) and LVS/IPVS load balancers."""

__version__ = "0.1.0"
