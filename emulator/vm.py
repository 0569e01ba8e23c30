"""Run one command as root inside a throwaway VM that has netem.

The emulator needs ``sch_netem``.  When the machine running the tests lacks
it (a container or microVM kernel without modules), the kernel tests boot
the distribution's own kernel with virtme-ng (``vng``) and run there::

    .venv/bin/python -m emulator.vm -- .venv/bin/python -m pytest -m kernel tests/kernel

virtme-ng boots QEMU with the host's root filesystem shared read-only over
9p, so every host path, the venv included, exists unchanged in the guest;
``/etc``, ``/var``, ``/tmp`` and friends get a throwaway writable layer, and
the current directory is shared read-write so pytest can keep its cache.
Inside, the script loads ``sch_netem``, puts the venv's ``bin`` first in
``PATH``, changes to the same directory and ``exec``s the command.  The
command's exit status comes back as ``vng``'s own (virtme-ng carries it out
on a virtio serial port).

Boot time matters because the VM may have to run without KVM, in pure
software emulation (~30x slower than the host).  Three measured tricks:

* ``--force-9p``: without it vng first tries virtiofsd, which on Debian
  bookworm's QEMU fails after a 3 s wait and falls back to 9p anyway.
* ``modprobe.blacklist=...``: udev would otherwise spend seconds loading
  drivers for emulated hardware nobody uses (kvm, crypto, PS/2 mouse, SATA).
* PVH boot: the compressed ``vmlinuz`` is unpacked once into an ELF
  ``vmlinux`` in ``~/.cache/sgemu``, which QEMU starts directly, skipping
  the emulated xz decompression (~2.5 s).  Only done when the kernel's
  config says ``CONFIG_PVH=y``.

Measured here without KVM: ``python -m emulator.vm -- true`` takes 7-10 s
with these tricks and 16-25 s without.  What stays slow is opening many
small files over 9p (~30 ms each), so ``import pyroute2`` alone costs
10-20 s in the guest; one pytest run of the kernel lane is about 45 s.

KVM is used only when :func:`kvm_usable` has seen a tiny KVM boot finish
within a timeout on this host; the verdict is cached per host kernel, QEMU
binary and guest kernel.  Set ``SGEMU_VM_KVM=0`` or ``1`` to skip the probe.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["VMError", "boot_image", "find_kernel", "kvm_usable", "main", "run_in_vm",
           "vm_command"]

#: Modules udev would load for emulated hardware; none matter to netem tests.
FAST_BOOT_BLACKLIST = (
    "kvm", "kvm_amd", "kvm_intel", "irqbypass", "powernow_k8", "acpi_cpufreq",
    "psmouse", "pcspkr", "serio_raw", "evdev", "joydev", "i2c_i801", "lpc_ich",
    "iTCO_wdt", "i6300esb", "ahci", "libahci", "libata", "sr_mod", "cdrom",
    "aesni_intel", "ghash_clmulni_intel", "sha1_ssse3", "sha256_ssse3",
    "sha512_ssse3", "crc32_pclmul", "crc32c_intel", "crct10dif_pclmul",
    "button", "qemu_fw_cfg", "intel_pmc_bxt", "bochs", "drm",
)

#: Host environment variables copied into the guest when set (plus SGEMU_*).
DEFAULT_ENV_PASSTHROUGH = ("PYTHONPATH", "PYTEST_ADDOPTS", "TERM", "COLUMNS")

KVM_PROBE_TIMEOUT_S = 30.0
TIMEOUT_EXIT_CODE = 124  # as coreutils timeout(1)
_MAX_INLINE_SCRIPT = 600  # chars; vng puts the script base64'd on the 2 KiB kernel cmdline


#: Set to "1" in the guest's environment when QEMU emulates the CPU (no KVM).
EMULATED_ENV = "SGEMU_VM_EMULATED"


def software_emulated() -> bool:
    """Whether this process runs inside sgemu's VM on a software-emulated CPU (~30x slower)."""
    return os.environ.get(EMULATED_ENV) == "1"


