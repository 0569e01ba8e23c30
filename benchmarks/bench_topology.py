"""Benchmark: Starlink-550 + BDS-3 + 100 ground stations over one orbital period at 1 s steps.

Measures, separately: propagation of every satellite at every step, the
link series (plus-grid ISLs, LEO->BDS inter-layer links, ground access to
both layers), and delay-shortest paths for all 4,950 ground pairs at every
step; then the peak resident memory of this process and of its workers.
Prints the figures; it asserts nothing (targets: under 120 s in all, under 4 GB).

    python -m benchmarks.bench_topology [--period-fraction F]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import resource
import time

import numpy as np

from orbits.presets import PRESETS
from orbits.scene import Scene
from orbits.stations import builtin_stations
from orbits.timebase import TimeAxis
from topologies.builder import build_series, chunk_steps_for
from topologies.ground_links import GroundAccess
from topologies.relay_links import InterLayer
from topologies.routing import ground_pair_routes
from topologies.shell_links import PlusGrid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period-fraction", type=float, default=1.0, help="run this fraction of the period")
    args = ap.parse_args()
    epoch = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
    sats = PRESETS["starlink-550"].satellites("starlink", epoch) + PRESETS["bds3"].satellites("bds3", epoch, 95001)
    stations = list(builtin_stations().values())[:100]
    scene = Scene(sats, stations)
    period_s = 86400.0 / sats[0].mean_motion_rev_day
    axis = TimeAxis.from_duration(epoch, round(period_s * args.period_fraction), 1.0)
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''} "
          f"{__import__('os').cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"scene: {scene.n_sats} satellites, {len(stations)} ground stations, "
          f"{axis.n_steps} steps of 1 s (period {period_s:.0f} s)")

    t0 = time.perf_counter()
    chunk = chunk_steps_for(scene)
    for _, pos in scene.chunks(axis, chunk):
        pass
    t_prop = time.perf_counter() - t0
    print(f"propagation only: {t_prop:6.1f} s  ({axis.n_steps * scene.n_sats / t_prop / 1e6:.2f} M positions/s)")

    rules = [
        PlusGrid(group="starlink"),
        InterLayer(lower="starlink", upper="bds3", k=1),
        GroundAccess(group="starlink", policy="nearest", sticky=True, min_elevation_deg=25),
        GroundAccess(group="bds3", policy="highest-elevation", sticky=True, min_elevation_deg=10),
    ]
    t0 = time.perf_counter()
    series = build_series(scene, rules, axis)
    t_links = time.perf_counter() - t0
    print(f"link series (incl. propagation): {t_links:6.1f} s  "
          f"({series.n_links} distinct links, {series.link_id.size / axis.n_steps:.0f} up per step)")

    t0 = time.perf_counter()
    routes = ground_pair_routes(series)
    t_routes = time.perf_counter() - t0
    reach = np.isfinite(routes.rtt_ms)
    print(f"shortest paths, {routes.pairs.shape[0]} ground pairs x {axis.n_steps} steps: {t_routes:6.1f} s  "
          f"({t_routes / axis.n_steps * 1e3:.1f} ms per step; {reach.mean() * 100:.1f}% reachable, "
          f"median RTT {np.nanmedian(routes.rtt_ms):.1f} ms)")

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"total links + paths: {t_links + t_routes:6.1f} s (target < 120 s)")
    print(f"peak memory: {own:.0f} MB main process, {kids:.0f} MB largest worker (target < 4096 MB)")


if __name__ == "__main__":
    main()
