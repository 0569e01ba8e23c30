"""Benchmark: build, per-step update and teardown of the live network.

    python -m benchmarks.bench_emulator [--scenario default|large] [--steps N] [--netem]

``default`` is the built-in scenario (86 nodes); ``large`` is
Starlink-550 + BDS-3 + 100 ground stations (1,714 nodes).  Per-step update
covers link up/down, every active link's delay (with --netem) and the
changed static routes.  Prints the figures and where they were measured
(needs root; --netem needs a kernel with sch_netem, e.g. inside
``python -m emulator.vm``).  Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def large_series(duration_s: float):
    import datetime as dt

    from orbits.presets import PRESETS
    from orbits.scene import Scene
    from orbits.stations import builtin_stations
    from orbits.timebase import TimeAxis
    from topologies.builder import build_series
    from topologies.ground_links import GroundAccess
    from topologies.relay_links import InterLayer
    from topologies.shell_links import PlusGrid

    epoch = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
    sats = PRESETS["starlink-550"].satellites("sl", epoch) + PRESETS["bds3"].satellites("bds3", epoch, 95001)
    scene = Scene(sats, list(builtin_stations().values())[:100])
    rules = [PlusGrid(group="sl"), InterLayer(lower="sl", upper="bds3", k=1),
             GroundAccess(group="sl", policy="nearest", sticky=True, min_elevation_deg=25),
             GroundAccess(group="bds3", policy="highest-elevation", sticky=True, min_elevation_deg=10)]
    return build_series(scene, rules, TimeAxis.from_duration(epoch, duration_s, 1.0))


def default_series(duration_s: float):
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=duration_s)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


def main() -> None:
    from emulator.network import EmulatedNetwork

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=("default", "large"), default="default")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--netem", action="store_true", help="shape with netem (kernel must have sch_netem)")
    ap.add_argument("--step-wall", type=float, default=1.0,
                    help="wall seconds between steps, as in a 1x run with 1 s steps (routes are planned ahead)")
    args = ap.parse_args()
    series = (large_series if args.scenario == "large" else default_series)(args.steps)
    where = f"{platform.node()} kernel {platform.release()}, {os.cpu_count()} CPUs"
    print(f"{args.scenario}: {series.n_nodes} nodes, {series.links_per_step()[0]} links at step 0; "
          f"shaping {'netem' if args.netem else 'none'}; measured on {where}")
    net = EmulatedNetwork(series, shaping=args.netem)
    try:
        t0 = time.perf_counter()
        st = net.start(0)
        build = time.perf_counter() - t0
        print(f"build: {build:.1f} s (hosts {build - st.total_s:.1f} s, links {st.t_links_s:.1f} s, "
              f"delays {st.t_delays_s:.1f} s, {st.routes_changed} routes {st.t_routes_s:.1f} s)")
        took, parts = [], []
        t_start = time.perf_counter()
        for k in range(1, series.n_steps):
            time.sleep(max(0.0, t_start + k * args.step_wall - time.perf_counter()))
            st = net.apply_step(k)
            took.append(st.total_s)
            parts.append((st.t_links_s, st.t_delays_s, st.t_routes_s, st.routes_changed, st.links_up + st.links_down))
        if took:
            p = np.array(parts)
            print(f"per-step update over {len(took)} steps: mean {np.mean(took) * 1e3:.0f} ms, "
                  f"max {np.max(took) * 1e3:.0f} ms (links {p[:, 0].mean() * 1e3:.0f} ms, delays "
                  f"{p[:, 1].mean() * 1e3:.0f} ms, routes {p[:, 2].mean() * 1e3:.0f} ms; "
                  f"{p[:, 3].mean():.0f} routes and {p[:, 4].mean():.1f} link changes per step)")
    finally:
        t0 = time.perf_counter()
        net.stop()
        print(f"teardown: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
