"""keepalived.conf, read as keepalived 2.2 reads it, into lvsmon.model.KeepalivedConf.

    read_config("/etc/keepalived/keepalived.conf")             # config id: short host name
    read_config(path, config_id="lb1")                          # as `keepalived -i lb1`

The layers, each its own module: ``reader`` (files, includes, comments,
conditionals, definitions, sequences: keepalived's line reading), ``tree``
(keywords and their { } blocks), then ``vrrp_conf`` and ``lvs_conf`` (the
keywords lvsmon uses, with keepalived's defaults). Every other keyword is
skipped and counted in ``KeepalivedConf.skipped_keywords``; what keepalived
would correct or ignore is in ``warnings``. A broken file, or a bad value in a
keyword lvsmon uses, raises ``KeepalivedConfigError`` naming the file and line;
nothing else is raised for bad input.
"""

from __future__ import annotations

import os

from lvsmon.keepalived.lvs_conf import LvsReader
from lvsmon.keepalived.reader import ConfigReader
from lvsmon.keepalived.tree import build_tree
from lvsmon.keepalived.values import Notes
from lvsmon.keepalived.vrrp_conf import VrrpReader
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.keepalived import KeepalivedConf

__all__ = ["DEFAULT_CONFIG", "default_config_id", "read_config"]

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def default_config_id() -> str:
    """keepalived's default for ``-i``: the node name up to its first dot."""
    return os.uname().nodename.split(".", 1)[0]


def read_config(path: str = DEFAULT_CONFIG, config_id: str | None = None) -> KeepalivedConf:
    config_id = default_config_id() if config_id is None else config_id
    reader = ConfigReader(path, config_id)
    statements = build_tree(reader.lines())
    notes = Notes()
    vrrp = VrrpReader(notes)
    lvs = LvsReader(notes)
    roots = {
        "global_defs": vrrp.global_defs,
        "vrrp_script": vrrp.vrrp_script,
        "vrrp_instance": vrrp.vrrp_instance,
        "vrrp_sync_group": vrrp.vrrp_sync_group,
        "virtual_server_group": lvs.virtual_server_group,
        "virtual_server": lvs.virtual_server,
        "track_file": lvs.track_file,
        "vrrp_track_file": lvs.track_file,
    }
    for statement in statements:
        handler = roots.get(statement.keyword)
        if handler is None:
            notes.skip(statement.keyword)
        else:
            handler(statement)
    instances = vrrp.instances()
    sync_groups = vrrp.sync_groups()
    virtual_servers = lvs.virtual_servers()
    return KeepalivedConf(
        source=path,
        config_id=config_id,
        files=tuple(reader.files),
        router_id=vrrp.globals.router_id,
        vrrp_instances=instances,
        vrrp_sync_groups=sync_groups,
        virtual_server_groups=lvs.groups(),
        virtual_servers=virtual_servers,
        track_files=tuple(lvs.track_files),
        skipped_keywords=FrozenDict(sorted(notes.skipped.items())),
        warnings=tuple(reader.warnings + notes.warnings),
    )
