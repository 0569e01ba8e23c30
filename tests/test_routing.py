"""Claims about predicted routes: which way packets go and how long they take.

The reference shortest paths are computed here by plain Bellman-Ford
relaxation over a dense delay matrix built from the link series, with
stations barred from relaying unless ground transit is allowed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from orbits.presets import PRESETS
from orbits.scene import Scene
from orbits.stations import GroundStation, builtin_station
from orbits.timebase import TimeAxis
from orbits.walker import WalkerShell
from topologies.builder import build_series
from topologies.fiber_links import Fiber
from topologies.ground_links import GroundAccess
from topologies.relay_links import InterLayer
from topologies.routing import ground_pair_routes, next_hops, route_pair
from topologies.shell_links import NearestK, PlusGrid

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
CITIES = ("Beijing", "Kashi", "Sanya", "Harbin", "Karachi", "Moscow", "Singapore", "Nairobi")


@pytest.fixture(scope="module")
def series():
    """BDS-3 + a 6x8 LEO shell + 8 cities with a fibre triangle, and one station nobody serves."""
    sats = (PRESETS["bds3"].satellites("bds3", EPOCH)
            + WalkerShell(planes=6, sats_per_plane=8, inclination_deg=53.0, altitude_km=1000.0).satellites("leo", EPOCH))
    sites = [builtin_station(c) for c in CITIES] + [GroundStation("Isolated", -60.0, 0.0)]
    rules = [
        PlusGrid(group="leo"),
        NearestK(group="bds3", k=3),
        InterLayer(lower="leo", upper="bds3", k=1),
        GroundAccess(group="leo", stations=list(CITIES), policy="nearest", sticky=True, min_elevation_deg=20),
        GroundAccess(group="bds3", stations=list(CITIES), policy="highest-elevation", sticky=True),
        Fiber(mesh=["Beijing", "Harbin", "Kashi"]),
    ]
    return build_series(Scene(sats, sites), rules, TimeAxis.from_duration(EPOCH, 1200, 30))


def delay_matrix(series, k: int) -> np.ndarray:
    """One-way delay (ms) between linked nodes at step k, inf elsewhere, (node, node)."""
    w = np.full((series.n_nodes, series.n_nodes), np.inf)
    ids, delay = series.active(k)
    w[series.link_a[ids], series.link_b[ids]] = delay
    w[series.link_b[ids], series.link_a[ids]] = delay
    return w


def reference_rtt_ms(series, k: int, src: int, ground_transit: bool = False) -> np.ndarray:
    """Shortest RTT from src to every node by Bellman-Ford; stations relay only with ground transit."""
    w = delay_matrix(series, k)
    relay = np.array([ground_transit or layer != "GROUND" for layer in series.node_layer])
    relay[src] = True
    d = np.full(series.n_nodes, np.inf)
    d[src] = 0.0
    for _ in range(series.n_nodes):
        new = np.minimum(d, (d[relay][:, None] + w[relay]).min(axis=0))
        if np.array_equal(new, d):
            break
        d = new
    return 2.0 * d


def ground_pairs(series):
    g = [series.index(c) for c in CITIES]
    return [(a, b) for i, a in enumerate(g) for b in g[i + 1:]]


def test_a_route_rtt_is_twice_the_sum_of_the_delays_of_its_links(series):
    for src, dst in ground_pairs(series):
        route = route_pair(series, src, dst)
        for k in range(series.n_steps):
            w = delay_matrix(series, k)
            path = route.paths[k]
            assert path[0] == src and path[-1] == dst
            hops = [w[a, b] for a, b in zip(path[:-1], path[1:])]
            assert np.isfinite(hops).all(), "consecutive path nodes must be linked"
            assert route.rtt_ms[k] == pytest.approx(2.0 * sum(hops), rel=1e-12)


def test_a_route_is_the_shortest_path_and_never_relays_through_another_station(series):
    is_ground = np.array([layer == "GROUND" for layer in series.node_layer])
    for src, dst in ground_pairs(series):
        route = route_pair(series, src, dst, ground_transit=False)
        for k in range(0, series.n_steps, 5):
            assert route.rtt_ms[k] == pytest.approx(reference_rtt_ms(series, k, src)[dst], rel=1e-9)
        for path in route.paths:
            assert not is_ground[path[1:-1]].any()


def test_ground_transit_never_lengthens_a_route_and_lets_some_go_through_a_station(series):
    is_ground = np.array([layer == "GROUND" for layer in series.node_layer])
    through_station = 0
    for src, dst in ground_pairs(series):
        barred = route_pair(series, src, dst, ground_transit=False)
        free = route_pair(series, src, dst, ground_transit=True)
        assert (free.rtt_ms <= barred.rtt_ms + 1e-9).all()
        for k in range(0, series.n_steps, 10):
            assert free.rtt_ms[k] == pytest.approx(reference_rtt_ms(series, k, src, True)[dst], rel=1e-9)
        through_station += sum(is_ground[p[1:-1]].any() for p in free.paths)
    assert through_station > 0  # e.g. Harbin -> Beijing -> Kashi over the fibre triangle


def test_rtt_is_the_same_both_ways(series):
    for src, dst in ground_pairs(series):
        there, back = route_pair(series, src, dst), route_pair(series, dst, src)
        assert np.allclose(there.rtt_ms, back.rtt_ms, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_all_pair_routes_agree_with_single_pair_routes(series, workers):
    routes = ground_pair_routes(series, workers=workers, block_steps=16)
    g = set(series.ground_indices.tolist())
    assert {tuple(p) for p in routes.pairs.tolist()} == {(a, b) for a in g for b in g if a < b}
    changes = routes.path_changes()
    for p, (src, dst) in enumerate(routes.pairs):
        single = route_pair(series, int(src), int(dst))
        assert np.allclose(routes.rtt_ms[:, p], single.rtt_ms, rtol=1e-12, equal_nan=True)
        assert np.array_equal(routes.hops[:, p], single.hops)
        assert np.flatnonzero(changes[:, p]).tolist() == single.change_steps().tolist()


def test_a_station_no_rule_serves_is_unreachable(series):
    isolated, beijing = series.index("Isolated"), series.index("Beijing")
    route = route_pair(series, beijing, isolated)
    assert np.isnan(route.rtt_ms).all() and (route.hops == -1).all() and route.paths[0] == []
    summary = route.summary()
    assert summary["unreachable_steps"] == series.n_steps and summary["rtt_ms_min"] is None
    routes = ground_pair_routes(series, pairs=np.array([[beijing, isolated]]), workers=1)
    assert np.isnan(routes.rtt_ms).all() and (routes.hops == -1).all()


def test_following_next_hops_reproduces_the_predicted_paths(series):
    sats = [i for i, layer in enumerate(series.node_layer) if layer != "GROUND"]
    pairs = ground_pairs(series) + [(sats[0], series.index("Nairobi")), (series.index("Moscow"), sats[-1]),
                                    (sats[3], sats[40])]
    for k in (0, series.n_steps // 2, series.n_steps - 1):
        dist_ms, nh = next_hops(series, k)
        for src, dst in pairs:
            route = route_pair(series, src, dst)
            walked, node = [src], src
            while node != dst and len(walked) <= series.n_nodes:
                node = int(nh[node, dst])
                walked.append(node)
            assert walked == route.paths[k]
            assert 2.0 * dist_ms[src, dst] == pytest.approx(route.rtt_ms[k], rel=1e-12)


def test_route_summary_describes_the_rtt_series(series):
    route = route_pair(series, series.index("Beijing"), series.index("Kashi"))
    s = route.summary()
    assert s["src"] == "Beijing" and s["dst"] == "Kashi" and s["steps"] == series.n_steps
    assert s["rtt_ms_min"] == route.rtt_ms.min() and s["rtt_ms_max"] == route.rtt_ms.max()
    assert s["path_changes"] == sum(route.paths[k] != route.paths[k - 1] for k in range(1, series.n_steps))
    # Beijing and Kashi are 3,400 km apart: a space route costs more than light over that distance
    assert s["rtt_ms_min"] > 2 * 3400 / 299.792458


def _all_shortest_first_hops(w: np.ndarray, i: int, j: int) -> tuple[float, set[int]]:
    """Brute force on a tiny graph: every simple path i -> j, the least cost and the first hops achieving it."""
    best, hops = np.inf, set()
    stack = [(i, 0.0, None, {i})]
    while stack:
        v, cost, first, seen = stack.pop()
        if v == j:
            if cost < best - 1e-9:
                best, hops = cost, {first}
            elif abs(cost - best) <= 1e-9:
                hops.add(first)
            continue
        for u in np.flatnonzero(np.isfinite(w[v])):
            if u not in seen:
                stack.append((int(u), cost + w[v, u], first if first is not None else int(u), seen | {int(u)}))
    return best, hops


@pytest.mark.parametrize("seed", range(6))
def test_on_shortest_paths_accepts_exactly_the_first_hops_of_shortest_paths(seed):
    from scipy.sparse import csr_matrix

    from topologies.routing import on_shortest_paths

    rng = np.random.default_rng(seed)
    n = 7
    w = np.full((n, n), np.inf)
    for a in range(n):
        for b in range(a + 1, n):
            if rng.random() < 0.45:
                # directed costs (OSPF counts the outgoing interface); small integers make equal-cost ties common
                w[a, b], w[b, a] = rng.integers(1, 4), rng.integers(1, 4)
    weights = csr_matrix(np.where(np.isfinite(w), w, 0.0))
    nh = rng.integers(-1, n, size=(n, n))
    for i in range(n):  # half the entries: a real first hop of a shortest path, the rest random
        for j in range(n):
            if i == j:
                continue
            _, hops = _all_shortest_first_hops(w, i, j)
            if hops and rng.random() < 0.5:
                nh[i, j] = sorted(hops)[0]
    ok = on_shortest_paths(weights, nh)
    for i in range(n):
        for j in range(n):
            if i == j:
                assert ok[i, j]
                continue
            best, hops = _all_shortest_first_hops(w, i, j)
            expect = (nh[i, j] in hops) if np.isfinite(best) else True
            assert ok[i, j] == expect, (i, j, nh[i, j], hops)
    # an equal-cost extra next hop off the shortest paths marks the entry wrong
    i, j = next((i, j) for i in range(n) for j in range(n) if ok[i, j] and i != j and nh[i, j] >= 0)
    wrong = [u for u in np.flatnonzero(np.isfinite(w[i])) if u not in _all_shortest_first_hops(w, i, j)[1]]
    if wrong:
        assert not on_shortest_paths(weights, nh, [(i, j, int(wrong[0]))])[i, j]
