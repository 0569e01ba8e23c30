"""Benchmark: what the link budget adds to `sgemu links` on the 1,714-node scenario.

The scenario of :mod:`benchmarks.bench_topology` (Starlink-550 + BDS-3 + 100
ground stations, one orbital period at 1 s steps; plus-grid ISLs, LEO->BDS
inter-layer links, ground access to both layers) is built twice: with
constant link parameters, and with a ``link_budget`` on every link kind
(leo-ku-user / bds-ka-ground ground links budgeted in both directions --
downlink and the paired uplink, leo-ku-user-up / bds-ka-ground-up -- with
ITU-R atmosphere at each of the 100 stations at all four frequencies,
optical ISLs in the shell, BDS Ka ISLs, Ka inter-layer links kept lossy
below threshold), each followed by writing ``links.npz``
as ``sgemu links`` does.  Prints both times, their ratio (target: at most
2), the budget's own share, and the peak memory.  Asserts nothing.

    python -m benchmarks.bench_budget [--period-fraction F]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import resource
import tempfile
import time
from pathlib import Path

from orbits.presets import PRESETS
from orbits.scene import Scene
from orbits.stations import builtin_stations
from orbits.timebase import TimeAxis
from topologies.builder import build_series
from topologies.ground_links import GroundAccess
from topologies.linkbudget import KindBudget, LinkBudget
from topologies.radio_profiles import PROFILES
from topologies.relay_links import InterLayer
from topologies.shell_links import NearestK, PlusGrid

BUDGET = (("ground/starlink", "leo-ku-user", "down"), ("ground/bds3", "bds-ka-ground", "down"),
          ("isl/starlink", "optical-isl", "down"), ("isl/bds3", "bds-ka-isl", "down"),
          ("inter-layer", "ka-isl", "loss"))


def _rules():
    return [PlusGrid(group="starlink"), NearestK(group="bds3", k=3, max_range_km=70000),
            InterLayer(lower="starlink", upper="bds3", k=1),
            GroundAccess(group="starlink", policy="nearest", sticky=True, min_elevation_deg=25),
            GroundAccess(group="bds3", policy="highest-elevation", sticky=True, min_elevation_deg=10)]


def _run(scene, axis, budget, out: Path) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, series): CPU time is the steadier figure on a shared machine."""
    t0, c0 = time.perf_counter(), time.process_time()
    series = build_series(scene, _rules(), axis, budget=budget)
    series.save(out)
    return time.perf_counter() - t0, time.process_time() - c0, series


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
    print(f"machine: {platform.node()} {platform.machine()} {__import__('os').cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"scene: {scene.n_nodes} nodes ({scene.n_sats} satellites, {len(stations)} stations), "
          f"{axis.n_steps} steps of 1 s")
    entries = [(k, KindBudget(profile=p, below_threshold=b), PROFILES[p]) for k, p, b in BUDGET]
    sites = {g.name: (g.lat_deg, g.lon_deg, g.alt_m) for g in stations}
    with tempfile.TemporaryDirectory() as tmp:
        _run(scene, TimeAxis.from_duration(epoch, 10, 1.0), None, Path(tmp) / "warm.npz")  # warm caches
        t_plain, c_plain, plain = _run(scene, axis, None, Path(tmp) / "plain.npz")
        print(f"links without budget: {t_plain:7.1f} s wall, {c_plain:7.1f} s CPU "
              f"({plain.link_id.size / axis.n_steps:.0f} links up per step)")
        budget = LinkBudget(entries, scene.node_names, scene.node_shell, scene.node_layer, sites)
        t_budget, c_budget, series = _run(scene, axis, budget, Path(tmp) / "budget.npz")
        print(f"links with budget:    {t_budget:7.1f} s wall, {c_budget:7.1f} s CPU "
              f"({series.link_id.size / axis.n_steps:.0f} links up per step; includes importing itur and the "
              f"ITU-R atmosphere of {len(stations)} stations x 4 frequencies: ground links budgeted down and up)")
    print(f"ratio {t_budget / t_plain:.2f} wall, {c_budget / c_plain:.2f} CPU (target <= 2.00); "
          f"the budget adds {t_budget - t_plain:.1f} s wall, {c_budget - c_plain:.1f} s CPU")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {own:.0f} MB")
    for kind, k in series.summary()["kinds"].items():
        print(f"  {kind:12s} capacity Mbit/s min {k['capacity_mbps_min']:.1f} mean {k['capacity_mbps_mean']:.1f} "
              f"max {k['capacity_mbps_max']:.1f}")


if __name__ == "__main__":
    main()
