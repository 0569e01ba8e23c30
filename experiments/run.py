"""The pieces of a live run that :class:`sgemu.Emulation` puts together.

A run has phases -- prepare, build, start routing, step loop, collect, tear
down -- and this module holds those that measure: stopping on signals only
at safe points (:class:`StopSignals`), the run directory's inputs
(:func:`write_inputs`), the real-time loop that applies each step on time
and starts the tools at their scenario times (:class:`RealTimeLoop`), the
path check of runs without delay shaping (:class:`PathCheck`) and the
results (:func:`collect`), written as::

    scenario.yaml  links.npz  events.csv  steps.csv  raw/...
    results.csv    throughput.csv  changes.csv  paths.csv  summary.json  rtt.png

``changes.csv`` has one row per topology change (handover, link up/down,
scenario event, OSPF cost update): its cause, how long until every node's
routes were right again (:mod:`experiments.routewatch`), routes changed,
and per ping pair the time until replies came back and agreed with the
prediction, and the requests lost.  An interrupted run writes what it
measured so far, its summary marked ``"interrupted": true``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from emulator.clock import ScenarioClock, StepLog, StepRecord

from . import convergence, results, tools
from .spec import Command, Iperf3, Ping

ROUTE_WATCH_MAX_NODES = 600


class StopSignals:
    """Ctrl-C and SIGTERM while a network exists: stop at the next safe point, never mid-call.

    Inside :meth:`guarded` sections (building, stepping, the real-time loop)
    a signal only sets a flag, checked between nodes and between steps: an
    exception raised inside a pyroute2 or Mininet call could leave their
    sockets or children half-way and hang the teardown.  Outside them (the
    caller's own code between API calls) a signal raises KeyboardInterrupt
    at once, as Python would.  During the teardown every further signal is
    answered with "still tearing down" and the teardown goes on.  Forked
    library helpers inherit the handler and simply exit.
    """

    def __init__(self):
        self.flag = threading.Event()
        self.depth = 0
        self.tearing_down = False
        self._old: dict = {}
        self._owner = os.getpid()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; a caller's thread keeps Python's handling
        self._owner = os.getpid()
        self._old = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def _handler(self, signum, frame):
        if os.getpid() != self._owner:
            os._exit(0)
        if self.tearing_down or self.flag.is_set():
            print("sgemu: stopping: writing what was measured and tearing the network down; it is removed in a moment",
                  file=sys.stderr)
            return
        self.flag.set()
        if self.depth == 0:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def guarded(self):
        """A section in which signals wait for :meth:`check`; a pending one is raised at its end."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        self.check()

    def check(self) -> None:
        if self.flag.is_set() and not self.tearing_down:
            raise KeyboardInterrupt


def write_inputs(out: Path, scenario_raw: dict, series) -> None:
    """The run directory's inputs: scenario.yaml, links.npz, events.csv (and raw/ for tool output)."""
    (out / "raw").mkdir(parents=True, exist_ok=True)
    (out / "scenario.yaml").write_text(yaml.safe_dump(scenario_raw, sort_keys=False))
    series.save(out / "links.npz")
    write_events_csv(out / "events.csv", series.events())


def write_events_csv(path: Path, events: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "event", "kind", "a", "b", "station", "from", "to"])
        for e in events:
            w.writerow([e["t_s"], e["event"], e.get("kind", ""), e.get("a", ""), e.get("b", ""),
                        e.get("station", ""), " ".join(e.get("from", [])), " ".join(e.get("to", []))])


def update_ospf(frr, watch, k: int, min_change: int) -> None:
    """OSPF costs of step k (in a thread beside the clock); the route watch then judges by them.
    Links that came up since the last call are checked for OSPF at both ends
    (:meth:`emulator.frr.FrrNetwork.repair_new_links`)."""
    try:
        if frr.update_costs(k, min_change) and watch is not None:
            watch.refresh()
        frr.repair_new_links()
    except Exception as exc:  # noqa: BLE001 - a thread's failure goes into the summary, not a traceback
        if not frr.quiet:  # a session closed by the teardown is no error
            frr.errors.append(f"step {k}: {type(exc).__name__}: {exc}")


class PathCheck:
    """Traceroutes of the ping pairs at chosen steps, compared with the predicted paths (a thread).

    Without delay shaping measured RTTs say nothing about the model, so a run
    is judged by reachability and by the path the packets take: at the start
    and one step after each predicted path change, each pair is traced and
    the hops compared with the predicted path of the step the trace ran in
    (a trace that straddles a step is not judged).
    """

    def __init__(self, net, paths: dict, step_of, limit_per_pair: int = 20):
        self.net, self.paths, self.step_of = net, paths, step_of
        self.limit = limit_per_pair
        self.records: list[dict] = []
        self._queue: list = []
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="path-check", daemon=True)
        self._thread.start()

    def notify(self, k: int, changed: dict) -> None:
        """Step k applied; ``changed`` maps each pair to whether step k - 1 changed its path."""
        with self._cv:
            for pair, yes in changed.items():
                done = sum(r["pair"] == f"{pair[0]}->{pair[1]}" for r in self.records)
                if yes and done + len(self._queue) < self.limit:
                    self._queue.append(pair)
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                src, dst = self._queue.pop(0)
            k0 = self.step_of()
            hops = tools.traceroute(self.net, src, dst)
            k1 = self.step_of()
            if k0 == k1:
                want = self.paths[(src, dst)].path_names(k0)
                self.records.append({"step": k0, "pair": f"{src}->{dst}", "measured": " ".join(h or "*" for h in hops),
                                     "predicted": " ".join(want), "agree": hops == want})

    def close(self) -> list[dict]:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=30)
        return self.records


