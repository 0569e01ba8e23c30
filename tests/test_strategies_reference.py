"""The fast built-in strategies decide exactly what their straightforward versions decide.

The reference functions below are the first implementations of
``shortest``, ``ecmp`` and ``hold-down`` (an edge x destination comparison,
walking every old path of every pair), kept here verbatim: every next hop,
every multipath row (in the same order) and every held path must be equal,
step after step, on the default scenario and on the 1,714-node one.
"""

from __future__ import annotations

import numpy as np
import pytest

from topologies import strategies as S


# -- reference implementations (slow, obviously right) --------------------------------------------
def ref_shortest(graph: S.RoutingGraph, cost: np.ndarray):
    n = graph.n_nodes
    dist, succ = graph.distances_to(cost)
    s = succ[:, :n].T
    nh = np.where(s >= 0, graph._split.node_of(np.maximum(s, 0)), -1).astype(np.int32)
    np.fill_diagonal(nh, -1)
    return dist[:, :n].T, nh


def ref_ecmp(graph: S.RoutingGraph, prev=None, metric: str = "delay", quantum_ms: float = 1.0) -> S.Decision:
    cost = np.ones(graph.a.size) if metric == "hops" else np.maximum(1.0, np.round(graph.delay_ms / quantum_ms))
    n = graph.n_nodes
    dist, succ = graph.distances_to(cost)
    g = graph._split
    nh = np.where(succ[:, :n].T >= 0, g.node_of(np.maximum(succ[:, :n].T, 0)), -1).astype(np.int32)
    np.fill_diagonal(nh, -1)
    u = np.concatenate([graph.a, graph.b])
    v = np.concatenate([graph.b, graph.a])
    c = np.concatenate([cost, cost])
    via = c[:, None] + dist[:, g.receiver(v)].T
    ok = np.isfinite(via) & (via == dist[:, u].T)
    e, j = np.nonzero(ok)
    keep = (u[e] != j) & (nh[u[e], j] != v[e])
    extra = np.stack([u[e][keep], j[keep], v[e][keep]], axis=1).astype(np.int32)
    return S.Decision(nh, extra)


def ref_follow(next_hop, weight, relay_ok, max_hops=None):
    n = next_hop.shape[0]
    max_hops = max_hops or n
    i, j = np.nonzero(next_hop >= 0)
    cur, cost = i.copy(), np.zeros(i.size)
    out = np.full((n, n), np.inf)
    np.fill_diagonal(out, 0.0)
    for _ in range(max_hops):
        nxt = next_hop[cur, j]
        step = np.where(nxt >= 0, weight[cur, np.maximum(nxt, 0)], np.inf)
        step = np.where((nxt == j) | relay_ok[np.maximum(nxt, 0)], step, np.inf)
        cost = cost + step
        arrived = (nxt == j) & np.isfinite(cost)
        out[i[arrived], j[arrived]] = cost[arrived]
        alive = ~arrived & np.isfinite(cost)
        if not alive.any():
            break
        i, j, cur, cost = i[alive], j[alive], nxt[alive], cost[alive]
    return out


def ref_all_along(next_hop, good, max_hops=None):
    n = next_hop.shape[0]
    out = good.copy()
    i, j = np.nonzero(out & (next_hop >= 0))
    cur = i.copy()
    for _ in range(max_hops or n):
        nxt = next_hop[cur, j]
        going = nxt != j
        bad = going & ((nxt < 0) | ~good[np.maximum(nxt, 0), j])
        out[i[bad], j[bad]] = False
        alive = going & ~bad
        if not alive.any():
            return out
        i, j, cur = i[alive], j[alive], nxt[alive]
    out[i, j] = False
    return out


def ref_hold_down(graph, prev=None, threshold_ratio=1.2, threshold_ms=20.0) -> S.Decision:
    best, nh = ref_shortest(graph, graph.delay_ms)
    if prev is None:
        return S.Decision(nh)
    old = np.asarray(prev.next_hop)
    relay = ~graph.is_ground | graph.ground_transit
    cost_old = ref_follow(old, graph.dense(graph.delay_ms), relay)
    within = np.isfinite(cost_old) & (cost_old <= best * threshold_ratio) & (cost_old <= best + threshold_ms)
    keep = ref_all_along(old, within & (old >= 0))
    np.fill_diagonal(keep, False)
    return S.Decision(np.where(keep, old, nh).astype(np.int32))


# -- scenarios -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def series():
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=300)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


@pytest.fixture(scope="module")
def large():
    from benchmarks.bench_emulator import large_series

    return large_series(4)


