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

from collections import deque
from dataclasses import dataclass
from itertools import islice
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
            "unreachable_s": round(float((~ok).sum() * step), 9),
        }


def route_pair(series: LinkSeries, src: int, dst: int, ground_transit: bool = False, strategy=None) -> PathSeries:
    """The delay-shortest path from src to dst at every step, with its RTT.

    ``strategy``: the path a routing strategy's next hops give instead
    (:func:`topologies.strategies.route_pair_strategy`; a name, mapping or callable)."""
    if strategy is not None:
        from .strategies import route_pair_strategy

        return route_pair_strategy(series, src, dst, ground_transit, strategy)
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


# -- streaming all-pairs routes ------------------------------------------------
#
# Consecutive steps are a fraction of a second apart, so each source's
# shortest-path tree rarely changes.  :class:`_Trees` keeps every source's
# tree and, at each step, recomputes the distances along the kept trees
# with the new delays (parents before children, so each distance is the same
# floating-point sum Dijkstra forms) and checks every edge.  Let ``m`` be the
# least ``d[u] + w`` over edges that would shorten a vertex (``< d[v]``) and
# the least ``d[v]`` over edges that tie a vertex's tree edge.  Every vertex
# whose Dijkstra distance or path differs from the tree's then lies at ``m``
# or beyond, so a destination reached at ``d[t] < m`` by a unique last edge
# has exactly Dijkstra's distance and path (no tie: scipy had no choice).  A
# destination the tree cannot reach stays unreachable when no edge leads from
# a reached vertex to an unreached one.  Sources failing these tests are
# recomputed with :func:`scipy.sparse.csgraph.dijkstra`, so the results equal
# :func:`route_pair`'s.  When stations do not relay, their receiver copies
# are leaves: a destination's distance is the least ``d[b] + w`` over its
# incoming edges, and only satellites (and the sources) carry trees.
#
# Two savings keep the check cheap.  A fresh tree drops the vertices farther
# than its source's farthest destination by ``_PRUNE_MS`` (they read
# ``_FAR``, an upper bound, so edges into them count as shortening at their
# length, which stays beyond the destinations).  And an off-tree edge whose
# slack exceeded ``_Watch.MARGIN_MS`` at its column's last full check is not
# looked at again until distances and delays have moved by that margin
# (:class:`_Watch`).


_FAR = 1e9          # ms: the distance a pruned vertex reads (beyond any path)
_PRUNE_MS = 3.0     # trees keep vertices up to this much farther than their farthest destination


