"""lvsmon.model.codec: every model type goes to JSON and comes back equal; bad JSON is refused
with the path of what is wrong, never read as a default."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvsmon.errors import SnapshotDecodeError
from lvsmon.model import IpvsTable, ServiceKey, SnatConnection, VirtualService
from lvsmon.model.codec import from_json, to_json
from lvsmon.model.daemon import DaemonInfo, DaemonState, SourceState
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.snat import RecorderStatus, SnatStatus
from lvsmon.model.vrrp import ObserverSnapshot, ParticipantSnapshot

# JSON has no NaN or infinity worth round-tripping, and text keys only.
st.register_type_strategy(float, st.floats(allow_nan=False, allow_infinity=False))
st.register_type_strategy(
    FrozenDict,
    lambda kind: st.dictionaries(
        st.text(max_size=8), st.from_type(kind.__args__[1]) if kind.__args__ else st.integers(),
        max_size=3,
    ).map(FrozenDict),
)


def sources(kind):
    return st.builds(
        SourceState, enabled=st.booleans(), snapshot=st.none() | st.from_type(kind),
        error=st.none() | st.text(), error_since=st.none() | st.from_type(float),
        last_success=st.none() | st.from_type(float), attempts=st.integers(0),
        failures=st.integers(0),
    )  # fmt: skip


def through_json(kind, value):
    text = json.dumps(to_json(value))
    return from_json(kind, json.loads(text))


@settings(max_examples=40, deadline=None)
@given(st.builds(
    DaemonState, daemon=st.from_type(DaemonInfo), vrrp=sources(ObserverSnapshot),
    participant=sources(ParticipantSnapshot), ipvs=sources(IpvsTable),
))  # fmt: skip
def test_the_daemon_state_comes_back_equal(state):
    assert through_json(DaemonState, state) == state


@settings(max_examples=60, deadline=None)
@given(st.from_type(SnatConnection) | st.from_type(RecorderStatus) | st.from_type(SnatStatus))
def test_snat_values_come_back_equal(value):
    assert through_json(type(value), value) == value


def test_services_are_flat_with_their_spelling_and_extras_are_ignored_on_read():
    service = VirtualService(ServiceKey("tcp", "inet", "10.0.0.1", 80), "wlc")
    document = to_json(service)
    assert document["protocol"] == "tcp" and document["address"] == "10.0.0.1"
    assert document["service"] == "tcp:10.0.0.1:80" and "key" not in document
    assert from_json(VirtualService, document) == service


@pytest.mark.parametrize("change, where", [
    (lambda d: d.pop("pid"), "daemon.pid: missing"),
    (lambda d: d.update(pid="7"), "daemon.pid: expected an integer, got '7'"),
    (lambda d: d.update(pid=True), "daemon.pid: expected an integer, got True"),
    (lambda d: d.update(config_path=5), "daemon.config_path: expected a string or null"),
])  # fmt: skip
def test_a_wrong_field_names_its_path(change, where):
    document = to_json(DaemonState(DaemonInfo("1.0", 7, 1.0, 2.0)))
    change(document["daemon"])
    with pytest.raises(SnapshotDecodeError) as raised:
        from_json(DaemonState, document)
    assert where in str(raised.value)


def test_a_list_where_an_object_belongs_is_refused():
    with pytest.raises(SnapshotDecodeError, match="the document: expected an object"):
        from_json(DaemonState, [])
    with pytest.raises(SnapshotDecodeError, match=r"ipvs\.snapshot\.services: expected a list"):
        document = to_json(DaemonState(DaemonInfo("1.0", 7, 1.0, 2.0),
                                       ipvs=SourceState(True, IpvsTable("netlink", 1.0))))
        document["ipvs"]["snapshot"]["services"] = {}
        from_json(DaemonState, document)


def test_frozen_dict_is_read_only_and_hashable():
    counts = FrozenDict(a=1)
    with pytest.raises(TypeError):
        counts["b"] = 2  # type: ignore[index]
    assert hash(counts) == hash(FrozenDict({"a": 1})) and counts == {"a": 1}
