"""One emulation run: build the network, follow the orbits in real time, measure, report.

:func:`run_emulation` is what ``sgemu run`` does.  It checks the
experiments before anything exists, builds the
:class:`~emulator.network.EmulatedNetwork`, applies each step of the link
series on time (the :class:`~emulator.clock.ScenarioClock`), starts the
tools at their scenario times, and always tears the network down -- on
success, on error, on Ctrl-C and on SIGTERM.  Then it writes the run
directory::

    scenario.yaml  links.npz  events.csv  steps.csv  raw/...
    results.csv    throughput.csv  changes.csv  summary.json  rtt.png

``changes.csv`` has one row per topology change (handover, link up/down,
scenario event, OSPF cost update): its cause, how long until every node's
routes were right again (:mod:`experiments.routewatch`), routes changed,
and per ping pair the time until replies came back and agreed with the
prediction, and the requests lost.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from emulator.clock import ScenarioClock, StepLog, StepRecord
from emulator.network import EmulatedNetwork
from topologies.routing import route_pair

from . import convergence, results, tools
from .routewatch import OspfTarget, RouteWatch, StaticTarget
from .spec import Command, Iperf3, Ping, check_experiments


_OWNER_PID = None
_STOP = threading.Event()


def _on_signal(signum, frame):
    """Ctrl-C and SIGTERM ask the run to stop -- at the next safe point, in this process only.

    The handler only sets a flag: an exception raised in the middle of a
    pyroute2 or Mininet call could leave their sockets or child processes
    half-way and hang the teardown.  The run checks the flag between nodes
    while building and between steps while running.  Libraries also fork
    helpers (pyroute2 opens namespace sockets from a forked child and stops
    it with SIGTERM); a forked child inherits this handler and must simply
    exit, never unwind into our teardown code.
    """
    if os.getpid() != _OWNER_PID:
        os._exit(0)
    _STOP.set()


def _check_stop() -> None:
    if _STOP.is_set():
        raise KeyboardInterrupt


def _wait_until(clock, k: int) -> None:
    """Sleep until step k is due, in short slices so a stop request is seen at once."""
    while True:
        _check_stop()
        left = clock.due(k) - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


def _wait_for_routes(frr, net, pairs, timeout_s: float = 60.0) -> float:
    """Seconds until every ping pair's source has an OSPF route to its destination."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        _check_stop()
        if all(f"{net.address(dst)}/32" in frr.node(src).ospf_routes() for src, dst in pairs):
            return time.perf_counter() - t0
        time.sleep(0.2)
    return float("nan")


ROUTE_WATCH_MAX_NODES = 600


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