class _Trees:
    """Shortest-path trees from ``sources`` kept across steps (see the comment above).

    ``dist`` is (source, vertex + 1) ms along each tree (the last column is
    scratch for padding); ``pred`` / ``plink``
    (source, vertex) are the tree's parent vertex and the link to it (-1
    none); ``depth`` (source, vertex) is -1 off the tree.  Receiver copies
    of stations are never in a tree; ``rx_pred`` (source, station) keeps
    Dijkstra's last hop into them from the latest recomputation.
    """

    def __init__(self, graph: StepGraph, sources: np.ndarray):
        self.graph, self.sources = graph, np.asarray(sources, dtype=np.int64)
        S, V = self.sources.size, graph.size
        self.dist = np.full((S, V + 1), np.inf)
        self.pred = np.full((S, V), -1, dtype=np.int32)
        self.plink = np.full((S, V), -1, dtype=np.int32)
        self.depth = np.full((S, V), -1, dtype=np.int16)
        self.rx_pred = np.full((S, V - graph.n), -1, dtype=np.int32)
        self.levels: _Levels | None = None
        self._csr = None
        self.pair_col = self.pair_dst = None     # the pairs (source column, destination vertex), for pruning
        self.rows = graph.n if graph.split else V        # vertices (columns of ``dist``) trees cover
        self.watch = _Watch(S, self.rows, V + 1)

    def recompute(self, k: int, cols: np.ndarray, edges) -> None:
        """Fresh Dijkstra trees for source columns ``cols`` at step k."""
        n, V = self.graph.n, self.graph.size
        dist, pred = dijkstra(self._matrix(edges), directed=True, indices=self.sources[cols],
                              return_predecessors=True)
        pred = pred.astype(np.int32)
        self.rx_pred[cols] = pred[:, n:]
        pred[:, n:] = -1
        self._prune(cols, dist, pred)
        self.dist[cols, :V] = dist
        self.pred[cols] = pred
        # the link of each tree edge, found by its (tail, head) key among this step's edges (sorted in the CSR)
        keys, links = self._csr[3], self._csr[4]
        r, v = np.nonzero(pred >= 0)
        plink = np.full(pred.shape, -1, dtype=np.int32)
        plink[r, v] = links[np.searchsorted(keys, pred[r, v].astype(np.int64) * V + v)]
        self.plink[cols] = plink
        self.depth[cols] = _depths(pred, self.sources[cols])
        self._build_levels(cols)
        self.watch.fresh[cols] = True

    def _prune(self, cols: np.ndarray, dist: np.ndarray, pred: np.ndarray) -> None:
        """Drop from fresh trees (in place) the vertices farther than every destination of their source
        by ``_PRUNE_MS``: their distance reads ``_FAR`` (an upper bound, not a path), they leave the tree.

        Edges into them then read as shortening at about that distance, so
        the certificate stays sound and its bound stays beyond the
        destinations until the delays drift by the margin.
        """
        if self.pair_col is None:
            return
        local = np.full(self.sources.size, -1)
        local[cols] = np.arange(cols.size)
        sel = local[self.pair_col] >= 0
        row = local[self.pair_col[sel]]
        d = dist[row, self.pair_dst[sel]]
        reach = np.zeros(cols.size)
        np.maximum.at(reach, row[np.isfinite(d)], d[np.isfinite(d)])
        tree = dist[:, :self.rows]
        far = np.isfinite(tree) & (tree > (reach + _PRUNE_MS)[:, None])
        tree[far] = _FAR
        pred[:, :self.rows][far] = -1

    def _matrix(self, edges) -> csr_matrix:
        """This step's weighted adjacency, entry for entry :meth:`StepGraph.matrix` (rows and sorted
        columns from the edges), its structure kept while the edges stay the same.

        Keeps ``_csr = (edge key, CSR order of the edges, the matrix, tail * size + head and link of each
        CSR entry)``; the matrix's weights are rewritten in place."""
        U, H, L, W = edges
        key = L * 2 + (U > H)
        if self._csr is None or not np.array_equal(key, self._csr[0]):
            V = self.graph.size
            order = _row_major(U, H, V)
            indptr = np.concatenate([[0], np.cumsum(np.bincount(U, minlength=V))]).astype(np.int32)
            matrix = csr_matrix((W[order], H[order].astype(np.int32), indptr), shape=(V, V))
            self._csr = (key, order, matrix, U[order] * V + H[order], L[order].astype(np.int32))
            return matrix
        _, order, matrix = self._csr[:3]
        np.take(W, order, out=matrix.data)
        return matrix

    def _build_levels(self, cols: np.ndarray) -> None:
        """Write the trees of ``cols`` into the depth levels; lay the levels out anew if they do not fit."""
        if self.levels is None or not self.levels.fill(cols, self.depth, self.pred, self.plink):
            self.levels = _Levels(self.depth, self.pred, self.plink, self.graph.size, len(self.graph.series.link_a),
                                  None if self.levels is None else self.levels.cap)

    def propagate(self, w_link: np.ndarray) -> None:
        """Distances along the kept trees with this step's delays (inf below a link that went down).

        ``w_link`` is (link + 1,) ms, inf where down, its last entry 0 (padding).
        """
        self.levels.propagate(w_link, self.dist.reshape(-1))

    def bounds(self, main, own) -> tuple[np.ndarray, np.ndarray]:
        """Per source column: ``m`` (above, shape (source,)) and whether an edge reaches an unreached vertex.

        ``main`` edges are checked in every column; ``own`` edges (tail a
        source's own sender vertex, with its column last) only in theirs.
        Off-tree edges with a wide margin at a column's last full check stay
        unchecked while the distances and delays moved by less than it
        (see :class:`_Watch`).
        """
        S = self.sources.size
        m = np.full(S, np.inf)
        newly = np.zeros(S, dtype=bool)
        full = self.watch.due(main, self.dist[:, :self.rows])
        self._check(main, full, m, newly, self.watch.cells())
        oU, oH, oL, oW, oc = own
        odv = self.dist[oc, oH]
        oshort = oW < odv
        otie = (oW == odv) & (self.plink[oc, oH] != oL)
        np.minimum.at(m, oc[oshort], oW[oshort])
        np.minimum.at(m, oc[otie], odv[otie])
        newly[oc[oshort & np.isinf(odv)]] = True
        return m, newly

    def _check(self, main, full: np.ndarray, m: np.ndarray, newly: np.ndarray, watched) -> None:
        """Lower ``m`` / set ``newly`` from every off-tree edge in columns ``full`` (renewing
        their watch) and from the watched edges of the others."""
        U, H, L, W = main
        d = self.dist
        if full.size:
            dc = d[full]
            cand = dc[:, U] + W
            dv = dc[:, H]
            tree = self.plink[full[:, None], H] == L     # the link is a tree's way into its head
            # edges from a tree into pruned vertices: only their least length matters (see _prune)
            edge = ~tree & (dv == _FAR) & (cand < _FAR)
            border = np.where(edge, cand, np.inf).min(axis=1)
            with np.errstate(invalid="ignore"):   # inf - inf (both unreached): nothing to watch nor to lower
                slack = cand - dv
            off = ~(tree | edge)
            self.watch.renew(full, off & (slack <= _Watch.MARGIN_MS), d[:, :self.rows], main, border)
            c, e = np.nonzero(off & (slack <= 0))
            self._lower(m, newly, full[c], cand[c, e], dv[c, e])
            np.minimum.at(m, full, border)
        e, c, iu, ih = watched
        if e.size:
            flat = d.reshape(-1)
            cand = flat[iu] + W[e]
            dv = flat[ih]
            hit = cand <= dv
            if full.size:
                skip = np.zeros(self.sources.size, dtype=bool)
                skip[full] = True
                hit &= ~skip[c]
            self._lower(m, newly, c[hit], cand[hit], dv[hit])
        np.minimum(m, self.watch.border_now(), out=m)

    @staticmethod
    def _lower(m, newly, c, cand, dv) -> None:
        """Off-tree edges with ``cand <= dv``: shorter (bound ``cand``) or tied (bound ``dv``)."""
        tie = (cand == dv) & np.isfinite(dv)
        short = cand < dv
        np.minimum.at(m, c[short], cand[short])
        np.minimum.at(m, c[tie], dv[tie])
        newly[c[short & np.isinf(dv)]] = True


