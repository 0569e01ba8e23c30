"""Routing strategies: each built-in checked against an independent computation on the default scenario."""

from __future__ import annotations

import heapq
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from topologies import strategies as S
from topologies.routing import next_hops

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def series():
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=300)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


def neighbours(series, k) -> dict[int, dict[int, float]]:
    """Adjacency of step k in plain Python: {node: {neighbour: one-way delay ms}}."""
    ids, delay = series.active(k)
    adj: dict[int, dict[int, float]] = {i: {} for i in range(series.n_nodes)}
    for link, d in zip(ids.tolist(), delay.tolist()):
        a, b = int(series.link_a[link]), int(series.link_b[link])
        adj[a][b] = adj[b][a] = d
    return adj


def relays(series, v: int) -> bool:
    return series.node_layer[v] != "GROUND"


def bfs_hops(series, adj, src: int) -> dict[int, int]:
    """Hop distance from src; stations end paths but never relay them."""
    dist, queue = {src: 0}, deque([src])
    while queue:
        u = queue.popleft()
        if u != src and not relays(series, u):
            continue
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def follow(nh: np.ndarray, s: int, d: int, limit: int = 200) -> list[int]:
    path = [s]
    while path[-1] != d and len(path) < limit:
        h = int(nh[path[-1], d])
        if h < 0:
            return []
        path.append(h)
    return path if path[-1] == d else []


def test_shortest_delay_is_exactly_todays_static_routes_at_every_step(series):
    for k in range(0, series.n_steps, 3):
        got = S.shortest_delay(S.RoutingGraph(series, k)).next_hop
        assert np.array_equal(got, next_hops(series, k)[1]), f"step {k}"


def test_min_hop_paths_are_as_short_as_breadth_first_search_finds(series):
    for k in (0, 100, 250):
        adj = neighbours(series, k)
        nh = S.min_hop(S.RoutingGraph(series, k)).next_hop
        for s in range(0, series.n_nodes, 5):
            hops = bfs_hops(series, adj, s)
            for d in range(series.n_nodes):
                if d == s:
                    continue
                path = follow(nh, s, d)
                assert (len(path) - 1 if path else None) == hops.get(d), (k, s, d)
                assert all(relays(series, v) for v in path[1:-1])


def least_cost_paths(adj_cost: dict[int, dict[int, int]], s: int, d: int, relay) -> list[list[int]]:
    """Every least-cost path s -> d, by Dijkstra from d then depth-first enumeration."""
    dist, heap = {d: 0}, [(0, d)]
    while heap:
        c, u = heapq.heappop(heap)
        if c > dist[u] or (u != d and not relay(u)):
            continue
        for v, w in adj_cost[u].items():
            if c + w < dist.get(v, float("inf")):
                dist[v] = c + w
                heapq.heappush(heap, (c + w, v))
    if s not in dist:
        return []
    out, stack = [], [[s]]
    while stack:
        path = stack.pop()
        u = path[-1]
        if u == d:
            out.append(path)
            continue
        for v, w in adj_cost[u].items():
            if v in dist and (v == d or relay(v)) and w + dist[v] == dist[u]:
                stack.append(path + [v])
    return out


@pytest.mark.parametrize("metric", ["hops", "delay"])
def test_ecmp_next_hops_are_the_first_hops_of_all_least_cost_paths(series, metric):
    k = 40
    graph = S.RoutingGraph(series, k)
    dec = S.ecmp(graph, None, metric=metric, quantum_ms=1.0)
    adj = neighbours(series, k)
    cost = {u: {v: 1 if metric == "hops" else max(1, int(np.round(d))) for v, d in nb.items()} for u, nb in adj.items()}
    several = 0
    for s in range(0, series.n_nodes, 7):
        for d in range(1, series.n_nodes, 3):
            if s == d:
                continue
            paths = least_cost_paths(cost, s, d, lambda v: relays(series, v))
            assert set(dec.hops(s, d)) == {p[1] for p in paths}, (s, d)
            several += len(dec.hops(s, d)) > 1
            for p in paths[:50]:  # every least-cost path can be followed through the multipath hops
                assert all(p[i + 1] in dec.hops(p[i], d) for i in range(len(p) - 1))
    assert several > 10, "no multipath at all: the test would prove nothing"


