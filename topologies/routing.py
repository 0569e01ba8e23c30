"""Predicted routes: delay-shortest paths on the link series, step by step.

At each step the links that are up form a weighted graph (weight = one-way
delay in ms) and :func:`scipy.sparse.csgraph.dijkstra` finds shortest paths
from every source at once; no Python loop runs over node pairs.

Ground stations do not carry transit traffic by default (a packet from
Beijing to Kashi may not bounce through Sanya's dish).  The graph then
splits every station into a *sender* copy, which only has links out, and a
*receiver* copy, which only has links in: a path can start at a station and
end at one, never pass through one.  With ``ground_transit=True`` stations
are ordinary nodes.

Round-trip time is twice the one-way path delay (links are symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .series import LinkSeries

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


class StepGraph:
    """The directed graph of one step, with ground stations split when transit is barred.

    Node ``i`` < n keeps its index; when split, station ``g``'s receiver copy
    is ``n + position of g in ground``.  ``sender(i)`` / ``receiver(i)`` map
    a node to the graph vertex a path starts / ends at.
    """

    def __init__(self, series: LinkSeries, ground_transit: bool = False):
        self.series = series
        self.n = series.n_nodes
        self.ground = series.ground_indices
        self.split = not ground_transit and self.ground.size > 0
        self._recv = np.arange(self.n)
        if self.split:
            self._recv[self.ground] = self.n + np.arange(self.ground.size)
        self.size = self.n + (self.ground.size if self.split else 0)
        is_ground = np.zeros(self.n, dtype=bool)
        is_ground[self.ground] = True
        self._is_ground = is_ground

    def receiver(self, nodes):
        return self._recv[np.asarray(nodes)]

    def node_of(self, vertices):
        """The node a graph vertex stands for (a receiver copy maps back to its station)."""
        v = np.asarray(vertices)
        return np.where(v >= self.n, self.ground[np.clip(v - self.n, 0, max(self.ground.size - 1, 0))], v)

    def matrix(self, k: int) -> csr_matrix:
        """Weighted adjacency (ms) of step k, shape (size, size)."""
        ids, delay = self.series.active(k)
        a = self.series.link_a[ids].astype(np.int64)
        b = self.series.link_b[ids].astype(np.int64)
        w = np.maximum(delay, 1e-9)  # a zero weight would read as "no edge"
        # a -> b enters b (its receiver copy if b is a station); leaves a as sender
        src = np.concatenate([a, b])
        dst = np.concatenate([self._recv[b], self._recv[a]])
        ww = np.concatenate([w, w])
        return csr_matrix((ww, (src, dst)), shape=(self.size, self.size))


def _walk(pred: np.ndarray, rows: np.ndarray, src_v: np.ndarray, dst_v: np.ndarray):
    """Hop counts and path hashes for pairs (src_v[p], dst_v[p]) from predecessor rows.

    ``pred`` is (sources, vertices) from dijkstra; pair p's source is row
    ``rows[p]``.  Walks every path backwards at once; unreachable pairs get
    hops -1.
    """
    cur = dst_v.copy()
    hops = np.zeros(src_v.size, dtype=np.int32)
    sig = cur.astype(np.uint64)
    alive = (cur != src_v) & (pred[rows, cur] >= 0)
    unreachable = (cur != src_v) & (pred[rows, cur] < 0)
    while alive.any():
        nxt = pred[rows[alive], cur[alive]]
        cur[alive] = nxt
        hops[alive] += 1
        sig[alive] = sig[alive] * _HASH_MUL + nxt.astype(np.uint64)
        alive &= cur != src_v
    hops[unreachable] = -1
    return hops, sig


@dataclass
class PairRoutes:
    """Predicted routes for ground pairs over a run.

    ``pairs`` is (pair, 2) node indices; ``rtt_ms`` (time, pair) is NaN when
    unreachable; ``hops`` (time, pair) is -1 then; ``path_hash`` (time,
    pair) identifies the node sequence, so a change marks a path change.
    """

    series: LinkSeries
    pairs: np.ndarray
    rtt_ms: np.ndarray
    hops: np.ndarray
    path_hash: np.ndarray

    def path_changes(self) -> np.ndarray:
        """(time, pair) bool: the path differs from the previous step's (both reachable)."""
        ch = np.zeros(self.rtt_ms.shape, dtype=bool)
        ch[1:] = (self.path_hash[1:] != self.path_hash[:-1]) & (self.hops[1:] >= 0) & (self.hops[:-1] >= 0)
        return ch


