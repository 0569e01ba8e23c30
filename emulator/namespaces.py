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
import re
import resource

from pyroute2 import netns

PREFIX = "sgemu-"
#: One file per live run, holding the pid of the process that owns it.
OWNERS_DIR = "/run/sgemu"


#: A run tag: letters and digits only (no hyphen: namespace names are ``sgemu-<tag>-<node>`` and node names
#: have hyphens, so the tag must end at the first one), at most 16 characters (FRR socket paths are short).
RUN_TAG_RE = re.compile(r"[A-Za-z0-9]{1,16}")


class RunTagError(ValueError):
    """A run tag (``SGEMU_RUN_TAG``) that cannot name namespaces and owner files."""


def check_run_tag(tag: str, source: str = "SGEMU_RUN_TAG") -> str:
    """Return tag if it is a valid run tag, else raise RunTagError naming ``source`` and what is accepted."""
    if not isinstance(tag, str) or not RUN_TAG_RE.fullmatch(tag):
        shown = repr(tag[:40]) if isinstance(tag, str) else type(tag).__name__
        raise RunTagError(f"{source}: {shown} is not a run tag; accepted: 1 to 16 letters or digits "
                          "(it names namespaces sgemu-<tag>-<node>, so no hyphens, slashes or dots)")
    return tag


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
    """The run tag of a namespace name ``sgemu-<tag>-<node>`` (tags hold no hyphen)."""
    return ns[len(PREFIX):].split("-", 1)[0]


def _start_time(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot), which tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def claim_run(run_tag: str) -> None:
    """Record this process as the owner of the run (so `sgemu clean` leaves it alone).

    The owner file ``/run/sgemu/<tag>`` holds ``<pid> <start time>``; it is created without
    following a symbolic link planted at its place."""
    check_run_tag(run_tag, "run tag")
    os.makedirs(OWNERS_DIR, mode=0o755, exist_ok=True)
    path = os.path.join(OWNERS_DIR, run_tag)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()} {_start_time(os.getpid()) or ''}".strip())


def release_run(run_tag: str) -> None:
    if not RUN_TAG_RE.fullmatch(run_tag or ""):
        return
    try:
        os.unlink(os.path.join(OWNERS_DIR, run_tag))
    except FileNotFoundError:
        pass


def run_owner_alive(run_tag: str) -> bool:
    """True when the process that claimed the run still exists (the same process, not a reused pid)."""
    try:
        with open(os.path.join(OWNERS_DIR, run_tag)) as f:
            fields = f.read().split()
        pid = int(fields[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return len(fields) < 2 or _start_time(pid) == fields[1]


def live_runs() -> list[str]:
    """Tags of every run whose owner process is alive (owner files in :data:`OWNERS_DIR`)."""
    try:
        tags = os.listdir(OWNERS_DIR)
    except OSError:
        return []
    return sorted(t for t in tags if run_owner_alive(t))


def live_tag_of(name: str, live: list[str]) -> str | None:
    """The live run a namespace or FRR directory ``sgemu-<tag>-<node>`` belongs to, if any.

    Matched by prefix against the live owners, so a run whose tag has a hyphen (written by an
    older sgemu, before tags were checked) is recognised too."""
    return next((t for t in live if name.startswith(f"{PREFIX}{t}-")), None)