def test_hold_down_flaps_less_and_stays_within_its_thresholds(series):
    best = S.predict_pairs(series, "shortest-delay")
    held = S.predict_pairs(series, {"strategy": "hold-down", "threshold_ratio": 1.2, "threshold_ms": 20})
    assert held.path_changes().sum() < best.path_changes().sum()
    assert held.routes_changed[1:].sum() < best.routes_changed[1:].sum()
    ok = np.isfinite(best.rtt_ms)
    assert np.isfinite(held.rtt_ms[ok]).all(), "a held path broke and was not replaced"
    assert (held.rtt_ms[ok] <= best.rtt_ms[ok] * 1.2 + 1e-6).all()
    assert (held.rtt_ms[ok] <= best.rtt_ms[ok] + 2 * 20 + 1e-6).all()  # RTT = 2 x one-way
    assert (held.rtt_ms[ok] > best.rtt_ms[ok] + 1e-6).any(), "never held a worse path: nothing was held"


def remaining_life_s(series, k: int, link: int) -> float:
    mask = series.active_mask()
    t = k
    while t + 1 < series.n_steps and mask[t + 1, link]:
        t += 1
    return (t - k) * series.axis.step_s


def test_predictive_routes_over_links_that_stay_up_longer(series):
    horizon = 120.0
    base = S.predict_pairs(series, "shortest-delay")
    pred = S.predict_pairs(series, {"strategy": "predictive", "horizon_s": horizon, "penalty_ms": 60})
    link_of = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(series.link_a, series.link_b))}
    mask = series.active_mask()

    def mean_life(r):
        """Mean over pairs and steps of how long the path's shortest-lived link stays up (capped)."""
        lives = []
        for paths in r.paths:
            for k in range(0, series.n_steps - int(horizon), 5):
                if paths[k]:
                    runs = [mask[k:, link_of[(min(u, v), max(u, v))]] for u, v in zip(paths[k], paths[k][1:])]
                    lives.append(min(min(np.argmin(run) if not run.all() else run.size, horizon) for run in runs))
        return np.mean(lives)

    assert mean_life(pred) > mean_life(base) + 1.0
    # it leaves a link before the link breaks: late (controller-installed) routes then lose far less
    late_base = S.predict_pairs(series, {"strategy": "shortest-delay", "controller_delay_ms": 500})
    late_pred = S.predict_pairs(series, {"strategy": "predictive", "horizon_s": 60, "penalty_ms": 150,
                                         "controller_delay_ms": 500})
    assert late_pred.outage_s().sum() < 0.5 * late_base.outage_s().sum()
    graph = S.RoutingGraph(series, 10)
    life = graph.lifetime_s((series.n_steps - 1 - 10) * series.axis.step_s)  # up to the series' end
    for p in range(0, graph.link_id.size, 17):  # the graph's own look-ahead, checked link by link
        assert life[p] == remaining_life_s(series, 10, int(graph.link_id[p])), p


def test_controller_delay_installs_each_decision_late(series):
    step_ms = series.axis.step_s * 1e3
    fresh = S.predict_pairs(series, "min-hop")
    whole = S.predict_pairs(series, {"strategy": "min-hop", "controller_delay_ms": 2 * step_ms})
    part = S.predict_pairs(series, {"strategy": "min-hop", "controller_delay_ms": 0.3 * step_ms})
    # two whole steps late: step k runs decision k-2 over step k's links
    planner = S.StrategyPlanner(series, "min-hop")
    decisions = [planner.decide(k).next_hop for k in range(series.n_steps)]
    for p, (s, d) in enumerate(whole.pairs.tolist()):
        for k in range(2, series.n_steps):
            path = follow(decisions[k - 2], s, d)
            adj = neighbours(series, k) if path else None
            works = bool(path) and all(v in adj[u] for u, v in zip(path, path[1:]))
            assert whole.paths[p][k] == (path if works else []), (p, k)
    # less than a step late: the steady state is the fresh one; the first 0.3 steps are stale
    assert np.array_equal(part.hops, fresh.hops)
    assert part.transition_s == pytest.approx(0.3 * series.axis.step_s)
    changed = fresh.path_changes()
    stale_differs = ~np.isclose(part.transition_rtt_ms, part.rtt_ms, equal_nan=True)
    assert stale_differs.any() and not stale_differs[~changed & np.isfinite(fresh.rtt_ms)].any()
    assert part.outage_s().sum() > fresh.outage_s().sum()


