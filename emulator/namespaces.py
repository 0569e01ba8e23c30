"""Nodes as Mininet hosts whose network namespaces also carry a name.

Each node of the emulated network is a Mininet ``Host``: a shell started
by ``mnexec`` in a fresh network namespace, so ``host.cmd``/``host.popen``
and Mininet's CLI work as usual.  We also *attach* each namespace under
``/run/netns/sgemu-<run>-<node>`` so that (a) pyroute2 can open a netlink
socket in it by name, (b) ``ip netns exec`` works for users, and (c)
:mod:`emulator.cleanup` can find everything a killed run left behind.
"""

from __future__ import annotations

import os
import resource

from pyroute2 import netns

PREFIX = "sgemu-"
#: One file per live run, holding the pid of the process that owns it.
OWNERS_DIR = "/run/sgemu"


def ns_name(run_tag: str, node: str) -> str:
    return f"{PREFIX}{run_tag}-{node}"


def raise_fd_limit() -> None:
    """One netlink socket per node: lift the open-file limit to its hard maximum."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_host(net, node: str, run_tag: str):
    """A Mininet host for node, its namespace attached as sgemu-<run>-<node>."""
    host = net.addHost(node, ip=None)
    netns.attach(ns_name(run_tag, node), host.pid)
    return host


def write_sysctl(ns: str, key: str, value: str) -> None:
    """Set a net.* sysctl inside a named namespace (no subprocess)."""
    netns.pushns(ns)
    try:
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    finally:
        netns.popns()


def our_namespaces() -> list[str]:
    """Names of every sgemu namespace on this machine (any run)."""
    return sorted(n for n in netns.listnetns() if n.startswith(PREFIX))


def pids_in(ns: str) -> list[int]:
    """Processes whose network namespace is the named one."""
    try:
        target = os.stat(f"/run/netns/{ns}").st_ino
    except FileNotFoundError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == target:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def run_tag_of(ns: str) -> str:
    """The run tag of a namespace name ``sgemu-<tag>-<node>``."""
    return ns[len(PREFIX):].split("-", 1)[0]


def claim_run(run_tag: str) -> None:
    """Record this process as the owner of the run (so `sgemu clean` leaves it alone)."""
    os.makedirs(OWNERS_DIR, exist_ok=True)
    with open(os.path.join(OWNERS_DIR, run_tag), "w") as f:
        f.write(str(os.getpid()))


def release_run(run_tag: str) -> None:
    try:
        os.unlink(os.path.join(OWNERS_DIR, run_tag))
    except FileNotFoundError:
        pass


def run_owner_alive(run_tag: str) -> bool:
    """True when the process that claimed the run still exists."""
    try:
        with open(os.path.join(OWNERS_DIR, run_tag)) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
