"""Benchmark: OSPF and IS-IS (FRR zebra + ospfd or isisd in every node) following the orbits -- convergence, CPU, memory.

    python -m benchmarks.bench_ospf [--scenario default|250|500] [--protocol ospf|isis|both] [--duration S]

``--protocol both`` (the default) runs OSPF, then IS-IS, on the same
scenario with the same timer profile and cost model, and ends with a table
of the two side by side.

``default`` is the built-in scenario (86 nodes); ``500`` is the same
BDS-3 layer under a 20 x 22 LEO Walker shell at 1,000 km with 30 ground
stations (500 nodes), ``250`` the same with a 12 x 16 shell (252 nodes).  A seeded random failure takes 5 % of the LEO
satellites down for 20 s in the middle of the run, so the figures include
node failures and recoveries besides handovers and cost updates.

What is measured, on the host kernel without netem (OSPF's timing does not
depend on link delays beyond a few ms, and delay shaping here would need
the VM, where software emulation makes every process ~30x slower):

- network build, FRR start (configs, FRR's check, daemons) and the time
  until every node's routes are the shortest under OSPF's costs;
- then ``--duration`` s at 1x, every step applied on time, costs checked
  every step as in ``sgemu run``: for each change, the time until every
  node's routes are right again (:mod:`experiments.routewatch`);
- CPU seconds used by all daemons during the run (and as a share of one
  core), memory of all daemons: resident (RSS, shared library pages counted
  in every process) and proportional (PSS, shared pages split among them).

Needs root and Debian's ``frr``.  Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml


CONVERGE_GIVE_UP_S = 600
LINK_CHANGES = "link changes (handovers, ISL/relay up/down)"
#: LEO shells (planes, satellites per plane) of the larger scenarios: with BDS-3 (30) and 30 stations
#: they make 252 and 500 nodes.
SHELLS = {"250": (12, 16), "500": (20, 22)}


def scenario(which: str, duration_s: float):
    from sgemu.scenario import default_scenario_path, parse_scenario

    raw = yaml.safe_load(open(default_scenario_path()))
    if which in SHELLS:
        from orbits.stations import builtin_stations

        raw["name"] = f"ospf-{which}"
        planes, per_plane = SHELLS[which]
        raw["constellations"][1]["walker"].update(planes=planes, sats_per_plane=per_plane)
        names = list(raw["stations"])
        have = {str(n).lower() for n in names}  # the built-in table is keyed by lower-case name
        names += [st.name for key, st in builtin_stations().items() if key not in have][:30 - len(names)]
        raw["stations"] = names
    raw["duration_s"] = duration_s
    raw["events"] = [{"type": "random-failure", "group": "leo", "share": 0.05, "seed": 1,
                      "at_s": round(duration_s / 2), "until_s": round(duration_s / 2) + 20}]
    return parse_scenario(raw)


def wrong_routes(net, frr, k: int, show: int = 8) -> str:
    """How many routes are off OSPF's shortest paths at step k, naming the first ``show``."""
    from scipy.sparse.csgraph import dijkstra

    from emulator.fib import FibReader
    from topologies.routing import on_shortest_paths

    with FibReader(net) as fib:
        nh, extra = fib.next_hops()
    w = frr.cost_matrix(k)
    bad = np.argwhere(~on_shortest_paths(w, nh, extra))
    names = net.series.node_names
    dist = dijkstra(w, directed=True)
    shown = "; ".join(
        f"{names[i]}->{names[j]} via {names[nh[i, j]] if nh[i, j] >= 0 else 'none'} "
        f"(cost {w[i, nh[i, j]] + dist[nh[i, j], j] if nh[i, j] >= 0 else 'inf'}, shortest {dist[i, j]:g})"
        for i, j in bad[:show])
    return f"{len(bad)} of {len(names) * (len(names) - 1)} routes wrong (e.g. {shown})"