_WORK: dict = {}


def _routes_for_steps(steps: range):
    """Worker: RTT, hops and path hashes for a range of steps (inputs in _WORK)."""
    graph, sources, src_row, src_v, dst_v = (_WORK[k] for k in ("graph", "sources", "src_row", "src_v", "dst_v"))
    n = len(steps)
    rtt = np.full((n, src_row.size), np.nan)
    hops = np.full((n, src_row.size), -1, dtype=np.int16)
    sig = np.zeros((n, src_row.size), dtype=np.uint64)
    for i, k in enumerate(steps):
        dist, pred = dijkstra(graph.matrix(k), directed=True, indices=sources, return_predecessors=True)
        d = dist[src_row, dst_v]
        ok = np.isfinite(d)
        rtt[i, ok] = 2.0 * d[ok]
        hops[i], sig[i] = _walk(pred, src_row, src_v, dst_v)
    return steps.start, rtt, hops, sig


def ground_pair_routes(
    series: LinkSeries,
    pairs: np.ndarray | None = None,
    ground_transit: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    block_steps: int = 128,
) -> PairRoutes:
    """RTT, hop count and path identity for every ground pair (or the given pairs) at every step.

    One multi-source Dijkstra per step from all distinct sources of the
    pairs.  Steps are independent, so blocks of steps run in ``workers``
    forked processes (default: one per CPU); each block's results come
    back as arrays.
    """
    import multiprocessing as mp
    import os

    if pairs is None:
        g = series.ground_indices
        ii, jj = np.triu_indices(g.size, k=1)
        pairs = np.stack([g[ii], g[jj]], axis=1)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = StepGraph(series, ground_transit)
    sources, src_row = np.unique(pairs[:, 0], return_inverse=True)
    _WORK.update(graph=graph, sources=sources, src_row=src_row, src_v=pairs[:, 0],
                 dst_v=graph.receiver(pairs[:, 1]))
    T, P = series.n_steps, len(pairs)
    rtt = np.full((T, P), np.nan)
    hops = np.full((T, P), -1, dtype=np.int16)
    sig = np.zeros((T, P), dtype=np.uint64)
    blocks = [range(k, min(k + block_steps, T)) for k in range(0, T, block_steps)]
    workers = workers or os.cpu_count() or 1
    try:
        if workers > 1 and len(blocks) > 1 and "fork" in mp.get_all_start_methods():
            with mp.get_context("fork").Pool(min(workers, len(blocks))) as pool:
                results = pool.imap_unordered(_routes_for_steps, blocks)
                for k0, r, h, s in results:
                    rtt[k0:k0 + len(r)], hops[k0:k0 + len(r)], sig[k0:k0 + len(r)] = r, h, s
                    if progress:
                        progress(len(r))
        else:
            for block in blocks:
                k0, r, h, s = _routes_for_steps(block)
                rtt[k0:k0 + len(r)], hops[k0:k0 + len(r)], sig[k0:k0 + len(r)] = r, h, s
                if progress:
                    progress(len(r))
    finally:
        _WORK.clear()
    return PairRoutes(series, pairs, rtt, hops, sig)


@dataclass
class PathSeries:
    """One pair's route over the run: RTT (ms, NaN = unreachable) and node path per step."""

    series: LinkSeries
    src: int
    dst: int
    rtt_ms: np.ndarray           # (time,)
    paths: list[list[int]]       # node indices per step, [] when unreachable

    @property
    def hops(self) -> np.ndarray:
        return np.array([len(p) - 1 if p else -1 for p in self.paths])

    def change_steps(self) -> np.ndarray:
        """Steps at which the path differs from the previous step's."""
        return np.array([k for k in range(1, len(self.paths)) if self.paths[k] != self.paths[k - 1]], dtype=int)

    def path_names(self, k: int) -> list[str]:
        return [self.series.node_names[i] for i in self.paths[k]]

    def summary(self) -> dict:
        """min/mean/max RTT, hops, path changes and unreachable time."""
        ok = np.isfinite(self.rtt_ms)
        step = self.series.axis.step_s
        hops = self.hops[ok]
        return {
            "src": self.series.node_names[self.src],
            "dst": self.series.node_names[self.dst],
            "steps": int(self.rtt_ms.size),
            "rtt_ms_min": float(np.min(self.rtt_ms[ok])) if ok.any() else None,
            "rtt_ms_mean": float(np.mean(self.rtt_ms[ok])) if ok.any() else None,
            "rtt_ms_max": float(np.max(self.rtt_ms[ok])) if ok.any() else None,
            "hops_min": int(hops.min()) if hops.size else None,
            "hops_max": int(hops.max()) if hops.size else None,
            "path_changes": int(self.change_steps().size),
            "unreachable_steps": int((~ok).sum()),
            "unreachable_s": float((~ok).sum() * step),
        }


