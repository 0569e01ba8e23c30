"""What a job will cost, estimated before anything is computed or built, and refused when it cannot fit.

:func:`estimate` reads a checked :class:`~sgemu.scenario.Scenario` and counts,
without propagating an orbit, its nodes (presets are built, Walker shells
multiplied out, TLE files counted after ``select``), the links per step its
rules can make, and from those the memory and time of the link series and,
for a live run, of the network: namespaces, file descriptors, processes,
kernel routes.  :func:`check` compares that with this machine (free memory,
the open-file hard limit, free process ids) and raises a
:class:`SizeError` -- one line naming the figure that does not fit -- unless
the caller overrides (``--no-size-check`` or ``SGEMU_NO_SIZE_CHECK=1``).
Large jobs that fit get their estimate printed.  :func:`check_out_dir`
checks an output directory the same way: writable, not a file, not a
symbolic link, with room for the files.

The per-unit costs below were measured on the project machine (2 cores,
24 GB) with the default scenario and its 34x34 variant; they are
deliberately on the high side.  Estimates, not promises: the point is to
refuse a 40,000-namespace run before its first namespace, not to predict
seconds.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .schema import ScenarioError

#: Set to 1 to skip the size guard (as ``--no-size-check``).
OVERRIDE_ENV = "SGEMU_NO_SIZE_CHECK"

# -- measured unit costs (see the module docstring) ---------------------------------------------------------
SERIES_BYTES_PER_LINK_STEP = 25       # link id + distance, plus the builder's peak (measured 25)
LINK_S_PER_NODE_STEP = 3e-5           # positions + rules (measured 4-27 us)
ROUTE_S_PER_LINK_STEP = 8e-6          # one pair's shortest path per step (measured 7 us per link)
ROUTE_BYTES_PER_STEP = 300            # a pair's path per step (lists of node indices)
NODE_BYTES = 4_000_000                # a namespace with its shell, sockets and veths
OSPF_NODE_BYTES = 25_000_000          # zebra + ospfd per node
ROUTE_ENTRY_BYTES = 250               # a kernel route (static routing: every node to every node)
FDS_PER_NODE = 8                      # measured 7: netlink socket, the shell's pipes
OSPF_FDS_PER_NODE = 3                 # vty sessions
BUILD_S_PER_NODE = 0.05
OSPF_START_S_PER_NODE = 0.3
BGP_NODE_BYTES = 12_000_000           # bgpd (PSS 11.7 MB at 86 nodes, 2026-12-07)
BGP_FDS_PER_NODE = 24                 # bgpd's sessions and sockets (measured 24 at 86 nodes)
BGP_START_S_PER_NODE = 0.1
ROUTE_INSTALL_S = 7e-6                # per kernel route
#: Share of available memory a job may plan to use.
MEMORY_SHARE = 0.7
#: Jobs estimated above these get their estimate printed.
LOUD_S = 30.0
LOUD_BYTES = 1_000_000_000


class SizeError(ScenarioError):
    """A job that cannot fit this machine (override: ``--no-size-check`` / ``SGEMU_NO_SIZE_CHECK=1``)."""


@dataclass
class Estimate:
    """What a scenario costs: counts, the link series' bytes and seconds, and a live network's needs."""

    satellites: int
    stations: int
    steps: int
    links_per_step: float
    series_bytes: float
    compute_s: float
    live_bytes: float = 0.0
    build_s: float = 0.0
    fds: int = 0
    processes: int = 0

    @property
    def nodes(self) -> int:
        return self.satellites + self.stations

    def text(self, live: bool = False) -> str:
        """One line: the figures a user needs to judge the job."""
        line = (f"{self.nodes:,} nodes ({self.satellites:,} satellites, {self.stations:,} stations), "
                f"about {self.links_per_step:,.0f} links per step over {self.steps:,} steps: link series "
                f"~{_size(self.series_bytes)}, ~{_duration(self.compute_s)} to compute")
        if live:
            line += (f"; live network ~{_size(self.live_bytes)}, {self.fds:,} open files, {self.processes:,} "
                     f"processes, ~{_duration(self.build_s)} to build")
        return line


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:.0f} B"


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:,.1f} h"
    return f"{s / 60:.1f} min" if s >= 120 else f"{s:.0f} s"


# -- counting without building ------------------------------------------------------------------------------
def _shell_size(spec: dict, base_dir: Path) -> int:
    """Satellites of one ``constellations[]`` entry, counted (0 when the entry is malformed: the
    scenario check reports that)."""
    if not isinstance(spec, dict):
        return 0
    try:
        if spec.get("walker") is not None:
            w = spec["walker"]
            planes, per = int(w.get("planes", 0)), int(w.get("sats_per_plane", 0))
            return max(planes, 0) * max(per, 0)
        if spec.get("preset") is not None:
            return _preset_size(str(spec["preset"]))
        if spec.get("tle") is not None:
            from orbits.tle import load_tle_file, select

            from .scenario import tle_path

            return len({t.norad_id for t in select(load_tle_file(tle_path(str(spec["tle"]), base_dir)),
                                                    spec.get("select"))})
    except (ValueError, TypeError, AttributeError, OSError):
        return 0
    return 0


_PRESET_SIZES: dict[str, int] = {}


def _preset_size(name: str) -> int:
    import datetime as dt

    from orbits.presets import PRESETS

    if name not in PRESETS:
        return 0
    if name not in _PRESET_SIZES:
        _PRESET_SIZES[name] = len(PRESETS[name].satellites(name, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)))
    return _PRESET_SIZES[name]


def _links_per_step(links: list, shells: dict[str, int], n_sats: int, n_stations: int) -> float:
    """Links a step can hold, by rule (an upper estimate: groups that are not a shell count every satellite)."""
    def group(name) -> int:
        return shells.get(str(name).lower(), n_sats)

    total = 0.0
    for spec in links:
        if not isinstance(spec, dict):
            continue
        rule, k = spec.get("rule"), spec.get("k", 1)
        k = k if isinstance(k, int) and not isinstance(k, bool) else 1
        if rule == "plus-grid":
            total += 2 * group(spec.get("group"))
        elif rule == "ring":
            total += group(spec.get("group"))
        elif rule == "nearest-k":
            total += k * group(spec.get("group"))
        elif rule == "inter-layer":
            total += k * group(spec.get("lower"))
        elif rule == "ground":
            st = spec.get("stations")
            n = len(st) if isinstance(st, list) else n_stations
            per = min(group(spec.get("group")), 40) if spec.get("policy") == "all-visible" else spec.get("antennas", 1)
            total += n * (per if isinstance(per, int) else 1)
        elif rule == "fiber":
            pairs = spec.get("pairs")
            total += len(pairs) if isinstance(pairs, list) else 0
    return total


def estimate(spec, routing: str | None = None, bgp: bool = False) -> Estimate:
    """The cost of scenario ``spec`` (a checked :class:`sgemu.scenario.Scenario`); ``routing``
    (``static``/``ospf``/None = not live) adds the live network's needs."""
    shells: dict[str, int] = {}
    for c in spec.constellations:
        name = str(c.get("name", "")).lower() if isinstance(c, dict) else ""
        shells[name] = shells.get(name, 0) + _shell_size(c, spec._base_dir)
    n_sats, n_st = sum(shells.values()), len(spec.stations)
    steps = int(math.floor(spec.duration_s / spec.step_s + 1e-9)) + 1
    per_step = _links_per_step(spec.links, shells, n_sats, n_st)
    est = Estimate(n_sats, n_st, steps, per_step,
                   series_bytes=SERIES_BYTES_PER_LINK_STEP * per_step * steps,
                   compute_s=LINK_S_PER_NODE_STEP * (n_sats + n_st) * steps)
    if routing is not None:
        live(est, routing, bgp)
    return est