def bench_protocol(protocol: str, args, scen, series, events) -> dict:
    """Run one protocol on the scenario: start, first convergence, ``args.duration`` s at 1x; print as it
    goes and return the headline figures (for the side-by-side table)."""
    from emulator.frr import FrrNetwork, timer_profile
    from emulator.network import EmulatedNetwork
    from experiments.convergence import causes_by_step
    from experiments.routewatch import OspfTarget, RouteWatch
    from experiments.run import update_ospf

    net = EmulatedNetwork(series, shaping=False, routing="none", ground_transit=scen.ground_transit,
                          loopback_on_links=args.links == "unnumbered", create_ahead=not args.no_create_ahead)
    frr = watch = None
    logs = Path(tempfile.mkdtemp(prefix=f"sgemu-bench-{protocol}-"))
    name = protocol.replace("ospf", "OSPF").replace("isis", "IS-IS")
    fig: dict = {}
    try:
        t0 = time.perf_counter()
        net.start(0)
        t_net = time.perf_counter() - t0
        timers = args.timers or "auto"
        plan = timer_profile(timers, series.n_nodes)
        plan.update({k: v for k, v in (("dead_s", args.dead_s), ("lsa_interval_ms", args.lsa_interval_ms))
                     if v is not None})
        frr = FrrNetwork(net, logs, nice=args.nice, protocol=protocol, **plan)
        print(f"{name}: timers {timers} {plan}; {args.links} links; daemons at nice {frr.nice}; links created "
              f"{'a step ahead' if net.create_ahead else 'when they come up'}")
        frr.start(0, timeout_s=600)
        ft = frr.timings_s
        fig["start_s"] = ft["total"]
        print(f"start: network {t_net:.1f} s; FRR {ft['total']:.1f} s (configs {ft['configs']:.1f} s, check "
              f"{ft['check']:.1f} s, daemons {ft['daemons']:.1f} s)", flush=True)
        watch = RouteWatch(net, OspfTarget(frr), series.axis.step_s, give_up_s=CONVERGE_GIVE_UP_S)
        t_up = time.time()
        watch.notify(0, t_up)
        while watch.records[:1] == [] or watch.records[0]["converged_s"] is None:
            if time.time() - t_up > args.give_up:
                pss = sum(sum(n.pss_kib().values()) for n in frr.nodes)
                raise SystemExit(f"{name} did not converge within {args.give_up:g} s: {wrong_routes(net, frr, 0)}; "
                                 f"daemons {pss / 1024:.0f} MiB (PSS)")
            time.sleep(0.1)
        t_first = fig["first_s"] = watch.records[0]["converged_s"]
        print(f"every route right {t_first:.1f} s after FRR was up "
              f"(one read of all {series.n_nodes} tables: {watch.records[0]['read_s'] * 1e3:.0f} ms)")

        cpu0 = sum(sum(n.cpu_s().values()) for n in frr.nodes)
        t_run = time.time()
        cost_thread = None
        every = max(1, int(round(1.0 / series.axis.step_s)))
        late = []
        for k in range(1, series.n_steps):
            due = t_run + k * series.axis.step_s
            time.sleep(max(0.0, due - time.time()))
            late.append(time.time() - due)
            net.apply_step(k)
            watch.notify(k, due)
            if k % every == 0 and not (cost_thread and cost_thread.is_alive()):
                cost_thread = threading.Thread(target=update_ospf, args=(frr, watch, k, 20), daemon=True)
                cost_thread.start()
        time.sleep(max(0.0, t_run + series.n_steps * series.axis.step_s - time.time()))
        wall = time.time() - t_run
        cpu = sum(sum(n.cpu_s().values()) for n in frr.nodes) - cpu0
        rss = [sum(n.rss_kib().values()) for n in frr.nodes]
        pss = [sum(n.pss_kib().values()) for n in frr.nodes]
        if cost_thread is not None:
            cost_thread.join(timeout=60)
        # the orbit stops here: how long until the last change has settled too
        while watch.records[-1].get("converged_s") is None and time.time() - t_run - wall < args.give_up:
            time.sleep(0.2)
        settle = watch.records[-1].get("converged_s")
        unsettled = wrong_routes(net, frr, series.n_steps - 1) if settle is None else ""
        recs = watch.close()
        watch = None
        causes = causes_by_step(series, events)
        groups: dict[str, list] = {LINK_CHANGES: [], "failure start/end": [], "cost updates only": []}
        for r in recs[1:]:
            c = causes.get(r["step"], "")
            key = ("failure start/end" if "down" in c and "satellites" in c else
                   LINK_CHANGES if c else "cost updates only")
            groups[key].append(r)
        fig["load"] = os.getloadavg()[1]
        print(f"run: {len(recs) - 1} changes in {wall:.0f} s (machine load average over 5 min: "
              f"{fig['load']:.1f}, others' processes included); steps applied late by {np.mean(late) * 1e3:.0f} ms "
              f"mean, {np.max(late) * 1e3:.0f} ms max")
        for label, rs in groups.items():
            t = [r["converged_s"] for r in rs if r["converged_s"] is not None]
            if not rs:
                continue
            fig[label] = (np.mean(t) if t else float("nan"), np.max(t) if t else float("nan"), len(rs) - len(t),
                          len(rs))
            print(f"  {label}: {len(rs)} changes, routes right after {np.mean(t) if t else float('nan'):.2f} s mean, "
                  f"{np.median(t) if t else float('nan'):.2f} s median, {np.max(t) if t else float('nan'):.2f} s max; "
                  f"{len(rs) - len(t)} superseded before converging; "
                  f"{np.mean([r['routes_changed'] or 0 for r in rs]):.0f} routes changed per change")
        pairs = series.n_nodes * (series.n_nodes - 1)
        first = [r["wrong_at_first"] for r in recs[1:] if r.get("wrong_at_first") is not None]
        fewest = [r["wrong_min"] for r in recs[1:] if r.get("converged_s") is None and "wrong_min" in r]
        if first:
            print(f"  routes wrong at the first read after each change: {100 * np.mean(first) / pairs:.1f} % mean, "
                  f"{100 * np.max(first) / pairs:.1f} % max of {pairs} (node, destination) pairs"
                  + (f"; fewest before the next change came (superseded ones): {100 * np.mean(fewest) / pairs:.1f} "
                     f"% mean" if fewest else ""))
        print("  with the topology held at the last step, every route right "
              + (f"{settle:.1f} s after the last change" if settle is not None else
                 f"not within {args.give_up:g} s of the run's end: {unsettled}"))
        fig["settle_s"] = settle
        fig["cpu_pct"], fig["pss_mib"] = 100 * cpu / wall, sum(pss) / 1024
        fig["lost"] = frr.dead_interval_expiries()
        print(f"  interfaces found with {name} off and readdressed: {len(frr.repaired)} "
              f"{', '.join(f'{n}:{i}' for n, i in frr.repaired[:6])}")
        print(f"CPU: daemons used {cpu:.1f} CPU s in {wall:.0f} s ({100 * cpu / wall:.0f} % of one core); "
              f"memory: {sum(rss) / 1024:.0f} MiB resident in all, {np.mean(rss) / 1024:.1f} MiB per node "
              f"(zebra + {frr.nodes[0].daemon}), max {max(rss) / 1024:.1f} MiB; proportional (shared pages split): "
              f"{sum(pss) / 1024:.0f} MiB in all, {np.mean(pss) / 1024:.1f} MiB per node")
    finally:
        if watch is not None:
            watch.close()
        t0 = time.perf_counter()
        if frr is not None:
            frr.stop()
        net.stop()
        print(f"teardown: {time.perf_counter() - t0:.1f} s; FRR logs in {logs}")
    return fig



