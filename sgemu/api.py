"""The public Python API: a :class:`Scenario` to compute with, an :class:`Emulation` to run.

Offline, no root::

    import sgemu
    scen = sgemu.Scenario.load(duration_s=120)         # the built-in default scenario
    scen.links().to_frame()                            # one row per link interval
    scen.route("Beijing", "Kashi").to_frame()          # predicted RTT, hops, path per step

Live, as root (namespaces; netem where the kernel has it)::

    with sgemu.Emulation(scen, shaping="auto") as emu:  # built at t = 0, torn down on any exit
        emu.ping("Beijing", "Kashi", count=3).loss_pct
        emu.traceroute("Beijing", "Kashi")              # node names, as predicted
        emu.advance(60)                                 # the scenario clock, under your control
        result = emu.run(experiments=[sgemu.Ping("Beijing", "Kashi")])   # real time, run directory

``sgemu run``, ``sgemu cli``, the pytest plugin (:mod:`sgemu.testing`) and
the viewer's live mode all stand on these two objects.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from experiments.spec import Command, Iperf3, Ping

from . import runconfig
from .errors import CapabilityError
from .schema import ScenarioError
from .scenario import Scenario as ScenarioSpec
from .scenario import load_scenario, parse_scenario

__all__ = ["Scenario", "Emulation", "Ping", "Iperf3", "Command", "ScenarioError", "CapabilityError",
           "PingResult", "RunResult", "Links", "Route"]


# -- offline ----------------------------------------------------------------------------------------
class Scenario:
    """A checked scenario: what to emulate (constellations, stations, link rules, time axis).

    Build one with :meth:`load` (a YAML file, or the built-in default) or
    :meth:`from_dict`; every mistake raises :class:`ScenarioError` naming
    the field.  The link series is computed once, on first use, with the
    scenario's events applied.
    """

    def __init__(self, spec: ScenarioSpec):
        self.spec = spec
        self._bound = None
        self._series = None
        self._routes: dict = {}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **overrides) -> "Scenario":
        """Read ``path`` (None: the built-in default) and apply overrides of top-level keys
        (``start``, ``duration_s``, ``step_s``, ``name``, ``stations``, ...)."""
        spec = load_scenario(path)
        if overrides:
            spec = parse_scenario({**spec.raw, **overrides}, spec._base_dir)
        return cls(spec)

    @classmethod
    def from_dict(cls, mapping: dict, base_dir: str | os.PathLike = ".") -> "Scenario":
        """A scenario from a mapping shaped like the YAML file (relative TLE paths from ``base_dir``)."""
        return cls(parse_scenario(mapping, Path(base_dir)))

    def __repr__(self) -> str:
        a = self.axis
        return f"<Scenario {self.name!r}: {a.n_steps} steps of {a.step_s:g} s from {self.spec.start}>"

    # -- what it holds ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def axis(self):
        """The time axis (:class:`orbits.timebase.TimeAxis`): ``t_s`` shape (step,), ``utc(k)``."""
        return self.spec.axis

    @property
    def stations(self) -> list:
        """The ground stations (:class:`orbits.stations.GroundStation`, WGS84 positions)."""
        return self._bind()[0].stations

    @property
    def satellites(self) -> list:
        """The satellites (:class:`orbits.satellite.Satellite`), in node order."""
        return self._bind()[0].satellites

    @property
    def nodes(self) -> list[str]:
        """Every node's name: satellites first, then stations (the link series' order)."""
        return list(self._bind()[0].node_names)

    def _bind(self):
        if self._bound is None:
            self._bound = self.spec.bind()
        return self._bound

    # -- computed ---------------------------------------------------------------------------------
    @property
    def series(self):
        """The link series (:class:`topologies.series.LinkSeries`), events applied; computed once."""
        return self.compute_series()

    def compute_series(self, progress=None):
        """The link series, computing it on first call (``progress(n)`` is called per step)."""
        if self._series is None:
            from topologies.builder import build_series
            from topologies.events import EventError, apply_events, parse_events

            scene, rules = self._bind()
            series = build_series(scene, rules, self.axis, self.spec.grazing_km, self.spec.link_parameters(),
                                  progress=progress, budget=self.spec.link_budget_for(scene))
            try:
                self._series = apply_events(series, parse_events(series, self.spec.events))
            except EventError as exc:
                raise ScenarioError("events", str(exc).removeprefix("events")
                                    .lstrip(": ")) from None
        return self._series

    def links(self) -> "Links":
        """The link series as a table-able object (:meth:`Links.to_frame`)."""
        return Links(self.series)

    def route(self, src: str, dst: str, strategy=None) -> "Route":
        """The predicted route src -> dst at every step (stations relay only when the scenario's
        ``ground_transit`` allows): delay-shortest, or under a routing ``strategy`` (a name,
        a mapping or a callable, as ``Emulation(routing=...)`` takes; docs/routing.md)."""
        return Route(self._path(src, dst, _strategy_spec(strategy, self.spec._base_dir)))

    def _path(self, src: str, dst: str, strategy=None):
        """The PathSeries of src -> dst; ``strategy``: a RoutingSpec or None (delay-shortest)."""
        plain = strategy is None or strategy.name == "shortest-delay" and not strategy.controller_delay_ms
        key = (src.lower(), dst.lower(), None if plain else id(strategy))
        if key not in self._routes:
            from topologies.routing import route_pair
            from topologies.strategies import route_pair_strategy

            s = self.series
            i, j = _node_index(s, src, "src"), _node_index(s, dst, "dst")
            if i == j:
                raise ScenarioError("dst", f"{dst!r} is the source itself; give two different nodes")
            self._routes[key] = (route_pair(s, i, j, self.spec.ground_transit) if plain else
                                 route_pair_strategy(s, i, j, self.spec.ground_transit, strategy))
        return self._routes[key]

    def routes(self, pairs="ground", chunk_steps: int = 600, workers: int = 1):
        """Predicted routes of many pairs, streamed: yields one DataFrame per chunk of steps
        (columns t_s, src, dst, rtt_ms, hops, path), so memory stays flat as duration grows.

        ``pairs`` is ``"ground"`` (every pair of stations) or a list of ``(src, dst)``."""
        from topologies.routing import stream_pair_routes

        s = self.series
        if isinstance(pairs, str):
            if pairs != "ground":
                raise ScenarioError("pairs", f"{pairs!r}; accepted: 'ground' or a list of (src, dst)")
            g = [int(i) for i in s.ground_indices]
            idx = [(a, b) for n, a in enumerate(g) for b in g[n + 1:]]
        else:
            idx = [(_node_index(s, a, "pairs"), _node_index(s, b, "pairs")) for a, b in pairs]
        yield from stream_pair_routes(s, idx, chunk_steps=chunk_steps, workers=workers,
                                      ground_transit=self.spec.ground_transit)


def _node_index(series, name: str, field: str) -> int:
    try:
        return series.index(name)
    except KeyError:
        ground = [n for n, l in zip(series.node_names, series.node_layer) if l == "GROUND"]
        raise ScenarioError(field, f"unknown node {name!r}; stations here: {', '.join(ground)}") from None


class Links:
    """The link series of a scenario (``.series``) with a table view."""

    def __init__(self, series):
        self.series = series

    def to_frame(self):
        """One row per link interval (a link up from ``t_start_s`` until ``t_end_s``): a, b, kind,
        delay_ms_min / mean / max over the interval."""
        from topologies.export import link_intervals

        return link_intervals(self.series)


class Route:
    """A predicted route between two nodes over the run (``.path``: :class:`topologies.routing.PathSeries`)."""

    def __init__(self, path):
        self.path = path

    @property
    def rtt_ms(self) -> np.ndarray:
        """Predicted RTT per step (ms, NaN where unreachable), shape (step,)."""
        return self.path.rtt_ms

    def summary(self) -> dict:
        return self.path.summary()

    def to_frame(self):
        """One row per step: t_s, utc, rtt_ms, hops, path_changed, path (node names joined by spaces)."""
        import pandas as pd

        p, axis = self.path, self.path.series.axis
        changes = set(p.change_steps().tolist())
        n = len(p.rtt_ms)
        return pd.DataFrame({"t_s": axis.t_s[:n], "utc": [axis.utc(k) for k in range(n)],
                             "rtt_ms": p.rtt_ms, "hops": p.hops,
                             "path_changed": [k in changes for k in range(n)],
                             "path": [" ".join(p.path_names(k)) for k in range(n)]})


# -- live ---------------------------------------------------------------------------------------------
class PingResult:
    """One ``ping -c count`` between two nodes: per-request RTTs (None = lost) and the prediction."""

    def __init__(self, src: str, dst: str, t_s: float, rtt_ms: list, sent: int, predicted_rtt_ms: float | None):
        self.src, self.dst, self.t_s = src, dst, t_s
        self.rtt_ms, self.sent, self.predicted_rtt_ms = rtt_ms, sent, predicted_rtt_ms

    @property
    def received(self) -> int:
        return sum(r is not None for r in self.rtt_ms)

    @property
    def loss_pct(self) -> float:
        return 100.0 * (1 - self.received / self.sent) if self.sent else 100.0

    @property
    def rtt_ms_mean(self) -> float | None:
        got = [r for r in self.rtt_ms if r is not None]
        return float(np.mean(got)) if got else None

    def __repr__(self) -> str:
        mean = "-" if self.rtt_ms_mean is None else f"{self.rtt_ms_mean:.2f}"
        pred = "-" if self.predicted_rtt_ms is None else f"{self.predicted_rtt_ms:.2f}"
        return (f"<PingResult {self.src}->{self.dst} at {self.t_s:g} s: {self.received}/{self.sent} replies, "
                f"mean {mean} ms, predicted {pred} ms>")

    def to_frame(self):
        """One row per request: seq, rtt_ms (NaN when lost), predicted_rtt_ms."""
        import pandas as pd

        return pd.DataFrame({"seq": range(1, len(self.rtt_ms) + 1),
                             "rtt_ms": [np.nan if r is None else r for r in self.rtt_ms],
                             "predicted_rtt_ms": self.predicted_rtt_ms})


class RunResult:
    """What :meth:`Emulation.run` measured: ``summary`` (as summary.json) and the run directory ``out``."""

    def __init__(self, summary: dict, out: Path):
        self.summary, self.out = summary, Path(out)

    def __repr__(self) -> str:
        return f"<RunResult {self.out} ({len(self.summary.get('pairs', {}))} ping pairs)>"

    def _csv(self, name: str):
        import pandas as pd

        path = self.out / name
        return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()

    def to_frame(self):
        """Every ping reply: t_s, src, dst, seq, step, rtt_ms_measured, rtt_ms_predicted (results.csv)."""
        return self._csv("results.csv")

    def steps_frame(self):
        """Per step: lateness and apply time (steps.csv)."""
        return self._csv("steps.csv")

    def changes_frame(self):
        """Per topology change: cause, route convergence, per pair recovery (changes.csv)."""
        return self._csv("changes.csv")

    def throughput_frame(self):
        """iperf3 intervals (throughput.csv)."""
        return self._csv("throughput.csv")


class Emulation:
    """The scenario as a live network of namespaces: built on entry (at ``start_s``), torn down on exit.

    ``shaping``: ``"netem"`` (link delays, losses and per-step rates; needs
    sch_netem), ``"tbf"`` (only each link's per-step rate, with TBF: kernels
    without netem), ``"none"`` (topology and routes only) or ``"auto"``
    (netem where the kernel has it, else none).  ``queue_limit_pkts``: the
    queue behind each link's rate (default: the scenario's
    ``emulation.queue_limit_pkts``, else 1000).

    ``routing``: ``"ospf"`` (FRR in every node) or a routing strategy whose
    decisions are installed centrally, a step ahead, over netlink:
    ``"static"`` (delay-shortest paths), a built-in name (``"min-hop"``,
    ``"ecmp"``, ``"hold-down"``, ``"predictive"``), a mapping
    ``{"strategy": NAME, "controller_delay_ms": D, **params}``, or a callable
    ``strategy(graph, prev) -> next hops`` (see docs/routing.md); None takes
    the scenario's ``emulation.routing``.  Predictions (:meth:`predicted_rtt_ms`,
    :meth:`predicted_path`, the run's table) follow the same strategy.

    ``bgp``: an ``emulation.bgp`` mapping replacing the scenario's (BGP between ground ASes, the
    satellites a transit AS; ``routing`` is then the IGP inside each AS: docs/bgp.md), or False to
    leave the scenario's out; None keeps it.

    ``cluster``: a Ray address (``"auto"``, ``"HOST:PORT"``): the network is
    spread over the cluster's hosts (:mod:`emulator.cluster`; delay-shortest static routes, ospf or isis).
    ``out`` is the run directory (FRR logs, :meth:`run`'s results); None
    makes a temporary one when needed.  ``view=True`` (or ``{"host": ...,
    "port": ...}``) serves the 3D viewer (:mod:`viewer.live`), following
    the network step by step.

    Everything is checked before anything is built; every exit (return,
    exception, Ctrl-C, SIGTERM) removes what was built.
    """

    def __init__(self, scenario=None, *, shaping: str = "auto", routing=None,
                 out: str | os.PathLike | None = None, quiet: bool = True, start_s: float = 0.0,
                 run_tag: str | None = None, progress=None, log=None, view: bool = False,
                 queue_limit_pkts: int | None = None, cluster: str | None = None, bgp: dict | bool | None = None):
        self.scenario = scenario if isinstance(scenario, Scenario) else (
            Scenario(scenario) if isinstance(scenario, ScenarioSpec) else Scenario.load(scenario))
        emu = dict(self.scenario.spec.emulation or {})
        if queue_limit_pkts is not None:
            emu["queue_limit_pkts"] = queue_limit_pkts
        if bgp is False:  # the scenario without its BGP section
            emu.pop("bgp", None)
        elif bgp is not None:
            emu["bgp"] = bgp
        spec = self.scenario.spec
        opts = runconfig.emulation_options(emu, routing, spec._base_dir, ground_transit=spec.ground_transit)
        self.routing, self.strategy, self._ospf = opts["routing"], opts["strategy"], opts["ospf"]
        self.bgp = opts["bgp"]
        if self.bgp:
            stations = [st.name for st in spec.build_stations()]
            runconfig.check_bgp_names(self.bgp, stations, [n for n in self.scenario.nodes if n not in stations])
        self._route_watch, self._calibrate = opts["route_watch"], opts["calibrate"]
        self.queue_limit_pkts = opts["queue_limit_pkts"]
        self.shaping = runconfig.check_shaping(shaping)
        self.cluster = runconfig.check_cluster(cluster, self.routing, self.strategy)
        axis = self.scenario.axis
        if not (isinstance(start_s, (int, float)) and 0 <= start_s <= axis.duration_s):
            raise ScenarioError("start_s", f"{start_s!r} is outside the run (0 to {axis.duration_s:g} s)")
        self.start_s, self.quiet, self.view = float(start_s), quiet, view
        self.run_tag = _check_run_tag(run_tag)
        self.out = _check_out(out) if out is not None else None
        self._progress = progress if progress is not None else (_silent_bar if quiet else _rich_bar)
        self._log = log or (lambda msg: None if quiet else print(msg))
        self._signals = _run_signals()
        self._listeners: list = []
        self.network = self.frr = self._watch = self._cost_thread = self._viewer = None
        self.k = None
        self._info: dict = {}

    # -- the context -------------------------------------------------------------------------------
    def __enter__(self) -> "Emulation":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not built" if self.network is None else f"at step {self.k} (t = {self.t_s:g} s)"
        return f"<Emulation of {self.scenario.name!r}, {self.routing_label} routing, {state}>"

    @property
    def dynamic(self) -> bool:
        """True when a routing protocol runs in the nodes (FRR: ``ospf`` or ``isis``)."""
        return self.routing in runconfig.DYNAMIC_ROUTING

    @property
    def routing_label(self) -> str:
        """``ospf``, ``static`` (delay-shortest), or the strategy with its parameters (``hold-down(threshold_ratio=1.5)``)."""
        if self.bgp:
            return f"bgp+{self.routing}"  # BGP between the ASes, the IGP inside each
        if self.strategy is None or self.strategy.label == "shortest-delay":
            return self.routing  # "static": the delay-shortest paths, installed centrally
        return self.strategy.label

    @property
    def series(self):
        """The link series the network follows (:class:`topologies.series.LinkSeries`)."""
        return self.scenario.series

    @property
    def t_s(self) -> float:
        """Scenario seconds of the step in force."""
        return float(self.series.axis.t_s[self.k]) if self.k is not None else float("nan")

    def start(self) -> "Emulation":
        """Build the network at ``start_s`` (and start OSPF); idempotent."""
        if self.network is not None:
            return self
        shaping = self._capabilities()
        with self._progress("links", self.scenario.axis.n_steps) as advance:
            series = self.scenario.compute_series(progress=advance)
        self._check_size(series)
        self._signals.install()
        try:
            with self._signals.guarded():
                self._build(series, shaping)
                if self.dynamic:
                    self._start_ospf()
                if self.view:
                    self._start_viewer()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Tear everything down (idempotent); further Ctrl-C or SIGTERM only say it is under way."""
        self._signals.tearing_down = True
        try:
            self._emit({"type": "end", "interrupted": self._signals.flag.is_set()})
            self._stop_ospf()
            if self.network is not None:
                self.network.stop()
            if self._viewer is not None:
                self._viewer.stop()
        finally:
            self.network = self.frr = self._viewer = None
            self._signals.restore()
            self._signals = _run_signals()

    # -- build phases --------------------------------------------------------------------------------
    def _capabilities(self) -> str:
        """Root, netem (as asked) and FRR (for OSPF); the shaping the links get: netem, tbf or none."""
        if os.geteuid() != 0:
            raise CapabilityError("a live emulation needs root (it creates network namespaces): run it with sudo")
        from emulator.kernel import mnexec_problem, modprobe_netem, netem_available

        problem = None if self.cluster is not None else mnexec_problem()  # a cluster's hosts check their own
        if problem:
            raise CapabilityError(f"nodes cannot be started: {problem}")

        if self.shaping in ("none", "tbf"):
            shaping = self.shaping
        else:
            modprobe_netem()
            shaping = "netem" if netem_available() else "none"
            if self.shaping == "netem" and shaping == "none":
                raise CapabilityError(
                    "this kernel has no sch_netem qdisc, so link delays cannot be emulated; use `sgemu run --vm` "
                    "(a VM with Debian's kernel), load the module (`modprobe sch_netem`), shaping='tbf' "
                    "(per-step rates only) or shaping='none'")
        if self.dynamic:
            from emulator.frr import frr_missing

            missing = frr_missing(self.routing, bgp=bool(self.bgp))
            if missing:
                raise CapabilityError(f"routing {self.routing_label} needs FRR: {missing}")
        return shaping

    def _check_size(self, series) -> None:
        try:
            from .limits import check_live
        except ImportError:
            return
        check_live(series, routing=self.routing, log=self._log, bgp=bool(self.bgp))

    def _build(self, series, shaping: str) -> None:
        offset_ms, how = self._calibration(shaping)
        self.network = self._network(series, shaping, offset_ms)
        k0 = series.axis.index_of(self.start_s)
        t0 = time.perf_counter()
        check = self._signals.check
        with self._progress("build", series.n_nodes) as advance:
            self._st0 = self.network.start(k0, progress=lambda n=1: (check(), advance(n)))
        self.k = k0
        self._info.update(shaping=shaping, delay_emulated=shaping == "netem", netem_offset_ms=offset_ms,
                          netem_offset=how, build_s=time.perf_counter() - t0, nodes=series.n_nodes,
                          run_tag=self.network.run_tag, queue_limit_pkts=self.queue_limit_pkts)
        if self.cluster is not None:
            self._info["cluster"] = {"address": self.cluster, "hosts": [h["name"] for h in self.network.hosts],
                                     "cross_host_links": int(self.network.placement.cross_links)}
        self._emit({"type": "step", "k": k0, "t_s": self.t_s, "late_ms": 0.0, "apply_ms": 0.0})

    def _network(self, series, shaping: str, offset_ms: float):
        """The network driver: one machine (:class:`emulator.network.EmulatedNetwork`) or a Ray cluster."""
        common = dict(shaping=shaping, ground_transit=self.scenario.spec.ground_transit,
                      delay_offset_ms=offset_ms, run_tag=self.run_tag)
        unnumbered = self._ospf.get("links", "unnumbered") == "unnumbered"
        if self.cluster is not None:
            from emulator.cluster.driver import ClusterNetwork
            from emulator.cluster.placement import node_planes

            return ClusterNetwork(series, self.cluster, node_planes(self.scenario._bind()[0]), quiet=self.quiet,
                                  routing="none" if self.dynamic else "static",
                                  loopback_on_links=self.dynamic and unnumbered, **common)
        from emulator.network import EmulatedNetwork

        return EmulatedNetwork(series, routing="none" if self.dynamic else "static",
                               loopback_on_links=self.dynamic and unnumbered,
                               queue_limit_pkts=self.queue_limit_pkts, strategy=self.strategy, **common)

    def _calibration(self, shaping: str) -> tuple[float, str]:
        if shaping != "netem" or self._calibrate in ("off", None):
            return 0.0, "off"
        if self._calibrate != "auto":
            return float(self._calibrate), "fixed"
        from emulator.calibrate import netem_overshoot_ms

        offset = netem_overshoot_ms()
        self._log(f"netem calibration: packets leave {offset:.3f} ms late per netem hop here; "
                  f"configuring delays that much shorter")
        return offset, "measured"

    def _start_ospf(self) -> None:
        from emulator.frr import FrrNetwork, timer_profile
        from emulator.vm import software_emulated

        ospf = dict(self._ospf)
        self._cost_every = max(1, round(float(ospf.pop("cost_update_every_s", 1.0)) / self.series.axis.step_s))
        self._min_cost_change = int(ospf.pop("min_cost_change", 20))
        links = ospf.pop("links", "unnumbered")
        if "areas" in ospf:
            ospf["layer_areas"] = ospf.pop("areas")
        ospf = {**timer_profile(ospf.pop("timers", "auto"), self.series.n_nodes, software_emulated()), **ospf}
        check = self._signals.check
        if self.cluster is not None:  # each host's agent runs FRR in its own nodes
            from emulator.cluster.ospf import ClusterFrr

            self.frr = ClusterFrr(self.network, self._outdir() / "frr", protocol=self.routing, bgp=self._bgp_plan(),
                                  **ospf)
            per_node = len(self.frr.daemons)
            with self._progress("frr", per_node * self.series.n_nodes) as advance:
                start_s = self.frr.start(self.k, progress=lambda n=1: (check(), advance(per_node * n)))
            converged_s = self.frr.wait_converged(self.k, check=check)
        else:
            self.frr = FrrNetwork(self.network, self._outdir() / "frr", protocol=self.routing, bgp=self._bgp_plan(),
                                  **ospf)
            with self._progress("frr", len(self.frr.daemons) * self.series.n_nodes) as advance:
                start_s = self.frr.start(self.k, progress=lambda n=1: (check(), advance(n)))
            converged_s = self._wait_for_ground_routes()
        if self.frr.bgp is not None:
            self._info["bgp"] = {**self.frr.bgp.summary(), "sessions_at_start": self.frr.bgp_sessions()}
        self._info["ospf"] = {"protocol": self.routing, "links": links, "hello_s": self.frr.plan.hello_s, "dead_s": self.frr.plan.dead_s,
                              "start_s": start_s, "initial_convergence_s": converged_s}

    def _bgp_plan(self):
        """The :class:`emulator.bgp.BgpPlan` of ``emulation.bgp`` (None without)."""
        if not self.bgp:
            return None
        from emulator.bgp import BgpPlan

        return BgpPlan(self.series, self.bgp["ases"], self.bgp["space_asn"], self.bgp["route_reflectors"],
                       self.bgp["keepalive_s"], self.bgp["hold_s"])

    def _wait_for_ground_routes(self, timeout_s: float = 60.0) -> float:
        """Seconds until every station's packets reach every station it can reach now (with BGP: the
        pairs :meth:`emulator.bgp.BgpPlan.deliverable` counts): each node along the way has its kernel
        route, first next hops followed (a station's own route alone may lead to a satellite without one)."""
        from emulator.fib import FibReader, paths_arrive
        from topologies.routing import next_hops

        s = self.series
        g = np.asarray(s.ground_indices)
        if self.frr.bgp is not None:  # AS paths cannot enter an AS twice: not every pair the links join
            want = self.frr.bgp.deliverable(self.k, g)
        else:
            want = next_hops(s, self.k, self.scenario.spec.ground_transit)[1][np.ix_(g, g)] >= 0
        t0 = time.perf_counter()
        with FibReader(self.network) as fib:
            while time.perf_counter() - t0 < timeout_s:
                self._signals.check()
                if not (want & ~paths_arrive(s, self.k, fib.next_hops()[0], g)).any():
                    return time.perf_counter() - t0
                time.sleep(0.2)
        return float("nan")

    def _stop_ospf(self) -> None:
        if self.frr is None:
            return
        self.frr.quiesce()
        if self._cost_thread is not None:
            self._cost_thread.join(timeout=30)
        try:
            self._info.setdefault("ospf", {})["adjacencies_lost"] = self.frr.dead_interval_expiries()
        except OSError:
            pass
        self.frr.stop()

    def _start_viewer(self) -> None:
        from viewer.live import LiveViewer

        where = self.view if isinstance(self.view, dict) else {}
        self._viewer = LiveViewer(self.series, self.scenario, quiet=self.quiet, **where)
        self._viewer.start()
        self.subscribe(self._viewer.publish)

    def _outdir(self) -> Path:
        from .limits import make_out_dir

        if self.out is None:
            self.out = Path(tempfile.mkdtemp(prefix=f"sgemu-{self.scenario.name}-"))
        return make_out_dir(self.out, "out")

    # -- the scenario clock ------------------------------------------------------------------------
    def _require_network(self) -> None:
        if self.network is None:
            raise RuntimeError("the emulation is not running: use `with Emulation(...) as emu:` or emu.start()")

    def _apply(self, k: int, due_wall: float | None = None):
        """Apply step k to the network; notify the route watch and the listeners."""
        t0 = time.time()
        st = self.network.apply_step(k, due_s=due_wall)
        self.k = k
        if self._watch is not None:
            self._watch.notify(k, t0 if due_wall is None else due_wall)
        late_ms = 0.0 if due_wall is None else max(0.0, t0 - due_wall) * 1e3
        self._emit({"type": "step", "k": k, "t_s": self.t_s, "late_ms": late_ms, "apply_ms": st.total_s * 1e3})
        return st

    def advance(self, to_s: float) -> int:
        """Apply every step up to scenario second ``to_s`` now (no waiting for the wall clock); the step.

        Routes, link states and delays follow exactly as in a real-time run; with OSPF the
        costs of each step are sent to the daemons before the next step."""
        self._require_network()
        axis = self.series.axis
        if not (isinstance(to_s, (int, float)) and self.t_s <= to_s <= axis.duration_s):
            raise ScenarioError("to_s", f"{to_s!r}; accepted: {self.t_s:g} to {axis.duration_s:g} s "
                                        "(the clock only moves forward)")
        from experiments.run import update_ospf

        with self._signals.guarded():
            for k in range(self.k + 1, axis.index_of(to_s) + 1):
                self._apply(k)
                self._signals.check()
                if self.frr is not None:
                    update_ospf(self.frr, self._watch, k, self._min_cost_change)
            if hasattr(self.network, "wait_routes"):
                self.network.wait_routes()  # a controller delay: the decision is in force on return
        return self.k

    def subscribe(self, callback) -> None:
        """Call ``callback(event)`` on every applied step, measured ping reply and the end (see
        docs/api.md for the events); a failing callback is dropped with one message."""
        self._listeners.append(callback)

    def _emit(self, event: dict) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception as exc:  # noqa: BLE001 - a listener must never break the run
                self._listeners.remove(cb)
                self._log(f"sgemu: a subscriber failed and was dropped: {type(exc).__name__}: {exc}")

    # -- measuring ---------------------------------------------------------------------------------
    def _name(self, name: str, field: str) -> str:
        return self.series.node_names[_node_index(self.series, name, field)]

    def ping(self, src: str, dst: str, count: int = 3, interval_s: float = 0.2) -> PingResult:
        """``ping -c count`` from src to dst now (a plain ping: stations send from their loopback)."""
        from experiments.tools import ping_once

        self._require_network()
        src, dst = self._name(src, "src"), self._name(dst, "dst")
        if not (isinstance(count, int) and 1 <= count <= 100000):
            raise ScenarioError("count", f"{count!r}; accepted: 1 to 100000")
        if not (isinstance(interval_s, (int, float)) and 0.002 <= interval_s <= 60):
            raise ScenarioError("interval_s", f"{interval_s!r}; accepted: 0.002 to 60 s")
        t_s = self.t_s
        rtts, sent = ping_once(self.network, src, dst, count, interval_s)
        return PingResult(src, dst, t_s, rtts, sent, self.predicted_rtt_ms(src, dst))

    def traceroute(self, src: str, dst: str) -> list[str | None]:
        """Node names along the path packets take now, src first (None for a hop that did not answer)."""
        from experiments.tools import traceroute

        self._require_network()
        return traceroute(self.network, self._name(src, "src"), self._name(dst, "dst"))

    def cmd(self, node: str, argv: list[str], timeout_s: float = 60.0) -> str:
        """Run ``argv`` (a list: no shell) in the node's namespace; its output (stdout and stderr)."""
        import subprocess

        self._require_network()
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
            raise ScenarioError("argv", "a non-empty list of strings (no shell string)")
        p = self.network.popen(self._name(node, "node"), argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        try:
            return p.communicate(timeout=timeout_s)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            return p.communicate()[0]

    def predicted_rtt_ms(self, src: str, dst: str) -> float | None:
        """The predicted RTT of the step in force (under the emulation's routing strategy; OSPF:
        delay-shortest), None when unreachable."""
        rtt = self._path(src, dst).rtt_ms[self.k if self.k is not None else 0]
        return float(rtt) if np.isfinite(rtt) else None

    def predicted_path(self, src: str, dst: str) -> list[str]:
        """The predicted path of the step in force, src first ([] when unreachable)."""
        return self._path(src, dst).path_names(self.k if self.k is not None else 0)

    def _path(self, src: str, dst: str):
        return self.scenario._path(src, dst, self.strategy)

    def next_hops(self, node: str) -> dict[str, list[str]]:
        """What the node's kernel forwards to now: ``{destination: [next hop, ...]}`` (node names)."""
        from emulator.fib import node_routes

        self._require_network()
        if self.cluster is not None:
            raise CapabilityError("next_hops: the kernel tables of a cluster's nodes are on their hosts; "
                                  "use emu.cmd(node, ['ip', 'route']) there")
        names = self.series.node_names
        routes = node_routes(self.network, _node_index(self.series, node, "node"))
        return {names[j]: [names[h] for h in hops if h >= 0] for j, hops in routes.items()}

    # -- the real-time run -------------------------------------------------------------------------
    def run(self, duration_s: float | None = None, experiments=(), speed: float = 1.0) -> RunResult:
        """Follow the orbits in real time (``speed`` scenario seconds per wall second) from the step
        in force for ``duration_s`` (None: to the end), running ``experiments`` (Ping, Iperf3,
        Command, at their scenario times); write the run directory and return what was measured.

        Interrupted (Ctrl-C, SIGTERM), it still writes what was measured, marked interrupted,
        then raises KeyboardInterrupt."""
        from experiments.run import RealTimeLoop, write_inputs

        self._require_network()
        speed = runconfig.check_speed(speed, "speed")
        k0, k1 = self.k, self._last_step(duration_s)
        exps = self._check_experiments(list(experiments), k0, k1)
        out = self._outdir()
        write_inputs(out, self.scenario.spec.raw, self.series)
        predicted = {(e.src, e.dst): self._path(e.src, e.dst) for e in exps if isinstance(e, Ping)}
        self._control0 = self._control_plane_s()
        with self._progress("emulate", k1 - k0 + 1) as advance:
            loop = RealTimeLoop(self.network, self.series, self._apply_live, self._signals, out / "raw", speed, advance)
            self._loop = loop
            interrupted, records = self._run_loop(loop, k0, k1, exps, predicted)
        if not interrupted and self.frr is not None and self.frr.bgp is not None:
            self._info["bgp"]["sessions_at_end"] = self.frr.bgp_sessions()
        summary = self._collect(out, loop, predicted, records, speed, interrupted, k0)
        if interrupted:
            raise KeyboardInterrupt
        return RunResult(summary, out)

    def _last_step(self, duration_s) -> int:
        axis = self.series.axis
        if duration_s is None:
            return axis.n_steps - 1
        if not (isinstance(duration_s, (int, float)) and 0 < duration_s <= axis.duration_s - self.t_s + 1e-9):
            raise ScenarioError("duration_s", f"{duration_s!r}; accepted: above 0 and at most "
                                              f"{axis.duration_s - self.t_s:g} s (to the scenario's end)")
        return axis.index_of(self.t_s + duration_s)

    def _check_experiments(self, exps: list, k0: int, k1: int) -> list:
        from experiments.spec import ExperimentError, check_experiments

        s = self.series
        axis = s.axis
        ground = {n.lower() for n, l in zip(s.node_names, s.node_layer) if l == "GROUND"}
        try:
            check_experiments(exps, s.node_names, ground, float(axis.t_s[k1]) + axis.step_s)
        except ExperimentError as exc:
            raise runconfig._as_scenario_error(str(exc), sorted(ground)) from None
        early = [e for e in exps if (e.at_s if isinstance(e, Command) else e.start_s) < float(axis.t_s[k0]) - 1e-9]
        if early:
            raise ScenarioError("experiments", f"{early[0].type} starts at {getattr(early[0], 'start_s', 0):g} s, "
                                               f"before the step in force ({self.t_s:g} s)")
        return exps

    def _apply_live(self, k: int):
        st = self._apply(k, self._loop.clock.due(k))
        if self.frr is not None and k % self._cost_every == 0 and not (
                self._cost_thread is not None and self._cost_thread.is_alive()):
            from experiments.run import update_ospf

            self._cost_thread = threading.Thread(target=update_ospf, daemon=True,
                                                 args=(self.frr, self._watch, k, self._min_cost_change))
            self._cost_thread.start()
        return st

    def _run_loop(self, loop, k0: int, k1: int, exps: list, predicted: dict):
        """The loop with its route watch, path check and ping tail; (interrupted, (watch, path) records)."""
        from experiments.routewatch import BgpTarget, OspfTarget, RouteWatch, StaticTarget
        from experiments.run import ROUTE_WATCH_MAX_NODES, PathCheck, PingTail

        watch_on = self._route_watch if self._route_watch is not None else self.series.n_nodes <= ROUTE_WATCH_MAX_NODES
        watch_on = watch_on and self.cluster is None  # the watch reads every node's table from here
        if watch_on:
            if self.frr is None:
                target = StaticTarget(self.network)
            else:
                target = BgpTarget(self.frr) if self.frr.bgp is not None else OspfTarget(self.frr)
            self._watch = RouteWatch(self.network, target, self.series.axis.step_s)
            loop.on_step.append(lambda k: k == k0 and self._watch.notify(k, loop.clock.due(k)))
        check = None
        if not self._info["delay_emulated"] and predicted:
            check = PathCheck(self.network, predicted, lambda: self.k)
            changes = {p: set(v.change_steps().tolist()) | {k0} for p, v in predicted.items()}
            loop.on_step.append(lambda k: check.notify(k, {p: (k - 1 in c) or k == k0 for p, c in changes.items()}))
        if self._listeners:
            loop.on_step.append(PingTail(loop, predicted, self._emit))
        interrupted = False
        try:
            with self._signals.guarded():
                loop.run(k0, k1, exps)
        except KeyboardInterrupt:
            interrupted = True
            self._log("interrupted: writing what was measured, then tearing the network down")
        finally:
            loop.kill_tools()
            watch = self._watch.close() if self._watch is not None else []
            self._watch = None
            paths = check.close() if check is not None else []
        return interrupted, (watch, paths)

    def _control_plane_s(self) -> tuple[str, float]:
        """What the control plane is and the seconds it has used so far: FRR daemons' CPU (OSPF), or
        the routing strategy's planning time (static routes, planned by this process)."""
        if self.frr is not None:
            return "FRR daemons' CPU", float(sum(sum(n.cpu_s().values()) for n in self.frr.nodes))
        planning = getattr(self.network, "planning_ms", None)
        return "route planning", (sum(planning().values()) / 1e3 if planning else 0.0)

    def _stretch(self, predicted: dict, k0: int, path_records: list) -> dict:
        """Per ping pair, RTT over the delay-shortest optimum: ``predicted`` (the routing's own paths,
        mean over the run) and ``taken`` (the paths traceroute saw, when traced: mean over the traces)."""
        out = {}
        for (src, dst), path in predicted.items():
            optimum = self.scenario._path(src, dst)
            pair = f"{src}->{dst}"
            traced = [(r["step"], r["measured"].split()) for r in path_records if r["pair"] == pair]
            taken = [self.series.path_rtt_ms(k, hops) / optimum.rtt_ms[k] for k, hops in traced
                     if hops[-1:] == [dst] and np.isfinite(optimum.rtt_ms[k])]  # whole traces only
            taken = [x for x in taken if np.isfinite(x)]
            out[pair] = {"predicted": _stretch_mean(path, optimum, k0, self.k),
                         "taken": float(np.mean(taken)) if taken else None}
        return out

    def _collect(self, out: Path, loop, predicted: dict, records, speed: float, interrupted: bool, k0: int) -> dict:
        from emulator.clock import StepRecord
        from experiments.run import collect
        from topologies.events import parse_events

        if k0 == self.series.axis.index_of(self.start_s) and getattr(self, "_st0", None) is not None:
            st = self._st0
            loop.steplog.records.insert(0, StepRecord(k0, float(self.series.axis.t_s[k0]), 0.0,
                                                      st.total_s, st.links_up, 0, st.delays_set, st.routes_changed))
        run = {"scenario": self.scenario.name, "routing": self.routing_label, "speed": speed,
               "steps": self.series.n_steps, "step_s": self.series.axis.step_s, "interrupted": interrupted,
               "t_start_s": float(self.series.axis.t_s[k0]), "t_end_s": self.t_s, **self._info}
        if self.frr is not None:
            run["ospf"] = {**run.get("ospf", {}), "errors": list(self.frr.errors),
                           "interfaces_readdressed": [f"{n}:{i}" for n, i in self.frr.repaired]}
        if not run["delay_emulated"]:
            run["rtt_agreement"] = ("not applicable: delays were not emulated (shaping: "
                                    f"{run['shaping']})")
        if self.cluster is not None:
            run["cluster"] = {**run["cluster"], "hosts": self.network.lateness()}
        what, cpu_s = self._control_plane_s()
        run["control_plane"] = {"what": what, "s": cpu_s - self._control0[1]}
        run["stretch"] = self._stretch(predicted, k0, records[1])
        events = parse_events(self.series, self.scenario.spec.events or [])
        return collect(out, run, self.series, loop, predicted, records[0], records[1], events)


def _stretch_mean(path, optimum, k0: int, k1: int) -> float | None:
    """Mean over steps k0..k1 where both are reachable of the path's RTT over the delay-shortest one."""
    a, b = path.rtt_ms[k0:k1 + 1], optimum.rtt_ms[k0:k1 + 1]
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return float(np.mean(a[ok] / b[ok])) if ok.any() else None


def _strategy_spec(strategy, base_dir):
    """A RoutingSpec from what ``Scenario.route(strategy=...)`` takes (None: delay-shortest)."""
    if strategy is None:
        return None
    return runconfig.emulation_options({}, strategy, base_dir)["strategy"] or _no_ospf_here()


def _no_ospf_here():
    raise ScenarioError("strategy", "'ospf' is a live protocol, not a prediction; accepted: a strategy name, "
                                    "a mapping or a callable (docs/routing.md)")


def _check_run_tag(tag):
    """The run tag (None: SGEMU_RUN_TAG, else a random one), checked before anything is built."""
    from emulator.namespaces import RunTagError, check_run_tag

    field = "run_tag" if tag is not None else "SGEMU_RUN_TAG"
    tag = tag if tag is not None else os.environ.get("SGEMU_RUN_TAG")
    if tag is None:
        return None
    try:
        return check_run_tag(tag, field)
    except RunTagError as exc:
        raise ScenarioError(field, str(exc).removeprefix(f"{field}: ")) from None


def _check_out(out) -> Path:
    from .limits import check_out_dir

    return check_out_dir(out, "out")


def _run_signals():
    from experiments.run import StopSignals

    return StopSignals()


class _silent_bar:
    def __init__(self, label: str, total: int):
        pass

    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc):
        return False


def _rich_bar(label: str, total: int):
    from .progress import progress_bar

    return progress_bar(label, total)