class VMError(RuntimeError):
    """The VM cannot be started (no suitable kernel, no vng...)."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sgemu"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_kernel(boot_dir: str | Path = "/boot",
                modules_dir: str | Path = "/lib/modules") -> Path:
    """The newest readable ``vmlinuz-<ver>`` whose modules include ``sch_netem``."""
    found = []
    for image in Path(boot_dir).glob("vmlinuz-*"):
        version = image.name.removeprefix("vmlinuz-")
        sched = Path(modules_dir) / version / "kernel" / "net" / "sched"
        if any(sched.glob("sch_netem.ko*")) and os.access(image, os.R_OK):
            found.append((_version_key(version), image))
    if not found:
        raise VMError(
            f"no kernel in {boot_dir} with a matching {modules_dir}/<ver>/kernel/net/sched/"
            "sch_netem.ko*; install one with `apt-get install linux-image-amd64` "
            "(the image must be readable by this user)")
    return max(found)[1]


def _kernel_version(kernel: Path) -> str:
    return kernel.name.removeprefix("vmlinuz-")


def _unpack_vmlinux(bzimage: bytes) -> bytes | None:
    """The ELF kernel inside a bzImage, if it is xz- or gzip-compressed."""
    for magic, unpack in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor().decompress(b)),
                          (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(31).decompress(b))):
        start = bzimage.find(magic)
        for _ in range(8):  # the magic bytes can also occur by chance
            if start < 0:
                break
            try:
                elf = unpack(bzimage[start:])
                if elf.startswith(b"\x7fELF"):
                    return elf
            except (lzma.LZMAError, zlib.error):
                pass
            start = bzimage.find(magic, start + 1)
    return None


def boot_image(kernel: Path) -> Path:
    """A faster-booting equivalent of ``kernel``: its cached PVH vmlinux, else itself."""
    version = _kernel_version(kernel)
    config = kernel.parent / f"config-{version}"
    try:
        if "\nCONFIG_PVH=y\n" not in config.read_text():
            return kernel
        stat = kernel.stat()
        cached = _cache_dir() / f"vmlinux-{version}-{stat.st_size}-{int(stat.st_mtime)}"
        if cached.is_file():
            return cached
        elf = _unpack_vmlinux(kernel.read_bytes())
        if elf is None:
            return kernel
        cached.parent.mkdir(parents=True, exist_ok=True)
        for stale in cached.parent.glob(f"vmlinux-{version}-*"):
            stale.unlink()
        partial = cached.with_suffix(".partial")
        partial.write_bytes(elf)
        partial.replace(cached)
        return cached
    except OSError:
        return kernel


#: Programs virtme-ng runs on the host besides QEMU (it reads the kernel's version with `file` and
#: `strings`; without them it stops in a traceback), each with the Debian package that has it.
VM_HOST_TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static", "file": "file",
                 "strings": "binutils"}


def _vng() -> str:
    missing = sorted({pkg for tool, pkg in VM_HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise VMError(f"the VM needs Debian packages {', '.join(missing)}: run scripts/system-packages.sh vm as root")
    beside_python = Path(sys.executable).parent / "vng"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("vng")
    if found is None:
        raise VMError("vng not found: `pip install virtme-ng` into the venv")
    return found


def _host_env() -> dict[str, str]:
    """Environment for vng itself: the venv's bin first in PATH."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return env


def _run(cmd: list[str], timeout_s: float | None, relay: bool) -> tuple[int, bool]:
    """Run ``cmd`` in its own process group: (exit status, timed out?).

    The whole group is killed on timeout or ^C, so no QEMU is left behind.
    With ``relay`` its stdout and stderr are copied to ours through pipes:
    QEMU re-opens /proc/self/fd/1 and /2 with O_TRUNC, which makes stdout and
    stderr clobber each other when both point at one regular file.
    """
    out = subprocess.PIPE if relay else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            env=_host_env(), start_new_session=True)
    pumps = []
    if relay:
        for source, sink in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr)):
            pump = threading.Thread(target=_pump, args=(source, sink), daemon=True)
            pump.start()
            pumps.append(pump)
    timed_out = False
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        rc, timed_out = TIMEOUT_EXIT_CODE, True
    except BaseException:
        _kill_group(proc)
        raise
    for pump in pumps:
        pump.join(timeout=5)
    return rc, timed_out


def _pump(source, sink) -> None:
    binary = getattr(sink, "buffer", None)
    for chunk in iter(lambda: source.read1(65536), b""):
        if binary is not None:
            binary.write(chunk)
            binary.flush()
        else:  # a text-only stream, e.g. under pytest's capture
            sink.write(chunk.decode(errors="replace"))
            sink.flush()


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, grace_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace_s)
            break
        except subprocess.TimeoutExpired:
            continue