def route_pair(series: LinkSeries, src: int, dst: int, ground_transit: bool = False) -> PathSeries:
    """The delay-shortest path from src to dst at every step, with its RTT."""
    graph = StepGraph(series, ground_transit)
    dst_v = int(graph.receiver(dst))
    rtt = np.full(series.n_steps, np.nan)
    paths = []
    for k in range(series.n_steps):
        dist, pred = dijkstra(graph.matrix(k), directed=True, indices=src, return_predecessors=True)
        if not np.isfinite(dist[dst_v]) or src == dst:
            paths.append([src] if src == dst else [])
            rtt[k] = 0.0 if src == dst else np.nan
            continue
        rtt[k] = 2.0 * dist[dst_v]
        path, cur = [dst], dst_v
        while True:
            cur = pred[cur]
            path.append(int(cur))
            if cur == src:
                break
        paths.append(path[::-1])
    return PathSeries(series, src, dst, rtt, paths)


def next_hops(series: LinkSeries, k: int, ground_transit: bool = False):
    """All-pairs forwarding at step k: ``(dist_ms, next_hop)``, both (node, node).

    ``next_hop[i, j]`` is the neighbour node i forwards to for destination j
    (-1 when unreachable or i == j).  Consistent with :func:`route_pair`:
    following next hops from i reproduces the shortest path to j.
    """
    graph = StepGraph(series, ground_transit)
    n = series.n_nodes
    # shortest path *to* each destination: run from every destination on the reversed graph
    # (the graph is symmetric except for station splitting, which reverses sender/receiver).
    dist, pred = dijkstra(graph.matrix(k).T.tocsr(), directed=True, indices=graph.receiver(np.arange(n)),
                          return_predecessors=True)
    # pred[j, v] is v's successor on v's shortest path to j in the original graph
    succ = pred[:, :n].T  # (source i, destination j), graph vertices
    nh = np.where(succ >= 0, graph.node_of(np.maximum(succ, 0)), -1)
    np.fill_diagonal(nh, -1)
    d = dist[:, :n].T
    return d, nh


def on_shortest_paths(weights: csr_matrix, next_hop: np.ndarray, extra=(), tol: float = 1e-6) -> np.ndarray:
    """Which forwarding entries lie on a shortest path, shape (node, node) bool.

    ``weights[i, n]`` is the cost of leaving node i towards neighbour n
    (directed: OSPF counts the outgoing interface's cost).  ``next_hop[i, j]``
    is the neighbour node i forwards to for destination j (-1: no route);
    ``extra`` lists further equal-cost next hops as ``(i, j, hop)``, each of
    which must be shortest too.  An entry is right when
    ``w(i, hop) + dist(hop, j) <= dist(i, j) + tol``, so any of several
    equal-cost paths counts.  Where j is unreachable any entry counts
    (nothing better exists); a missing route to a reachable j does not.
    """
    n = next_hop.shape[0]
    dist = dijkstra(weights, directed=True)
    w = weights.toarray()
    w[w == 0] = np.inf
    rows = np.arange(n)[:, None]
    hop = np.maximum(next_hop, 0)
    via = w[rows, hop] + dist[hop, np.arange(n)[None, :]]
    ok = np.where(np.isfinite(dist), (next_hop >= 0) & (via <= dist + tol), True)
    for i, j, h in extra:
        if np.isfinite(dist[i, j]) and not w[i, h] + dist[h, j] <= dist[i, j] + tol:
            ok[i, j] = False
    np.fill_diagonal(ok, True)
    return ok
