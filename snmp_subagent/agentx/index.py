"""OidIndex: an immutable, sorted map from OID to Value, built once per data snapshot.

    index = OidIndex([("1.3.6.1.4.1.8072.9999.1.0", Value.octet_string("lvsmon")),
                      ((1, 3, 6, 1, 4, 1, 8072, 9999, 2, 1, 7), Value.counter64(5))],
                     objects=["1.3.6.1.4.1.8072.9999.1", "1.3.6.1.4.1.8072.9999.2.1"])
    index.get((1, 3, 6, 1, 4, 1, 8072, 9999, 1, 0))     # a dict lookup
    index.next(start, include=False, end=())            # a bisect, never a scan
    index.next_wire(start, include=False, end=())       # the same, encoded (kept per index)
    joined = join([keepalived_vrrp, ipvs, lvsmon])      # one index over several, no copy

The session answers from whichever index it holds and swaps it by reference
(Subagent.update), so building a new one may take as long as it likes, in any
thread: no answer ever waits for it.

`objects` names the OBJECT-TYPEs (scalars and table columns) the index stands
for, so that a Get of a missing instance answers noSuchInstance and a Get
outside every object noSuchObject (RFC 2741 section 7.2.3.1). Left out, each
value's OID minus its last sub-identifier counts as its object: right for
scalars (x.0) and for tables with a one-number index.

RowIndex(oids, types, datas, objects, reject) is the same index built from three
columns (OIDs, ValueTypes, data), checked a column at a time with builtins (row by row
only when that finds a fault) and made Values only when asked for: several times faster
to build than Values up front, and made of tuples the garbage collector stops tracking,
which matters for tables of 100,000 values and more (IPVS: 1,000 services x 10 servers).

join(parts) answers several indexes over disjoint OID ranges as one (JoinedIndex),
so a data source that changes often (VRRP, twice a second) has its part rebuilt
while a large, slower one (the IPVS table) keeps its index and its encoded varbinds.
Parts whose ranges interleave are merged into one OidIndex instead.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain, compress, repeat
from operator import and_, eq

from lvsmon.errors import AgentxError
from lvsmon_snmp.agentx.codec import VarBind, encode_varbind
from lvsmon_snmp.agentx.oids import (
    MAX_SUBIDS,
    Oid,
    OidError,
    check_oid,
    format_oid,
    parse_oid,
)
from lvsmon_snmp.agentx.values import (
    BYTES_SIZES,
    EXCEPTIONS,
    INT_RANGES,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    SnmpValueError,
    Value,
    ValueType,
    check_data,
)


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
        return NO_SUCH_INSTANCE if self.under_object(oid) else NO_SUCH_OBJECT

    def under_object(self, oid: Oid) -> bool:
        """`oid` names an instance of one of this index's objects (scalar or column)."""
        objects = self._objects
        return any(oid[:length] in objects for length in range(len(oid), 0, -1))

    @property
    def objects(self) -> frozenset[Oid]:
        """The OBJECT-TYPEs this index stands for (see the module docstring)."""
        return self._objects

    @property
    def first(self) -> Oid:
        return self._oids[0]

    @property
    def last(self) -> Oid:
        return self._oids[-1]

    def next(self, start: Oid, include: bool = False, end: Oid = ()) -> tuple[Oid, Value] | None:
        """The first (oid, value) after `start` (or at it, if `include`) and before `end`
        (() for no end); None if the range holds nothing."""
        position = self._following(start, include, end)
        return None if position is None else (self._oids[position], self._value(position))

    def next_wire(self, start: Oid, include: bool = False, end: Oid = ()) -> bytes | None:
        """next(), encoded as a Response carries it: the walk's path, which makes no Value
        once a varbind has been encoded."""
        position = self._following(start, include, end)
        if position is None:
            return None
        found = self._oids[position]
        wire = self._wire.get(found)
        if wire is None:
            wire = self._wire[found] = encode_varbind(VarBind(found, self._value(position)))
        return wire

    def _following(self, start: Oid, include: bool, end: Oid) -> int | None:
        """The position next() answers from (a bisect), or None."""
        oids = self._oids
        position = bisect_left(oids, start) if include else bisect_right(oids, start)
        if position == len(oids) or (end and oids[position] >= end):
            return None
        return position

    def _value(self, position: int) -> Value:
        return self._values[position]

    def wire(self, varbind: VarBind) -> bytes:
        """`varbind` encoded for a Response; this index's own values are encoded once and
        kept (a walk asks for each of them again and again, the index never changes)."""
        if varbind.value.is_exception:
            return encode_varbind(varbind)
        found = self._wire.get(varbind.name)
        if found is None:
            found = self._wire[varbind.name] = encode_varbind(varbind)
        return found