def test_parse_routing_accepts_names_mappings_and_python_and_names_the_bad_field():
    spec = S.parse_routing({"strategy": "hold-down", "threshold_ratio": 1.5, "controller_delay_ms": 100})
    assert spec.name == "hold-down" and spec.params == {"threshold_ratio": 1.5} and spec.controller_delay_ms == 100
    assert S.parse_routing("static").function is S.shortest_delay
    ex = S.parse_routing({"strategy": "python: docs/examples/strategy_example.py:prefer_beidou",
                          "leo_penalty_ms": 30}, base_dir=ROOT)
    assert ex.function.__name__ == "prefer_beidou" and ex.params == {"leo_penalty_ms": 30}
    assert S.parse_routing("python: topologies.strategies:min_hop").function is S.min_hop
    bad = [
        ({"strategy": "fastest"}, "emulation.routing.strategy: 'fastest'; accepted: shortest-delay"),
        ({"strategy": "ecmp", "metric": "km"}, "emulation.routing.metric: 'km'; accepted: one of delay, hops"),
        ({"strategy": "min-hop", "colour": 1}, "emulation.routing.colour: unknown parameter of min-hop"),
        ({"strategy": "min-hop", "controller_delay_ms": -5}, "emulation.routing.controller_delay_ms: -5"),
        ("python: no_such_module_x:f", "emulation.routing.strategy: cannot import 'no_such_module_x'"),
        ("python: topologies.strategies:nothing", "has no function 'nothing'"),
        ({"strategy": "python: topologies.strategies:min_hop", "zeal": 2}, "parameters ['zeal'] do not fit"),
        (42, "emulation.routing: 42; accepted: static, ospf"),
    ]
    for value, message in bad:
        with pytest.raises(S.StrategyError) as exc:
            S.parse_routing(value)
        assert message in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_a_strategy_naming_a_non_neighbour_is_refused_with_one_line(series):
    def teleport(graph, prev):
        nh = np.full((graph.n_nodes, graph.n_nodes), -1)
        nh[0, 1:] = graph.n_nodes - 1   # node 0 "forwards" to a station it has no link to
        return nh

    with pytest.raises(S.StrategyError, match="not a neighbour over an up link"):
        S.StrategyPlanner(series, teleport).decide(0)


def test_the_example_strategy_runs_and_changes_paths_less_than_shortest_delay():
    out = subprocess.run([sys.executable, "docs/examples/strategy_example.py", "--duration", "300"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "path changes" in line]
    changes = [int(line.split("path changes ")[1].split(",")[0]) for line in rows]
    assert len(changes) == 2 and changes[1] < changes[0], out.stdout


def test_sgemu_route_with_a_strategy_writes_that_strategys_path_and_refuses_a_bad_name(tmp_path, series):
    import csv

    out = tmp_path / "route"
    run = subprocess.run([sys.executable, "-m", "sgemu", "route", "--src", "Sanya", "--dst", "Nairobi",
                          "--duration", "300", "--strategy", "min-hop", "--out", str(out), "-q"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(open(out / "route-Sanya-Nairobi.csv")))
    want = S.predict_pairs(series, "min-hop", [(series.index("Sanya"), series.index("Nairobi"))])
    assert [r["path"].split() for r in rows] == [[series.node_names[i] for i in p] for p in want.paths[0]]
    bad = subprocess.run([sys.executable, "-m", "sgemu", "route", "--src", "Sanya", "--dst", "Nairobi",
                          "--strategy", "fastest", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--strategy" in bad.stderr


def test_sgemu_compare_strategies_offline_writes_a_table_and_a_figure_that_parse(tmp_path):
    import csv

    run = subprocess.run([sys.executable, "-m", "sgemu", "compare", "--strategies", "shortest-delay,min-hop,hold-down",
                          "--duration", "60", "--out", str(tmp_path), "-q"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = {r["strategy"]: r for r in csv.DictReader(open(tmp_path / "strategies.csv"))}
    assert set(rows) == {"shortest-delay", "min-hop", "hold-down"}
    assert float(rows["shortest-delay"]["stretch_mean"]) == pytest.approx(1.0)   # it is the optimum
    assert float(rows["min-hop"]["stretch_mean"]) > 1.0
    from PIL import Image

    assert Image.open(tmp_path / "strategies.png").size[0] > 500
    bad = subprocess.run([sys.executable, "-m", "sgemu", "compare", "--strategies", "shortest-delay,nope"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr and bad.stderr.count("\n") == 1
