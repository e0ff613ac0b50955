"""The [snat] table: read through lvsmon.config, every key checked, shared file with the daemon."""

import pytest

from lvsmon import config as daemon_config
from lvsmon.config import ConfigError
from lvsmon.snat.config import SnatConfig, load_config


def write(tmp_path, text):
    path = tmp_path / "lvsmon.toml"
    path.write_text(text)
    return path


def test_values_and_empty_paths(tmp_path):
    path = write(
        tmp_path,
        '[snat]\nstore = "/srv/snat.db"\njsonl = ""\nreceive_buffer_bytes = 8192\n'
        "retention_days = 30\nreliable_delivery = false\n",
    )
    config = load_config(path)
    assert config.store == "/srv/snat.db"
    assert config.jsonl is None
    assert config.receive_buffer_bytes == 8192
    assert config.retention_days == 30.0 and isinstance(config.retention_days, float)
    assert config.reliable_delivery is False
    assert load_config(None) == SnatConfig()


@pytest.mark.parametrize(
    "line, message",
    [
        ('receive_buffer_bytes = "big"', 'receive_buffer_bytes: "big" must be a whole number'),
        ("receive_buffer_bytes = 100", "receive_buffer_bytes: 100 is below 4096"),
        ("reliable_delivery = 1", "reliable_delivery: 1 must be true or false"),
        ("retention_days = true", "retention_days: true must be a number"),
        ("store = 5", 'store: 5 must be a path, or "" to switch it off'),
        ("colour = 1", "colour: unknown key (known: node, store, jsonl"),
    ],
)
def test_bad_values_name_file_line_section_and_key(tmp_path, line, message):
    path = write(tmp_path, f"# the recorder\n[snat]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:3: [snat] {message}")


def test_every_bad_value_at_once(tmp_path):
    path = write(tmp_path, '[snat]\nnode = 1\nstore = "/x"\nretention_days = -1\nflush = 1\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == (
        f"{path}:2: [snat] node: 1 must be text",
        f"{path}:4: [snat] retention_days: -1 is below 0",
        f"{path}:5: [snat] flush: unknown key (known: node, store, jsonl, syslog, "
        "syslog_facility, status_file, receive_buffer_bytes, reliable_delivery, "
        "record_destinations, enable_conntrack_accounting, retention_days, "
        "flush_interval_seconds, redump_min_interval_seconds, max_pending_records)",
    )


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[snat\n"))


def test_one_file_serves_the_daemon_and_the_recorder(tmp_path):
    path = write(tmp_path, '[ipvs]\ninterval = 2\n[snat]\nnode = "lb1"\n')
    assert daemon_config.load(path).ipvs.interval == 2
    assert load_config(path).node == "lb1"
