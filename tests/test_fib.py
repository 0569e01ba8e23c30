"""Reading forwarding back: whether hop-by-hop next hops carry packets between the stations."""

from __future__ import annotations

import numpy as np
import pytest

import sgemu
from emulator.fib import paths_arrive
from topologies.routing import next_hops


@pytest.fixture(scope="module")
def step():
    series = sgemu.Scenario.load(duration_s=10).series
    return series, 5, next_hops(series, 5, ground_transit=False)[1]


def test_shortest_next_hops_carry_every_reachable_station_pair(step):
    series, k, nh = step
    g = np.asarray(series.ground_indices)
    reach = nh[np.ix_(g, g)] >= 0
    assert reach.sum() > g.size  # a real mesh, not an empty one
    assert np.array_equal(paths_arrive(series, k, nh, g), reach)


def test_a_relay_without_its_route_breaks_exactly_the_pairs_through_it(step):
    series, k, nh = step
    g = np.asarray(series.ground_indices)
    src, dst = g[0], next(int(j) for j in g[1:] if nh[g[0], j] >= 0 and nh[nh[g[0], j], j] != j)
    relay = int(nh[src, dst])       # the first satellite, which must forward on
    broken = nh.copy()
    broken[relay, dst] = -1         # the station has its route; the satellite after it not yet
    got = paths_arrive(series, k, broken, g)
    i, j = list(g).index(src), list(g).index(dst)
    assert not got[i, j]
    through = np.array([[_passes(nh, a, b, relay, dst) for b in g] for a in g])
    assert np.array_equal(got, (nh[np.ix_(g, g)] >= 0) & ~through)


def test_loops_and_hops_over_links_that_are_down_do_not_arrive(step):
    series, k, nh = step
    g = np.asarray(series.ground_indices)
    src, dst = g[0], next(int(j) for j in g[1:] if nh[g[0], j] >= 0 and nh[nh[g[0], j], j] != j)
    relay = int(nh[src, dst])
    looped = nh.copy()
    looped[relay, dst] = src        # back to the station, which sends it up again
    assert not paths_arrive(series, k, looped, np.array([src, dst]))[0, 1]
    down = nh.copy()
    down[src, dst] = dst            # a "direct" hop where no link is up
    ids, _ = series.active(k)
    assert not ({(src, dst), (dst, src)} & set(zip(series.link_a[ids].tolist(), series.link_b[ids].tolist())))
    assert not paths_arrive(series, k, down, np.array([src, dst]))[0, 1]


def _passes(nh, a, b, node, dst) -> bool:
    """Whether the path from a to b under nh uses node's route to dst (independent walk)."""
    cur, seen = a, set()
    while cur != b and cur >= 0 and cur not in seen:
        seen.add(cur)
        if cur == node and b == dst:
            return True
        cur = int(nh[cur, b])
    return False