class _Watch:
    """Which off-tree edges each source column must check at a step.

    At a column's full check every off-tree edge with slack
    ``d[u] + w - d[v]`` above ``MARGIN_MS`` is dropped from its watch.  Slack
    moves by at most the change of ``w`` plus twice the largest change of a
    distance since then, so a dropped edge cannot shorten or tie anything
    while that stays under the margin; past it (or when the set of edges
    changed) the column is checked in full again.
    """

    MARGIN_MS = 0.2

    def __init__(self, S: int, rows: int, width: int):
        self.S, self.width = S, width                # width: length of a row of the distances
        self.ref = np.full((S, rows), np.inf)       # tree distances at each column's full check
        self._diff = np.empty((S, rows))
        self.key: np.ndarray | None = None          # the edges (link * 2 + direction) checked on
        self.w_prev: np.ndarray | None = None
        self.w_moved = 0.0                          # running sum of the largest per-step delay change
        self.w_at = np.zeros(S)                     # w_moved at each column's full check
        self.fresh = np.ones(S, dtype=bool)         # columns to check in full at the next step
        self.e = self.c = self.iu = self.ih = np.zeros(0, dtype=np.int64)   # the watched cells
        self.border = np.full(S, np.inf)
        self.moved = np.zeros(S)

    def due(self, main, d: np.ndarray) -> np.ndarray:
        """Columns to check in full now, given the tree distances ``d`` (source, vertex)."""
        U, H, L, W = main
        key = L * 2 + (U > H)
        if self.key is None or not np.array_equal(key, self.key):
            self.key = key
            self.fresh[:] = True
            self.e = self.c = self.iu = self.ih = np.zeros(0, dtype=np.int64)
        else:
            self.w_moved += float(np.abs(W - self.w_prev).max()) if W.size else 0.0
        self.w_prev = W
        with np.errstate(invalid="ignore"):
            diff = np.subtract(d, self.ref, out=self._diff)
            dist_moved = np.fmax.reduce(np.abs(diff, out=diff), axis=1)
        w_moved = self.w_moved - self.w_at
        self.fresh |= ~(2 * dist_moved + w_moved < self.MARGIN_MS)
        self.moved = dist_moved + w_moved          # bounds the change of any d[u] + w since the full check
        return np.flatnonzero(self.fresh)

    def border_now(self) -> np.ndarray:
        """A lower bound, per column, of the least length of an edge into a pruned vertex."""
        with np.errstate(invalid="ignore"):
            return np.where(np.isinf(self.border), np.inf, self.border - self.moved)

    def renew(self, cols: np.ndarray, watched: np.ndarray, d: np.ndarray, main, border: np.ndarray) -> None:
        """Columns ``cols`` were checked in full on distances ``d``; ``watched`` (col, edge) marks what they
        keep; ``border`` (col,) is the least length of their edges into pruned vertices."""
        self.border[cols] = border
        self.moved[cols] = 0.0
        drop = np.zeros(self.S, dtype=bool)
        drop[cols] = True
        keep = ~drop[self.c]
        j, e = np.nonzero(watched)
        c = cols[j]
        U, H = main[0], main[1]
        self.e = np.concatenate([self.e[keep], e])
        self.c = np.concatenate([self.c[keep], c])
        self.iu = np.concatenate([self.iu[keep], c * self.width + U[e]])
        self.ih = np.concatenate([self.ih[keep], c * self.width + H[e]])
        self.ref[cols] = d[cols]
        self.fresh[cols] = False
        self.w_at[cols] = self.w_moved

    def cells(self):
        """Every watched cell: edge, column and the flat (column * width + vertex) index of its tail and head."""
        return self.e, self.c, self.iu, self.ih