def side_by_side(figs: dict[str, dict]) -> None:
    """The headline figures of each protocol in one table (markdown, as in docs/ospf.md)."""
    def change(f, key):
        m = f.get(key)
        return "-" if m is None else f"{m[0]:.2f} s mean, {m[1]:.2f} s max ({m[2]} of {m[3]} superseded)"

    rows = [("FRR start", lambda f: f"{f['start_s']:.1f} s"),
            ("every route right after start", lambda f: f"{f['first_s']:.1f} s"),
            ("link changes, routes right after", lambda f: change(f, LINK_CHANGES)),
            ("failure start/end", lambda f: change(f, "failure start/end")),
            ("cost updates only", lambda f: change(f, "cost updates only")),
            ("after the last change, orbit held", lambda f: "not settled" if f.get("settle_s") is None
             else f"{f['settle_s']:.1f} s"),
            ("daemon CPU (share of one core)", lambda f: f"{f['cpu_pct']:.0f} %"),
            ("daemon memory (PSS)", lambda f: f"{f['pss_mib']:.0f} MiB"),
            ("adjacencies lost to the dead interval", lambda f: str(f["lost"])),
            ("machine load average (5 min) at the run's end", lambda f: f"{f['load']:.1f}")]
    names = list(figs)
    print("\n| | " + " | ".join(n.replace("ospf", "OSPF").replace("isis", "IS-IS") for n in names) + " |")
    print("| --- |" + " --- |" * len(names))
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(figs[n]) if "start_s" in figs[n] else "failed" for n in names) + " |")