def live(est: Estimate, routing: str = "static", bgp: bool = False) -> Estimate:
    """Fill in a live network's memory, files, processes and build time (in place; returned); ``bgp``:
    bgpd beside the IGP in every node (emulator.bgp)."""
    n = est.nodes
    ospf = routing in ("ospf", "isis")  # FRR daemons in every node
    routes = 0 if ospf else n * n
    est.live_bytes = (n * (NODE_BYTES + (OSPF_NODE_BYTES if ospf else 0) + (BGP_NODE_BYTES if bgp else 0))
                      + routes * ROUTE_ENTRY_BYTES)
    est.fds = n * (FDS_PER_NODE + (OSPF_FDS_PER_NODE if ospf else 0) + (BGP_FDS_PER_NODE if bgp else 0))
    est.processes = n * ((3 if ospf else 1) + bgp)
    est.build_s = (n * (BUILD_S_PER_NODE + (OSPF_START_S_PER_NODE if ospf else 0) + (BGP_START_S_PER_NODE if bgp else 0))
                   + routes * ROUTE_INSTALL_S)
    return est


# -- this machine ------------------------------------------------------------------------------------------
def available_bytes() -> float:
    """MemAvailable from /proc/meminfo (inf when unreadable)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return math.inf


def fd_limit() -> int:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 30


def free_pids() -> int:
    """Process ids left: pid_max minus the processes that exist."""
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        used = sum(1 for e in os.listdir("/proc") if e.isdigit())
    except OSError:
        return 1 << 30
    return pid_max - used


def overridden(override: bool | None) -> bool:
    return bool(override) or os.environ.get(OVERRIDE_ENV, "") not in ("", "0")


def _refuse(what: str, need: str, have: str, est: Estimate, live_: bool) -> None:
    raise SizeError("size", f"{what} needs {need} but this machine has {have} ({est.nodes:,} nodes, "
                            f"{est.steps:,} steps); shorten or thin the scenario, or pass --no-size-check "
                            f"({OVERRIDE_ENV}=1) to try anyway")


def judge(est: Estimate, live_: bool = False, override: bool | None = None, log=None) -> Estimate:
    """Refuse (SizeError) what cannot fit this machine; print the estimate of a large job with ``log``."""
    mem = available_bytes()
    need = est.series_bytes + (est.live_bytes if live_ else 0)
    if not overridden(override):
        if need > MEMORY_SHARE * mem:
            _refuse("the job", f"~{_size(need)} of memory", f"{_size(mem)} available", est, live_)
        if live_ and est.fds > fd_limit():
            _refuse("the live network", f"{est.fds:,} open files", f"a limit of {fd_limit():,}", est, live_)
        if live_ and est.processes > free_pids():
            _refuse("the live network", f"{est.processes:,} processes", f"{free_pids():,} free process ids", est,
                    live_)
    if log is not None and (est.compute_s + (est.build_s if live_ else 0) > LOUD_S or need > LOUD_BYTES):
        log(f"estimate: {est.text(live_)}")
        est.printed = True
    return est


#: Set when a command printed a live job's estimate, so that the emulation it then starts does not print
#: a second one (consumed by :func:`check_live`).
_live_estimate_printed = False


def check(spec, live_: bool = False, routing: str = "static", override: bool | None = None, log=None,
          bgp: bool = False) -> Estimate:
    """:func:`estimate` then :func:`judge`: the one call a command makes before computing anything."""
    global _live_estimate_printed
    est = judge(estimate(spec, routing if live_ else None, bgp), live_, override, log)
    _live_estimate_printed = live_ and getattr(est, "printed", False)
    return est


def check_live(series, routing: str = "static", log=None, override: bool | None = None, bgp: bool = False) -> Estimate:
    """The same for a live run whose link series exists already (counts taken from it)."""
    sats = sum(1 for l in series.node_layer if l != "GROUND")
    steps = series.n_steps
    per_step = series.link_id.size / max(steps, 1)
    global _live_estimate_printed
    est = Estimate(sats, series.n_nodes - sats, steps, per_step, series_bytes=0.0, compute_s=0.0)
    printed, _live_estimate_printed = _live_estimate_printed, False
    return judge(live(est, routing, bgp), True, override, None if printed else log)


# -- output directories ------------------------------------------------------------------------------------
def check_out_dir(path: str | os.PathLike, flag: str = "--out", need_bytes: float = 0.0) -> Path:
    """Check that ``path`` can become the output directory, without creating it; return it.

    Refused with one line (:class:`~sgemu.schema.ScenarioError` naming ``flag``): a path that is a
    file or a symbolic link (sgemu writes through no link planted where its output goes), an
    existing directory holding symbolic links, a place where a directory cannot be created or
    written (probed with a temporary directory, removed at once), or a file system without
    ``need_bytes`` plus 10 MB free.
    """
    out = Path(path)
    if out.is_symlink():
        raise ScenarioError(flag, f"{out} is a symbolic link; sgemu writes through no link: remove it or give the "
                                  "directory itself")
    if out.exists() and not out.is_dir():
        raise ScenarioError(flag, f"{out} exists and is not a directory; accepted: a directory (new or existing)")
    if out.is_dir():
        links = [e.name for e in os.scandir(out) if e.is_symlink()]
        if links:
            raise ScenarioError(flag, f"{out} holds symbolic links (e.g. {links[0][:40]!r}); sgemu writes through "
                                      "no link: give a directory without them")
    parent = out if out.is_dir() else next((p for p in out.absolute().parents if p.exists()), Path("/"))
    if not parent.is_dir():
        raise ScenarioError(flag, f"cannot create {out}: {parent} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sgemu-probe-", dir=parent))
    except OSError as exc:
        raise ScenarioError(flag, f"cannot write in {parent}: {exc.strerror}") from None
    try:
        st = os.statvfs(parent)
        free = st.f_bavail * st.f_frsize
    except OSError:
        return out
    if free < need_bytes + 10e6:
        raise ScenarioError(flag, f"{parent} has {_size(free)} free; this job writes about {_size(need_bytes)}: "
                                  "free some space or choose another --out")
    return out


def make_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output directory (parents included) after :func:`check_out_dir`, without following a
    symbolic link at the directory itself (a link planted between the check and now is refused)."""
    out = check_out_dir(path, flag)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(out, 0o755)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ScenarioError(flag, f"cannot create {out}: {exc.strerror}") from None
    if out.is_symlink() or not out.is_dir():
        raise ScenarioError(flag, f"{out} changed into a link or a file while sgemu created it")
    return out


def check_out_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check that ``path`` can be written as one output file (a report page, a CSV) before any work:
    not a directory, not a symbolic link, in an existing directory where files can be created."""
    out = Path(path)
    if out.is_symlink():
        raise ScenarioError(flag, f"{out} is a symbolic link; sgemu writes through no link")
    if out.is_dir():
        raise ScenarioError(flag, f"{out} is a directory; accepted: a file name (e.g. {out / 'out.csv'})")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise ScenarioError(flag, f"no such directory: {parent}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sgemu-probe-", dir=parent))
    except OSError as exc:
        raise ScenarioError(flag, f"cannot write in {parent}: {exc.strerror}") from None
    return out
