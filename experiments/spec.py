"""Experiments declared in a scenario (``experiments:``) or on the command line.

::

    experiments:
      - {type: ping, src: Beijing, dst: Kashi, interval_s: 0.2}
      - {type: iperf3, src: Beijing, dst: Sanya, protocol: udp, bitrate_mbps: 20, start_s: 10, duration_s: 20}
      - {type: command, node: Kashi, at_s: 30, argv: [ip, route]}

All names and times are checked against the scenario before anything is
built (:func:`check_experiments`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ExperimentError(ValueError):
    """An experiment that cannot run in this scenario (one line, names the field)."""


@dataclass
class Ping:
    src: str
    dst: str
    interval_s: float = 0.2
    start_s: float = 0.0
    duration_s: float | None = None
    type: str = "ping"


@dataclass
class Iperf3:
    src: str
    dst: str
    protocol: str = "tcp"
    bitrate_mbps: float | None = None
    start_s: float = 0.0
    duration_s: float | None = None
    interval_s: float = 1.0
    congestion: str | None = None  # TCP congestion control (iperf3 -C): cubic, bbr, reno; None = kernel's default
    type: str = "iperf3"


@dataclass
class Command:
    node: str
    argv: list = field(default_factory=list)
    at_s: float = 0.0
    type: str = "command"


KINDS = {"ping": Ping, "iperf3": Iperf3, "command": Command}


def parse_experiments(items: list, where: str = "experiments") -> list:
    from sgemu.schema import ScenarioError, check_fields

    out = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(item, dict) or item.get("type") not in KINDS:
            got = item.get("type") if isinstance(item, dict) else item
            raise ScenarioError(f"{w}.type", f"unknown experiment type {got!r}; accepted: {', '.join(KINDS)}")
        cls = KINDS[item["type"]]
        out.append(cls(**check_fields(cls, item, w)))
    return out


def check_experiments(exps: list, node_names: list[str], ground: set[str], duration_s: float,
                      where: str = "experiments") -> None:
    """Names must exist (ping/iperf3 between ground stations), times inside the run."""
    low = {n.lower() for n in node_names}
    for i, e in enumerate(exps):
        w = f"{where}[{i}]"
        ends = [("src", e.src), ("dst", e.dst)] if not isinstance(e, Command) else [("node", e.node)]
        for key, name in ends:
            if name.lower() not in low:
                raise ExperimentError(f"{w}.{key}: unknown node {name!r}")
            if not isinstance(e, Command) and name.lower() not in ground:
                raise ExperimentError(f"{w}.{key}: {name!r} is not a ground station; "
                                      f"ground stations here: {', '.join(sorted(ground))}")
        if not isinstance(e, Command) and e.src.lower() == e.dst.lower():
            raise ExperimentError(f"{w}: src and dst are the same node")
        start = e.at_s if isinstance(e, Command) else e.start_s
        key = "at_s" if isinstance(e, Command) else "start_s"
        if not 0 <= start < duration_s:
            raise ExperimentError(f"{w}.{key}: {start:g} s is outside the run (0 to {duration_s:g} s)")
        if not isinstance(e, Command):
            if e.duration_s is not None and (e.duration_s <= 0 or start + e.duration_s > duration_s + 1e-9):
                raise ExperimentError(f"{w}.duration_s: must be positive and end by {duration_s:g} s")
            if e.interval_s <= 0:
                raise ExperimentError(f"{w}.interval_s: must be positive")
        if isinstance(e, Iperf3) and e.protocol not in ("tcp", "udp"):
            raise ExperimentError(f"{w}.protocol: accepted: tcp, udp")
        if isinstance(e, Iperf3) and e.congestion is not None:
            _check_congestion(e, w)
        if isinstance(e, Command) and (not e.argv or not all(isinstance(a, str) for a in e.argv)):
            raise ExperimentError(f"{w}.argv: a non-empty list of strings")


#: TCP congestion controls an iperf3 experiment may ask for.
CONGESTION = ("cubic", "bbr", "reno")


def available_congestion() -> set[str]:
    """TCP congestion controls this kernel offers: those registered (as every network namespace
    lists them in /proc/sys/net/ipv4/tcp_available_congestion_control) and those whose module
    is installed (root's sockets load it on first use)."""
    import platform
    from pathlib import Path

    try:
        names = set(Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split())
    except OSError:
        names = set()
    mod_dir = Path("/lib/modules") / platform.release() / "kernel/net/ipv4"
    return names | {n for n in CONGESTION if any(mod_dir.glob(f"tcp_{n}.ko*"))}


def _check_congestion(e: "Iperf3", w: str) -> None:
    if e.protocol != "tcp":
        raise ExperimentError(f"{w}.congestion: only for protocol tcp")
    if e.congestion not in CONGESTION:
        raise ExperimentError(f"{w}.congestion: {e.congestion!r}; accepted: {', '.join(CONGESTION)}")
    have = available_congestion()
    if e.congestion not in have:
        raise ExperimentError(f"{w}.congestion: {e.congestion} is not available in this kernel "
                              f"(available: {', '.join(sorted(have)) or 'none'})")


def from_cli(pings: list[str], iperfs: list[str]) -> list:
    """``--ping A:B`` and ``--iperf3 A:B[:udp]`` options as experiments."""
    out = []
    for text in pings or []:
        parts = text.split(":")
        if len(parts) != 2 or not all(parts):
            raise ExperimentError(f"--ping: expected SRC:DST, got {text!r}")
        out.append(Ping(parts[0], parts[1]))
    for text in iperfs or []:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ExperimentError(f"--iperf3: expected SRC:DST[:tcp|udp], got {text!r}")
        out.append(Iperf3(parts[0], parts[1], parts[2] if len(parts) == 3 else "tcp"))
    return out
