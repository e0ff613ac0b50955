"""A real NRPE for tests: nrpe with a config of the test's own, the checks as nrpe's user
runs them, and check_nrpe. Runs on the host and in the qemu guest (no pytest here).

    home = user_dir(lab)                                  # a directory USER owns
    program = plugin_program(home, "check_snat")          # the console script, for USER
    commands = shipped_commands({"/usr/bin/check_snat": str(program)})   # deploy/'s lines
    start_nrpe(lab, ns, home, commands, "127.0.0.1")
    code, out = check_nrpe(ns, "127.0.0.1", "check_snat")

nrpe runs its commands as USER (Debian's nagios), as on a real load balancer. This venv's
Python may live where USER cannot read (pyenv under /root), so a check runs as its
console script would, with Debian's python3 of the same version and this venv's packages.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "nrpe-lvsmon.cfg"
USER = "nagios"  # Debian's nrpe user
CHECK_NRPE = "/usr/lib/nagios/plugins/check_nrpe"
SYSTEM_PYTHON = "/usr/bin/python3"
NRPE_PORT = 5666
_COMMAND = re.compile(r"command\[(?P<name>[^\]]+)\]=(?P<line>.*)")


def missing() -> str | None:
    """Why NRPE tests cannot run here, or None."""
    if not shutil.which("nrpe") or not Path(CHECK_NRPE).exists() or not shutil.which("setpriv"):
        return "needs Debian nagios-nrpe-server, nagios-nrpe-plugin and setpriv"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"needs the user {USER} (Debian nagios-nrpe-server)"
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    try:
        theirs = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print('%d.%d' % "
                                 "sys.version_info[:2])"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except OSError:
        theirs = None
    if theirs != ours:
        return f"needs {SYSTEM_PYTHON} {ours} (runs the checks as {USER})"
    return None


def as_user(argv: list[str]) -> list[str]:
    """argv run as USER, no capabilities: as nrpe runs a check."""
    return ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", *argv]


def user_dir(lab, name: str = "nrpe") -> Path:
    """A directory USER owns inside the lab's temp dir (root's, 0700: let USER through)."""
    entry = pwd.getpwnam(USER)
    os.chmod(lab.tmpdir, 0o711)
    path = Path(lab.tmpdir) / name
    path.mkdir()
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def plugin_program(directory: Path, name: str) -> Path:
    """An executable `directory/name` doing what the console script `name` does, for USER."""
    program = directory / name
    program.write_text(
        f"#!{SYSTEM_PYTHON}\n"
        "import site\n"
        "import sys\n"
        f"site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
        f"from lvsmon_nagios.{name} import main\n"
        "sys.exit(main())\n")
    program.chmod(0o755)
    return program


def shipped_commands(substitutions: dict[str, str], names: tuple[str, ...] | None = None
                     ) -> dict[str, str]:
    """The command[NAME]=LINE definitions of deploy/nrpe-lvsmon.cfg (comments skipped), with
    each word that is a key of `substitutions` replaced (paths of this machine)."""
    commands = {}
    for line in SHIPPED.read_text().splitlines():
        match = _COMMAND.fullmatch(line.strip())
        if match is None or (names is not None and match["name"] not in names):
            continue
        words = [substitutions.get(word, word) for word in match["line"].split()]
        commands[match["name"]] = " ".join(words)
    return commands


def start_nrpe(lab, ns, home: Path, commands: dict[str, str], address: str,
               allowed_hosts: str | None = None, port: int = NRPE_PORT):
    """nrpe in namespace `ns` on address:port, with these commands; returns its Process."""
    conf = home / "nrpe.cfg"
    conf.write_text(
        f"log_file={home / 'nrpe.log'}\n"
        "debug=1\n"
        f"pid_file={home / 'nrpe.pid'}\n"
        f"server_address={address}\n"
        f"server_port={port}\n"
        f"nrpe_user={USER}\n"
        f"nrpe_group={USER}\n"
        f"allowed_hosts={allowed_hosts or address}\n"
        "dont_blame_nrpe=0\n"
        "allow_bash_command_substitution=0\n"
        "command_timeout=60\n"
        "connection_timeout=120\n"
        + "".join(f"command[{name}]={line}\n" for name, line in commands.items()))
    nrpe = ns.spawn(["nrpe", "-c", str(conf), "-f"], name="nrpe")
    lab.wait_for(lambda: listening(ns, port), 30, what="nrpe listening")
    return nrpe


def listening(ns, port: int) -> bool:
    out = ns.run(["ss", "-Hltn", f"sport = :{port}"]).stdout
    return bool(out.strip())


def check_nrpe(ns, address: str, command: str, port: int = NRPE_PORT,
               timeout: int = 60) -> tuple[int, str]:
    """check_nrpe's exit code and stdout for `command`."""
    done = ns.run([CHECK_NRPE, "-H", address, "-p", str(port), "-c", command,
                   "-t", str(timeout)], check=False, timeout=timeout + 10)
    return done.returncode, done.stdout