class RealTimeLoop:
    """Steps ``k0 .. k1`` applied on the clock, tools started at their scenario times.

    ``apply(k)`` applies one step (the emulation's own method: network,
    route watch, OSPF costs, listeners); ``signals`` is the run's
    :class:`StopSignals`.  Tools write into ``raw``; :attr:`running` lists them.
    """

    def __init__(self, net, series, apply, signals: StopSignals, raw: Path, speed: float, progress=None):
        self.net, self.series, self.apply, self.signals = net, series, apply, signals
        self.raw, self.speed = raw, speed
        self.progress = progress or (lambda n=1: None)
        self.clock = ScenarioClock(series.axis.step_s, speed)
        self.steplog = StepLog(series.axis.step_s, speed)
        self.running: list[tools.Running] = []
        self.on_step = []   # callables (k) after each step, e.g. the ping tailer

    def run(self, k0: int, k1: int, exps: list) -> None:
        axis = self.series.axis
        self.clock.begin(time.time() - k0 * axis.step_s / self.speed)
        pending = sorted(enumerate(exps), key=lambda ie: _start_s(ie[1]))
        end_s = float(axis.t_s[k1]) + axis.step_s
        for k in range(k0, k1 + 1):
            if k > k0:
                self._wait_until(k)
                late = max(0.0, time.time() - self.clock.due(k))
                st = self.apply(k)
                self.steplog.add(StepRecord(k, float(axis.t_s[k]), late, st.total_s, st.links_up,
                                            st.links_down, st.delays_set, st.routes_changed))
            while pending and _start_s(pending[0][1]) <= float(axis.t_s[k]) + 1e-9:
                i, e = pending.pop(0)
                self.running.append(tools.start(e, self.net, self.raw, end_s, self.speed, i))
            for f in self.on_step:
                f(k)
            self.progress(1)
        self._wait_until(k1 + 1)  # the last step lasts one step too
        tools.stop_all(self.running)

    def _wait_until(self, k: int) -> None:
        """Sleep until step k is due, in short slices so a stop request is seen at once."""
        while True:
            self.signals.check()
            left = self.clock.due(k) - time.time()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    def kill_tools(self) -> None:
        for r in self.running:
            for p in (r.proc, r.server):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()


def _start_s(e) -> float:
    return e.at_s if isinstance(e, Command) else e.start_s


class PingTail:
    """Reads new ping replies from the raw files each step and hands them to listeners as events."""

    def __init__(self, loop: RealTimeLoop, predicted: dict, emit):
        self.loop, self.predicted, self.emit = loop, predicted, emit
        self._pos: dict[Path, int] = {}

    def __call__(self, k: int) -> None:
        for r in self.loop.running:
            if not isinstance(r.exp, Ping) or not r.out.exists():
                continue
            with open(r.out, "rb") as f:
                f.seek(self._pos.get(r.out, 0))
                data = f.read()
            cut = data.rfind(b"\n") + 1
            self._pos[r.out] = self._pos.get(r.out, 0) + cut
            for line in data[:cut].decode(errors="replace").splitlines():
                m = results.PING_LINE.match(line)
                if m:
                    self._emit(r.exp, float(m["ts"]), float(m["rtt"]))

    def _emit(self, exp, reply_wall: float, rtt_ms: float) -> None:
        t_s = self.loop.clock.scenario_s(reply_wall - rtt_ms / 1000.0)
        pr = self.predicted.get((exp.src, exp.dst))
        k = int(np.clip(np.floor(t_s / self.loop.series.axis.step_s + 1e-9), 0, self.loop.series.n_steps - 1))
        p = None if pr is None or not np.isfinite(pr.rtt_ms[k]) else float(pr.rtt_ms[k])
        self.emit({"type": "ping", "src": exp.src, "dst": exp.dst, "t_s": t_s, "rtt_ms": rtt_ms,
                   "predicted_rtt_ms": p})


