"""Benchmark: one emulation split over 1, 2 and 3 local cluster hosts, and the links precompute on Ray.

    python -m benchmarks.bench_cluster [--scenario default|large] [--hosts 1,2,3] [--steps N]
                                       [--precompute-s S] [--skip-precompute]
    python -m benchmarks.bench_cluster --ospf [--hosts 1,2,3] [--steps N]

For each host count: a local cluster (:mod:`emulator.cluster.local`), the
scenario placed and built over it (no shaping: this kernel has no netem),
``--steps`` steps applied at their real-time due times (one step per
``step_s`` of wall time, as in a run); prints build time, per-step apply
time and lateness per host, cross-host links, memory per host (resident memory of the
agent and of everything in the host's namespaces).  Then the link series of
the default scenario over ``--precompute-s`` seconds computed locally and
on 1, 2, 3 Ray workers.  Last, a projection on paper for 10,000 nodes on N
real 16-core hosts from the measured per-node costs.

``--ospf``: the default scenario with OSPF across 1, 2, 3 hosts (FRR run
by each host's agent): FRR start, initial convergence, and per step the
cost round trip and the time until the stations' routes are shortest again.

All local hosts share this machine's cores: times are upper bounds, not
scaling.  Needs root.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def _scenario(name: str, duration_s: float):
    """(series, planes) of the default or the large (Starlink-550 + BDS-3 + 100 stations) scenario."""
    from emulator.cluster.placement import node_planes

    if name == "large":
        import datetime as dt

        from benchmarks.bench_emulator import large_series
        from orbits.presets import PRESETS

        epoch = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
        sats = PRESETS["starlink-550"].satellites("sl", epoch) + PRESETS["bds3"].satellites("bds3", epoch, 95001)
        series = large_series(duration_s)
        return series, [s.plane for s in sats] + [None] * (series.n_nodes - len(sats))
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=duration_s)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis), node_planes(scene)


def _rss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _pids_in_ns(ns_path: str) -> list[int]:
    try:
        target = os.stat(ns_path).st_ino
    except FileNotFoundError:
        return []
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                if os.stat(f"/proc/{e}/ns/net").st_ino == target:
                    out.append(int(e))
            except OSError:
                pass
    return out


def bench_emulation(n_hosts: int, series, planes, steps: int) -> dict:
    from emulator.cluster import local
    from emulator.cluster.driver import ClusterNetwork
    from emulator.namespaces import our_namespaces

    c = local.up(n_hosts)
    try:
        net = ClusterNetwork(series, c.address, planes, timeout_s=3600)  # 1,714 nodes on one host: minutes
        try:
            t0 = time.perf_counter()
            net.start(0)
            build_s = time.perf_counter() - t0
            step_s = float(series.axis.step_s)
            t_run = time.time() + step_s  # steps at their real-time due times: lateness as in a run
            for k in range(1, min(steps + 1, series.n_steps)):
                net.apply_step(k, due_s=t_run + (k - 1) * step_s)
            hosts = []
            for j, (h, row, info) in enumerate(zip(net.hosts, net.lateness(), net.build_info)):
                ns_pids = set(_pids_in_ns(f"/run/netns/{c.hosts[j]['ns']}"))
                prefix = f"sgemu-{net.run_tag}h{j}-"
                for ns in our_namespaces():
                    if ns.startswith(prefix):
                        ns_pids.update(_pids_in_ns(f"/run/netns/{ns}"))
                hosts.append({"nodes": info["nodes"], "cross": info["cross_links"], "build_s": info["build_s"],
                              "apply_ms_mean": row["apply_ms_mean"], "apply_ms_max": row["apply_ms_max"],
                              "late_ms_mean": row["late_ms_mean"], "late_ms_max": row["late_ms_max"],
                              "agent_mb": _rss_mb([h["pid"]]), "host_mb": _rss_mb(ns_pids)})
            return {"hosts": n_hosts, "build_s": build_s, "cross_links": net.placement.cross_links,
                    "per_host": hosts}
        finally:
            net.stop()
    finally:
        local.down(c)


def bench_ospf(n_hosts: int, steps: int, step_s: float = 10.0, min_change: int = 20) -> dict:
    """OSPF over a local cluster (default scenario, ``step_s`` steps): FRR start, the time until every
    station has a route to every other (then: all on shortest paths under the costs), and per step the
    cost round trip to the agents and the time until the stations' routes are shortest again."""
    import tempfile

    from emulator.cluster import local
    from emulator.cluster.driver import ClusterNetwork
    from emulator.cluster.ospf import ClusterFrr
    from emulator.cluster.placement import node_planes
    from emulator.frr import timer_profile
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=(steps + 1) * step_s, step_s=step_s)
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis)
    c = local.up(n_hosts)
    try:
        net = ClusterNetwork(series, c.address, node_planes(scene), routing="none", loopback_on_links=True,
                             timeout_s=1800)
        try:
            net.start(0)
            with tempfile.TemporaryDirectory(prefix="sgemu-bench-frr-") as logs:
                frr = ClusterFrr(net, logs, **timer_profile("auto", series.n_nodes))
                try:
                    out = {"hosts": n_hosts, "nodes": series.n_nodes, "cross_links": net.placement.cross_links,
                           "start_s": frr.start(0), "routes_s": frr.wait_converged(0, timeout_s=120),
                           "shortest_s": frr.wait_converged(0, shortest=True, timeout_s=120), "steps": []}
                    for k in range(1, min(steps + 1, series.n_steps)):
                        t0 = time.perf_counter()
                        net.apply_step(k)
                        t1 = time.perf_counter()
                        changed = frr.update_costs(k, min_change)
                        frr.repair_new_links()
                        t2 = time.perf_counter()
                        conv = frr.wait_converged(k, shortest=True, timeout_s=step_s * 3)
                        out["steps"].append({"apply_ms": (t1 - t0) * 1e3, "costs_ms": (t2 - t1) * 1e3,
                                             "changed": changed, "converged_s": conv})
                    out["adjacencies_lost"] = frr.dead_interval_expiries()
                finally:
                    frr.stop()
            return out
        finally:
            net.stop()
    finally:
        local.down(c)


