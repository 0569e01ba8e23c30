"""Routing strategies as plug-ins: one step's graph in, next hops per (node, destination) out.

A *strategy* is a function ``strategy(graph, prev, **params)``.  ``graph``
is a :class:`RoutingGraph`: the nodes (name, layer, ITRS position when the
caller knows the scene) and the links up at one step with their one-way
delay and capacity.  ``prev`` is the strategy's own :class:`Decision` of
the step before (``None`` at the first step).  It returns a
:class:`Decision` -- or just the next-hop array -- saying, for every node
``i`` and destination ``j``, the neighbour ``i`` forwards to
(``next_hop[i, j]``, -1 for none).  Multipath strategies add further,
equally weighted next hops in ``Decision.extra`` (rows ``(i, j, hop)``);
the live network installs those as kernel multipath routes.

The same function drives the prediction (:func:`predict_pairs`,
``sgemu route --strategy``) and the live network
(:class:`emulator.routeplan.RoutePlanner`), so what the emulated kernel
does is exactly what the algorithm said.

Built-ins (:data:`STRATEGIES`): ``shortest-delay`` (the default, identical
to :func:`topologies.routing.next_hops`), ``min-hop``, ``ecmp``,
``hold-down`` and ``predictive``.  Any strategy can be installed late by
``controller_delay_ms`` (an SDN control plane): step k's decision takes
effect ``controller_delay_ms`` after step k began; :func:`predict_pairs`
accounts for it.  :func:`parse_routing` reads the scenario's
``emulation.routing`` mapping.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .routing import StepGraph
from .series import LinkSeries


class StrategyError(ValueError):
    """A routing strategy that cannot be used (unknown name, bad parameter, bad output)."""


# -- the graph a strategy sees ---------------------------------------------------------------------
@dataclass
class RoutingGraph:
    """The network of one step as a strategy sees it.

    Nodes are numbered as in the series: ``names``, ``layer`` (``LEO``,
    ``MEO``, ``IGSO``, ``GEO`` or ``GROUND``) and ``position_km`` (node, 3)
    in ITRS, or ``None`` when the caller gave no scene.  The links up at
    step ``k`` are ``link_id``, ``a``, ``b`` (link,) node indices,
    ``delay_ms`` (link,) one-way delay and ``capacity_mbps`` (link,), NaN
    where not known.  ``ground_transit`` False: a ground station may start
    and end a path but never relay one (its kernel does not forward).
    ``series`` gives look-ahead (:meth:`lifetime_s`).
    """

    series: LinkSeries
    k: int
    ground_transit: bool = False
    position_km: np.ndarray | None = None

    def __post_init__(self):
        self.link_id, self.delay_ms = self.series.active(self.k)
        self.a = self.series.link_a[self.link_id].astype(np.int64)
        self.b = self.series.link_b[self.link_id].astype(np.int64)
        self.capacity_mbps = self.series.capacity_mbps[self.link_id]

    @property
    def t_s(self) -> float:
        return float(self.k * self.series.axis.step_s)

    @property
    def names(self) -> list[str]:
        return self.series.node_names

    @property
    def layer(self) -> list[str]:
        return self.series.node_layer

    @property
    def n_nodes(self) -> int:
        return self.series.n_nodes

    @cached_property
    def is_ground(self) -> np.ndarray:
        """(node,) bool: ground stations."""
        return np.array([l == "GROUND" for l in self.layer])

    @cached_property
    def _split(self) -> StepGraph:
        return StepGraph(self.series, self.ground_transit)

    def matrix(self, cost: np.ndarray) -> csr_matrix:
        """Directed adjacency with per-link ``cost`` (link,) > 0, stations split as in
        :class:`topologies.routing.StepGraph` (shape (vertex, vertex))."""
        g = self._split
        w = np.maximum(np.asarray(cost, dtype=np.float64), 1e-9)
        src = np.concatenate([self.a, self.b])
        dst = np.concatenate([g.receiver(self.b), g.receiver(self.a)])
        return csr_matrix((np.concatenate([w, w]), (src, dst)), shape=(g.size, g.size))

    def distances_to(self, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shortest ``cost`` from every graph vertex to every destination node.

        Returns ``(dist, succ)``, both (destination, vertex): ``succ[j, v]``
        is the vertex after v on v's shortest path to j (-9999 none).
        """
        g = self._split
        return dijkstra(self.matrix(cost).T.tocsr(), directed=True,
                        indices=g.receiver(np.arange(self.n_nodes)), return_predecessors=True)

    def shortest(self, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist, next_hop)`` (node, node) for the per-link ``cost``: the least-cost next hop of
        node i towards j (-1 unreachable or i == j).  With ``cost = delay_ms`` this is exactly
        :func:`topologies.routing.next_hops`."""
        dist, succ = self.distances_to(cost)
        return dist[:, :self.n_nodes].T, self.next_hops_of(succ)

    def next_hops_of(self, succ: np.ndarray) -> np.ndarray:
        """(node, node) int32 next hops from the successors ``succ`` (destination, vertex) of
        :meth:`distances_to`: the node each vertex's successor stands for, -1 for none and i == j."""
        g, n = self._split, self.n_nodes
        node = np.concatenate([np.arange(n), g.ground[:g.size - n], [-1]]).astype(np.int32)  # vertex -> node
        nh = np.ascontiguousarray(node[np.maximum(succ[:, :n], -1)].T)      # scipy marks "none" -9999
        np.fill_diagonal(nh, -1)
        return nh

    def dense(self, values: np.ndarray, fill: float = np.inf) -> np.ndarray:
        """(node, node) matrix of a per-link value, symmetric, ``fill`` where no link is up."""
        out = np.full((self.n_nodes, self.n_nodes), fill, dtype=np.float64)
        out[self.a, self.b] = values
        out[self.b, self.a] = values
        return out

    def adjacent(self) -> np.ndarray:
        """(node, node) bool: a link is up between the two nodes now."""
        out = np.zeros((self.n_nodes, self.n_nodes), dtype=bool)
        out[self.a, self.b] = True
        out[self.b, self.a] = True
        return out

    def lifetime_s(self, horizon_s: float) -> np.ndarray:
        """(link,) seconds each up link stays up from this step on, capped at ``horizon_s``.

        Read from the link series (a contact plan); a link still up at the
        series' last step counts as staying up."""
        s = self.series
        step_s = s.axis.step_s
        alive = np.ones(self.link_id.size, dtype=bool)
        life = np.zeros(self.link_id.size)
        mark = np.zeros(s.n_links, dtype=bool)
        steps = int(np.ceil(horizon_s / step_s))
        known = min(steps, s.n_steps - 1 - self.k)
        for m in range(1, known + 1):
            mark[:] = False
            mark[s.active(self.k + m)[0]] = True
            alive &= mark[self.link_id]
            life += alive * step_s
        life += alive * (steps - known) * step_s  # past the series' end: still up
        return np.minimum(life, horizon_s)