def main() -> None:
    from topologies.builder import build_series
    from topologies.events import apply_events, parse_events

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=("default", *SHELLS), default="default")
    ap.add_argument("--protocol", choices=("ospf", "isis", "both"), default="both",
                    help="routing protocol in the nodes; both: OSPF then IS-IS, and a table of the two")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of orbit to follow at 1x")
    ap.add_argument("--quiet", "-q", action="store_true", help="only the figures")
    ap.add_argument("--give-up", type=float, default=CONVERGE_GIVE_UP_S,
                    help="seconds to wait for every route to be right after start (default %(default)s)")
    ap.add_argument("--timers", choices=("fast", "large"), default=None,
                    help="timer profile (emulator.frr.TIMER_PROFILES, IS-IS maps it: emulator.frr.isis_config); "
                         "default: by network size")
    ap.add_argument("--dead-s", type=int, default=None,
                    help="dead interval (IS-IS: hold time) in s instead of the profile's")
    ap.add_argument("--lsa-interval-ms", type=int, default=None,
                    help="LSA origination throttle (IS-IS: lsp-gen-interval, whole s) instead of the profile's")
    ap.add_argument("--links", choices=("numbered", "unnumbered"), default="unnumbered",
                    help="OSPF over the links' /31s or over the loopbacks (emulation.ospf.links)")
    ap.add_argument("--no-create-ahead", action="store_true",
                    help="create each link in the step it first comes up (EmulatedNetwork(create_ahead=False))")
    ap.add_argument("--nice", type=int, default=None,
                    help="niceness of the FRR daemons (default: emulator.frr.DAEMON_NICE)")
    args = ap.parse_args()
    scen = scenario(args.scenario, args.duration)
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis, scen.grazing_km, scen.link_parameters())
    events = parse_events(series, scen.events)
    series = apply_events(series, events)
    where = (f"{platform.node()}, kernel {platform.release()} (no netem), {os.cpu_count()} CPUs, "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    print(f"OSPF/IS-IS bench '{args.scenario}': {series.n_nodes} nodes, {int(series.links_per_step().mean())} links "
          f"up per step, {args.duration:g} s at 1x; measured on {where}")
    figs = {}
    for protocol in (("ospf", "isis") if args.protocol == "both" else (args.protocol,)):
        try:
            figs[protocol] = bench_protocol(protocol, args, scen, series, events)
        except SystemExit as exc:  # did not converge: say so, and still run the other one
            print(exc)
            figs[protocol] = {}
    if len(figs) > 1:
        side_by_side(figs)


if __name__ == "__main__":
    main()