def same(a: S.Decision, b: S.Decision, where) -> None:
    assert np.array_equal(a.next_hop, b.next_hop), f"next hops differ at {where}"
    assert np.array_equal(np.asarray(a.extra).reshape(-1, 3), np.asarray(b.extra).reshape(-1, 3)), \
        f"multipath rows differ at {where}"


def held_chain(series, steps, params, transit=False, first=None):
    """(fast, reference) decisions of hold-down step after step, each checked as a planner does."""
    fast = ref = first
    for k in steps:
        graph = S.RoutingGraph(series, k, transit)
        fast = S.check_decision(graph, S.hold_down(graph, fast, **params), "hold-down")
        ref = S.check_decision(graph, ref_hold_down(graph, ref, **params), "reference")
        yield k, fast, ref


# -- tests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("transit", [False, True])
def test_shortest_next_hops_equal_the_reference_for_delay_and_hop_costs(series, transit):
    for k in range(0, series.n_steps, 7):
        graph = S.RoutingGraph(series, k, transit)
        for cost in (graph.delay_ms, 1.0 + graph.delay_ms * 1e-5):
            d, nh = graph.shortest(cost)
            rd, rnh = ref_shortest(graph, cost)
            assert np.array_equal(nh, rnh) and np.array_equal(d, rd), (k, transit)


@pytest.mark.parametrize("transit", [False, True])
@pytest.mark.parametrize("params", [{"metric": "delay"}, {"metric": "hops"},
                                    {"metric": "delay", "quantum_ms": 0.25}, {"metric": "delay", "quantum_ms": 7}])
def test_ecmp_equals_the_reference_at_every_step(series, params, transit):
    multipath = 0
    for k in range(0, series.n_steps, 3):
        graph = S.RoutingGraph(series, k, transit)
        got, want = S.ecmp(graph, None, **params), ref_ecmp(graph, None, **params)
        same(got, want, (k, params, transit))
        multipath += len(want.extra)
    assert multipath > 100, "no multipath rows: the comparison would prove little"


@pytest.mark.parametrize("transit", [False, True])
@pytest.mark.parametrize("params", [{"threshold_ratio": 1.2, "threshold_ms": 20.0},
                                    {"threshold_ratio": 1.0, "threshold_ms": 0.0},
                                    {"threshold_ratio": 1.05, "threshold_ms": 1.0},
                                    {"threshold_ratio": 3.0, "threshold_ms": 500.0}])
def test_hold_down_equals_the_reference_at_every_step(series, params, transit):
    held = 0
    for k, fast, ref in held_chain(series, range(series.n_steps), params, transit):
        same(fast, ref, (k, params, transit))
        graph = S.RoutingGraph(series, k, transit)
        held += int((ref.next_hop != ref_shortest(graph, graph.delay_ms)[1]).sum())
    if params["threshold_ms"] > 0:
        assert held > 0, "nothing was ever held: the comparison would prove little"


def scrambled(series, k: int, seed: int, share: float = 0.05) -> S.Decision:
    """Step k's shortest-delay decision with a share of entries sent to a random neighbour or
    dropped: old paths with loops, dead ends and detours."""
    rng = np.random.default_rng(seed)
    graph = S.RoutingGraph(series, k)
    nh = S.shortest_delay(graph).next_hop.copy()
    nbrs = [np.flatnonzero(row < np.inf) for row in graph.dense(graph.delay_ms)]
    i, j = np.nonzero(rng.random(nh.shape) < share)
    for a, b in zip(i.tolist(), j.tolist()):
        nh[a, b] = rng.choice(nbrs[a]) if nbrs[a].size and rng.random() < 0.8 else -1
    return S.check_decision(graph, nh, "scrambled")


@pytest.mark.parametrize("seed", [1, 2])
def test_hold_down_from_a_scrambled_previous_decision_equals_the_reference(series, seed):
    for k0 in (10, 150):
        first = scrambled(series, k0, seed)
        for k, fast, ref in held_chain(series, range(k0 + 1, k0 + 4), {"threshold_ratio": 1.3, "threshold_ms": 30.0},
                                       first=first):
            same(fast, ref, (k0, k))
        other = S.min_hop(S.RoutingGraph(series, k0))   # a very different old decision
        graph = S.RoutingGraph(series, k0 + 1)
        same(S.hold_down(graph, other), ref_hold_down(graph, other), ("from min-hop", k0))


