"""A routing strategy of your own: stay in BeiDou, use the LEO shell only when it pays.

Use it in a scenario::

    emulation:
      routing: {strategy: "python: docs/examples/strategy_example.py:prefer_beidou", leo_penalty_ms: 20}

or from Python: ``sgemu.Emulation(scen, routing=prefer_beidou)``.  Run this
file to compare it with the delay-shortest routes on the default scenario::

    python docs/examples/strategy_example.py [--duration 300] [--src Sanya --dst Nairobi]
"""

from __future__ import annotations

import argparse

import numpy as np

from topologies.strategies import Decision, RoutingGraph


def prefer_beidou(graph: RoutingGraph, prev: Decision | None, leo_penalty_ms: float = 20.0) -> Decision:
    """Least delay, where every link touching a LEO satellite costs ``leo_penalty_ms`` more.

    LEO links come and go every few minutes; BeiDou's MEO, IGSO and GEO
    links last hours.  Charged a penalty, paths stay in BeiDou unless the
    LEO shell saves more than it: fewer path changes, for some delay.
    """
    leo = np.array([layer == "LEO" for layer in graph.layer])        # (node,)
    cost = graph.delay_ms + leo_penalty_ms * (leo[graph.a] | leo[graph.b])   # (link,) up at this step
    dist, next_hop = graph.shortest(cost)     # (node, node); next_hop -1 = no route
    return Decision(next_hop)


def main(argv=None) -> int:
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series
    from topologies.strategies import predict_pairs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=300.0)
    p.add_argument("--src", default="Sanya")
    p.add_argument("--dst", default="Nairobi")
    args = p.parse_args(argv)
    scen = load_scenario().with_overrides(duration_s=args.duration)
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis)
    pair = [(series.index(args.src), series.index(args.dst))]
    print(f"{args.src} -> {args.dst}, {series.n_steps} steps")
    for strategy in ("shortest-delay", prefer_beidou):
        r = predict_pairs(series, strategy, pair, scen.ground_transit)
        path = [series.node_names[i] for i in r.paths[0][0]]
        leo = np.mean([any(series.node_layer[i] == "LEO" for i in p) for p in r.paths[0]])
        print(f"{r.spec.label:15s} RTT mean {np.nanmean(r.rtt_ms):6.1f} ms, path changes "
              f"{int(r.path_changes().sum())}, through LEO {100 * leo:3.0f}% of the time; "
              f"at t=0: {' -> '.join(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