def collect(out: Path, run: dict, series, loop: RealTimeLoop | None, predicted: dict, watch_records: list,
            path_records: list, scen_events: list) -> dict:
    """Write steps.csv, results.csv, throughput.csv, changes.csv, paths.csv, rtt.png and summary.json.

    ``run`` holds what the emulation knows (scenario name, routing, shaping,
    speed, nodes, build_s, ospf, interrupted, ...); ``predicted`` maps each
    ping pair to its :class:`~topologies.routing.PathSeries`."""
    step_s = run["step_s"]
    running = loop.running if loop else []
    if loop is not None:
        loop.steplog.write_csv(out / "steps.csv")
    delay_emulated = run.get("delay_emulated", run["shaping"] == "netem")
    rows, per_pair, pair_recs = _ping_results(running, loop, predicted, step_s, delay_emulated)
    results.write_results_csv(out / "results.csv", rows)
    _path_agreement(per_pair, path_records)
    _write_csv(out / "paths.csv", path_records, ["step", "pair", "measured", "predicted", "agree"])
    causes = convergence.causes_by_step(series, scen_events)
    steps_run = (round(run["t_start_s"] / step_s), round(run["t_end_s"] / step_s)) if "t_end_s" in run else None
    table = convergence.change_table(watch_records, pair_recs, causes, step_s, run["routing"], steps_run)
    _write_csv(out / "changes.csv", convergence.flat_rows(table), ["step"])
    thr = _throughput(running)
    if thr:
        _write_csv(out / "throughput.csv", thr, list(thr[0]))
    summary = {**run, "clock": loop.steplog.summary() if loop else {}, "pairs": per_pair,
               "routes": convergence.route_summary(watch_records) if watch_records else None,
               "changes": table, "throughput": _throughput_summary(thr), "plot": None}
    summary["throughput_mbps_mean"] = {p: v["mbps_mean"] for p, v in summary["throughput"].items()}
    pairs = list(predicted)
    if pairs and loop is not None:
        marks = [(row["t_s"], row["cause"]) for row in table if row["step"] > 0 and row["cause"]]
        note = None if delay_emulated else f"no delay shaping ({run['shaping']}): measured RTTs are not the model's"
        summary["plot"] = str(results.plot_rtt(out / "rtt.png", rows, pairs, {p: v.rtt_ms for p, v in predicted.items()},
                                               series.axis.t_s, marks=marks, title=f"routing {run['routing']}",
                                               note=note, predicted_label=_predicted_label(run["routing"])))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    return summary


def _predicted_label(routing: str) -> str:
    """The legend of the predicted RTT: the delay-shortest path, or the strategy's own path."""
    if routing in ("static", "ospf", "isis") or routing.startswith("bgp+"):
        return "predicted (shortest path)"
    return f"predicted ({routing if len(routing) <= 40 else routing[:37] + '...'})"


def _ping_results(running, loop, predicted, step_s: float, delay_emulated: bool):
    rows, per_pair, pair_recs = [], {}, {}
    for r in running:
        if not isinstance(r.exp, Ping):
            continue
        key, name = (r.exp.src, r.exp.dst), f"{r.exp.src}->{r.exp.dst}"
        path = predicted[key]
        pr, sent = results.ping_rows(r.out, r.exp.src, r.exp.dst, loop.clock, path.rtt_ms, step_s)
        rows += pr
        changes = path.change_steps().tolist()
        summ = results.pair_summary(pr, sent, len(changes), rtt_emulated=delay_emulated)
        recs = convergence.recoveries(pr, changes, step_s, r.exp.interval_s, rtt_emulated=delay_emulated)
        summ["convergence"] = convergence.summarise(recs)
        per_pair[name] = summ
        pair_recs[name] = recs
    return rows, per_pair, pair_recs


def _path_agreement(per_pair: dict, path_records: list) -> None:
    for name, summ in per_pair.items():
        recs = [r for r in path_records if r["pair"] == name]
        summ["path_checks"] = len(recs)
        summ["path_agree_pct"] = 100.0 * sum(r["agree"] for r in recs) / len(recs) if recs else None


def _throughput(running) -> list[dict]:
    thr = []
    for r in running:
        if isinstance(r.exp, Iperf3):
            for iv in results.iperf3_intervals(r.out):
                thr.append({"src": r.exp.src, "dst": r.exp.dst, "protocol": r.exp.protocol, **iv})
    return thr


def _throughput_summary(intervals: list[dict]) -> dict:
    """Per ``src->dst``: protocol, intervals, Mbit/s mean/min/max and (UDP) loss %."""
    per: dict[str, list[dict]] = {}
    for t in intervals:
        per.setdefault(f"{t['src']}->{t['dst']}", []).append(t)
    out = {}
    for pair, ivs in per.items():
        mbps = np.array([iv["mbps"] for iv in ivs])
        lost = [iv["lost_pct"] for iv in ivs if iv.get("lost_pct") is not None]
        out[pair] = {"protocol": ivs[0]["protocol"], "intervals": len(ivs), "mbps_mean": float(mbps.mean()),
                     "mbps_min": float(mbps.min()), "mbps_max": float(mbps.max()),
                     "lost_pct_mean": float(np.mean(lost)) if lost else None}
    return out


def _write_csv(path: Path, rows: list[dict], header: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else header)
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(type(v).__name__)