class _Levels:
    """The cells (source, vertex) of all trees grouped by depth, for :meth:`_Trees.propagate`.

    Level ``L`` is ``cell/up/link[bounds[L-1]:bounds[L]]``: the flat index
    of each cell in the (source, vertex + 1) distances, the position of its
    parent's cell in these arrays (``ZERO`` for a root, which stays at 0 ms)
    and the link from the parent.  Distances are summed level after level
    into ``slot_ms`` (one entry per position, ``ZERO`` and ``INF`` last)
    and scattered to the cells once.  Inside a level each source has its
    own slot with room to spare, padded with cells that read ``INF`` and
    land in a scratch column, so a source's new tree is written in place.
    A layout made anew when a tree outgrew its slots keeps at least the
    room the former one had (``floor``), so such refits grow rare.
    """

    def __init__(self, depth: np.ndarray, pred: np.ndarray, plink: np.ndarray, V: int, n_links: int,
                 floor: np.ndarray | None = None):
        S = depth.shape[0]
        self.S, self.V, self.n_links = S, V, n_links
        d = depth.astype(np.int64)
        n_lv = int(d.max()) + 5                    # levels 1 .. max + 4
        cnt = np.bincount((d[d >= 1] - 1) * S + np.nonzero(d >= 1)[0], minlength=n_lv * S).reshape(n_lv, S)
        self.cap = cnt + cnt // 2 + 8
        if floor is not None:
            n_lv = max(n_lv, floor.shape[0])
            self.cap = np.pad(self.cap, ((0, n_lv - self.cap.shape[0]), (0, 0)), constant_values=8)
            self.cap[:floor.shape[0]] = np.maximum(self.cap[:floor.shape[0]], floor)
        self.start = (np.cumsum(self.cap.ravel()) - self.cap.ravel()).reshape(n_lv, S)
        self.bounds = np.append(self.start[:, 0], self.cap.sum())
        total = int(self.bounds[-1])
        self.ZERO, self.INF = total, total + 1
        self.slot_ms = np.zeros(total + 2)
        self.slot_ms[self.INF] = np.inf
        self.cell = np.full(total, V, dtype=np.int64)      # V: the scratch column of row 0
        self.up = np.full(total, self.INF, dtype=np.int64)
        self.link = np.full(total, n_links, dtype=np.int64)
        self.pos_of = np.full((S, V), self.INF, dtype=np.int64)   # position of each tree cell
        self.pos_of[depth == 0] = self.ZERO
        by_col = np.argsort(np.repeat(np.tile(np.arange(S), n_lv), self.cap.ravel()), kind="stable")
        self._slots = np.split(by_col, np.cumsum(self.cap.sum(axis=0))[:-1])     # every position of each source
        assert self.fill(np.arange(S), depth, pred, plink)

    def fill(self, cols: np.ndarray, depth: np.ndarray, pred: np.ndarray, plink: np.ndarray) -> bool:
        """Write the trees of source columns ``cols``; False when one does not fit its slots."""
        n_lv = self.cap.shape[0]
        sub = depth[cols]
        r, v = np.nonzero(sub >= 1)
        lv = sub[r, v].astype(np.int64) - 1
        if lv.size and lv.max() >= n_lv:
            return False
        key = lv * cols.size + r          # (level, column) slot, ordered as the cells are laid out
        cnt = np.bincount(key, minlength=n_lv * cols.size)
        if (cnt.reshape(n_lv, cols.size) > self.cap[:, cols]).any():
            return False
        order = np.argsort(key.astype(np.int16) if n_lv * cols.size < 2**15 else key, kind="stable")
        key, lv = key[order], lv[order]
        c = cols[r[order]]
        cv = c * self.V + v[order]                      # flat (source, vertex) index
        pos = self.start[lv, c] + np.arange(key.size) - (np.cumsum(cnt) - cnt)[key]
        # pad every slot of these columns, then write their cells
        slots = np.concatenate([self._slots[i] for i in cols.tolist()])
        self.cell[slots] = self.V
        self.up[slots] = self.INF
        self.link[slots] = self.n_links
        pos_of = self.pos_of.reshape(-1)
        pos_of[cv] = pos
        self.cell[pos] = cv + c                         # c * (V + 1) + v
        self.up[pos] = pos_of[c * self.V + pred.reshape(-1)[cv]]
        self.link[pos] = plink.reshape(-1)[cv]
        return True

    def propagate(self, w_link: np.ndarray, flat: np.ndarray) -> None:
        """Sum the distances along the trees with link weights ``w_link`` into ``flat`` (source * (vertex + 1))."""
        ms = self.slot_ms
        w = w_link[self.link]
        b = self.bounds.tolist()
        up = self.up
        for lo, hi in zip(b[:-1], b[1:]):
            np.add(ms[up[lo:hi]], w[lo:hi], out=ms[lo:hi])
        flat[self.cell] = ms[:self.ZERO]