def test_ecmp_and_hold_down_equal_the_reference_on_the_1714_node_scenario(large):
    assert large.n_nodes == 1714
    for metric in ("delay", "hops"):
        graph = S.RoutingGraph(large, 1)
        same(S.ecmp(graph, None, metric=metric), ref_ecmp(graph, None, metric=metric), ("large", metric))
    for k, fast, ref in held_chain(large, range(4), {"threshold_ratio": 1.2, "threshold_ms": 20.0}):
        same(fast, ref, ("large", k))
    other = S.check_decision(S.RoutingGraph(large, 2), S.min_hop(S.RoutingGraph(large, 2)), "min-hop")
    graph = S.RoutingGraph(large, 3)      # most old next hops differ from the shortest ones
    same(S.hold_down(graph, other), ref_hold_down(graph, other), ("large, from min-hop", 3))


def chain_series(delays_ms: list[float], direct_ms: float):
    """Satellites 0..m in a chain of links with ``delays_ms`` and a station m+1 on satellite 1;
    at step 1 a direct link 0-m of ``direct_ms`` comes up (both steps: links 0..m, then the direct one)."""
    import datetime as dt

    from orbits.timebase import TimeAxis
    from topologies.series import LinkSeries

    m = len(delays_ms)
    a = np.array(list(range(m)) + [1, 0], dtype=np.int32)
    b = np.array(list(range(1, m + 1)) + [m + 1, m], dtype=np.int32)
    return LinkSeries(
        axis=TimeAxis.from_duration(dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc), 1.0, 1.0),
        node_names=[f"n{i}" for i in range(m + 2)], node_layer=["LEO"] * (m + 1) + ["GROUND"],
        node_shell=["s"] * (m + 1) + [""], link_a=a, link_b=b, link_kind=np.zeros(m + 2, dtype=np.int8),
        ms_per_km=np.array(list(delays_ms) + [1.0, direct_ms]),       # 1 km per link: delay = ms_per_km
        capacity_mbps=np.full(m + 2, np.nan), loss_pct=np.full(m + 2, np.nan),
        indptr=np.array([0, m + 1, 2 * m + 3]),
        link_id=np.array(list(range(m + 1)) + list(range(m + 2)), dtype=np.int32),
        distance_km=np.ones(2 * m + 3, dtype=np.float32))


def test_hold_down_compares_the_old_path_cost_summed_hop_by_hop_from_its_start():
    # ((6.1 + 3.9) + 9.9) + 9.7 = 29.599999999999998, but (6.1 + 3.9) + (9.9 + 9.7) = 29.6: a direct link
    # of exactly the hop-by-hop sum is as good as the old chain, which hold-down then keeps
    delays = [6.1, 3.9, 9.9, 9.7]
    direct = ((6.1 + 3.9) + 9.9) + 9.7
    series = chain_series(delays, direct)
    params = {"threshold_ratio": 1.0, "threshold_ms": 0.0}
    steps = list(held_chain(series, range(2), params))
    _, fast, ref = steps[1]
    assert ref.next_hop[0, 4] == 1, "the reference replaced a path as good as the best"
    assert S.shortest_delay(S.RoutingGraph(series, 1)).next_hop[0, 4] == 4
    same(fast, ref, "chain")
    worse = chain_series(delays, np.nextafter(direct, 0))     # one ulp better: now the direct link wins
    _, fast, ref = list(held_chain(worse, range(2), params))[1]
    assert ref.next_hop[0, 4] == 4
    same(fast, ref, "chain, direct one ulp shorter")


def test_hold_down_after_a_long_run_equals_the_reference_on_the_1714_node_scenario():
    # after many steps many old paths are held, and most of them end in settled stretches (cells that
    # follow the shortest next hops to the destination), which hold-down then does not walk
    from benchmarks.bench_emulator import large_series

    series, params, prev = large_series(42), {"threshold_ratio": 1.2, "threshold_ms": 20.0}, None
    for k in range(40):
        graph = S.RoutingGraph(series, k)
        prev = S.check_decision(graph, S.hold_down(graph, prev, **params), "hold-down")
    graph = S.RoutingGraph(series, 40)
    best, nh = graph.shortest(graph.delay_ms)
    i, j = np.nonzero((prev.next_hop != nh) & (prev.next_hop >= 0))
    cells, settled = S._unsettled_downstream(prev.next_hop, nh, i, j)
    assert S._settled_pass(graph, best, **params)
    assert i.size > 50_000 and settled.size > 50_000 and cells.size > i.size, (i.size, settled.size, cells.size)
    same(S.hold_down(graph, prev, **params), ref_hold_down(graph, prev, **params), ("large, step 40", params))
    assert np.array_equal(S._still_held(graph, prev.next_hop, best, i, j, **params, nh=nh),
                          S._still_held(graph, prev.next_hop, best, i, j, **params))
