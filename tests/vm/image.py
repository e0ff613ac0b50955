"""Build and cache the guest image: a Debian kernel with IPVS and a busybox initramfs.

The host kernel has no IPVS, so IPVS tests boot Debian's stock kernel under qemu.
This module fetches the kernel package that `linux-image-amd64` depends on,
unpacks it with `dpkg -x` (it is never installed on the host), runs
`depmod -b` on the tree, and writes an initramfs whose /init mounts the host's
root (shared read-only over 9p) under a writable overlay and runs one job.

Everything lands in a cache outside the repo, built once per machine:

    /var/cache/lvsmon-vm/            (or $LVSMON_VM_CACHE)
        kernel-<version>/root/       dpkg -x tree: boot/vmlinuz-*, lib/modules/<version>
        initrd-<version>-<hash>.cpio the initramfs; <hash> covers everything baked in

Each piece is built in a temporary name and renamed into place, so a build that
was killed half way leaves only a temporary that the next build removes.

Run `python -m tests.vm.image` to build (or just report) the image.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "LVSMON_VM_CACHE"
DEFAULT_CACHE = Path("/var/cache/lvsmon-vm")
KERNEL_META_PACKAGE = "linux-image-amd64"

# Program -> Debian package that provides it.
NEEDED_PROGRAMS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "cpio": "cpio",
    "depmod": "kmod",
    "apt-get": "apt",
    "dpkg": "dpkg",
}
BUSYBOX_STATIC = Path("/bin/busybox")  # busybox-static; the guest has no libc of its own

# Loaded from the initramfs with insmod, before the host root is reachable.
EARLY_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]

# Loaded with the host's modprobe once the host root is mounted. CRC32C_FIRST goes
# alone and first: libcrc32c (which ip_vs needs) fails to load without it.
CRC32C_FIRST = "crc32c_generic"
GUEST_MODULES = [
    "ip_vs",
    "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "ip_vs_dh",
    "ip_vs_sed", "ip_vs_nq", "ip_vs_fo", "ip_vs_ovf", "ip_vs_lblc", "ip_vs_lblcr", "ip_vs_mh",
    "nf_conntrack", "veth", "bridge", "sctp", "ipip", "ip6_tunnel",
    "nf_tables", "nft_chain_nat", "nft_ct", "nfnetlink",
]

GUEST_TAG_HOSTROOT = "hostroot"
GUEST_TAG_JOB = "lvsmonjob"
GUEST_JOB_DIR = "/run/lvsmon-vm"  # where the job share appears inside the guest's root


class ImageError(RuntimeError):
    """The guest image cannot be built; the message says what to do."""


@dataclass(frozen=True)
class Image:
    kernel: Path  # for qemu -kernel: the unpacked ELF vmlinux (PVH boot) or else the bzImage
    initrd: Path  # cpio archive for qemu -initrd
    version: str  # kernel release, e.g. 6.1.0-56-amd64
    modules: Path  # <tree>/lib/modules/<version> on the host (shared into the guest)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def say(message: str) -> None:
    print(f"vm-image: {message}", file=sys.stderr, flush=True)


def check_host_packages() -> None:
    missing = sorted(
        {pkg for prog, pkg in NEEDED_PROGRAMS.items() if shutil.which(prog) is None}
        | ({"busybox-static"} if not _is_static_busybox(BUSYBOX_STATIC) else set())
    )
    if missing:
        raise ImageError(
            f"missing Debian packages for the IPVS test VM: {' '.join(missing)}; "
            "run scripts/bootstrap (as root)"
        )


def _is_static_busybox(path: Path) -> bool:
    """True if path is a busybox that runs without shared libraries."""
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    # A dynamic ELF names its interpreter (/lib64/ld-linux...) near the start.
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head


# --- kernel ---------------------------------------------------------------


def _kernel_trees(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("kernel-*") if (p / "root").is_dir())


def _tree_version(tree: Path) -> str:
    versions = [p.name for p in (tree / "root/lib/modules").iterdir() if p.is_dir()]
    if len(versions) != 1:
        raise ImageError(f"{tree}: expected one kernel under lib/modules, found {versions}")
    return versions[0]


def _kernel_package_name() -> str:
    """The versioned kernel package that linux-image-amd64 depends on."""
    for attempt in range(2):
        out = subprocess.run(
            ["apt-cache", "depends", KERNEL_META_PACKAGE],
            capture_output=True, text=True, check=False,
        )
        for line in out.stdout.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "Depends" and value.strip().startswith("linux-image-"):
                return value.strip()
        if attempt == 0:
            # A machine whose packages were all there already may never have fetched
            # the package lists: fetch them once and ask again.
            print("vm image: apt-get update (package lists lack the kernel)", flush=True)
            subprocess.run(["apt-get", "update", "-q"], check=False)
    raise ImageError(
        f"apt-cache does not know {KERNEL_META_PACKAGE} ({out.stderr.strip() or 'no Depends'}); "
        "run apt-get update, or scripts/bootstrap"
    )


def build_kernel_tree(cache: Path) -> Path:
    package = _kernel_package_name()
    work = Path(tempfile.mkdtemp(prefix=".tmp-kernel-", dir=cache))
    try:
        say(f"downloading {package} (dependency of {KERNEL_META_PACKAGE})")
        # The download dir is private to root, so tell apt not to switch to the _apt user.
        subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package],
                       cwd=work, check=True)
        debs = list(work.glob("*.deb"))
        if len(debs) != 1:
            raise ImageError(f"apt-get download {package} gave {debs}")
        say(f"unpacking {debs[0].name} with dpkg -x (not installing it)")
        subprocess.run(["dpkg", "-x", str(debs[0]), str(work / "root")], check=True)
        debs[0].unlink()
        version = _tree_version(work)
        say(f"depmod -b for {version}")
        subprocess.run(["depmod", "-b", str(work / "root"), version], check=True)
        final = cache / f"kernel-{version}"
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
        return final
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def ensure_vmlinux(tree: Path, version: str) -> Path:
    """Unpack the ELF kernel from the bzImage once: qemu boots it directly (PVH), which saves
    the ~3 s that decompressing xz takes under TCG. Falls back to the bzImage."""
    bzimage = tree / "root/boot" / f"vmlinuz-{version}"
    vmlinux = tree / "vmlinux"
    if vmlinux.exists():
        return vmlinux
    data = bzimage.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        return bzimage
    say(f"unpacking the ELF kernel from {bzimage.name} for a faster boot")
    try:
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    except lzma.LZMAError:
        return bzimage
    if not elf.startswith(b"\x7fELF"):
        return bzimage
    tmp = tree / ".tmp-vmlinux"
    tmp.write_bytes(elf)
    tmp.rename(vmlinux)
    return vmlinux


# --- initramfs --------------------------------------------------------------


def _module_load_order(modules: Path, names: list[str]) -> list[str]:
    """Module paths (relative to modules/) in an order insmod accepts: dependencies first."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (modules / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        by_name[Path(path).name.split(".ko")[0].replace("-", "_")] = path
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        # modules.dep lists a module's dependencies with the deepest last.
        for dep in reversed(deps[path]):
            visit(dep)
        order.append(path)

    for name in names:
        if name not in by_name:
            raise ImageError(f"kernel has no module {name} (is it built in?)")
        visit(by_name[name])
    return order


