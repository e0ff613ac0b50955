"""The house rules of the design, checked on the source: data flows one way.

- The core (lvsmon/) never imports a frontend (lvsmon_exporter, lvsmon_snmp, lvsmon_nagios);
  frontends reach the CLI and the daemon through entry points (lvsmon.cli.plugins).
- The model (lvsmon/model/) is the shared vocabulary: it imports no source, frontend or CLI.
- The CLI starts without the frontends' libraries (prometheus_client, pysnmp, nagiosplugin).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRONTENDS = ("lvsmon_exporter", "lvsmon_snmp", "lvsmon_nagios")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("lvsmon"), ids=lambda p: str(p.relative_to(REPO)))
def test_the_core_imports_no_frontend(path):
    bad = {name for name in imports_of(path) if name.split(".")[0] in FRONTENDS}
    assert not bad, f"{path} imports a frontend: {sorted(bad)}"


@pytest.mark.parametrize("path", modules("lvsmon/model"), ids=lambda p: p.name)
def test_the_model_imports_only_the_model(path):
    ours = {name for name in imports_of(path) if name.split(".")[0].startswith("lvsmon")}
    bad = {name for name in ours if not name.startswith(("lvsmon.model", "lvsmon.errors"))}
    assert not bad, f"{path} imports beyond the model: {sorted(bad)}"


def test_the_cli_starts_without_the_frontends_libraries():
    code = (
        "import sys, lvsmon.cli; "
        "print(' '.join(sorted(m for m in ('prometheus_client', 'pysnmp', 'nagiosplugin') "
        "if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == ""