def run_emulation(scen, series, exps: list, out: Path, speed: float = 1.0, shaping: bool = True,
                  quiet: bool = False, progress_bar=None, log=print, routing: str = "static",
                  ospf: dict | None = None, route_watch: bool | None = None, calibrate="auto") -> dict:
    """Run the emulation of ``series`` with experiments ``exps``; return the summary dict.

    ``routing`` is ``static`` (predicted shortest paths installed centrally)
    or ``ospf`` (FRR in every node; ``ospf`` holds hello_s, dead_s, costs,
    areas, timers, links, min_cost_change and cost_update_every_s).  ``route_watch`` times route
    convergence after every change (default: for networks up to
    :data:`ROUTE_WATCH_MAX_NODES` nodes; each read of all tables costs
    about nodes^2 route entries).  ``calibrate`` sets the netem delay offset:
    ``"auto"`` measures the platform's lateness per netem traversal first
    (:func:`emulator.calibrate.netem_overshoot_ms`), ``"off"`` uses none, a
    number is taken as the offset in ms.
    """
    axis = series.axis
    ground = {n.lower() for n, l in zip(series.node_names, series.node_layer) if l == "GROUND"}
    check_experiments(exps, series.node_names, ground, axis.duration_s + axis.step_s)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw"
    raw.mkdir(exist_ok=True)
    (out / "scenario.yaml").write_text(yaml.safe_dump(scen.raw, sort_keys=False))
    series.save(out / "links.npz")
    from sgemu.cmd_topology import write_events_csv

    write_events_csv(out / "events.csv", series.events())

    pairs = list(dict.fromkeys((e.src, e.dst) for e in exps if isinstance(e, Ping)))
    predicted = {}
    changes = {}
    for src, dst in pairs:
        p = route_pair(series, series.index(src), series.index(dst), scen.ground_transit)
        predicted[(src, dst)] = p.rtt_ms
        changes[(src, dst)] = p.change_steps().tolist()

    ospf = dict(ospf or {})
    cost_every_steps = max(1, int(round(float(ospf.pop("cost_update_every_s", 1.0)) / axis.step_s)))
    min_cost_change = int(ospf.pop("min_cost_change", 20))
    unnumbered = ospf.pop("links", "unnumbered") == "unnumbered"
    if "areas" in ospf:
        ospf["layer_areas"] = ospf.pop("areas")
    if routing == "ospf":
        from emulator.frr import timer_profile
        from emulator.vm import software_emulated

        ospf = {**timer_profile(ospf.pop("timers", "auto"), series.n_nodes, software_emulated()),
                **ospf}  # explicit keys win
    offset_ms, how = 0.0, "off"
    if shaping and calibrate == "auto":
        from emulator.calibrate import netem_overshoot_ms

        offset_ms, how = netem_overshoot_ms(), "measured"
        if not quiet:
            log(f"netem calibration: packets leave {offset_ms:.3f} ms late per netem hop here; "
                f"configuring delays that much shorter")
    elif shaping and calibrate not in ("off", None):
        offset_ms, how = float(calibrate), "fixed"
    net = EmulatedNetwork(series, shaping=shaping, ground_transit=scen.ground_transit,
                          routing="none" if routing == "ospf" else "static", delay_offset_ms=offset_ms,
                          loopback_on_links=routing == "ospf" and unnumbered)
    frr, frr_info, cost_thread, watch, watch_records = None, {}, None, None, []
    if route_watch is None:
        route_watch = series.n_nodes <= ROUTE_WATCH_MAX_NODES
    clock = ScenarioClock(axis.step_s, speed)
    steplog = StepLog(axis.step_s, speed)
    running: list[tools.Running] = []
    global _OWNER_PID
    _OWNER_PID = os.getpid()
    _STOP.clear()
    old = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    interrupted = False
    try:
        bar = progress_bar or (lambda label, total: _null_bar())
        t_build = time.perf_counter()
        with bar("build", series.n_nodes) as advance:
            st0 = net.start(0, progress=lambda n=1: (_check_stop(), advance(n)))
        build_s = time.perf_counter() - t_build
        if routing == "ospf":
            from emulator.frr import FrrNetwork

            frr = FrrNetwork(net, out / "frr", **ospf)
            frr_info.update(links="unnumbered" if unnumbered else "numbered", hello_s=frr.plan.hello_s,
                            dead_s=frr.plan.dead_s)
            with bar("frr", 2 * series.n_nodes) as advance:
                frr_info["start_s"] = frr.start(0, progress=lambda n=1: (_check_stop(), advance(n)))
            frr_info["initial_convergence_s"] = _wait_for_routes(frr, net, pairs)
        clock.begin()
        if route_watch:
            watch = RouteWatch(net, OspfTarget(frr) if frr is not None else StaticTarget(net), axis.step_s)
            watch.notify(0, clock.due(0))
        steplog.add(StepRecord(0, 0.0, 0.0, st0.total_s, st0.links_up, 0, st0.delays_set, st0.routes_changed))
        pending = sorted(enumerate(exps), key=lambda ie: ie[1].at_s if isinstance(ie[1], Command) else ie[1].start_s)
        run_end_s = axis.duration_s + axis.step_s
        with bar("emulate", axis.n_steps) as advance:
            for k in range(axis.n_steps):
                if k > 0:
                    _wait_until(clock, k)
                    late = time.time() - clock.due(k)
                    st = net.apply_step(k)
                    if watch is not None:
                        watch.notify(k, clock.due(k))
                    if frr is not None and k % cost_every_steps == 0 and not (cost_thread and cost_thread.is_alive()):
                        # cost updates (vtysh per node) run beside the clock, never blocking a step
                        cost_thread = threading.Thread(target=update_ospf, args=(frr, watch, k, min_cost_change),
                                                       daemon=True)
                        cost_thread.start()
                    steplog.add(StepRecord(k, float(axis.t_s[k]), max(0.0, late), st.total_s, st.links_up,
                                           st.links_down, st.delays_set, st.routes_changed))
                t_k = float(axis.t_s[k])
                while pending:
                    i, e = pending[0]
                    start = e.at_s if isinstance(e, Command) else e.start_s
                    if start > t_k + 1e-9:
                        break
                    pending.pop(0)
                    running.append(tools.start(e, net, raw, run_end_s, speed, i))
                advance(1)
            _wait_until(clock, axis.n_steps)  # the last step lasts one step too
        tools.stop_all(running)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: tearing the network down")
    finally:
        for r in running:
            for p in (r.proc, r.server):
                if p is not None and p.poll() is None:
                    p.kill()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if watch is not None:
            watch_records = watch.close()
        if cost_thread is not None:
            if frr is not None:
                frr.quiesce()
            cost_thread.join(timeout=30)
        if frr is not None:
            try:
                frr_info["adjacencies_lost"] = frr.dead_interval_expiries()
            except OSError:
                pass
            frr.stop()
        net.stop()
    if interrupted:
        raise KeyboardInterrupt

    steplog.write_csv(out / "steps.csv")
    rows, per_pair, pair_recs = [], {}, {}
    for r in running:
        if isinstance(r.exp, Ping):
            pr, sent = results.ping_rows(r.out, r.exp.src, r.exp.dst, clock, predicted[(r.exp.src, r.exp.dst)], axis.step_s)
            rows += pr
            summ = results.pair_summary(pr, sent, len(changes[(r.exp.src, r.exp.dst)]))
            recs = convergence.recoveries(pr, changes[(r.exp.src, r.exp.dst)], axis.step_s, r.exp.interval_s)
            summ["convergence"] = convergence.summarise(recs)
            per_pair[f"{r.exp.src}->{r.exp.dst}"] = summ
            pair_recs[f"{r.exp.src}->{r.exp.dst}"] = recs
    results.write_results_csv(out / "results.csv", rows)
    from topologies.events import parse_events

    scen_events = parse_events(series, getattr(scen, "events", None) or [])
    table = convergence.change_table(watch_records, pair_recs, convergence.causes_by_step(series, scen_events),
                                     axis.step_s, routing)
    _write_csv(out / "changes.csv", convergence.flat_rows(table))
    thr = []
    for r in running:
        if isinstance(r.exp, Iperf3):
            for iv in results.iperf3_intervals(r.out):
                thr.append({"src": r.exp.src, "dst": r.exp.dst, "protocol": r.exp.protocol, **iv})
    if thr:
        _write_csv(out / "throughput.csv", thr)
    marks = [(row["t_s"], row["cause"]) for row in table if row["step"] > 0 and row["cause"]]
    plot = (results.plot_rtt(out / "rtt.png", rows, pairs, predicted, axis.t_s, marks=marks,
                             title=f"routing {routing}") if pairs else None)
    summary = {
        "scenario": scen.name,
        "routing": routing,
        "ospf": ({**frr_info, "interfaces_readdressed": [f"{n}:{i}" for n, i in frr.repaired],
                  "errors": frr.errors}
                 if frr_info and frr is not None else frr_info or None),
        "shaping": "netem" if shaping else "none",
        "netem_offset_ms": offset_ms,
        "netem_offset": how,
        "speed": speed,
        "nodes": series.n_nodes,
        "steps": axis.n_steps,
        "step_s": axis.step_s,
        "build_s": build_s,
        "clock": steplog.summary(),
        "pairs": per_pair,
        "routes": convergence.route_summary(watch_records) if route_watch else None,
        "changes": table,
        "throughput_mbps_mean": _mean_by_pair(thr),
        "plot": str(plot) if plot else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["step"])
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)


def _mean_by_pair(intervals: list[dict]) -> dict:
    """Mean Mbit/s of iperf3 intervals per ``src->dst``."""
    per: dict[str, list[float]] = {}
    for t in intervals:
        per.setdefault(f"{t['src']}->{t['dst']}", []).append(t["mbps"])
    return {pair: float(np.mean(v)) for pair, v in per.items()}


class _null_bar:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc):
        return False
