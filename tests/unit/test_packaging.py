"""setup.cfg lists every package, so a plain (non-editable) install is complete."""

import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _config():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return config


def test_every_package_folder_is_listed():
    config = _config()
    listed = set(config["options"]["packages"].split())
    mapping = dict(
        line.split(" = ") for line in config["options"]["package_dir"].strip().splitlines()
    )
    on_disk = set()
    for name, folder in mapping.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            on_disk.add(".".join((name, *relative)))
    assert listed == on_disk


def test_no_generic_top_level_names():
    listed = _config()["options"]["packages"].split()
    tops = {name.split(".")[0] for name in listed}
    assert all(top == "lvsmon" or top.startswith("lvsmon_") for top in tops), tops
