"""OidIndex: an immutable, sorted map from OID to Value, built once per data snapshot.

    index = OidIndex([("1.3.6.1.4.1.8072.9999.1.0", Value.octet_string("lvsmon")),
                      ((1, 3, 6, 1, 4, 1, 8072, 9999, 2, 1, 7), Value.counter64(5))],
                     objects=["1.3.6.1.4.1.8072.9999.1", "1.3.6.1.4.1.8072.9999.2.1"])
    index.get((1, 3, 6, 1, 4, 1, 8072, 9999, 1, 0))     # a dict lookup
    index.next(start, include=False, end=())            # a bisect, never a scan

The session answers from whichever index it holds and swaps it by reference
(Subagent.update), so building a new one may take as long as it likes, in any
thread: no answer ever waits for it.

`objects` names the OBJECT-TYPEs (scalars and table columns) the index stands
for, so that a Get of a missing instance answers noSuchInstance and a Get
outside every object noSuchObject (RFC 2741 section 7.2.3.1). Left out, each
value's OID minus its last sub-identifier counts as its object: right for
scalars (x.0) and for tables with a one-number index.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

from lvsmon.errors import AgentxError
from lvsmon_snmp.agentx.codec import VarBind, encode_varbind
from lvsmon_snmp.agentx.oids import Oid, format_oid, parse_oid
from lvsmon_snmp.agentx.values import NO_SUCH_INSTANCE, NO_SUCH_OBJECT, Value


class OidIndexError(AgentxError, ValueError):
    """The pairs given cannot form an index: a duplicate OID, or a value that is no Value."""


class OidIndex:
    """See the module docstring. Iterating yields (oid, value) pairs in OID order."""

    __slots__ = ("_oids", "_values", "_by_oid", "_objects", "_wire")

    def __init__(self, entries: Iterable[tuple[Oid | str, object]] = (),
                 objects: Iterable[Oid | str] | None = None):
        pairs: list[tuple[Oid, Value]] = []
        for oid, value in entries:
            oid = parse_oid(oid)
            if not isinstance(value, Value):
                value = Value.from_pysnmp(value)  # SnmpValueError if it is no SNMP value
            if value.is_exception:
                raise OidIndexError(f"{format_oid(oid)}: {value.type.name} is an answer, "
                                  "not a value to serve: leave the OID out")
            pairs.append((oid, value))
        pairs.sort(key=lambda pair: pair[0])
        self._oids: tuple[Oid, ...] = tuple(oid for oid, _ in pairs)
        self._values: tuple[Value, ...] = tuple(value for _, value in pairs)
        self._by_oid: dict[Oid, Value] = dict(pairs)
        if len(self._by_oid) != len(pairs):
            raise OidIndexError(f"OID given twice: {format_oid(_first_duplicate(self._oids))}")
        self._wire: dict[Oid, bytes] = {}  # encoded varbinds, filled as they are asked for
        if objects is None:
            self._objects = frozenset(oid[:-1] for oid in self._oids)
        else:
            self._objects = frozenset(parse_oid(oid) for oid in objects)

    def __len__(self) -> int:
        return len(self._oids)

    def __iter__(self) -> Iterator[tuple[Oid, Value]]:
        return zip(self._oids, self._values, strict=True)

    def __contains__(self, oid: object) -> bool:
        return oid in self._by_oid

    def __repr__(self) -> str:
        return f"<OidIndex of {len(self)} values>"

    def get(self, oid: Oid) -> Value:
        """The value at exactly `oid`, else noSuchInstance (under a known object) or
        noSuchObject."""
        found = self._by_oid.get(oid)
        if found is not None:
            return found
        objects = self._objects
        for length in range(len(oid), 0, -1):
            if oid[:length] in objects:
                return NO_SUCH_INSTANCE
        return NO_SUCH_OBJECT

    def next(self, start: Oid, include: bool = False, end: Oid = ()) -> tuple[Oid, Value] | None:
        """The first (oid, value) after `start` (or at it, if `include`) and before `end`
        (() for no end); None if the range holds nothing."""
        oids = self._oids
        position = bisect_left(oids, start) if include else bisect_right(oids, start)
        if position == len(oids):
            return None
        found = oids[position]
        if end and found >= end:
            return None
        return found, self._values[position]


    def wire(self, varbind: VarBind) -> bytes:
        """`varbind` encoded for a Response; this index's own values are encoded once and
        kept (a walk asks for each of them again and again, the index never changes)."""
        if varbind.value.is_exception:
            return encode_varbind(varbind)
        found = self._wire.get(varbind.name)
        if found is None:
            found = self._wire[varbind.name] = encode_varbind(varbind)
        return found


def _first_duplicate(sorted_oids: tuple[Oid, ...]) -> Oid:
    for before, after in zip(sorted_oids, sorted_oids[1:], strict=False):
        if before == after:
            return after
    raise AssertionError("no duplicate")  # pragma: no cover


EMPTY_INDEX = OidIndex()
