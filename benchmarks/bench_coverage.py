"""Benchmark: BeiDou-3 coverage over 24 h at 10-minute steps on a 2-degree world grid.

145 instants x 16,200 grid points x 30 satellites: visibility above a
10-degree mask, per-layer counts and PDOP for the whole constellation and
its MEO layer.  Prints the time of the computation (wall and CPU), of the
CSV and of the maps, and a few of the figures; asserts nothing (target:
the computation under 60 s on a 2-core machine).

    python -m benchmarks.bench_coverage [--grid-deg 2] [--step 600] [--hours 24]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from experiments.coverage import grid_coverage, satellite_groups
from orbits.presets import PRESETS
from orbits.scene import Scene
from orbits.timebase import TimeAxis


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-deg", type=float, default=2.0)
    ap.add_argument("--step", type=float, default=600.0, help="seconds between instants")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--maps", action="store_true", help="also time the CSV and the PNG maps")
    args = ap.parse_args()
    epoch = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
    scene = Scene(PRESETS["bds3"].satellites("bds3", epoch), [])
    axis = TimeAxis.from_duration(epoch, args.hours * 3600.0, args.step)
    groups = satellite_groups(scene, "bds3")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"bds3: {scene.n_sats} satellites, groups {', '.join(groups)}; {axis.n_steps} instants "
          f"{args.step:g} s apart; {args.grid_deg:g}-degree grid")

    wall, cpu = time.perf_counter(), time.process_time()
    cov = grid_coverage(scene, axis, groups, args.grid_deg, 10.0, layer_spec="bds3")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pts = cov.lat_deg.size
    print(f"coverage: {wall:.2f} s wall, {cpu:.2f} s CPU for {axis.n_steps} x {pts} x {scene.n_sats} "
          f"= {axis.n_steps * pts * scene.n_sats / 1e6:.0f} M (instant, point, satellite) triples "
          f"(target < 60 s)")
    s = cov.summary()["groups"]
    print(f"  bds3: {s['bds3']['visible_mean']:.2f} satellites in view on average (min {s['bds3']['visible_min']}), "
          f"PDOP median {s['bds3']['pdop_median']:.2f}; MEO alone: {s['bds3:meo']['visible_mean']:.2f} in view, "
          f"PDOP median {s['bds3:meo']['pdop_median']:.2f}")
    if args.maps:
        from experiments.coveragemap import coverage_figure
        from experiments.figures import save_figure

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            cov.write_csv(Path(tmp) / "coverage.csv")
            t_csv = time.perf_counter() - t
            t = time.perf_counter()
            for name in cov.groups:
                save_figure(coverage_figure(cov, name), Path(tmp) / f"{name.replace(':', '-')}.png", dpi=100)
            print(f"  CSV {t_csv:.2f} s, {len(cov.groups)} maps {time.perf_counter() - t:.2f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