class RowIndex(OidIndex):
    """An OidIndex from three columns: OIDs, ValueTypes and data (see the module docstring).

    Each row is checked here: the OID a tuple of 1..128 ints in 0..2^32-1, the data
    fitting its type (values.check_data), no OID twice. A row that fails goes to
    `reject(oid, type, data, error)` and is left out; without `reject` it raises
    OidIndexError. Get is a bisect here too (no dict of every OID: walks need none).
    """

    __slots__ = ("_types", "_datas", "_given", "_order")

    def __init__(self, oids: Iterable[Oid] = (), types: Iterable[ValueType] = (),
                 datas: Iterable[object] = (), objects: Iterable[Oid | str] | None = None,
                 reject=None):
        oids, types, datas = list(oids), list(types), list(datas)
        if not len(oids) == len(types) == len(datas):
            raise OidIndexError(f"columns of {len(oids)} OIDs, {len(types)} types and "
                                f"{len(datas)} values")
        try:
            fit = _oids_fit(oids) and _datas_fit(types, datas)
        except (TypeError, ValueError, OverflowError):
            fit = False
        # Kept for with_data(): the OIDs as given and their sorted order (none if rows were
        # left out, which shifted the positions).
        self._given = oids if fit else None
        if not fit:  # then find the culprits, row by row
            oids, types, datas = _checked_rows(oids, types, datas, reject)
        order = self._order = sorted(range(len(oids)), key=oids.__getitem__)
        oids = self._oids = tuple(map(oids.__getitem__, order))
        if any(map(eq, oids, oids[1:])):
            raise OidIndexError(f"OID given twice: {format_oid(_first_duplicate(oids))}")
        self._types = list(map(types.__getitem__, order))
        self._datas = list(map(datas.__getitem__, order))
        self._by_oid = self._values = None  # not kept: Values are made when asked
        self._wire = {}
        self._objects = frozenset(
            (oid[:-1] for oid in oids) if objects is None
            else (parse_oid(oid) for oid in objects))  # fmt: skip

    def with_data(self, oids: list, types: list, datas: list) -> RowIndex | None:
        """The index of the same OIDs, given in the same order, with new types and data:
        the sort and the OID checks of a first build skipped (a VRRP table rebuilt twice a
        second changes its counters, rarely its rows). None if the OIDs are not the same
        or a value does not fit: then build a new RowIndex."""
        if self._given is None or self._given != oids:
            return None
        try:
            if not _datas_fit(types, datas):
                return None
        except (TypeError, ValueError, OverflowError):
            return None
        index = RowIndex.__new__(RowIndex)
        order = index._order = self._order
        index._given, index._oids, index._objects = oids, self._oids, self._objects
        index._types = list(map(types.__getitem__, order))
        index._datas = list(map(datas.__getitem__, order))
        index._by_oid = index._values = None
        index._wire = self._unchanged_wire(index._types, index._datas)
        return index

    def _unchanged_wire(self, types: list, datas: list) -> dict[Oid, bytes]:
        """The encoded varbinds of the rows whose type and data stay the same in a rebuild
        (most of a VRRP table between two snapshots): the next walk need not encode them
        again. Only looks up in the old dict, which the answering thread may be filling."""
        old = self._wire
        if not old:
            return {}
        same = map(and_, map(eq, self._types, types), map(eq, self._datas, datas))
        return {oid: old[oid] for oid in compress(self._oids, same) if oid in old}

    def __iter__(self) -> Iterator[tuple[Oid, Value]]:
        checked, types, datas = Value.checked, self._types, self._datas
        return ((oid, checked(types[n], datas[n])) for n, oid in enumerate(self._oids))

    def __contains__(self, oid: object) -> bool:
        return self._position(oid) is not None

    def __repr__(self) -> str:
        return f"<RowIndex of {len(self)} values>"

    def _position(self, oid) -> int | None:
        oids = self._oids
        position = bisect_left(oids, oid)
        return position if position < len(oids) and oids[position] == oid else None

    def _value(self, position: int) -> Value:
        return Value.checked(self._types[position], self._datas[position])

    def get(self, oid: Oid) -> Value:
        position = self._position(oid)
        if position is not None:
            return self._value(position)
        return NO_SUCH_INSTANCE if self.under_object(oid) else NO_SUCH_OBJECT


