"""The guest is what the IPVS tests need: IPVS loaded, ipvsadm working, the project importable."""

import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCHEDULERS = ["rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "mh"]


def loaded_modules() -> set[str]:
    return {line.split()[0] for line in Path("/proc/modules").read_text().splitlines()}


def test_runs_the_debian_kernel_not_the_hosts():
    assert platform.release().endswith("-amd64"), platform.release()
    assert os.environ["LVSMON_IN_GUEST"] == "1"


def test_ip_vs_and_schedulers_are_loaded():
    modules = loaded_modules()
    assert "ip_vs" in modules
    assert "libcrc32c" in modules  # only loads after crc32c_generic
    missing = [s for s in SCHEDULERS if f"ip_vs_{s}" not in modules]
    assert not missing, f"schedulers not loaded: {missing}"
    assert Path("/proc/net/ip_vs").exists()


def test_ipvsadm_lists_the_empty_table():
    out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("IP Virtual Server version"), out
    assert len(out.splitlines()) == 3, out  # header only: nothing configured yet


def test_kernel_loads_further_modules_on_demand():
    # nlmon: a module nothing preloads and no other test uses. The kernel's own request
    # for it must go through the guest's modprobe and find the unpacked modules.
    assert "nlmon" not in loaded_modules()
    ns = f"lvsmon-guest-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "nl0", "type", "nlmon"], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)
    assert "nlmon" in loaded_modules()


def test_venv_python_imports_the_project():
    import pyroute2

    import lvsmon

    assert Path(lvsmon.__file__).resolve().is_relative_to(REPO)
    assert pyroute2.__version__
    assert Path(sys.prefix).name == ".venv", sys.prefix


def test_root_is_writable_and_host_tmp_is_visible(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("written in the guest")
    assert probe.read_text() == "written in the guest"
    assert Path(os.environ.get("TMPDIR", "/tmp")).is_dir()