def bench_precompute(duration_s: float, workers: list[int]) -> list[dict]:
    from emulator.cluster import local
    from emulator.cluster.precompute import build_series_on_cluster
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=duration_s)
    scene, rules = scen.bind()
    t0 = time.perf_counter()
    build_series(scene, rules, scen.axis, scen.grazing_km, scen.link_parameters(), budget=scen.link_budget_for(scene))
    rows = [{"workers": 0, "s": time.perf_counter() - t0, "ranges": 1, "redone": 0}]
    for n in workers:
        c = local.up(n)
        try:
            t0 = time.perf_counter()
            _, fig = build_series_on_cluster(scen, c.address)
            rows.append({"workers": n, "s": time.perf_counter() - t0, "ranges": fig["ranges"], "redone": fig["redone"]})
        finally:
            local.down(c)
    return rows


def projection(one: dict, n_nodes_measured: int) -> list[str]:
    """10,000 nodes on N 16-core hosts, from the one-host per-node build and apply costs."""
    h = one["per_host"][0]
    build_per_node_s = h["build_s"] / n_nodes_measured
    apply_per_node_ms = h["apply_ms_mean"] / n_nodes_measured
    mb_per_node = h["host_mb"] / n_nodes_measured
    lines = [f"projection (paper): per node {build_per_node_s * 1e3:.0f} ms to build, "
             f"{apply_per_node_ms * 1e3:.1f} us per step to apply, {mb_per_node:.1f} MB, measured on 1 local host"]
    for n in (4, 8, 16):
        per_host = 10_000 / n
        lines.append(f"  10,000 nodes on {n:2d} x 16-core hosts: {per_host:,.0f} nodes/host, build ~"
                     f"{per_host * build_per_node_s / 60:.1f} min (serial per host; parallel over hosts), "
                     f"apply ~{per_host * apply_per_node_ms:.0f} ms/step/host, ~{per_host * mb_per_node / 1024:.1f} GB/host")
    lines.append("  caveats: each agent plans all-pairs next hops for the whole network (O(N^2) memory: "
                 "10,000^2 int32 = 400 MB per host, ~35x the 1,700-node route time); planning only the local "
                 "rows would cut both by the host count. Build is one thread per host: 16 cores help only "
                 "the route planner and the kernel.")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=("default", "large"), default="default")
    ap.add_argument("--hosts", default="1,2,3")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--precompute-s", type=float, default=3600.0)
    ap.add_argument("--skip-precompute", action="store_true")
    ap.add_argument("--min-cost-change", type=int, default=20, help="with --ospf: OSPF cost units (0.1 ms)")
    ap.add_argument("--ospf", action="store_true",
                    help="OSPF across the hosts instead (default scenario, 10 s steps): FRR start and convergence")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_cluster: needs root (network namespaces, Ray workers in them); skipped")
        return
    counts = [int(x) for x in args.hosts.split(",")]
    if args.ospf:
        return main_ospf(counts, args.steps, args.min_cost_change)
    series, planes = _scenario(args.scenario, args.steps + 1)
    where = f"{platform.node()} kernel {platform.release()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    print(f"cluster bench, {args.scenario}: {series.n_nodes} nodes, {series.n_links} links; measured on {where}")
    results = []
    for n in counts:
        r = bench_emulation(n, series, planes, args.steps)
        results.append(r)
        print(f"{n} host(s): build {r['build_s']:.1f} s, {r['cross_links']} cross-host links")
        for j, h in enumerate(r["per_host"]):
            print(f"  host{j}: {h['nodes']} nodes, {h['cross']} cross links, build {h['build_s']:.1f} s, "
                  f"apply {h['apply_ms_mean']:.1f} ms mean / {h['apply_ms_max']:.1f} max, "
                  f"late {h['late_ms_mean']:.1f} ms mean / {h['late_ms_max']:.1f} max, "
                  f"agent {h['agent_mb']:.0f} MB, all in host {h['host_mb']:.0f} MB")
    if not args.skip_precompute:
        rows = bench_precompute(args.precompute_s, [n for n in counts])
        base = rows[0]["s"]
        print(f"links precompute, default scenario {args.precompute_s:g} s at 1 s steps:")
        for r in rows:
            who = "local" if r["workers"] == 0 else f"{r['workers']} Ray worker(s)"
            print(f"  {who:18s} {r['s']:6.1f} s  speed-up {base / r['s']:.2f}  ({r['ranges']} ranges, "
                  f"{r['redone']} redone)")
    if results and results[0]["hosts"] == 1:
        for line in projection(results[0], series.n_nodes):
            print(line)


def main_ospf(counts: list[int], steps: int, min_change: int = 20) -> None:
    where = f"{platform.node()} kernel {platform.release()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    print(f"cluster bench, OSPF (default scenario, 10 s steps, min cost change {min_change}); measured on {where}")
    for n in counts:
        r = bench_ospf(n, steps, min_change=min_change)
        st = r["steps"]
        conv = np.array([x["converged_s"] for x in st])
        print(f"{n} host(s): {r['nodes']} nodes, {r['cross_links']} cross-host links; FRR start {r['start_s']:.1f} s, "
              f"every station routed after {r['routes_s']:.1f} s, all shortest after {r['shortest_s']:.1f} s")
        print(f"  {len(st)} steps: apply {np.mean([x['apply_ms'] for x in st]):.0f} ms mean, costs to the agents "
              f"{np.mean([x['costs_ms'] for x in st]):.0f} ms mean ({sum(x['changed'] for x in st)} link costs "
              f"changed), station routes shortest again after {np.nanmean(conv):.2f} s mean / {np.nanmax(conv):.2f} max "
              f"({int(np.isnan(conv).sum())} not within 3 steps), adjacencies lost {r['adjacencies_lost']}")
        print("  load average now", f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