def _oids_fit(oids: list) -> bool:
    """Every OID is fine, checked with builtins (no Python code per row, which is what makes
    a table of 400,000 values quick)."""
    if not oids:
        return True
    if set(map(type, oids)) != {tuple}:
        return False
    lengths = set(map(len, oids))
    if min(lengths) < 1 or max(lengths) > MAX_SUBIDS:
        return False
    # An unsigned 32-bit array takes ints in 0..2^32-1 only (OverflowError, TypeError).
    array("I", chain.from_iterable(oids))
    return True


def _datas_fit(types: list, datas: list) -> bool:
    """Every row's data fits its type, checked a type at a time with builtins."""
    for kind in set(types):
        kind_datas = list(compress(datas, map(eq, repeat(kind), types)))
        if kind in INT_RANGES:
            low, high = INT_RANGES[kind]
            if set(map(type, kind_datas)) != {int} or min(kind_datas) < low or (
                    max(kind_datas) > high):
                return False
        elif kind in BYTES_SIZES:
            low, high = BYTES_SIZES[kind]
            if set(map(type, kind_datas)) != {bytes} or min(map(len, kind_datas)) < low or (
                    max(map(len, kind_datas)) > high):
                return False
        else:  # object identifiers and anything else: the thorough check
            return False
    return True


def _checked_rows(oids: list, types: list, datas: list, reject) -> tuple[list, list, list]:
    kept: tuple[list, list, list] = ([], [], [])
    for oid, kind, data in zip(oids, types, datas, strict=True):
        try:
            _check_row(oid, kind, data)
        except (AgentxError, TypeError, ValueError) as exc:
            if reject is None:
                raise OidIndexError(f"{oid!r} = {data!r}: {exc}") from None
            reject(oid, kind, data, exc)
            continue
        kept[0].append(oid)
        kept[1].append(kind)
        kept[2].append(data)
    return kept


def _check_row(oid, kind, data) -> None:
    """The thorough check of one row."""
    if type(oid) is not tuple:
        raise OidError(f"{oid!r} is not a tuple of sub-identifiers")
    check_oid(oid)
    if set(map(type, oid)) != {int}:
        raise OidError(f"{oid!r}: sub-identifiers must be ints")
    if not isinstance(kind, ValueType) or kind in EXCEPTIONS:
        raise SnmpValueError(f"{kind!r} is no value type to serve")
    check_data(kind, data)


