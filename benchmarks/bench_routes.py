"""Benchmark: all ground-pair routes of a 34x34 Walker shell with 100 stations at 100 ms steps.

The scene: a 34x34 Walker delta shell at 51.9 deg and 14.80 rev/day (the
shell is given by its mean motion; 14.80 rev/day is a circular orbit at
629.3 km above the equatorial radius, Kepler, the nominal "630 km"), odd
planes offset half a slot, +grid ISLs, the first 100 built-in cities as
stations, a ground link to every satellite within 1,260 km slant range,
stations not relaying.  4,950 pairs, 200 s at 0.1 s: 2,001 steps.

Measures, per step: the streamed all-pairs routes
(:func:`topologies.routing.stream_pair_arrays`) on one worker and on two
(each worker takes blocks of whole chunks from fresh trees), writing them
to Parquet, and for reference the former per-step Dijkstra
(:func:`topologies.routing.ground_pair_routes`, one worker) on the first
steps; then the peak memory of fresh processes streaming two durations (the
link series itself grows with the duration; the routes' working memory must
not).  Prints the figures and the machine's load; asserts nothing (target:
<= 5 ms per step on one worker).

    python -m benchmarks.bench_routes [--duration S] [--reference-steps N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orbits.timebase import TimeAxis

SHELL = {"planes": 34, "sats_per_plane": 34, "phasing": 0, "inclination_deg": 51.9, "mean_motion_rev_day": 14.80,
         "plane_phase_offsets_deg": [180.0 / 34 * (p % 2) for p in range(34)]}


def scenario(duration_s: float, step_s: float = 0.1) -> dict:
    from orbits.stations import builtin_stations

    return {
        "name": "bench-routes", "start": "2024-07-16T00:00:00Z", "duration_s": duration_s, "step_s": step_s,
        "ground_transit": False,
        "constellations": [{"name": "leo", "walker": SHELL}],
        "stations": list(builtin_stations())[:100],
        "links": [{"rule": "plus-grid", "group": "leo"},
                  {"rule": "ground", "group": "leo", "policy": "all-visible", "min_elevation_deg": 0,
                   "max_range_km": 1260}],
    }


def build(duration_s: float):
    from sgemu.cmd_topology import compute_series
    from sgemu.scenario import parse_scenario

    return compute_series(parse_scenario(scenario(duration_s)), quiet=True)[1]


def timed_stream(series, workers: int, chunk_steps: int = 200) -> tuple[float, float, int]:
    """(wall s, CPU s of this process and its finished worker processes, pairs) for streaming every
    step's routes (CPU time stays meaningful when other jobs share the machine)."""
    from topologies.routing import stream_pair_arrays

    def cpu_s() -> float:
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                     resource.getrusage(resource.RUSAGE_CHILDREN)))

    w0, c0 = time.perf_counter(), cpu_s()
    pairs = 0
    for _, rtt, _, _, _ in stream_pair_arrays(series, chunk_steps=chunk_steps, workers=workers):
        pairs = rtt.shape[1]
    return time.perf_counter() - w0, cpu_s() - c0, pairs


def timed_parquet(series) -> float:
    """Wall seconds to stream the routes into a Parquet file (DataFrames, path texts, writing)."""
    from topologies.export import RoutesWriter
    from topologies.routing import stream_pair_routes

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        writer = RoutesWriter(Path(tmp) / "routes.parquet", "parquet")
        for frame in stream_pair_routes(series):
            writer.write(frame)
        writer.close()
        return time.perf_counter() - t0


def child_memory(duration_s: float) -> None:
    """In a fresh process: peak RSS after the series, and after streaming every route (MB)."""
    series = build(duration_s)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed_stream(series, workers=1)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    series_mb = sum(getattr(series, k).nbytes for k in ("indptr", "link_id", "distance_km")) / 2**20
    print(f"{duration_s:g} {series.n_steps} {series_mb:.1f} {before:.0f} {after:.0f}")


def memory_figures(durations: list[float]) -> None:
    for d in durations:
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_routes", "--child-memory", str(d)],
                             capture_output=True, text=True, check=True).stdout.split()
        dur, steps, series_mb, before, after = out[-5:]
        print(f"  {float(dur):5.0f} s ({steps} steps): series arrays {series_mb} MB; peak RSS {before} MB after "
              f"the series, {after} MB after streaming all routes (+{float(after) - float(before):.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=200.0, help="seconds of 0.1 s steps (default 200)")
    ap.add_argument("--reference-steps", type=int, default=100, help="steps timed with the former method")
    ap.add_argument("--child-memory", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        return child_memory(args.child_memory)
    from topologies.routing import ground_pair_routes

    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t0 = time.perf_counter()
    series = build(args.duration)
    print(f"scene: 1,156 satellites (34x34 at 14.80 rev/day = 629.3 km), 100 stations; {series.n_steps} steps "
          f"of 0.1 s; {series.link_id.size / series.n_steps:.0f} links up per step; series built in "
          f"{time.perf_counter() - t0:.1f} s")
    n_ref = min(args.reference_steps, series.n_steps)
    ref = dataclasses.replace(series, axis=TimeAxis(series.axis.start, series.axis.step_s, n_ref),
                              indptr=series.indptr[:n_ref + 1])
    w0, c0 = time.perf_counter(), time.process_time()
    ground_pair_routes(ref, workers=1)
    w, c = time.perf_counter() - w0, time.process_time() - c0
    print(f"former per-step Dijkstra, 1 worker, first {n_ref} steps: {w / n_ref * 1e3:6.2f} ms per step "
          f"(CPU {c / n_ref * 1e3:.2f} ms)")
    for workers in (1, 2):
        w, c, pairs = timed_stream(series, workers)
        print(f"streamed routes, {pairs} pairs, {workers} worker{'s' if workers > 1 else ''}: "
              f"{w / series.n_steps * 1e3:6.2f} ms per step (CPU {c / series.n_steps * 1e3:.2f} ms per step, all "
              f"processes; load after {os.getloadavg()[0]:.1f})  (target <= 5 ms on one worker)")
    w = timed_parquet(series)
    print(f"streamed routes written to Parquet (DataFrames and path texts included), 1 worker: "
          f"{w / series.n_steps * 1e3:6.2f} ms per step")
    print("memory, fresh process per duration (routes streamed on 1 worker):")
    memory_figures([args.duration / 2, args.duration])


if __name__ == "__main__":
    main()