def kvm_usable(kernel: Path | None = None, timeout_s: float = KVM_PROBE_TIMEOUT_S,
               refresh: bool = False) -> bool:
    """Whether a KVM-accelerated VM boots here, by trying once (result cached).

    /dev/kvm can exist yet be unusable: nested under another hypervisor, QEMU
    may abort on an MSR it cannot set, or hang.  So the probe boots a minimal
    VM running ``true`` and calls KVM usable only if it exits 0 within
    ``timeout_s``.  ``SGEMU_VM_KVM=0|1`` overrides the probe.
    """
    forced = os.environ.get("SGEMU_VM_KVM")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
    except OSError:
        return False
    kernel = kernel or find_kernel()
    qemu = shutil.which("qemu-system-x86_64") or ""
    qemu_mtime = int(os.stat(qemu).st_mtime) if qemu else 0
    key = f"{os.uname().release}|{qemu}|{qemu_mtime}|{kernel}"
    cache = _cache_dir() / "kvm-probe.json"
    try:
        verdicts = json.loads(cache.read_text())
    except (OSError, ValueError):
        verdicts = {}
    if not refresh and key in verdicts:
        return bool(verdicts[key])
    probe = vm_command(["true"], memory="512M", cpus=1, use_kvm=True, kernel=kernel,
                       rw_dirs=())
    usable = _run(probe, timeout_s, relay=False) == (0, False)
    verdicts[key] = usable
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(verdicts, indent=1))
    except OSError:
        pass
    return usable


