"""Forwarding tables planned ahead: a routing strategy's decisions for coming steps, from a worker.

The link series is known in advance, so the routes of step k+1 need not be
computed when step k+1 is due.  For large networks (all-pairs shortest
paths over 1,700 nodes take a third of a second) a forked worker runs the
routing strategy (:mod:`topologies.strategies`; default ``shortest-delay``)
for the next step while the emulator waits for the clock, and sends back
only the next-hop entries that changed, plus the multipath entries.  Small
networks plan inline: their decisions cost milliseconds.

``plan(k)`` returns the full next-hop matrix for step k, shape (node,
node), ``-1`` where there is no route; ``extra`` then holds that step's
multipath rows ``(node, destination, hop)``.  Steps must be asked in
increasing order (gaps are fine: a strategy that remembers its previous
decision gets the one of the last step asked).
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from topologies.strategies import StrategyPlanner, parse_routing

#: Below this many nodes, plan inline.
WORKER_MIN_NODES = 400

_STATE: dict = {}


def _worker_diff(k: int):
    """In the worker: step k's decision as a diff against the previous one it made."""
    planner: StrategyPlanner = _STATE["planner"]
    dec = planner.decide(k)
    nh = dec.next_hop
    prev = _STATE["prev"]
    i, j = np.nonzero(nh != prev)
    _STATE["prev"] = nh
    return k, i.astype(np.int32), j.astype(np.int32), nh[i, j], dec.extra, planner.plan_s[k]


def _worker_init(prev):
    _STATE["prev"] = prev


class RoutePlanner:
    """A strategy's next-hop matrices for the steps of a series, computed one step ahead.

    ``strategy``: anything :func:`topologies.strategies.parse_routing`
    accepts (``None`` = shortest-delay).  ``plan_ms`` maps each planned
    step to the time its decision took.
    """

    def __init__(self, series, ground_transit: bool = False, ahead: bool | None = None, strategy=None,
                 positions=None):
        self.series = series
        self.ground_transit = ground_transit
        self.spec = parse_routing(strategy)
        self.ahead = series.n_nodes >= WORKER_MIN_NODES if ahead is None else ahead
        self._inline = StrategyPlanner(series, self.spec, ground_transit, positions)
        self._pool = None
        self._pending: dict[int, object] = {}
        self._plan: np.ndarray | None = None
        self.extra = np.zeros((0, 3), dtype=np.int32)
        self.plan_ms: dict[int, float] = {}
        self._last = -1

    def _compute(self, k: int) -> np.ndarray:
        dec = self._inline.decide(k)
        self.extra = dec.extra
        self.plan_ms[k] = self._inline.plan_s[k] * 1e3
        return dec.next_hop.astype(np.int32)

    def _request(self, k: int) -> None:
        if k < self.series.n_steps and k not in self._pending:
            self._pending[k] = self._pool.apply_async(_worker_diff, (k,))

    def plan(self, k: int) -> np.ndarray:
        """Next hops of step k, (node, node) int32; prefetches step k+1."""
        if k == self._last:
            return self._plan
        if self._plan is None or not self.ahead:
            self._plan = self._compute(k)
        else:
            self._request(k)
            for step in sorted(s for s in self._pending if s <= k):
                _, i, j, v, extra, took_s = self._pending.pop(step).get()
                self._plan[i, j] = v  # diffs apply in the order they were made
                self.extra, self.plan_ms[step] = extra, took_s * 1e3
        self._last = k
        if self.ahead:
            if self._pool is None:
                # the worker continues from the decision made inline (forked: it has the strategy's state)
                _STATE.update(planner=self._inline)
                self._pool = mp.get_context("fork").Pool(1, initializer=_worker_init, initargs=(self._plan.copy(),))
            self._request(k + 1)
        return self._plan

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        self._pending.clear()