class JoinedIndex(OidIndex):
    """Several OidIndexes whose OID ranges do not overlap, answered as one index.

    Get finds the part by a bisect over the parts' first OIDs, GetNext goes on to the
    next part when one is exhausted; each part keeps its own encoded varbinds. Build it
    with join(), which checks the ranges.
    """

    __slots__ = ("_parts", "_firsts", "_lasts", "_size")

    def __init__(self, parts: Iterable[OidIndex]):
        flat = chain.from_iterable(part.parts if isinstance(part, JoinedIndex) else (part,)
                                   for part in parts)  # fmt: skip
        self._parts = tuple(sorted((part for part in flat if len(part)),
                                   key=lambda part: part.first))  # fmt: skip
        for before, after in zip(self._parts, self._parts[1:], strict=False):
            if before.last >= after.first:
                raise OidIndexError(f"parts overlap at {format_oid(after.first)}")
        self._firsts = tuple(part.first for part in self._parts)
        self._lasts = tuple(part.last for part in self._parts)
        self._size = sum(len(part) for part in self._parts)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[tuple[Oid, Value]]:
        return chain.from_iterable(self._parts)

    def __contains__(self, oid: object) -> bool:
        part = self._part_of(oid)
        return part is not None and oid in part

    def __repr__(self) -> str:
        return f"<JoinedIndex of {self._size} values in {len(self._parts)} parts>"

    @property
    def parts(self) -> tuple[OidIndex, ...]:
        return self._parts

    @property
    def first(self) -> Oid:
        return self._firsts[0]

    @property
    def last(self) -> Oid:
        return self._lasts[-1]

    def _part_of(self, oid) -> OidIndex | None:
        position = bisect_right(self._firsts, oid) - 1
        return self._parts[position] if position >= 0 else None

    def get(self, oid: Oid) -> Value:
        part = self._part_of(oid)
        if part is not None and oid in part:
            return part.get(oid)
        if any(part.under_object(oid) for part in self._parts):
            return NO_SUCH_INSTANCE
        return NO_SUCH_OBJECT

    def under_object(self, oid: Oid) -> bool:
        return any(part.under_object(oid) for part in self._parts)

    @property
    def objects(self) -> frozenset[Oid]:
        return frozenset().union(*(part.objects for part in self._parts))

    def _parts_from(self, start: Oid, end: Oid) -> Iterator[OidIndex]:
        """The parts that may hold what follows `start` before `end`, in order."""
        parts = self._parts
        for position in range(bisect_left(self._lasts, start), len(parts)):
            part = parts[position]
            if end and part.first >= end:
                return
            yield part

    def next(self, start: Oid, include: bool = False, end: Oid = ()) -> tuple[Oid, Value] | None:
        for part in self._parts_from(start, end):
            found = part.next(start, include, end)
            if found is not None:
                return found
        return None

    def next_wire(self, start: Oid, include: bool = False, end: Oid = ()) -> bytes | None:
        for part in self._parts_from(start, end):
            found = part.next_wire(start, include, end)
            if found is not None:
                return found
        return None

    def wire(self, varbind: VarBind) -> bytes:
        part = self._part_of(varbind.name)
        if part is None or varbind.value.is_exception:
            return encode_varbind(varbind)
        return part.wire(varbind)


def join(parts: Iterable[OidIndex]) -> OidIndex:
    """One index answering for all `parts`: a JoinedIndex when their ranges are disjoint
    (the usual case), else one OidIndex merged from them (OidIndexError on a duplicate)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return EMPTY_INDEX
    try:
        return JoinedIndex(parts)
    except OidIndexError:
        return OidIndex(heapq.merge(*parts, key=lambda pair: pair[0]),
                        objects=chain.from_iterable(part.objects for part in parts))


def _first_duplicate(sorted_oids: tuple[Oid, ...]) -> Oid:
    for before, after in zip(sorted_oids, sorted_oids[1:], strict=False):
        if before == after:
            return after
    raise AssertionError("no duplicate")  # pragma: no cover


EMPTY_INDEX = OidIndex()
