"""Get, GetNext and GetBulk answered from an OidIndex (RFC 2741 sections 7.2.3.1-7.2.3.3).

Pure functions of an index and the request's SearchRanges; the session wraps
their varbinds in a Response. Work is bounded by the request: one dict lookup
per Get range, one bisect per GetNext range and per GetBulk repetition, and a
GetBulk answer stops at MAX_BULK_VARBINDS (a master asks again for the rest).
"""

from __future__ import annotations

from lvsmon_snmp.agentx.codec import SearchRange, VarBind
from lvsmon_snmp.agentx.index import OidIndex
from lvsmon_snmp.agentx.values import END_OF_MIB_VIEW

MAX_BULK_VARBINDS = 1000


def answer_get(index: OidIndex, ranges: tuple[SearchRange, ...]) -> tuple[VarBind, ...]:
    """Each start OID's value, or noSuchInstance / noSuchObject (ends are ignored)."""
    get = index.get
    return tuple(VarBind(search.start, get(search.start)) for search in ranges)


def answer_get_next(index: OidIndex, ranges: tuple[SearchRange, ...]) -> tuple[VarBind, ...]:
    """Each range's first OID, or endOfMibView named by the range's start."""
    return tuple(_next(index, search) for search in ranges)


def _next(index: OidIndex, search: SearchRange) -> VarBind:
    found = index.next(search.start, search.include, search.end)
    if found is None:
        return VarBind(search.start, END_OF_MIB_VIEW)
    return VarBind(*found)


def answer_get_bulk(index: OidIndex, non_repeaters: int, max_repetitions: int,
                    ranges: tuple[SearchRange, ...],
                    limit: int = MAX_BULK_VARBINDS) -> tuple[VarBind, ...]:
    """The first `non_repeaters` ranges once, then the rest `max_repetitions` times, each
    repetition going on from the previous one's OID within the same end. Stops early when
    every repeater has reached endOfMibView, or when `limit` varbinds are reached."""
    non_repeaters = min(non_repeaters, len(ranges))
    answer = [_next(index, search) for search in ranges[:non_repeaters]]
    repeaters = list(ranges[non_repeaters:])
    if not repeaters:
        return tuple(answer)
    repetitions = min(max_repetitions, max(1, (limit - len(answer)) // len(repeaters)))
    for _ in range(repetitions):
        ended = 0
        for position, search in enumerate(repeaters):
            varbind = _next(index, search)
            answer.append(varbind)
            if varbind.value is END_OF_MIB_VIEW:
                ended += 1
            else:
                repeaters[position] = SearchRange(varbind.name, search.end, False)
        if ended == len(repeaters):
            break
    return tuple(answer)
