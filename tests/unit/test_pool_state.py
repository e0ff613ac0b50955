"""The drain state file: real files in a temp dir."""

import json
import stat

import pytest

from lvsmon.errors import LvsmonError, NotFound
from lvsmon.model import IpvsTable, RealServer, ServiceKey, VirtualService
from lvsmon.pool import DrainState, DrainTarget, find_real_server

KEY = ServiceKey("tcp", "inet", "10.0.0.1", 80)
TARGET = DrainTarget(KEY, "10.0.1.2", 80)


def test_state_is_written_atomically_with_tight_permissions(tmp_path):
    state = DrainState(tmp_path / "state")
    with state.locked() as entries:
        entries[TARGET.state_key] = {"weight": 7}
    assert json.loads(state.path.read_text()) == {"tcp:10.0.0.1:80 10.0.1.2:80": {"weight": 7}}
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.directory.stat().st_mode) == 0o700
    assert not state.path.with_suffix(".tmp").exists()
    with state.locked() as entries:
        assert entries[TARGET.state_key]["weight"] == 7
        del entries[TARGET.state_key]
    assert json.loads(state.path.read_text()) == {}


def test_an_exception_inside_the_block_writes_nothing(tmp_path):
    state = DrainState(tmp_path)
    with pytest.raises(RuntimeError), state.locked() as entries:
        entries["x"] = {"weight": 1}
        raise RuntimeError("boom")
    assert not state.path.exists()


def test_corrupt_state_is_a_clear_error_and_is_kept(tmp_path):
    state = DrainState(tmp_path)
    state.path.write_text("{not json")
    with pytest.raises(LvsmonError, match="unreadable drain state"), state.locked():
        pass
    assert state.path.read_text() == "{not json"


def _table():
    rs = RealServer("10.0.1.2", 80, "masq", 3, 0, 0)
    return IpvsTable("netlink", 0.0, services=(VirtualService(KEY, "wrr", real_servers=(rs,)),))


def test_find_real_server_names_what_exists():
    assert find_real_server(_table(), TARGET).weight == 3
    with pytest.raises(NotFound, match=r"no real server 10.0.1.9:80 .*10.0.1.2:80"):
        find_real_server(_table(), DrainTarget(KEY, "10.0.1.9", 80))
    other = DrainTarget(ServiceKey("udp", "inet", "10.0.0.1", 80), "10.0.1.2", 80)
    with pytest.raises(NotFound, match=r"no virtual service udp:10.0.0.1:80.*tcp:10.0.0.1:80"):
        find_real_server(_table(), other)
