"""Starting measurement tools inside node namespaces at scenario times.

Each tool runs as a process in its node's namespace (Mininet's
``host.popen``, an argv list, never a shell string), its output going to a
file in the run's ``raw/`` directory.  ping prints Unix timestamps (``-D``)
so samples can be put on the scenario's time axis afterwards.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .spec import Command, Iperf3, Ping


@dataclass
class Running:
    """A started tool: the experiment, its process and output file."""

    exp: object
    proc: subprocess.Popen
    out: Path
    server: subprocess.Popen | None = None


def _count(duration_s: float, interval_s: float) -> int:
    return max(1, int(round(duration_s / interval_s)))


def start(exp, net, raw_dir: Path, run_end_s: float, speed: float, index: int) -> Running:
    """Start the experiment's processes now; they stop by themselves by the run's end."""
    if isinstance(exp, Ping):
        dur = (exp.duration_s if exp.duration_s is not None else run_end_s - exp.start_s) / speed
        out = raw_dir / f"ping-{index}-{exp.src}-{exp.dst}.txt"
        argv = ["ping", "-D", "-n", "-i", f"{exp.interval_s:g}", "-c", str(_count(dur, exp.interval_s)),
                "-W", "2", "-I", net.address(exp.src), net.address(exp.dst)]
        return Running(exp, net.host(exp.src).popen(argv, stdout=open(out, "w"), stderr=subprocess.STDOUT), out)
    if isinstance(exp, Iperf3):
        dur = (exp.duration_s if exp.duration_s is not None else run_end_s - exp.start_s) / speed
        out = raw_dir / f"iperf3-{index}-{exp.src}-{exp.dst}.json"
        server = net.host(exp.dst).popen(["iperf3", "-s", "-1", "-B", net.address(exp.dst)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = ["iperf3", "-c", net.address(exp.dst), "-B", net.address(exp.src), "-J",
                "-t", f"{max(1, int(dur) - 1)}", "-i", f"{exp.interval_s:g}", "--connect-timeout", "5000"]
        if exp.protocol == "udp":
            argv += ["-u", "-b", f"{exp.bitrate_mbps or 10:g}M"]
        elif exp.bitrate_mbps:
            argv += ["-b", f"{exp.bitrate_mbps:g}M"]
        if exp.congestion:
            argv += ["-C", exp.congestion]
        time.sleep(0.3)  # let the server bind
        proc = net.host(exp.src).popen(argv, stdout=open(out, "w"), stderr=subprocess.STDOUT)
        return Running(exp, proc, out, server)
    if isinstance(exp, Command):
        out = raw_dir / f"command-{index}-{exp.node}.txt"
        proc = net.host(exp.node).popen(list(exp.argv), stdout=open(out, "w"), stderr=subprocess.STDOUT)
        return Running(exp, proc, out)
    raise TypeError(exp)


def stop_all(running: list[Running], wait_s: float = 3.0) -> None:
    """Give tools a moment to finish, then terminate the stragglers."""
    deadline = time.time() + wait_s
    for r in running:
        for p in (r.proc, r.server):
            if p is None:
                continue
            try:
                p.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