def _init_script(version: str, modules: Path) -> str:
    """The guest's /init: mount the host root with a writable overlay, run the job, power off."""
    nine_p = "trans=virtio,version=9p2000.L,msize=262144"
    return f"""#!/bin/busybox sh
# lvsmon test VM init (generated by tests/vm/image.py)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {{ echo "lvsmon-vm: $*" >/dev/console; poweroff -f; }}
stage() {{ echo "lvsmon-vm: $* (uptime $(cut -d' ' -f1 /proc/uptime))" >/dev/console; }}
for m in $(cat /modules/order); do insmod "/modules/$m" || fail "insmod $m failed"; done

mkdir -p /host /upper /newroot
mount -t 9p -o {nine_p},ro,cache=loose {GUEST_TAG_HOSTROOT} /host || fail "cannot mount host root"
mount -t tmpfs -o mode=0755 upper /upper
mkdir /upper/data /upper/work
mount -t overlay -o lowerdir=/host,upperdir=/upper/data,workdir=/upper/work overlay /newroot \\
    || fail "cannot mount overlay"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/lib/modules/{version}
mount --bind /newroot{modules} /newroot/lib/modules/{version} || fail "cannot bind modules"

# Modules the kernel asks for on its own go through the same host modprobe.
echo /modprobe-in-newroot > /proc/sys/kernel/modprobe
stage "loading modules"
chroot /newroot /sbin/modprobe {CRC32C_FIRST} || fail "modprobe {CRC32C_FIRST} failed"
chroot /newroot /sbin/modprobe -a {" ".join(GUEST_MODULES)} || fail "modprobe failed"
ip link set lo up

mkdir -p /newroot{GUEST_JOB_DIR}
mount -t 9p -o {nine_p} {GUEST_TAG_JOB} /newroot{GUEST_JOB_DIR} || fail "cannot mount job share"
cp /runner.py /newroot/run/lvsmon-vm-runner.py
stage "running job"
chroot /newroot /usr/bin/python3 -I /run/lvsmon-vm-runner.py {GUEST_JOB_DIR}
sync
stage "job done"
poweroff -f
"""


