"""Forwarding tables planned ahead: next hops of coming steps from a worker process.

The link series is known in advance, so the static routes of step k+1 need
not be computed when step k+1 is due.  For large networks (all-pairs
shortest paths over 1,700 nodes take a third of a second) a forked worker
computes the next step's next-hop matrix while the emulator waits for the
clock, and sends back only the entries that changed.  Small networks plan
inline: their paths cost milliseconds.

``plan(k)`` returns the full next-hop matrix for step k, shape (node,
node), ``-1`` where there is no route; steps must be asked in increasing
order (gaps are fine).
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from topologies.routing import next_hops

#: Below this many nodes, plan inline.
WORKER_MIN_NODES = 400

_STATE: dict = {}


def _worker_diff(k: int):
    """In the worker: next hops of step k as a diff against the previous plan it made."""
    _, nh = next_hops(_STATE["series"], k, _STATE["ground_transit"])
    nh = nh.astype(np.int32)
    prev = _STATE["prev"]
    i, j = np.nonzero(nh != prev)
    _STATE["prev"] = nh
    return k, i.astype(np.int32), j.astype(np.int32), nh[i, j]


def _worker_init(prev):
    _STATE["prev"] = prev


class RoutePlanner:
    """Next-hop matrices for the steps of a series, computed one step ahead."""

    def __init__(self, series, ground_transit: bool = False, ahead: bool | None = None):
        self.series = series
        self.ground_transit = ground_transit
        self.ahead = series.n_nodes >= WORKER_MIN_NODES if ahead is None else ahead
        self._pool = None
        self._pending: dict[int, object] = {}
        self._plan: np.ndarray | None = None
        self._last = -1

    def _compute(self, k: int) -> np.ndarray:
        return next_hops(self.series, k, self.ground_transit)[1].astype(np.int32)

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
                _, i, j, v = self._pending.pop(step).get()
                self._plan[i, j] = v  # diffs apply in the order they were made
        self._last = k
        if self.ahead:
            if self._pool is None:
                _STATE.update(series=self.series, ground_transit=self.ground_transit)
                self._pool = mp.get_context("fork").Pool(1, initializer=_worker_init, initargs=(self._plan.copy(),))
            self._request(k + 1)
        return self._plan

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        self._pending.clear()
