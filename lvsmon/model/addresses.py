"""Address spellings shared by every part: families and ADDRESS:PORT as ipvsadm writes it."""

from __future__ import annotations

import ipaddress


def family_of(address: str) -> str:
    return "inet6" if ipaddress.ip_address(address).version == 6 else "inet"


def join_host_port(address: str | None, port: int | None) -> str:
    if address is None:
        return "?"
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"