# -- what a strategy returns -----------------------------------------------------------------------
@dataclass
class Decision:
    """One step's forwarding: ``next_hop`` (node, node) int32, -1 = no route (and i == j).

    ``extra`` (m, 3) int32 rows ``(node, destination, hop)``: further next
    hops beside ``next_hop[node, destination]`` for multipath (traffic is
    split equally).  ``state``: anything the strategy wants to get back
    with ``prev`` next step.
    """

    next_hop: np.ndarray
    extra: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int32))
    state: object = None

    def hops(self, i: int, j: int) -> list[int]:
        """Every next hop of node i towards j (the primary first)."""
        first = int(self.next_hop[i, j])
        if first < 0:
            return []
        sel = (self.extra[:, 0] == i) & (self.extra[:, 1] == j)
        return [first] + [int(h) for h in self.extra[sel, 2] if h != first]

    def multipath(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """``{(node, destination): all next hops}`` for the entries with more than one."""
        out: dict[tuple[int, int], list[int]] = {}
        for i, j, h in self.extra.tolist():
            if self.next_hop[i, j] >= 0 and h != self.next_hop[i, j]:
                out.setdefault((i, j), [int(self.next_hop[i, j])]).append(h)
        return {key: tuple(v) for key, v in out.items()}


def check_decision(graph: RoutingGraph, out, name: str) -> Decision:
    """The strategy's output as a :class:`Decision`, every next hop a neighbour over a link up now."""
    dec = out if isinstance(out, Decision) else Decision(np.asarray(out))
    n = graph.n_nodes
    nh = np.asarray(dec.next_hop)
    if nh.shape != (n, n):
        raise StrategyError(f"strategy {name}: next hops have shape {nh.shape}; expected ({n}, {n})")
    nh = nh.astype(np.int32, copy=False)
    extra = np.asarray(dec.extra, dtype=np.int32).reshape(-1, 3)
    up = graph.adjacent()
    out_of_range = (nh >= n).any() or (extra.size and (extra[:, [0, 2]] >= n).any())
    bad = (nh >= 0) & ~np.take_along_axis(up, np.clip(nh, 0, n - 1), axis=1)     # (node, node)
    if out_of_range or bad.any() or (extra.size and not up[extra[:, 0], extra[:, 2]].all()):
        i, j = np.unravel_index(np.argmax(bad), bad.shape)     # the first bad entry, row by row
        where = (f"{graph.names[i]} -> {graph.names[j]} via {nh[i, j]}" if bad.any() and not out_of_range
                 else "a multipath or out-of-range entry")
        raise StrategyError(f"strategy {name}: step {graph.k}: next hop is not a neighbour over an up link ({where})")
    np.fill_diagonal(nh, -1)
    return Decision(nh, extra, dec.state)


# -- built-in strategies ---------------------------------------------------------------------------
def shortest_delay(graph: RoutingGraph, prev: Decision | None = None) -> Decision:
    """Delay-shortest paths (today's static routes)."""
    return Decision(graph.shortest(graph.delay_ms)[1])


def min_hop(graph: RoutingGraph, prev: Decision | None = None) -> Decision:
    """Fewest hops; among those, the least delay."""
    # each hop costs 1; delays (< 1,000 ms per link, < 100 hops) only break ties
    return Decision(graph.shortest(1.0 + graph.delay_ms * 1e-5)[1])


def ecmp(graph: RoutingGraph, prev: Decision | None = None, metric: str = "delay",
         quantum_ms: float = 1.0) -> Decision:
    """Equal-cost multipath: every next hop on a least-cost path, on integer link costs.

    ``metric: delay`` costs each link ``max(1, round(delay_ms / quantum_ms))``
    (like OSPF's delay-derived costs), ``metric: hops`` costs 1 per link.
    Integer costs make "equal" exact, and the next hops loop-free.
    """
    cost = np.ones(graph.a.size) if metric == "hops" else np.maximum(1.0, np.round(graph.delay_ms / quantum_ms))
    dist, succ = graph.distances_to(cost)           # (dst, vertex)
    nh = graph.next_hops_of(succ)
    return Decision(nh, _equal_cost_rows(graph, dist, cost, nh))


def _equal_cost_rows(graph: RoutingGraph, dist: np.ndarray, cost: np.ndarray, nh: np.ndarray,
                     block_edges: int = 256) -> np.ndarray:
    """Multipath rows (m, 3) int32 ``(u, j, v)``: v is a next hop of u towards j besides ``nh[u, j]``.

    v qualifies when ``cost(u, v) + dist(v, j) == dist(u, j)`` (``dist``
    (destination, vertex) on integer ``cost`` (link,), so "equal" is exact).
    Rows go by directed edge (every ``a -> b``, then every ``b -> a``), then
    by destination; edges are compared a block at a time against every
    destination (arrays (edge, destination)).
    """
    g = graph._split
    u = np.concatenate([graph.a, graph.b])          # directed edge u -> v
    v = np.concatenate([graph.b, graph.a])
    v_in, c = g.receiver(v), np.concatenate([cost, cost])
    to_j = dist.T.copy()                            # (vertex, dst)
    to_j[np.isinf(to_j)] = np.nan                   # unreachable: NaN equals nothing
    rows = [np.zeros((0, 3), dtype=np.int32)]
    for lo in range(0, u.size, block_edges):
        e = slice(lo, lo + block_edges)
        ok = to_j[v_in[e]] + c[e, None] == to_j[u[e]]               # (edge, dst)
        ok &= nh[u[e]] != v[e, None]                                # not the primary next hop
        ok[np.arange(ok.shape[0]), u[e]] = False                    # nor u's route to itself
        k, j = np.nonzero(ok)
        rows.append(np.stack([u[e][k], j, v[e][k]], axis=1).astype(np.int32))
    return np.concatenate(rows)


def follow_cost(next_hop: np.ndarray, weight: np.ndarray, relay_ok: np.ndarray, i: np.ndarray, j: np.ndarray,
            max_hops: int | None = None) -> np.ndarray:
    """Cost (pair,) of following ``next_hop`` (node, node) from node ``i[p]`` to destination ``j[p]``.

    ``weight`` (node, node) link cost (inf = no link); a hop into a node that
    may not relay (``relay_ok`` (node,) False) other than the destination
    costs inf.  Loops and dead ends cost inf.  Costs add up hop by hop from
    the start node.
    """
    out = np.full(i.size, np.inf)
    p, cur, j, cost = np.arange(i.size), i.copy(), j.copy(), np.zeros(i.size)
    for _ in range(max_hops or next_hop.shape[0]):
        nxt = next_hop[cur, j]
        step = np.where(nxt >= 0, weight[cur, np.maximum(nxt, 0)], np.inf)
        step = np.where((nxt == j) | relay_ok[np.maximum(nxt, 0)], step, np.inf)
        cost = cost + step
        arrived = (nxt == j) & np.isfinite(cost)
        out[p[arrived]] = cost[arrived]
        alive = ~arrived & np.isfinite(cost)
        if not alive.any():
            break
        p, j, cur, cost = p[alive], j[alive], nxt[alive], cost[alive]
    return out


def _downstream(next_hop: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The (node, destination) cells ``node * n + dst`` on the ``next_hop`` (node, node) paths
    from ``i[p]`` to ``j[p]`` (destinations excluded), each once, the given pairs' cells first.

    Walks the paths front by front, stopping where a path reaches a cell
    already met, so the work grows with the cells, not with path lengths.
    """
    n = next_hop.shape[0]
    hop = np.ravel(next_hop)
    seen = np.zeros(n * n, dtype=bool)
    slot = np.empty(n * n, dtype=np.int32)      # scratch: which front cell wrote there last
    cell = i.astype(np.int64) * n + j
    seen[cell] = True
    cells = [cell]
    while cell.size:
        nxt, y = hop[cell].astype(np.int64), cell % n
        cell = (nxt * n + y)[(nxt != y) & (nxt >= 0)]
        cell = cell[~seen[cell]]
        slot[cell] = np.arange(cell.size, dtype=np.int32)
        cell = cell[slot[cell] == np.arange(cell.size)]     # one per cell
        seen[cell] = True
        cells.append(cell)
    return np.concatenate(cells)


def _settled_pass(graph: RoutingGraph, best: np.ndarray, threshold_ratio: float, threshold_ms: float) -> bool:
    """Every path along the shortest next hops passes both thresholds by far more than rounding:
    ``threshold_ratio`` and ``threshold_ms`` above 1e-9 of the best (node, node) costs, and the
    costs of the shortest paths are the link delays summed (no link under 1e-9 ms, none doubled)."""
    top_ms = np.max(best, where=np.isfinite(best), initial=0.0)
    pair = np.minimum(graph.a, graph.b) * graph.n_nodes + np.maximum(graph.a, graph.b)
    return (threshold_ratio > 1.0 + 1e-9 and threshold_ms > 1e-9 * top_ms
            and bool(np.all(graph.delay_ms >= 1e-9)) and np.unique(pair).size == pair.size)


def _end_at_settled(step: np.ndarray, succ: np.ndarray, next_cell: np.ndarray, goes_on: np.ndarray,
                    settled: np.ndarray, best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries (entry,) whose next cell ``next_cell`` (entry,) (where ``goes_on``) is ``settled``
    end there: their ``step`` adds that cell's ``best`` (node, node) cost, ``succ`` becomes -1."""
    if not settled.size:
        return step, succ
    mark = np.zeros(best.size, dtype=bool)
    mark[settled] = True
    end = goes_on & mark[np.where(goes_on, next_cell, 0)]
    x, y = np.divmod(next_cell[end], best.shape[0])
    step, succ = step.copy(), succ.copy()
    step[end] += best[x, y]
    succ[end] = -1
    return step, succ


def _unsettled_downstream(old: np.ndarray, nh: np.ndarray, i: np.ndarray, j: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_downstream` of the ``old`` (node, node) paths from the cells ``i[p] * n + j[p]``
    (those where ``old`` differs from ``nh`` (node, node)), less the settled cells.

    A *tree* cell has ``old == nh >= 0``; it is *settled* when the cells after it are all tree
    cells up to the destination.  Returns ``(cells, settled)``: the given cells first, then the
    unsettled tree cells and dead ends met, each once; and the settled cells met.  Each stretch
    of tree cells after a given cell is walked once, labelled with that cell's pair; a stretch
    that runs into another one takes its fate.
    """
    n = old.shape[0]
    hop, tree = np.ravel(old), np.ravel(nh)
    start = i.astype(np.int64) * n + j
    owner = np.full(n * n, -1, dtype=np.int32)      # label of the stretch that walked a tree cell
    owner[start] = -2                               # -2: a given cell or a dead end
    link = np.full(start.size, -1, dtype=np.int32)  # the stretch a stretch ran into
    fate = np.zeros(start.size, dtype=np.int8)      # 1: leaves the tree, 2: reaches the destination
    y0 = start % n
    go = hop[start] != y0
    cur, lab = hop[start][go].astype(np.int64) * n + y0[go], np.flatnonzero(go).astype(np.int32)
    walked, labels, dead = [], [], []
    slot = np.empty(n * n, dtype=np.int32)
    while cur.size:
        on_tree = (hop[cur] == tree[cur]) & (hop[cur] >= 0)
        fate[lab[~on_tree]] = 1
        off = cur[~on_tree]
        dead.append(np.unique(off[owner[off] != -2]))
        owner[dead[-1]] = -2
        cur, lab = cur[on_tree], lab[on_tree]
        cur, lab = _claim(cur, lab, owner, link, slot)
        walked.append(cur)
        labels.append(lab)
        nxt, y = hop[cur].astype(np.int64), cur % n
        fate[lab[nxt == y]] = 2
        cur, lab = (nxt * n + y)[nxt != y], lab[nxt != y]
    _inherit(fate, link)
    cells, labs = np.concatenate(walked), np.concatenate(labels)
    good = fate[labs] == 2
    return np.concatenate([start, cells[~good], *dead]), cells[good]


def _claim(cur: np.ndarray, lab: np.ndarray, owner: np.ndarray, link: np.ndarray, slot: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """The front's tree cells ``cur`` (front,) with stretch labels ``lab`` (front,) that no stretch
    walked yet, each once; the others' stretches ``link`` to the stretch that has the cell."""
    slot[cur] = np.arange(cur.size, dtype=np.int32)
    first = slot[cur] == np.arange(cur.size)
    link[lab[~first]] = lab[slot[cur[~first]]]
    cur, lab = cur[first], lab[first]
    had = owner[cur]
    link[lab[had >= 0]] = had[had >= 0]
    cur, lab = cur[had < 0], lab[had < 0]
    owner[cur] = lab
    return cur, lab


def _inherit(fate: np.ndarray, link: np.ndarray) -> None:
    """Give every stretch (label,) without a ``fate`` the fate of the stretch its ``link``
    (label,) names, following chains of links by pointer jumping; in place."""
    link = link.copy()
    for _ in range(64):
        todo = np.flatnonzero((fate == 0) & (link >= 0))
        if not todo.size:
            return
        fate[todo] = fate[link[todo]]
        link[todo] = link[link[todo]]
    raise AssertionError("stretch links do not end")


def _jump(value: np.ndarray, succ: np.ndarray) -> tuple[np.ndarray, list]:
    """``value`` (entry,) summed over every entry's chain of ``succ`` (entry,) (-1 ends a chain),
    by pointer jumping; a chain that never ends (a loop) sums to inf.

    Entries at inf stop early (nothing can change them).  Also returns the
    rounds taken, ``[(entries, the entries they jumped to)]``, for :func:`_replay`.
    """
    value, succ, rounds = value.copy(), succ.copy(), []
    act = np.flatnonzero((succ >= 0) & ~np.isinf(value))
    for _ in range(int(np.ceil(np.log2(succ.size + 1))) + 1):
        if not act.size:
            return value, rounds
        t = succ[act]
        rounds.append((act, t))
        v, s = value[act] + value[t], succ[t]
        value[act], succ[act] = v, s
        act = act[(s >= 0) & ~np.isinf(v)]
    value[act] = np.inf
    return value, rounds


def _replay(good: np.ndarray, rounds: list) -> np.ndarray:
    """(entry,) bool: ``good`` (entry,) holds along the whole chain, combining as :func:`_jump`'s
    ``rounds`` did.  Right wherever the sum ended finite; where it did not, ``good`` must be False."""
    good = good.copy()
    for act, t in rounds:
        good[act] &= good[t]
    return good


def _still_held(graph: RoutingGraph, old: np.ndarray, best: np.ndarray, i: np.ndarray, j: np.ndarray,
                threshold_ratio: float, threshold_ms: float, nh: np.ndarray | None = None) -> np.ndarray:
    """(pair,) bool: node ``i[p]`` may keep its ``old`` (node, node) path to ``j[p]``: from it and
    from every node after it, the old path works and costs at most ``best`` (node, node) times the
    ratio and plus ``threshold_ms``.

    Given the shortest next hops ``nh`` (node, node) and thresholds that every shortest path meets
    with room (:func:`_settled_pass`), the old paths' stretches that follow ``nh`` all the way to
    the destination are not walked further: they pass, and cost ``best`` (the same delays summed
    in another order, which :func:`_within` allows for)."""
    n = graph.n_nodes
    if nh is not None and _settled_pass(graph, best, threshold_ratio, threshold_ms):
        cell, settled = _unsettled_downstream(old, nh, i, j)
    else:
        cell, settled = _downstream(old, i, j), np.zeros(0, dtype=np.int64)
    x, y = np.divmod(cell, n)                      # (entry,): every (node, dst) that matters
    at = np.empty(n * n, dtype=np.int32)           # entry of a cell; read only at entries
    at[cell] = np.arange(cell.size, dtype=np.int32)
    nxt = np.ravel(old)[cell].astype(np.int64)
    hop = np.maximum(nxt, 0)
    succ = np.where((nxt >= 0) & (nxt != y), at[hop * n + y], -1)
    weight, relay = graph.dense(graph.delay_ms), ~graph.is_ground | graph.ground_transit
    step = np.where(nxt >= 0, np.ravel(weight)[x * n + hop], np.inf)
    step = np.where((nxt == y) | relay[hop], step, np.inf)
    step, succ = _end_at_settled(step, succ, hop * n + y, (nxt >= 0) & (nxt != y), settled, best)
    cost_ms, rounds = _jump(step, succ)
    ok = _within(cost_ms, best[x, y], threshold_ratio, threshold_ms,
                 lambda sel: follow_cost(old, weight, relay, x[sel], y[sel]))
    return _replay(ok, rounds)[:i.size]


def _within(cost_ms: np.ndarray, best_ms: np.ndarray, threshold_ratio: float, threshold_ms: float,
            exact: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(entry,) bool: an old path of ``cost_ms`` (entry,) is within the thresholds of ``best_ms``.

    ``cost_ms`` is summed in another order than the hop by hop sum the
    thresholds were always compared with; the two differ by less than
    1e-11 of the cost, so only costs that close to a threshold are summed
    again hop by hop (``exact(entries)`` -> their costs) to decide alike.
    """
    lim_ratio, lim_ms = best_ms * threshold_ratio, best_ms + threshold_ms
    at = np.flatnonzero(np.isfinite(cost_ms))
    c, tol = cost_ms[at], 1e-11 * cost_ms[at]
    unsure = at[(np.abs(c - lim_ratio[at]) <= tol) | (np.abs(c - lim_ms[at]) <= tol)]
    cost_ms = cost_ms.copy()
    cost_ms[unsure] = exact(unsure)
    return np.isfinite(cost_ms) & (cost_ms <= lim_ratio) & (cost_ms <= lim_ms)


def hold_down(graph: RoutingGraph, prev: Decision | None = None, threshold_ratio: float = 1.2,
              threshold_ms: float = 20.0) -> Decision:
    """Keep the previous path to a destination until it breaks or is worse than the best by
    more than ``threshold_ratio`` (times the best delay) or ``threshold_ms``: fewer flaps.

    A node keeps its old next hop only if every node downstream on the old
    path keeps too; everyone else takes the delay-shortest next hop.  Kept
    nodes forward only to kept nodes, the others along a shortest-path
    tree, so the mix has no loops.  Only entries whose old next hop differs
    from the shortest one are looked at (elsewhere keeping changes nothing), and their old paths
    only until they settle into shortest paths (:func:`_unsettled_downstream`).
    """
    best, nh = graph.shortest(graph.delay_ms)
    if prev is None:
        return Decision(nh)
    old = np.asarray(prev.next_hop)
    i, j = np.nonzero((old != nh) & (old >= 0))
    i, j = i[i != j], j[i != j]
    keep = _still_held(graph, old, best, i, j, threshold_ratio, threshold_ms, nh)
    nh[i[keep], j[keep]] = old[i[keep], j[keep]]
    return Decision(nh)


def predictive(graph: RoutingGraph, prev: Decision | None = None, horizon_s: float = 60.0,
               penalty_ms: float = 100.0) -> Decision:
    """Contact-plan style: least ``delay_ms + penalty_ms * (1 - lifetime / horizon_s)``, where
    lifetime is how long the link stays up over the next ``horizon_s`` (from the link series).
    Links about to go down cost up to ``penalty_ms`` more, so paths last longer."""
    life = graph.lifetime_s(horizon_s)
    return Decision(graph.shortest(graph.delay_ms + penalty_ms * (1.0 - life / horizon_s))[1])


def _num(lo: float, hi: float = np.inf, lo_open: bool = False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a number"
        if v < lo or v > hi or (lo_open and v == lo):
            return f"a number {'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if np.isfinite(hi) else "")
        return None
    return check


def _choice(*options: str):
    return lambda v: None if v in options else "one of " + ", ".join(options)


#: name -> (function, {parameter: check}); a check returns None or what is accepted.
STRATEGIES: dict[str, tuple[Callable, dict]] = {
    "shortest-delay": (shortest_delay, {}),
    "min-hop": (min_hop, {}),
    "ecmp": (ecmp, {"metric": _choice("delay", "hops"), "quantum_ms": _num(0, lo_open=True)}),
    "hold-down": (hold_down, {"threshold_ratio": _num(1.0), "threshold_ms": _num(0.0)}),
    "predictive": (predictive, {"horizon_s": _num(0, lo_open=True), "penalty_ms": _num(0.0)}),
}
BUILTIN_NAMES = ", ".join(STRATEGIES)


# -- a strategy with its parameters, from a scenario or the API ------------------------------------
@dataclass(eq=False)
class RoutingSpec:
    """A strategy, its parameters, and how late its decisions are installed.

    ``controller_delay_ms``: step k's decision takes effect that long after
    step k begins (an SDN controller's computation and push); meanwhile
    the previous decision forwards over the new links.
    """

    name: str
    function: Callable
    params: dict = field(default_factory=dict)
    controller_delay_ms: float = 0.0

    def decide(self, graph: RoutingGraph, prev: Decision | None) -> Decision:
        """The strategy's decision for ``graph``, checked (:func:`check_decision`)."""
        return check_decision(graph, self.function(graph, prev, **self.params), self.name)

    @property
    def label(self) -> str:
        """Short text naming the strategy, its parameters and controller delay."""
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        text = self.name + (f"({args})" if args else "")
        return text + (f"+{self.controller_delay_ms:g}ms" if self.controller_delay_ms else "")


def _load_python(target: str, base_dir: Path, where: str) -> Callable:
    """The function named by ``package.module:function`` or ``path/file.py:function``."""
    mod_name, sep, fn_name = target.rpartition(":")
    if not sep or not mod_name.strip() or not fn_name.strip():
        raise StrategyError(f"{where}: {target!r}; accepted: 'python: package.module:function' "
                            "or 'python: path/to/file.py:function'")
    mod_name, fn_name = mod_name.strip(), fn_name.strip()
    try:
        if mod_name.endswith(".py"):
            path = Path(base_dir) / mod_name
            if not path.is_file():
                raise StrategyError(f"{where}: no file {path}")
            spec = importlib.util.spec_from_file_location(f"sgemu_strategy_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except StrategyError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of user code becomes one line
        raise StrategyError(f"{where}: cannot import {mod_name!r} ({type(exc).__name__}: {exc})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise StrategyError(f"{where}: {mod_name!r} has no function {fn_name!r}")
    return fn


def parse_routing(value, base_dir: str | Path = ".", where: str = "emulation.routing") -> RoutingSpec:
    """A :class:`RoutingSpec` from the scenario's ``emulation.routing`` (anything but ``ospf``).

    Accepted: ``static`` (= ``shortest-delay``), a built-in name, ``"python:
    package.module:function"`` (or ``path/file.py:function``, relative to
    ``base_dir``), a callable, or a mapping ``{strategy: NAME,
    controller_delay_ms: D, **params}``.  Everything is checked here (the
    module imported, parameters against the strategy); a mistake raises
    :class:`StrategyError` with one line naming the field.
    """
    if isinstance(value, RoutingSpec):
        return value
    if value is None or value == "static":
        return RoutingSpec("shortest-delay", shortest_delay)
    if callable(value):
        return RoutingSpec(getattr(value, "__name__", "custom"), value)
    if isinstance(value, str):
        value = {"strategy": value}
    if not isinstance(value, dict):
        raise StrategyError(f"{where}: {value!r}; accepted: static, ospf, a strategy name, or a mapping "
                            "with strategy: NAME")
    params = dict(value)
    name = params.pop("strategy", None)
    delay = params.pop("controller_delay_ms", 0.0)
    if _num(0.0)(delay):
        raise StrategyError(f"{where}.controller_delay_ms: {delay!r}; accepted: a number of ms >= 0")
    if not isinstance(name, str) or not name.strip():
        raise StrategyError(f"{where}.strategy: {name!r}; accepted: {BUILTIN_NAMES}, or 'python: package.module:function'")
    if name.startswith("python:"):
        fn = _load_python(name[len("python:"):].strip(), Path(base_dir), f"{where}.strategy")
        try:
            inspect.signature(fn).bind(None, None, **params)
        except TypeError as exc:
            raise StrategyError(f"{where}: parameters {sorted(params)} do not fit {name.strip()} ({exc})") from None
        except ValueError:
            pass  # no signature to check (a builtin): the first call will tell
        return RoutingSpec(name.strip(), fn, params, float(delay))
    if name not in STRATEGIES:
        raise StrategyError(f"{where}.strategy: {name!r}; accepted: {BUILTIN_NAMES}, or 'python: package.module:function'")
    fn, checks = STRATEGIES[name]
    for key, v in params.items():
        if key not in checks:
            accepted = ", ".join(["controller_delay_ms", *checks])
            raise StrategyError(f"{where}.{key}: unknown parameter of {name}; accepted: {accepted}")
        problem = checks[key](v)
        if problem:
            raise StrategyError(f"{where}.{key}: {v!r}; accepted: {problem}")
    return RoutingSpec(name, fn, params, float(delay))


def parse_strategy_list(text: str, where: str = "--strategies") -> list[RoutingSpec]:
    """Comma-separated strategies, each ``NAME`` or ``NAME:key=value:key=value``
    (e.g. ``shortest-delay,hold-down:threshold_ratio=1.5,min-hop:controller_delay_ms=200``)."""
    specs = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            raise StrategyError(f"{where}: empty strategy name in {text!r}")
        specs.append(parse_routing(strategy_mapping(item, where), where=f"{where} {item}"))
    return specs


def strategy_mapping(item: str, where: str) -> dict:
    """``NAME:key=value:...`` (or ``python: module:function``) as ``{"strategy": NAME, key: value}``."""
    name, *pairs = item.split(":") if not item.startswith("python:") else [item]
    mapping: dict = {"strategy": name}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            raise StrategyError(f"{where}: {pair!r} in {item!r}; accepted: key=value")
        mapping[key] = _number_or_text(raw)
    return mapping


def _number_or_text(raw: str):
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


# -- planning step after step ----------------------------------------------------------------------
def scene_positions(scene, axis) -> Callable[[int], np.ndarray]:
    """``positions(k)`` -> (node, 3) ITRS km of every node at step k (for :class:`RoutingGraph`)."""
    return lambda k: scene.positions_km(axis.skyfield(slice(k, k + 1)))[0]


class StrategyPlanner:
    """A strategy's decisions step after step, each given the one before (ask steps in
    increasing order; gaps are fine, ``prev`` is then the last step asked).  ``plan_s`` keeps
    how long each decision took."""

    def __init__(self, series: LinkSeries, spec=None, ground_transit: bool = False,
                 positions: Callable[[int], np.ndarray] | None = None):
        self.series, self.ground_transit, self.positions = series, ground_transit, positions
        self.spec = parse_routing(spec)
        self.prev: Decision | None = None
        self.plan_s: dict[int, float] = {}

    def graph(self, k: int) -> RoutingGraph:
        pos = self.positions(k) if self.positions is not None else None
        return RoutingGraph(self.series, k, self.ground_transit, pos)

    def decide(self, k: int) -> Decision:
        t0 = time.perf_counter()
        self.prev = self.spec.decide(self.graph(k), self.prev)
        self.plan_s[k] = time.perf_counter() - t0
        return self.prev


def routes_changed(old: Decision | None, new: Decision) -> int:
    """How many forwarding entries differ: next hops, plus multipath next hops added or removed."""
    if old is None:
        return int((new.next_hop >= 0).sum() + len(new.extra))
    n = new.next_hop.shape[0]
    key = lambda e: (e[:, 0].astype(np.int64) * n + e[:, 1]) * n + e[:, 2]  # noqa: E731
    return int((old.next_hop != new.next_hop).sum() + np.setxor1d(key(old.extra), key(new.extra)).size)


# -- prediction ------------------------------------------------------------------------------------
@dataclass
class StrategyRoutes:
    """Predicted routes of node pairs under a strategy, step by step.

    ``pairs`` (pair, 2) node indices.  ``rtt_ms`` (time, pair), NaN when
    unreachable, ``hops`` (time, pair), -1 then, and ``paths[p][k]`` (node
    list, [] when unreachable) describe step k once its installed decision
    is in effect, following the primary next hops (a multipath kernel puts
    each flow on one of them).  With a controller delay D, the decision in
    effect lags ``D // step_s`` steps, and the first ``transition_s`` (= D
    modulo the step) of each step still forward by the decision before:
    ``transition_rtt_ms`` (time, pair) is the RTT then, NaN when that stale
    decision has no working path over the new links.  ``routes_changed``
    (time,) counts forwarding entries changed per decision; ``plan_ms``
    (time,) the time each decision took.
    """

    series: LinkSeries
    spec: RoutingSpec
    pairs: np.ndarray
    rtt_ms: np.ndarray
    hops: np.ndarray
    paths: list[list[list[int]]]
    transition_s: float
    transition_rtt_ms: np.ndarray
    routes_changed: np.ndarray
    plan_ms: np.ndarray

    def path_changes(self) -> np.ndarray:
        """(time, pair) bool: the path differs from the previous step's (both reachable)."""
        ch = np.zeros(self.rtt_ms.shape, dtype=bool)
        for p, paths in enumerate(self.paths):
            for k in range(1, len(paths)):
                ch[k, p] = bool(paths[k]) and bool(paths[k - 1]) and paths[k] != paths[k - 1]
        return ch

    def outage_s(self) -> np.ndarray:
        """(pair,) seconds without a working path: whole steps unreachable, plus stale windows
        (controller delay) whose decision had none."""
        step = self.series.axis.step_s
        steady = np.isnan(self.rtt_ms)
        stale = np.isnan(self.transition_rtt_ms) & ~steady
        return steady.sum(axis=0) * step + (stale.sum(axis=0) * self.transition_s if self.transition_s else 0.0)


def _walk(nh: np.ndarray, w: np.ndarray, relay: np.ndarray, s: int, d: int) -> tuple[list[int], float]:
    """(path, RTT ms) following next hops from s to d over the links with finite ``w``; ([], NaN)
    at a missing route, a link that is down, a station that may not relay, or a loop."""
    path, cur, total = [s], s, 0.0
    limit = nh.shape[0]
    while cur != d:
        h = int(nh[cur, d])
        if h < 0 or not np.isfinite(w[cur, h]) or (h != d and not relay[h]) or len(path) > limit:
            return [], float("nan")
        total += w[cur, h]
        path.append(h)
        cur = h
    return path, 2.0 * total


def predict_pairs(series: LinkSeries, spec=None, pairs=None, ground_transit: bool = False,
                  progress: Callable[[int], None] | None = None,
                  positions: Callable[[int], np.ndarray] | None = None) -> StrategyRoutes:
    """Routes of ``pairs`` (default: every ground pair) at every step under the strategy ``spec``
    (anything :func:`parse_routing` takes), with its controller delay applied."""
    spec = parse_routing(spec)
    if pairs is None:
        g = series.ground_indices
        ii, jj = np.triu_indices(g.size, k=1)
        pairs = np.stack([g[ii], g[jj]], axis=1)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    T, P, step = series.n_steps, len(pairs), series.axis.step_s
    lag = int(spec.controller_delay_ms // (step * 1e3))
    transition_s = spec.controller_delay_ms / 1e3 - lag * step
    planner = StrategyPlanner(series, spec, ground_transit, positions)
    rtt, trans = np.full((T, P), np.nan), np.full((T, P), np.nan)
    hops = np.full((T, P), -1, dtype=np.int32)
    paths: list[list[list[int]]] = [[] for _ in range(P)]
    churn, decisions = np.zeros(T, dtype=np.int64), {}
    for k in range(T):
        prev = planner.prev
        decisions[k] = planner.decide(k)
        churn[k] = routes_changed(prev, decisions[k]) if k else 0
        decisions.pop(k - lag - 2, None)
        graph = RoutingGraph(series, k, ground_transit)
        w, relay = graph.dense(graph.delay_ms), ~graph.is_ground | ground_transit
        steady, stale = decisions[max(k - lag, 0)], decisions[max(k - lag - 1, 0)]
        for p, (s, d) in enumerate(pairs.tolist()):
            path, rtt[k, p] = _walk(steady.next_hop, w, relay, s, d)
            paths[p].append(path)
            hops[k, p] = len(path) - 1 if path else -1
            trans[k, p] = (_walk(stale.next_hop, w, relay, s, d)[1] if transition_s > 0 and stale is not steady
                           else rtt[k, p])
        if progress:
            progress(1)
    plan_ms = np.array([planner.plan_s[k] * 1e3 for k in range(T)])
    return StrategyRoutes(series, spec, pairs, rtt, hops, paths, transition_s, trans, churn, plan_ms)


def route_pair_strategy(series: LinkSeries, src: int, dst: int, ground_transit: bool = False, strategy=None):
    """:func:`topologies.routing.route_pair` under a strategy: a :class:`~topologies.routing.PathSeries`."""
    from .routing import PathSeries

    r = predict_pairs(series, strategy, [(src, dst)], ground_transit)
    return PathSeries(series, src, dst, r.rtt_ms[:, 0], r.paths[0])