MODPROBE_WRAPPER = """#!/bin/busybox sh
exec /bin/chroot /newroot /sbin/modprobe "$@"
"""

# Runs inside the guest's root (host python): reads job.json, runs the command,
# leaves its output and exit code in the job share. The host only trusts the
# exit code file, so kernel noise on the console cannot fake a result.
RUNNER = '''\
import json, os, subprocess, sys
job_dir = sys.argv[1]
with open(os.path.join(job_dir, "job.json")) as f:
    job = json.load(f)
with open(os.path.join(job_dir, "output"), "wb", buffering=0) as out:
    try:
        rc = subprocess.run(job["argv"], cwd=job["cwd"], env=job["env"], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT).returncode
    except OSError as e:
        out.write(f"lvsmon-vm: cannot run {job['argv']!r}: {e}\\n".encode())
        rc = 127
tmp = os.path.join(job_dir, "returncode.tmp")
with open(tmp, "w") as f:
    f.write(f"{rc}\\n")
os.rename(tmp, os.path.join(job_dir, "returncode"))
'''


def _initrd_recipe(version: str, modules: Path) -> tuple[str, list[str], str]:
    init = _init_script(version, modules)
    order = _module_load_order(modules, EARLY_MODULES)
    digest = hashlib.sha256()
    for part in (init, MODPROBE_WRAPPER, RUNNER, "\n".join(order)):
        digest.update(part.encode())
    digest.update(BUSYBOX_STATIC.read_bytes())
    return init, order, digest.hexdigest()[:12]


def build_initrd(cache: Path, version: str, modules: Path, init: str, order: list[str],
                 target: Path) -> None:
    say(f"writing initramfs {target.name}")
    stage = Path(tempfile.mkdtemp(prefix=".tmp-initrd-", dir=cache))
    try:
        for sub in ("bin", "proc", "sys", "dev", "modules"):
            (stage / sub).mkdir()
        shutil.copy2(BUSYBOX_STATIC, stage / "bin/busybox")
        for rel in order:
            dest = stage / "modules" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(modules / rel, dest)
        (stage / "modules/order").write_text("\n".join(order) + "\n")
        for name, text in (("init", init), ("modprobe-in-newroot", MODPROBE_WRAPPER),
                           ("runner.py", RUNNER)):
            (stage / name).write_text(text)
            (stage / name).chmod(0o755)
        names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
        tmp = target.with_name(f".tmp-{target.name}")
        with tmp.open("wb") as out:
            subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage,
                           input="\n".join(names).encode(), stdout=out, check=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# --- entry points ---------------------------------------------------------


def _remove_leftovers(cache: Path) -> None:
    for p in cache.glob(".tmp-*"):
        say(f"removing leftover of an interrupted build: {p.name}")
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def ensure_image(verbose: bool = False) -> Image:
    """Return the cached image, building what is missing (once per machine)."""
    check_host_packages()
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    if " " in str(cache.resolve()):
        raise ImageError(f"{cache}: the VM cache path must not contain spaces")
    with (cache / ".lock").open("w") as lock:
        # One builder at a time; a second caller waits and then finds the work done.
        fcntl.flock(lock, fcntl.LOCK_EX)
        _remove_leftovers(cache)
        trees = _kernel_trees(cache)
        tree = trees[-1] if trees else build_kernel_tree(cache)
        version = _tree_version(tree)
        modules = tree.resolve() / "root/lib/modules" / version
        init, order, digest = _initrd_recipe(version, modules)
        initrd = cache / f"initrd-{version}-{digest}.cpio"
        if not initrd.exists():
            for old in cache.glob(f"initrd-{version}-*.cpio"):
                old.unlink()
            build_initrd(cache, version, modules, init, order, initrd)
        elif verbose:
            say(f"cached initramfs {initrd}")
        (tree / ".tmp-vmlinux").unlink(missing_ok=True)
        kernel = ensure_vmlinux(tree, version)
        if verbose:
            say(f"kernel {kernel}")
        return Image(kernel=kernel, initrd=initrd, version=version, modules=modules)


def main() -> int:
    try:
        image = ensure_image(verbose=True)
    except (ImageError, subprocess.CalledProcessError) as e:
        print(f"vm-image: error: {e}", file=sys.stderr)
        return 1
    print(f"kernel {image.kernel}\ninitrd {image.initrd}\nversion {image.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
