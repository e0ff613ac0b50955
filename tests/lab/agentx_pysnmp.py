"""pysnmp as a second SNMP manager: read a subtree from 127.0.0.1:PORT, print JSON.

    python -m tests.lab.agentx_pysnmp PORT BASE_OID

Prints {"walk": [...], "bulk_walk": [...], "get": [...], "next": [...]}, each value
as [oid, AgentX type name, data] (bytes in hex, OIDs dotted) via lvsmon_snmp's Value,
so a test compares pysnmp's reading with the index the subagent served. "get" asks for
every OID the walk found, "next" is a get-next of the first one.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_walk_cmd,
    get_cmd,
    next_cmd,
    walk_cmd,
)

from lvsmon_snmp.agentx import Value, format_oid


def plain(var_bind) -> list:
    name, value = var_bind
    ours = Value.from_pysnmp(value)
    data = ours.data
    if isinstance(data, bytes):
        data = data.hex()
    elif isinstance(data, tuple):
        data = format_oid(data)
    return [str(name), ours.type.name, data]


def checked(result) -> list:
    error_indication, error_status, error_index, var_binds = result
    if error_indication or error_status:
        raise SystemExit(f"pysnmp: {error_indication or error_status.prettyPrint()} "
                         f"at {error_index}")
    return list(var_binds)


async def main(port: int, base: str) -> dict:
    engine = SnmpEngine()
    community = CommunityData("public", mpModel=1)  # SNMPv2c
    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=1)
    context = ContextData()
    start = ObjectType(ObjectIdentity(base))

    walk = []
    async for result in walk_cmd(engine, community, target, context, start,
                                 lexicographicMode=False):
        walk += [plain(vb) for vb in checked(result)]
    bulk = []
    async for result in bulk_walk_cmd(engine, community, target, context, 0, 7, start,
                                      lexicographicMode=False):
        bulk += [plain(vb) for vb in checked(result)]
    names = [ObjectType(ObjectIdentity(oid)) for oid, _, _ in walk]
    got = checked(await get_cmd(engine, community, target, context, *names))
    following = checked(await next_cmd(engine, community, target, context, names[0]))
    engine.close_dispatcher()
    return {"walk": walk, "bulk_walk": bulk, "get": [plain(vb) for vb in got],
            "next": plain(following[0])}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), sys.argv[2]))))
