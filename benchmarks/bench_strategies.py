"""Benchmark: per-step planning time of each built-in routing strategy.

    python -m benchmarks.bench_strategies [--scenario large|default] [--steps N] [--strategies a,b]

``large`` is Starlink-550 + BDS-3 + 100 ground stations (1,714 nodes, as
in :mod:`benchmarks.bench_emulator`).  Each strategy decides ``--steps``
consecutive steps (each given its previous decision, as in a run); the
figure is the time per decision, which must stay below the 1 s step for
the route planner to keep up.  The machine's load average is printed
before and after (other work on the machine slows every figure).  Needs
no root.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from benchmarks.bench_emulator import default_series, large_series


def main() -> None:
    from topologies.strategies import STRATEGIES, StrategyPlanner

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=("default", "large"), default="large")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--strategies", default=",".join(STRATEGIES),
                    help="comma-separated built-in strategies to time (default: all)")
    args = ap.parse_args()
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = sorted(set(names) - set(STRATEGIES))
    if unknown:
        ap.error(f"--strategies: unknown {', '.join(unknown)}; accepted: {', '.join(STRATEGIES)}")
    series = (large_series if args.scenario == "large" else default_series)(args.steps + 60)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"scenario {args.scenario}: {series.n_nodes} nodes, {int(series.links_per_step().mean())} links up per step; "
          f"{args.steps} steps per strategy")
    print(f"load average before: {load()}")
    window = min(25, args.steps)
    print(f"{'strategy':16s} {'plan ms mean':>12s} {'max':>8s} {f'worst {window}-step mean':>20s}  "
          "keeps up with 1 s steps")
    for name in names:
        planner = StrategyPlanner(series, name)
        for k in range(args.steps):
            planner.decide(k)
        ms = np.array(list(planner.plan_s.values())) * 1e3
        worst = np.convolve(ms, np.ones(window) / window, mode="valid").max()
        print(f"{name:16s} {ms.mean():12.1f} {ms.max():8.1f} {worst:20.1f}  {'yes' if ms.max() < 1000 else 'NO'}")
    print(f"load average after: {load()}")


def load() -> str:
    """The 1, 5 and 15 minute load averages (runnable processes; this machine has os.cpu_count() CPUs)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
