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


def split_host_port(text: str) -> tuple[str, int]:
    """The inverse of join_host_port for its own output: "[2001:db8::2]:80" -> ("2001:db8::2", 80).

    For decoding lvsmon's JSON; text from people goes through lvsmon.ipvs.parse_real_server.
    """
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)