def _guest_script(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    venv_bin = str(Path(sys.executable).parent)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    lines += [
        f'export PATH={shlex.quote(venv_bin)}:"$PATH" PYTHONUNBUFFERED=1',
        'modprobe sch_netem || echo "emulator.vm: modprobe sch_netem failed" >&2',
        f"cd {shlex.quote(cwd)} || exit 125",
        "exec " + shlex.join(argv),
    ]
    return "\n".join(lines)


def vm_command(argv: Sequence[str], memory: str = "2G", cpus: int = 2,
               use_kvm: bool | None = None, *, kernel: Path | None = None,
               cwd: str | None = None, rw_dirs: Sequence[str] | None = None,
               env: Mapping[str, str] | None = None, fast_boot: bool = True,
               script_dir: str | None = None) -> list[str]:
    """The ``vng`` argv that runs ``argv`` as root in a fresh VM.

    ``argv`` elements are shell-quoted one by one into the guest script, so
    nothing in them is interpreted by a shell.  ``use_kvm=None`` asks
    :func:`kvm_usable`.  ``rw_dirs`` (default: the working directory) are
    shared writable; the rest of the host is read-only to the guest.  A
    script too long for the kernel command line is written into
    ``script_dir`` (a host directory the guest can see) and run from there.
    """
    if not argv:
        raise ValueError("empty command")
    kernel = Path(kernel) if kernel else find_kernel()
    cwd = os.path.abspath(cwd or os.getcwd())
    if use_kvm is None:
        use_kvm = kvm_usable(kernel)
    if rw_dirs is None:
        rw_dirs = [cwd] if cwd != "/" else []
    env = {**(env or {}), EMULATED_ENV: "0" if use_kvm else "1"}
    script = _guest_script(argv, cwd, env)
    if len(script) > _MAX_INLINE_SCRIPT:
        if script_dir is None:
            raise ValueError("command too long for the kernel command line; pass script_dir")
        script_path = Path(script_dir) / "guest.sh"
        script_path.write_text(script + "\n")
        script = f"exec /bin/sh {shlex.quote(str(script_path))}"
    cmd = [_vng(), "--run", str(boot_image(kernel) if fast_boot else kernel),
           "--user", "root", "--memory", str(memory), "--cpus", str(cpus),
           "--force-9p", "--cwd", cwd]
    if not use_kvm:
        cmd.append("--disable-kvm")
    for path in rw_dirs:
        cmd.append(f"--rwdir={os.path.abspath(path)}")
    if fast_boot:
        cmd += ["--append", "modprobe.blacklist=" + ",".join(FAST_BOOT_BLACKLIST)]
    cmd += ["--exec", script]
    return cmd


def _is_sgemu(argv: Sequence[str]) -> bool:
    head = [os.path.basename(a) for a in argv[:3]]
    return "sgemu" in head[:1] or head[1:3] == ["-m", "sgemu"]


def sgemu_out_dirs(argv: Sequence[str], cwd: str) -> list[str]:
    """The ``--out`` directories of an sgemu command that the guest could not write back to the host.

    The guest sees the host's files read-only, its own ``/tmp`` is a throwaway layer, and only the
    working directory is shared writable; an ``--out`` elsewhere would vanish with the VM.  Those
    directories are returned (absolute) so that :func:`run_in_vm` shares them too.
    """
    if not _is_sgemu(argv):
        return []
    outs = []
    for i, arg in enumerate(argv):
        if arg == "--out" and i + 1 < len(argv):
            outs.append(argv[i + 1])
        elif arg.startswith("--out="):
            outs.append(arg.split("=", 1)[1])
    cwd = os.path.abspath(cwd)
    shared = [] if cwd == "/" else [cwd]
    result = []
    for out in outs:
        path = os.path.normpath(os.path.join(cwd, out))
        if not any(path == d or path.startswith(d.rstrip("/") + "/") for d in shared):
            result.append(path)
    return result


def _share_out_dirs(dirs: list[str]) -> None:
    """Create each directory on the host (so the guest can mount it) or raise VMError saying why not."""
    for d in dirs:
        path = Path(d)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise VMError(f"--out: {d} is a file or a symbolic link; the VM can share only a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VMError(f"--out: cannot create {d} on the host for the VM to write into: {exc.strerror}") from None


def run_in_vm(argv: Sequence[str], timeout_s: float | None = None,
              env_passthrough: Sequence[str] = DEFAULT_ENV_PASSTHROUGH, **vm_options) -> int:
    """Run ``argv`` in a throwaway VM; its exit status, or 124 after ``timeout_s``.

    Environment variables named in ``env_passthrough`` and all ``SGEMU_*``
    ones are copied into the guest.  ``vm_options`` go to :func:`vm_command`.
    The ``--out`` directory of an sgemu command is created on the host and
    shared writable (:func:`sgemu_out_dirs`), so results land where ``--out``
    says on the host; an sgemu command run from ``/`` without ``--out`` is
    refused (its default ``runs/`` would be written into the VM only).
    """
    env = {name: value for name, value in os.environ.items()
           if name in env_passthrough or name.startswith("SGEMU_")}
    # Matplotlib wants a writable config dir for its font cache; give it a
    # persistent one so the (slow, emulated) cache build happens once.
    mpl = _cache_dir() / "matplotlib"
    mpl.mkdir(parents=True, exist_ok=True)
    env.setdefault("MPLCONFIGDIR", str(mpl))
    cwd = os.path.abspath(vm_options.get("cwd") or os.getcwd())
    if "rw_dirs" not in vm_options:
        vm_options["rw_dirs"] = ([cwd] if cwd != "/" else []) + [str(mpl)]
    outs = sgemu_out_dirs(argv, cwd)
    if _is_sgemu(argv) and cwd == "/" and "--out" not in " ".join(argv):
        raise VMError("run from / the VM cannot write its default run directory back: change directory or "
                      "pass --out")
    _share_out_dirs(outs)
    vm_options["rw_dirs"] = list(vm_options["rw_dirs"] or []) + [d for d in outs if d not in (vm_options["rw_dirs"] or [])]
    with tempfile.TemporaryDirectory(prefix="sgemu-vm-", dir="/tmp") as script_dir:
        cmd = vm_command(argv, env=env, script_dir=script_dir, **vm_options)
        rc, timed_out = _run(cmd, timeout_s, relay=True)
    if timed_out:
        print(f"emulator.vm: VM killed after {timeout_s:g} s", file=sys.stderr)
    return rc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator.vm",
        description="Run a command as root in a throwaway VM with the distribution kernel "
                    "(for netem tests on hosts whose kernel lacks sch_netem).")
    parser.add_argument("--memory", default="2G", help="guest memory (default 2G)")
    parser.add_argument("--cpus", type=int, default=2, help="guest CPUs (default 2)")
    parser.add_argument("--kvm", choices=("auto", "on", "off"), default="auto",
                        help="hardware acceleration; auto = probe once and cache")
    parser.add_argument("--kernel", type=Path, help="vmlinuz to boot (default: newest with netem)")
    parser.add_argument("--timeout", type=float, help="kill the VM after this many seconds")
    parser.add_argument("--rwdir", action="append", dest="rw_dirs",
                        help="host directory the guest may write (default: the cwd)")
    parser.add_argument("--no-fast-boot", dest="fast_boot", action="store_false",
                        help="boot the plain vmlinuz without the module blacklist")
    parser.add_argument("--dry-run", action="store_true", help="print the vng command only")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (usage: python -m emulator.vm -- CMD ARGS...)")
    options = dict(memory=args.memory, cpus=args.cpus, kernel=args.kernel,
                   use_kvm={"auto": None, "on": True, "off": False}[args.kvm],
                   rw_dirs=args.rw_dirs, fast_boot=args.fast_boot)
    try:
        if args.dry_run:
            with tempfile.TemporaryDirectory(prefix="sgemu-vm-", dir="/tmp") as script_dir:
                print(shlex.join(vm_command(command, script_dir=script_dir, **options)))
            return 0
        return run_in_vm(command, timeout_s=args.timeout, **options)
    except VMError as err:
        print(f"emulator.vm: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
