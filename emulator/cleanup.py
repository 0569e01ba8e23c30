"""Removing what runs left behind: ``sgemu clean``.

A run cleans up after itself on success, on error and on Ctrl-C; this is
for runs that were killed.  Every namespace named ``sgemu-*`` is emptied
(its processes killed: node shells, ping, iperf3, FRR) and removed; its
veth ends vanish with it, and FRR's per-node directories under
``/var/run/frr`` go too.  Idempotent: a second call finds nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from pyroute2 import netns

from .namespaces import (OWNERS_DIR, PREFIX, live_runs, live_tag_of, our_namespaces, release_run, run_owner_alive,
                         run_tag_of)


def clean(prefix: str = PREFIX, verbose: bool = False, force: bool = False) -> dict:
    """Kill processes in sgemu namespaces (names starting with prefix) and remove them; return counts.

    Runs whose owning process is still alive are left alone (their tags are
    returned under ``"live"``) unless ``force``; a run tearing itself down
    passes its own prefix and ``force=True``.
    """
    names = [n for n in our_namespaces() if n.startswith(prefix)]
    owners = [] if force else live_runs()
    live = sorted({live_tag_of(n, owners) for n in names} - {None})
    names = [n for n in names if live_tag_of(n, owners) is None]
    inodes = set()
    for ns in names:
        try:
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
        except FileNotFoundError:
            pass
    victims = []
    if inodes:
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                        victims.append(int(entry))
                except OSError:
                    continue
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while victims and time.monotonic() < deadline and any(_alive(p) for p in victims):
        time.sleep(0.05)
    removed = 0
    for ns in names:
        try:
            netns.remove(ns)
            removed += 1
        except OSError:
            pass
    state_dirs = _frr_state_dirs(prefix, owners)
    for d in state_dirs:
        shutil.rmtree(d, ignore_errors=True)
    for tag in {run_tag_of(n) for n in names}:
        if force or not run_owner_alive(tag):
            release_run(tag)
    agent_dirs = 0
    if prefix == PREFIX:
        _stale_owner_files(owners)
        agent_dirs = _remove_dead_agent_dirs()
    if verbose:
        print(f"removed {removed} namespace(s), killed {len(victims)} process(es)")
    return {"namespaces": removed, "processes": len(victims), "live": live, "frr_dirs": len(state_dirs),
            "agent_dirs": agent_dirs}


def _remove_dead_agent_dirs() -> int:
    """Remove the output directories (``<tmp>/sgemu-agent-<pid>-*``) of cluster host agents that are gone:
    an agent whose driver was killed dies with Ray's actors, before its own teardown.  A directory whose
    pid runs a ``HostAgent`` is a live run's and stays.  How many were removed."""
    import tempfile

    removed = 0
    for d in Path(tempfile.gettempdir()).glob("sgemu-agent-*-*"):
        pid = d.name.split("-")[2]
        if not pid.isdigit() or not d.is_dir() or d.is_symlink() or _runs_agent(int(pid)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed


def _runs_agent(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"HostAgent" in f.read()
    except OSError:
        return False


def _frr_state_dirs(prefix: str, owners: list[str]) -> list[Path]:
    """FRR's per-node directories (``/var/run/frr/sgemu-<tag>-<node>``: sockets, pid files, config)
    of runs that are not live (``owners``: the live tags); a killed run leaves them once its daemons are gone."""
    from .frr import FRR_STATE_DIR

    try:
        entries = list(FRR_STATE_DIR.iterdir())
    except OSError:
        return []
    return [d for d in entries if d.name.startswith(prefix) and d.is_dir() and not d.is_symlink()
            and live_tag_of(d.name, owners) is None]


def _stale_owner_files(owners: list[str]) -> None:
    """Owner files of runs whose process is gone (a run killed before it built a namespace leaves one)."""
    try:
        tags = os.listdir(OWNERS_DIR)
    except OSError:
        return
    for tag in tags:
        if tag not in owners and not run_owner_alive(tag):  # a run may have claimed its tag meanwhile
            try:
                os.unlink(os.path.join(OWNERS_DIR, tag))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    """True while pid runs; reaps it if it is our own exited child (zombies count as gone)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