def _row_major(rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """The order sorting entries by row, then column (``np.lexsort((cols, rows))``; two radix passes
    when indices fit 16 bits)."""
    if size >= 2**15:
        return np.lexsort((cols, rows))
    by_col = np.argsort(cols.astype(np.int16), kind="stable")
    return by_col[np.argsort(rows[by_col].astype(np.int16), kind="stable")]


def _depths(pred: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Depth of every vertex in each predecessor tree, (tree, vertex) int16, -1 off the tree (pointer jumping)."""
    R, V = pred.shape
    jump = np.where(pred >= 0, pred + V * np.arange(R)[:, None], -1).ravel()
    depth = (jump >= 0).astype(np.int16)
    live = np.flatnonzero(jump >= 0)
    while live.size:
        j = jump[live]
        depth[live] += depth[j]
        jump[live] = jump[j]
        live = live[jump[live] >= 0]
    depth = depth.reshape(R, V)
    depth[pred < 0] = -1
    depth[np.arange(R), roots] = 0
    return depth


def _step_edges(series: LinkSeries, graph: StepGraph, k: int):
    """This step's directed edges ``(tail, head, link id, weight ms)``, each (edge,), as in
    :meth:`StepGraph.matrix`, and every link's weight, (link,), inf where down."""
    ids, delay = series.active(k)
    a = series.link_a[ids].astype(np.int64)
    b = series.link_b[ids].astype(np.int64)
    w = np.maximum(delay, 1e-9)
    edges = (np.concatenate([a, b]), np.concatenate([graph.receiver(b), graph.receiver(a)]),
             np.concatenate([ids, ids]).astype(np.int64), np.concatenate([w, w]))
    w_link = np.full(series.n_links + 1, np.inf)
    w_link[ids] = w
    w_link[-1] = 0.0   # padding in the tree levels
    return edges, w_link


def _walk_paths(pred: np.ndarray, rows: np.ndarray, src_v: np.ndarray, start_v: np.ndarray,
                lead: np.ndarray | None = None, width: int = 0):
    """Hops and vertex sequences (start first, -1 padded), shapes (pair,) and (pair, >= width),
    from predecessor rows; a start of -1 or one the tree does not reach gives hops -1.  ``lead``
    (pair,): a vertex put before each reachable start (counted as a hop)."""
    V = pred.shape[1]
    flat = pred.reshape(-1)
    base = rows.astype(np.int64) * V
    cur = start_v.astype(np.int64)
    reach = (cur == src_v) | ((cur >= 0) & (flat[base + np.maximum(cur, 0)] >= 0))
    live = np.flatnonzero(reach & (cur != src_v))
    cur = cur[live]
    walked = []
    while live.size:
        cur = flat[base[live] + cur].astype(np.int64)
        walked.append((live, cur))
        going = cur != src_v[live]
        live, cur = live[going], cur[going]
    first = 0 if lead is None else 1
    seq = np.full((start_v.size, max(width, first + len(walked) + 1)), -1, dtype=np.int32)
    if lead is not None:
        seq[:, 0] = np.where(reach, lead, -1)
    seq[:, first] = np.where(reach, start_v, -1)
    hops = np.full(start_v.size, -1, dtype=np.int16)
    hops[reach] = first
    for i, (at, v) in enumerate(walked, first + 1):
        seq[at, i] = v
        hops[at] += 1
    return hops, seq


class _PairStream:
    """Routes of fixed pairs step after step, keeping shortest-path trees between steps.

    ``paths`` holds the distinct path texts in use; ``code`` (pair,) indexes
    it for each pair's current path (-1 unreachable).
    """

    def __init__(self, series: LinkSeries, pairs: np.ndarray, ground_transit: bool):
        self.series, self.pairs = series, pairs
        self.graph = g = StepGraph(series, ground_transit)
        self.sources, self.pair_col = np.unique(pairs[:, 0], return_inverse=True)
        self.dst_v = g.receiver(pairs[:, 1])
        self.col_of = np.full(g.size, -1, dtype=np.int64)
        self.col_of[self.sources] = np.arange(self.sources.size)
        self.trees: _Trees | None = None
        P = len(pairs)
        self.hops = np.full(P, -1, dtype=np.int16)
        self.last = np.full(P, -1, dtype=np.int64)      # vertex before the destination (split graphs)
        self.code = np.full(P, -1, dtype=np.int64)
        self.seq = np.full((P, 1), -1, dtype=np.int32)
        self.paths: list[str] = []
        self._code_of: dict[str, int] = {}
        self.recomputed = 0      # Dijkstra runs so far (one per source per fresh or failed step)
        self._inc = None         # cached pair/in-edge incidence (see _incidence)
        self._split = None       # cached edge classes (see _classify)
        self._names = np.array(series.node_names, dtype=object)

    def reset(self) -> None:
        """Forget the trees: the next step starts from fresh Dijkstra runs."""
        self.trees = None

    def _classify(self, edges):
        """Split edges into (checked in every column, checked in their source's column only, into receivers)."""
        U, H, L, W = edges
        if not self.graph.split:
            none = np.zeros(0, dtype=np.int64)
            return edges, (none, none, none, np.zeros(0), none), None
        key = L * 2 + (U > H)
        if self._split is None or not np.array_equal(key, self._split[0]):
            n = self.graph.n
            rx = H >= n
            own = ~rx & self.graph._is_ground[np.minimum(U, n - 1)]
            main = ~rx & ~own
            mine = own & (self.col_of[U] >= 0)
            sel = [np.flatnonzero(x) for x in (main, mine, rx)]
            self._split = (key, sel, [(U[i], H[i], L[i]) for i in sel], self.col_of[U[sel[1]]])
        _, sel, parts, own_col = self._split
        main, own, rx = ((*uhl, W[i]) for uhl, i in zip(parts, sel))
        return main, own + (own_col,), rx

    def step(self, k: int) -> np.ndarray:
        """RTT (pair,) ms at step k, NaN unreachable; updates hops and path codes."""
        edges, w_link = _step_edges(self.series, self.graph, k)
        main, own, rx = self._classify(edges)
        fresh = self.trees is None
        if fresh:
            self.trees = _Trees(self.graph, self.sources)
            self.trees.pair_col, self.trees.pair_dst = self.pair_col, self.dst_v
            bad = np.arange(self.sources.size)
            self.trees.recompute(k, bad, edges)
        else:
            self.trees.propagate(w_link)
            m, newly = self.trees.bounds(main, own)
        d, last, tie = self._destinations(rx)
        if not fresh:
            col = self.pair_col
            ok = ((d < m[col]) & (d < _FAR) & ~tie) | (np.isinf(d) & ~newly[col])
            bad = np.unique(col[~ok])
            if bad.size:
                self.trees.recompute(k, bad, edges)
        self.recomputed += bad.size
        is_bad = np.zeros(self.sources.size, dtype=bool)
        is_bad[bad] = True
        again = is_bad[self.pair_col]
        if bad.size and not fresh:
            at = np.flatnonzero(again)
            d[at], last[at], tie[at] = self._destinations(rx, at)
        redo = again | (np.isinf(d) != (self.hops < 0))   # a kept tree lost the pair
        if self.graph.split:
            fix = redo & tie      # equal-length last hops: take Dijkstra's choice
            last[fix] = self.trees.rx_pred[self.pair_col[fix], self.dst_v[fix] - self.graph.n]
            redo |= last != self.last
            self.last = last
        if redo.any():
            self._update_paths(np.flatnonzero(redo), np.isfinite(d))
        return np.where(np.isfinite(d), 2.0 * d, np.nan)

    def _destinations(self, rx, sel: np.ndarray | None = None):
        """For pairs ``sel`` (default all): distance ms, the vertex before the destination, and
        whether another in-edge ties it.

        With stations split, a destination's distance is the least ``d[b] + w``
        over its incoming edges (``rx``); otherwise it is read off the tree.
        """
        all_pairs = sel is None
        sel = np.arange(self.pair_col.size) if all_pairs else sel
        dist = self.trees.dist
        if rx is None:
            return dist[self.pair_col[sel], self.dst_v[sel]], np.full(sel.size, -1), np.zeros(sel.size, dtype=bool)
        has, n, seg, edge, flat, tail = self._incidence(rx, None if all_pairs else sel)
        d = np.full(sel.size, np.inf)
        last = np.full(sel.size, -1, dtype=np.int64)
        tie = np.zeros(sel.size, dtype=bool)
        if not has.size:
            return d, last, tie
        cand = dist.reshape(-1)[flat] + rx[3][edge]
        best = np.minimum.reduceat(cand, seg)
        at = np.flatnonzero(cand == np.repeat(best, n))    # every segment holds its best at least once
        i = np.searchsorted(at, seg)                       # its first cell at the best
        ok = np.isfinite(best)
        d[has] = best
        last[has] = np.where(ok, tail[at[i]], -1)
        nxt = at[np.minimum(i + 1, at.size - 1)]
        tie[has] = ok & (i + 1 < at.size) & (nxt < seg + n)      # a second cell at the best
        return d, last, tie

    def _incidence(self, rx, sel: np.ndarray | None = None):
        """Each pair's incoming edges at its destination, flat: ``(pairs with any, count per pair, first
        cell per pair, edge index into rx, flat distance index of the tail, tail vertex)`` per cell.
        Made for all pairs and kept while the edges into receivers stay the same; ``sel`` takes the
        cells of those pairs from it."""
        U, H, L, _ = rx
        key = L * 2 + (U > H)
        if self._inc is None or not np.array_equal(key, self._inc[0]):
            order = np.argsort(H, kind="stable")
            Hs = H[order]
            lo, hi = np.searchsorted(Hs, self.dst_v), np.searchsorted(Hs, self.dst_v, side="right")
            count = hi - lo
            cell0 = np.cumsum(count) - count
            edge = order[np.repeat(lo - cell0, count) + np.arange(count.sum())]
            tail = U[edge]
            flat = np.repeat(self.pair_col, count) * self.trees.dist.shape[1] + tail
            self._inc = (key, count, cell0, edge, flat, tail)
        _, count, cell0, edge, flat, tail = self._inc
        if sel is not None:
            count, cell0 = count[sel], cell0[sel]
            seg = np.cumsum(count) - count
            cells = np.repeat(cell0 - seg, count) + np.arange(count.sum())
            edge, flat, tail = edge[cells], flat[cells], tail[cells]
        has = np.flatnonzero(count)
        n = count[has]
        return has, n, np.cumsum(n) - n, edge, flat, tail

    def _update_paths(self, sel: np.ndarray, reach: np.ndarray) -> None:
        """Walk the paths of pairs ``sel`` again (``reach`` (pair,): reachable now); give changed ones
        their text's code."""
        start = np.where(reach[sel], self.last[sel] if self.graph.split else self.dst_v[sel], -1)
        # with stations split, the destination's receiver copy ends every reachable path
        hops, seq = _walk_paths(self.trees.pred, self.pair_col[sel], self.pairs[sel, 0], start,
                                self.dst_v[sel] if self.graph.split else None, self.seq.shape[1])
        if seq.shape[1] > self.seq.shape[1]:
            self.seq = np.pad(self.seq, ((0, 0), (0, seq.shape[1] - self.seq.shape[1])), constant_values=-1)
        moved = np.flatnonzero((seq != self.seq[sel]).any(axis=1))
        self.seq[sel[moved]] = seq[moved]
        nodes = self.graph.node_of(np.maximum(seq[moved], 0))
        names = self._names
        for i, row, h in zip(sel[moved].tolist(), nodes, hops[moved].tolist()):
            if h < 0:
                self.code[i] = -1
                continue
            text = " ".join(names[row[h::-1]].tolist())
            self.code[i] = self._code_of.setdefault(text, len(self._code_of))
            if self.code[i] == len(self.paths):
                self.paths.append(text)
        self.hops[sel] = hops

    def run(self, steps: range):
        """(rtt ms, hops, path code) each (step, pair) over ``steps``, and the path texts the codes index."""
        n, P = len(steps), len(self.pairs)
        rtt = np.empty((n, P))
        hops = np.empty((n, P), dtype=np.int16)
        code = np.empty((n, P), dtype=np.int64)
        for i, k in enumerate(steps):
            rtt[i] = self.step(k)
            hops[i], code[i] = self.hops, self.code
        paths = self.paths
        self._compact()
        return rtt, hops, code, paths

    def _compact(self) -> None:
        """Forget path texts no pair uses now (memory stays bounded by the pairs)."""
        used = np.unique(self.code[self.code >= 0])
        self.paths = [self.paths[i] for i in used.tolist()]
        remap = np.full(len(self._code_of) + 1, -1, dtype=np.int64)
        remap[used] = np.arange(used.size)
        self.code = remap[self.code]
        self._code_of = {t: i for i, t in enumerate(self.paths)}


def ground_pairs(series: LinkSeries) -> np.ndarray:
    """Every unordered pair of ground stations, (pair, 2) node indices, the earlier station first."""
    g = series.ground_indices
    ii, jj = np.triu_indices(g.size, k=1)
    return np.stack([g[ii], g[jj]], axis=1)


def _stream_block(steps: range):
    """Worker: one block of steps from fresh trees (inputs in _WORK)."""
    stream = _WORK.get("stream")
    if stream is None:
        stream = _WORK["stream"] = _PairStream(*_WORK["stream_args"])
    stream.reset()
    return (steps.start,) + stream.run(steps)


_BLOCK_STEPS = 200   # least steps a worker computes from one fresh start (a fresh start costs ~15 steps)


def stream_pair_arrays(
    series: LinkSeries,
    pairs: np.ndarray | None = None,
    ground_transit: bool = False,
    chunk_steps: int = 200,
    workers: int = 1,
):
    """Routes of many pairs in one pass over the steps, chunk by chunk (memory bounded by a chunk).

    Yields ``(k0, rtt_ms, hops, code, paths)`` per chunk of up to
    ``chunk_steps`` steps starting at step ``k0``: ``rtt_ms`` (step, pair)
    float64, NaN unreachable; ``hops`` (step, pair) int16, -1 unreachable;
    ``code`` (step, pair) int64 index into ``paths`` (space-separated node
    names), -1 unreachable.  Values equal :func:`route_pair`'s for every
    pair and step.  With ``workers`` > 1, forked processes take blocks of
    whole chunks (at least ``_BLOCK_STEPS`` steps) in turn, each block from
    fresh Dijkstra runs; at most ``workers + 1`` blocks are in flight, so
    memory stays bounded however long the run.
    """
    import multiprocessing as mp

    pairs = ground_pairs(series) if pairs is None else np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if (pairs[:, 0] == pairs[:, 1]).any():
        raise ValueError("a pair joins a node to itself")
    T, chunk_steps = series.n_steps, max(1, int(chunk_steps))
    if workers <= 1 or T <= chunk_steps or "fork" not in mp.get_all_start_methods():
        stream = _PairStream(series, pairs, ground_transit)
        for k in range(0, T, chunk_steps):
            yield (k,) + stream.run(range(k, min(k + chunk_steps, T)))
        return
    block = chunk_steps * -(-_BLOCK_STEPS // chunk_steps)
    blocks = iter([range(k, min(k + block, T)) for k in range(0, T, block)])
    _WORK.update(stream_args=(series, pairs, ground_transit))
    pool = mp.get_context("fork").Pool(workers)
    try:
        pending = deque(pool.apply_async(_stream_block, (b,)) for b in islice(blocks, workers + 1))
        while pending:
            done = pending.popleft().get()
            pending.extend(pool.apply_async(_stream_block, (b,)) for b in islice(blocks, 1))
            yield from _split_block(done, chunk_steps)
    finally:
        pool.terminate()
        pool.join()
        _WORK.clear()


def _split_block(block, chunk_steps: int):
    """The chunks of one worker's block, each with only the path texts it uses."""
    k0, rtt, hops, code, paths = block
    if rtt.shape[0] <= chunk_steps:
        yield block
        return
    for i in range(0, rtt.shape[0], chunk_steps):
        c = code[i:i + chunk_steps]
        used = np.flatnonzero(np.bincount(c.ravel() + 1, minlength=len(paths) + 1)[1:])
        remap = np.full(len(paths) + 1, -1, dtype=np.int64)    # code -1 picks the trailing -1
        remap[used] = np.arange(used.size)
        yield (k0 + i, rtt[i:i + chunk_steps], hops[i:i + chunk_steps], remap[c], [paths[j] for j in used.tolist()])


def stream_pair_routes(
    series: LinkSeries,
    pairs: np.ndarray | None = None,
    ground_transit: bool = False,
    chunk_steps: int = 200,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
):
    """Per-step routes of many pairs as pandas DataFrames, one per chunk of steps.

    Columns: ``t_s`` (float64, seconds since start), ``src`` and ``dst``
    (station names, categorical), ``rtt_ms`` (float64, NaN unreachable),
    ``hops`` (int16, -1 unreachable), ``path`` (node names joined by spaces,
    categorical, missing when unreachable).  Rows go step by step, pairs in
    the order given (default: every ground pair, see :func:`ground_pairs`).
    Memory stays bounded by one chunk however long the run.
    """
    import pandas as pd

    pairs = ground_pairs(series) if pairs is None else np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    names = np.array(series.node_names, dtype=object)
    used, idx = np.unique(pairs, return_inverse=True)
    idx = idx.reshape(pairs.shape)
    cats = pd.Index(names[used])
    for k0, rtt, hops, code, paths in stream_pair_arrays(series, pairs, ground_transit, chunk_steps, workers):
        n, P = rtt.shape
        yield pd.DataFrame({
            "t_s": np.repeat(step_times_s(series, range(k0, k0 + n)), P),
            "src": pd.Categorical.from_codes(np.tile(idx[:, 0], n), categories=cats),
            "dst": pd.Categorical.from_codes(np.tile(idx[:, 1], n), categories=cats),
            "rtt_ms": rtt.ravel(),
            "hops": hops.ravel(),
            "path": pd.Categorical.from_codes(code.ravel(), categories=pd.Index(paths, dtype=object)),
        })
        if progress:
            progress(n)


def step_times_s(series: LinkSeries, steps=slice(None)) -> np.ndarray:
    """Seconds since start of the given steps, rounded to the nanosecond (``k * step_s`` without
    binary noise such as 0.30000000000000004)."""
    return np.round(series.axis.t_s[steps], 9)
