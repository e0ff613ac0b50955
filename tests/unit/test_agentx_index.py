"""OidIndex and the Get / GetNext / GetBulk answers (RFC 2741 sections 7.2.3.1-7.2.3.3)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysnmp.proto import rfc1902

from lvsmon_snmp.agentx.answers import answer_get, answer_get_bulk, answer_get_next
from lvsmon_snmp.agentx.codec import SearchRange, VarBind, encode_varbind
from lvsmon_snmp.agentx.index import (
    EMPTY_INDEX,
    JoinedIndex,
    OidIndex,
    OidIndexError,
    RowIndex,
    join,
)
from lvsmon_snmp.agentx.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    SnmpValueError,
    Value,
    ValueType,
)

BASE = (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 7)
SCALAR = BASE + (1,)  # BASE.1.0
COLUMN_1 = BASE + (2, 1, 1)  # table BASE.2, entry .1, columns 1 and 2, rows 1..3
COLUMN_2 = BASE + (2, 1, 2)


def sample_index() -> OidIndex:
    entries = [(SCALAR + (0,), Value.octet_string("scalar"))]
    for row in (1, 2, 3):
        entries.append((COLUMN_1 + (row,), Value.integer32(row)))
        entries.append((COLUMN_2 + (row,), Value.counter64(row * 10)))
    random.Random(4).shuffle(entries)  # the index sorts them
    return OidIndex(entries, objects=[SCALAR, COLUMN_1, COLUMN_2])


INDEX = sample_index()
ORDER = [oid for oid, _ in INDEX]


def test_sorted_in_snmp_order():
    assert sorted(ORDER) == ORDER
    assert ORDER[0] == SCALAR + (0,)
    assert ORDER[1:4] == [COLUMN_1 + (row,) for row in (1, 2, 3)]
    assert len(INDEX) == 7 and (SCALAR + (0,)) in INDEX


def test_get_exact_and_missing():
    assert INDEX.get(SCALAR + (0,)) == Value.octet_string("scalar")
    assert INDEX.get(COLUMN_2 + (2,)) == Value.counter64(20)
    assert INDEX.get(COLUMN_2 + (9,)) is NO_SUCH_INSTANCE  # known column, no such row
    assert INDEX.get(SCALAR + (1,)) is NO_SUCH_INSTANCE
    assert INDEX.get(SCALAR) is NO_SUCH_INSTANCE  # the object itself has no value
    assert INDEX.get(BASE + (3, 0)) is NO_SUCH_OBJECT  # no such object at all
    assert INDEX.get(BASE) is NO_SUCH_OBJECT
    assert EMPTY_INDEX.get(SCALAR + (0,)) is NO_SUCH_OBJECT


def test_default_objects_are_the_parents():
    index = OidIndex([(SCALAR + (0,), Value.integer32(1))])
    assert index.get(SCALAR + (7,)) is NO_SUCH_INSTANCE
    assert index.get(BASE + (5, 0)) is NO_SUCH_OBJECT


def test_next_exclusive_inclusive_and_end():
    first = SCALAR + (0,)
    assert INDEX.next(first) == (COLUMN_1 + (1,), Value.integer32(1))
    assert INDEX.next(first, include=True) == (first, Value.octet_string("scalar"))
    assert INDEX.next(BASE, include=False)[0] == first  # from above the subtree
    assert INDEX.next(COLUMN_1 + (1, 5))[0] == COLUMN_1 + (2,)  # between two OIDs
    assert INDEX.next(COLUMN_2 + (3,)) is None  # past the last
    # end is exclusive: nothing at or after it
    assert INDEX.next(first, end=COLUMN_1 + (1,)) is None
    assert INDEX.next(first, end=COLUMN_1 + (1, 0))[0] == COLUMN_1 + (1,)
    assert INDEX.next(first, include=True, end=first) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=14).map(tuple), st.booleans(),
       st.one_of(st.just(()), st.lists(st.integers(0, 5), min_size=1, max_size=14).map(tuple)))
def test_next_agrees_with_a_scan(start, include, end):
    start, end = BASE + start, (BASE + end if end else ())
    expected = None
    for oid in ORDER:  # the definition, as a scan
        if (oid >= start if include else oid > start) and (not end or oid < end):
            expected = oid
            break
    found = INDEX.next(start, include, end)
    assert (found[0] if found else None) == expected


def test_build_errors():
    with pytest.raises(OidIndexError, match="given twice"):
        OidIndex([(SCALAR + (0,), Value.integer32(1)), ("1.3.6.1.4.1.8072.9999.9999.7.1.0",
                                                         Value.integer32(2))])
    with pytest.raises(OidIndexError, match="leave the OID out"):
        OidIndex([(SCALAR + (0,), NO_SUCH_INSTANCE)])
    with pytest.raises(SnmpValueError):
        OidIndex([(SCALAR + (0,), 5)])  # a bare int has no SNMP type


def test_pysnmp_values_are_accepted():
    index = OidIndex([(SCALAR + (0,), rfc1902.Counter64(2**40)),
                      (SCALAR + (1,), rfc1902.OctetString(b"x"))])
    assert index.get(SCALAR + (0,)) == Value.counter64(2**40)
    assert index.get(SCALAR + (1,)) == Value.octet_string(b"x")


# -- answers --------------------------------------------------------------------


def test_answer_get_names_each_request():
    ranges = (SearchRange(SCALAR + (0,)), SearchRange(COLUMN_1 + (9,)), SearchRange(BASE))
    assert answer_get(INDEX, ranges) == (
        VarBind(SCALAR + (0,), Value.octet_string("scalar")),
        VarBind(COLUMN_1 + (9,), NO_SUCH_INSTANCE),
        VarBind(BASE, NO_SUCH_OBJECT),
    )


def test_answer_get_next_with_end_of_mib_view_named_by_the_start():
    ranges = (SearchRange(BASE, BASE + (2,)), SearchRange(COLUMN_2 + (3,)),
              SearchRange(COLUMN_1 + (1,), include=True))
    assert answer_get_next(INDEX, ranges) == (
        VarBind(SCALAR + (0,), Value.octet_string("scalar")),
        VarBind(COLUMN_2 + (3,), END_OF_MIB_VIEW),
        VarBind(COLUMN_1 + (1,), Value.integer32(1)),
    )


def test_answer_get_bulk_non_repeaters_then_repetitions():
    ranges = (SearchRange(BASE),  # non-repeater
              SearchRange(COLUMN_1, COLUMN_2),  # walks column 1 only
              SearchRange(COLUMN_2))  # walks column 2
    answer = answer_get_bulk(INDEX, 1, 4, ranges)
    assert [vb.name for vb in answer] == [
        SCALAR + (0,),
        COLUMN_1 + (1,), COLUMN_2 + (1,),
        COLUMN_1 + (2,), COLUMN_2 + (2,),
        COLUMN_1 + (3,), COLUMN_2 + (3,),
        COLUMN_1 + (3,), COLUMN_2 + (3,),  # both ended: named by the last start, then stop
    ]  # fmt: skip
    assert [vb.value for vb in answer[-2:]] == [END_OF_MIB_VIEW, END_OF_MIB_VIEW]


def test_answer_get_bulk_edges():
    ranges = (SearchRange(BASE),)
    assert answer_get_bulk(INDEX, 5, 10, ranges) == answer_get_next(INDEX, ranges)  # N > ranges
    assert answer_get_bulk(INDEX, 0, 0, ranges) == ()  # no repetitions asked
    everything = answer_get_bulk(INDEX, 0, 100, ranges)
    assert [vb.name for vb in everything[:-1]] == ORDER
    assert everything[-1].value is END_OF_MIB_VIEW
    # The limit bounds the answer whatever max_repetitions says; one repetition at least.
    many = tuple(SearchRange(BASE) for _ in range(10))
    assert len(answer_get_bulk(INDEX, 0, 65535, many, limit=35)) == 30
    assert len(answer_get_bulk(INDEX, 0, 65535, many, limit=3)) == 10


def test_get_next_is_a_bisect_not_a_scan():
    entries = [(BASE + (1, number), Value.gauge32(number)) for number in range(50_000)]
    index = OidIndex(entries)
    comparisons = 0

    class Counting(tuple):
        def __lt__(self, other):
            nonlocal comparisons
            comparisons += 1
            return tuple.__lt__(self, other)

        def __gt__(self, other):
            nonlocal comparisons
            comparisons += 1
            return tuple.__gt__(self, other)

    start = Counting(BASE + (1, 25_000))
    assert index.next(start)[0] == BASE + (1, 25_001)
    assert comparisons <= 2 * 17  # log2(50,000) ~ 16


def test_wire_encodes_each_value_once():
    index = sample_index()
    varbind = VarBind(SCALAR + (0,), Value.octet_string("scalar"))
    first = index.wire(varbind)
    assert first == encode_varbind(varbind)
    assert index.wire(varbind) is first  # kept
    end = VarBind(BASE, END_OF_MIB_VIEW)
    assert index.wire(end) == encode_varbind(end)


# -- joined indexes -----------------------------------------------------------------

OTHER = (1, 3, 6, 1, 2, 1, 207)  # before BASE: parts come sorted whatever their order


def split_parts() -> list[OidIndex]:
    """INDEX cut in three (the scalar, column 1, column 2) plus a part elsewhere."""
    pairs = list(INDEX)
    return [OidIndex(pairs[4:], objects=[COLUMN_2]),
            OidIndex(pairs[:1], objects=[SCALAR]),
            OidIndex([(OTHER + (1, 0), Value.integer32(9))], objects=[OTHER + (1,)]),
            OidIndex(pairs[1:4], objects=[COLUMN_1]),
            OidIndex()]  # an empty part is left out


WHOLE = OidIndex([*INDEX, (OTHER + (1, 0), Value.integer32(9))],
                 objects=[SCALAR, COLUMN_1, COLUMN_2, OTHER + (1,)])
JOINED = join(split_parts())


def test_join_answers_as_one_index():
    assert isinstance(JOINED, JoinedIndex) and len(JOINED.parts) == 4
    assert list(JOINED) == list(WHOLE) and len(JOINED) == len(WHOLE)
    assert (COLUMN_1 + (2,)) in JOINED and (COLUMN_1 + (7,)) not in JOINED
    for oid, value in WHOLE:
        assert JOINED.get(oid) == value
    assert JOINED.get(COLUMN_2 + (9,)) is NO_SUCH_INSTANCE
    assert JOINED.get(BASE + (3, 0)) is NO_SUCH_OBJECT
    assert JOINED.get((1,)) is NO_SUCH_OBJECT  # before every part
    assert join([]) is EMPTY_INDEX


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=14).map(tuple), st.booleans(),
       st.one_of(st.just(()), st.lists(st.integers(0, 5), min_size=1, max_size=14).map(tuple)),
       st.booleans())
def test_joined_next_and_get_agree_with_the_whole(start, include, end, other):
    prefix = OTHER if other else BASE
    start, end = prefix + start, (BASE + end if end else ())
    assert JOINED.next(start, include, end) == WHOLE.next(start, include, end)
    assert JOINED.get(start) == WHOLE.get(start)
    assert answer_get_bulk(JOINED, 0, 50, (SearchRange(start, end, include),)) == \
        answer_get_bulk(WHOLE, 0, 50, (SearchRange(start, end, include),))


def test_joined_parts_keep_their_encoded_varbinds():
    parts = split_parts()
    varbind = VarBind(COLUMN_1 + (1,), Value.integer32(1))
    encoded = parts[3].wire(varbind)
    assert join(parts).wire(varbind) is encoded  # the part's own, encoded once


def test_overlapping_parts_are_merged_and_duplicates_refused():
    pairs = list(INDEX)
    merged = join([OidIndex(pairs[::2], objects=[SCALAR, COLUMN_1, COLUMN_2]),
                   OidIndex(pairs[1::2], objects=[SCALAR])])
    assert not isinstance(merged, JoinedIndex) and list(merged) == pairs
    assert merged.get(COLUMN_2 + (9,)) is NO_SUCH_INSTANCE
    with pytest.raises(OidIndexError, match="given twice"):
        join([OidIndex(pairs), OidIndex(pairs[:1])])


# -- indexes built from columns ------------------------------------------------------


def columns(pairs):
    pairs = list(pairs)
    return ([oid for oid, _ in pairs], [value.type for _, value in pairs],
            [value.data for _, value in pairs])


def test_row_index_answers_as_the_oid_index():
    pairs = list(INDEX)
    random.Random(5).shuffle(pairs)
    rows = RowIndex(*columns(pairs), objects=[SCALAR, COLUMN_1, COLUMN_2])
    assert list(rows) == list(INDEX) and len(rows) == len(INDEX)
    for oid, value in INDEX:
        assert rows.get(oid) == value and oid in rows
        assert rows.next(oid) == INDEX.next(oid)
    assert rows.get(COLUMN_2 + (9,)) is NO_SUCH_INSTANCE
    assert rows.get(BASE + (3, 0)) is NO_SUCH_OBJECT
    assert (COLUMN_2 + (9,)) not in rows
    varbind = VarBind(SCALAR + (0,), Value.octet_string("scalar"))
    assert rows.wire(varbind) is rows.wire(varbind)


@pytest.mark.parametrize(("oid", "kind", "data"), [
    (BASE + (-1,), ValueType.INTEGER, 1),
    (BASE + (2**32,), ValueType.INTEGER, 1),
    (BASE + (1.0,), ValueType.INTEGER, 1),
    ("1.3.6.1", ValueType.INTEGER, 1),
    ((), ValueType.INTEGER, 1),
    (BASE + (1,), ValueType.GAUGE32, -1),
    (BASE + (1,), ValueType.INTEGER, 2**31),
    (BASE + (1,), ValueType.COUNTER64, 1.5),
    (BASE + (1,), ValueType.OCTET_STRING, "text"),
    (BASE + (1,), ValueType.IP_ADDRESS, b"\x01\x02"),
    (BASE + (1,), ValueType.NO_SUCH_INSTANCE, None),
    (BASE + (1,), "Integer32", 1),
])  # fmt: skip
def test_row_index_leaves_out_what_does_not_fit(oid, kind, data):
    good = columns(INDEX)
    rejected = []
    rows = RowIndex([*good[0], oid], [*good[1], kind], [*good[2], data],
                    reject=lambda *row: rejected.append(row[:3]))
    assert rejected == [(oid, kind, data)]
    assert list(rows) == list(INDEX)  # the rest is served
    with pytest.raises(OidIndexError):
        RowIndex([oid], [kind], [data])


def test_row_index_with_new_data_on_the_same_oids_is_a_fresh_build():
    pairs = list(INDEX)
    random.Random(7).shuffle(pairs)
    oids, types, datas = columns(pairs)
    first = RowIndex(oids, types, datas, objects=[SCALAR, COLUMN_1, COLUMN_2])
    moved = [data + 1 if isinstance(data, int) else data + b"!" for data in datas]
    again = first.with_data(list(oids), types, moved)
    fresh = RowIndex(oids, types, moved, objects=[SCALAR, COLUMN_1, COLUMN_2])
    assert again is not None and list(again) == list(fresh) != list(first)
    assert again.get(COLUMN_2 + (9,)) is NO_SUCH_INSTANCE
    assert again.next(oids[0]) == fresh.next(oids[0])
    # Other OIDs, or the same in another order, or a value that does not fit: build anew.
    assert first.with_data(oids[1:], types[1:], moved[1:]) is None
    assert first.with_data(oids[::-1], types[::-1], moved[::-1]) is None
    bad = list(moved)
    bad[types.index(ValueType.INTEGER)] = 2**31
    assert first.with_data(list(oids), types, bad) is None
    # An index that left a row out has shifted positions: never reused.
    lacking = RowIndex([*oids, BASE + (1,)], [*types, ValueType.INTEGER], [*datas, -1 - 2**31],
                       reject=lambda *row: None)
    assert lacking.with_data([*oids, BASE + (1,)], [*types, ValueType.INTEGER],
                             [*datas, 1]) is None


def test_a_rebuild_keeps_the_encoded_varbinds_of_unchanged_rows_only():
    oids, types, datas = columns(list(INDEX))
    first = RowIndex(oids, types, datas)
    walked = {oid: first.next_wire(oid, include=True) for oid in oids}
    changed = next(position for position, data in enumerate(datas) if isinstance(data, int))
    moved = list(datas)
    moved[changed] += 1
    again = first.with_data(list(oids), types, moved)
    for position, oid in enumerate(oids):
        wire = again.next_wire(oid, include=True)
        assert wire == encode_varbind(VarBind(oid, again.get(oid)))
        if position == changed:
            assert wire != walked[oid]
        else:
            assert wire is walked[oid]  # carried over, not encoded again
    # Nothing walked yet: nothing to carry over, and the rebuild still answers right.
    cold = RowIndex(oids, types, datas).with_data(list(oids), types, moved)
    assert [cold.next_wire(oid, include=True) for oid in oids] == [
        again.next_wire(oid, include=True) for oid in oids]


def test_row_index_refuses_an_oid_given_twice_and_uneven_columns():
    with pytest.raises(OidIndexError, match="given twice"):
        RowIndex([BASE + (1,), BASE + (1,)], [ValueType.INTEGER] * 2, [1, 2])
    with pytest.raises(OidIndexError, match="columns"):
        RowIndex([BASE + (1,)], [], [])


# -- next() already encoded: the walk's path ------------------------------------------


def indexes_to_walk() -> dict[str, OidIndex]:
    pairs = list(INDEX)
    return {"oid": sample_index(),
            "rows": RowIndex(*columns(pairs), objects=[SCALAR, COLUMN_1, COLUMN_2]),
            "joined": join([OidIndex(pairs[:4], objects=[SCALAR, COLUMN_1]),
                            RowIndex(*columns(pairs[4:]), objects=[COLUMN_2])])}


# Every OID, points between them, before the first and after the last.
STARTS = [(), (1,), BASE, *ORDER, *(oid + (0,) for oid in ORDER), SCALAR, COLUMN_2,
          COLUMN_2 + (3, 0), BASE + (3,), (2,)]
ENDS = [(), (1,), *ORDER, *(oid + (0,) for oid in ORDER), COLUMN_2, BASE + (3,)]


@pytest.mark.parametrize("name", ["oid", "rows", "joined"])
def test_next_wire_is_next_encoded(name):
    index = indexes_to_walk()[name]
    assert isinstance(index, JoinedIndex) == (name == "joined")
    found_some = found_none = 0
    for start in STARTS:
        for include in (False, True):
            for end in ENDS:
                found = index.next(start, include, end)
                wire = index.next_wire(start, include, end)
                if found is None:
                    assert wire is None, (start, include, end)
                    found_none += 1
                else:
                    assert wire == encode_varbind(VarBind(*found)), (start, include, end)
                    found_some += 1
    assert found_some and found_none
    assert EMPTY_INDEX.next_wire(BASE) is None


@pytest.mark.parametrize("name", ["oid", "rows", "joined"])
def test_next_wire_encodes_each_value_once(name):
    index = indexes_to_walk()[name]
    for start in STARTS:
        first = index.next_wire(start)
        assert index.next_wire(start) is first
    # The walk and the other answers share the encoded varbinds.
    assert index.wire(VarBind(*index.next(BASE))) is index.next_wire(BASE)
