"""Starting measurement tools inside node namespaces at scenario times.

Each tool runs as a process in its node's namespace (Mininet's
``host.popen``, an argv list, never a shell string), its output going to a
file in the run's ``raw/`` directory.  ping prints Unix timestamps (``-D``)
so samples can be put on the scenario's time axis afterwards.
"""

from __future__ import annotations

import re
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
                "-W", "2", net.address(exp.dst)]
        return Running(exp, _popen_to(net, exp.src, argv, out), out)
    if isinstance(exp, Iperf3):
        dur = (exp.duration_s if exp.duration_s is not None else run_end_s - exp.start_s) / speed
        out = raw_dir / f"iperf3-{index}-{exp.src}-{exp.dst}.json"
        server = net.popen(exp.dst, ["iperf3", "-s", "-1", "-B", net.address(exp.dst)],
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
        return Running(exp, _popen_to(net, exp.src, argv, out), out, server)
    if isinstance(exp, Command):
        out = raw_dir / f"command-{index}-{exp.node}.txt"
        return Running(exp, _popen_to(net, exp.node, list(exp.argv), out), out)
    raise TypeError(exp)


def _popen_to(net, node: str, argv: list[str], out: Path) -> subprocess.Popen:
    """Start argv in the node with stdout and stderr going to ``out``."""
    with open(out, "w") as f:
        return net.popen(node, argv, stdout=f, stderr=subprocess.STDOUT)


_HOP = re.compile(r"^\s*(\d+)\s+(\S+)", re.M)
_RTT = re.compile(r"icmp_seq=(\d+).*time=([\d.]+) ms")
_TX = re.compile(r"(\d+) packets transmitted, (\d+) received")


def traceroute(net, src: str, dst: str, max_hops: int = 30, wait_s: float = 1.0) -> list[str | None]:
    """Node names along the path src -> dst as traceroute sees it (src first; None for a silent hop).

    UDP probes, one per hop, from src's loopback; ``net.node_of_address``
    maps each answering address (loopback or link end) back to its node."""
    argv = ["traceroute", "-n", "-q", "1", "-w", f"{wait_s:g}", "-m", str(max_hops), net.address(dst)]
    p = net.popen(src, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate(timeout=max_hops * (wait_s + 1) + 10)
    hops = [net.node_of_address(ip) if ip != "*" else None for _, ip in _HOP.findall(out)]
    return [src] + hops


def ping_once(net, src: str, dst: str, count: int, interval_s: float, wait_s: float = 2.0) -> tuple[list, int]:
    """Run ``ping -c count`` from src to dst; ``([rtt_ms per reply, None per lost request], sent)``."""
    argv = ["ping", "-n", "-c", str(count), "-i", f"{interval_s:g}", "-W", f"{wait_s:g}", net.address(dst)]
    p = net.popen(src, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate(timeout=count * interval_s + wait_s + 10)
    got = {int(q): float(r) for q, r in _RTT.findall(out)}
    m = _TX.search(out)
    sent = int(m.group(1)) if m else count
    return [got.get(q) for q in range(1, sent + 1)], sent


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
