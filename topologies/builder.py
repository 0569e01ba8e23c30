"""From a scene and its link rules to a :class:`LinkSeries`, chunk by chunk.

:func:`build_series` walks the time axis in chunks: propagates all nodes
for the chunk (time, node, 3), asks every rule for its links, numbers new
links as they first appear, and appends each step's sorted link ids and
lengths.  Memory is bounded by the chunk, not by the run's duration.

With a :class:`~topologies.linkbudget.LinkBudget`, each chunk's entries
also get their elevation (ground links), capacity, loss and MODCOD from the
budget; entries the budget puts below threshold with ``below_threshold:
down`` are left out of that step.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .rules import KIND_CODE, LinkBatch, LinkParams, Rule
from .series import LinkSeries


def chunk_steps_for(scene, budget_elements: float = 6e6, rules: list[Rule] = ()) -> int:
    """A chunk length keeping the largest per-step block near budget_elements.

    The blocks are (time, station, sat) for ground access and, for bound
    rules that compare every pair of their nodes (nearest-k, inter-layer),
    (time, A, B): a nearest-k over 1,584 satellites is 2.5 M elements a step.
    """
    biggest = max(scene.n_sats * max(len(scene.stations), 1), scene.n_sats * 32, 1,
                  *(rule.block_elements() for rule in rules))
    return int(np.clip(budget_elements // biggest, 1, 512))


class _LinkTable:
    """Links numbered once, in order of first appearance, with their per-link properties."""

    def __init__(self, n_nodes: int, rules: list[Rule], link_params: dict, budget):
        self.n, self.rules, self.link_params, self.budget = n_nodes, rules, link_params, budget
        self.key_to_id: dict[int, int] = {}
        self.cols: dict[str, list] = {k: [] for k in ("a", "b", "kind", "ms_per_km", "cap", "loss", "spec")}

    def ids(self, keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """Link ids of pair keys (a * n + b), numbering new ones as made by rule ``owner``; (k,) each."""
        out = np.empty(keys.size, dtype=np.int64)
        for j, (key, r_i) in enumerate(zip(keys.tolist(), owner.tolist())):
            lid = self.key_to_id.get(key)
            if lid is None:
                lid = self.key_to_id[key] = len(self.cols["a"])
                self._add(key // self.n, key % self.n, self.rules[r_i])
            out[j] = lid
        return out

    def _add(self, a: int, b: int, rule: Rule) -> None:
        params = self.link_params.get(rule.kind, LinkParams())
        c = rule.capacity_mbps if rule.capacity_mbps is not None else params.capacity_mbps
        l_ = rule.loss_pct if rule.loss_pct is not None else params.loss_pct
        for name, value in (("a", a), ("b", b), ("kind", KIND_CODE[rule.kind]), ("ms_per_km", rule.ms_per_km),
                            ("cap", np.nan if c is None else c), ("loss", np.nan if l_ is None else l_),
                            ("spec", -1 if self.budget is None else self.budget.spec_index(rule.kind, a, b))):
            self.cols[name].append(value)

    def array(self, name: str, dtype=np.int64) -> np.ndarray:
        return np.array(self.cols[name], dtype=dtype)


def _chunk_entries(rules: list[Rule], k0: int, pos, n: int):
    """(step, pair key, distance, owning rule) of a chunk's links, one per pair and step (first rule wins)."""
    batches = [(0, LinkBatch.empty())]  # so that a run without rules concatenates
    batches += [(r_i, rule.links(k0, pos)) for r_i, rule in enumerate(rules)]
    steps = np.concatenate([b.step for _, b in batches])
    keys = np.concatenate([b.a.astype(np.int64) * n + b.b for _, b in batches])
    dist = np.concatenate([b.distance_km for _, b in batches])
    owner = np.concatenate([np.full(b.step.size, r_i) for r_i, b in batches])
    order = np.lexsort((keys, steps))
    steps, keys, dist, owner = steps[order], keys[order], dist[order], owner[order]
    first = np.ones(steps.size, dtype=bool)
    first[1:] = (steps[1:] != steps[:-1]) | (keys[1:] != keys[:-1])
    return steps[first], keys[first], dist[first], owner[first]


def build_series(
    scene,
    rules: list[Rule],
    axis,
    grazing_km: float = 80.0,
    link_params: dict[str, LinkParams] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_steps: int | None = None,
    budget=None,
) -> LinkSeries:
    """Evaluate every rule over the whole axis and collect the links.

    ``link_params`` gives per-kind capacity and loss (a rule's own values
    win).  ``progress(n)`` is called with the number of steps done after
    each chunk.  ``budget`` (a :class:`topologies.linkbudget.LinkBudget`)
    computes per-step capacity and loss for the links it covers.
    """
    for rule in rules:
        rule.bind(scene, axis, grazing_km)
    n = scene.n_nodes
    table = _LinkTable(n, rules, link_params or {}, budget)
    step_ids, step_dist, counts = [], [], np.zeros(axis.n_steps, dtype=np.int64)
    per_entry: dict[str, list] = {"step_capacity_mbps": [], "step_loss_pct": [], "step_modcod": [],
                                  "step_elevation_deg": [], "step_capacity_a_mbps": [], "step_capacity_b_mbps": []}
    up_km = scene.station_up if budget is not None and scene.stations else None
    for sl, pos in scene.chunks(axis, chunk_steps or chunk_steps_for(scene, rules=rules)):
        steps, keys, dist, owner = _chunk_entries(rules, sl.start, pos, n)
        uniq, inv = np.unique(keys, return_inverse=True)
        uniq_owner = np.zeros(uniq.size, dtype=np.int64)
        uniq_owner[inv] = owner
        link = table.ids(uniq, uniq_owner)[inv]
        order = np.lexsort((link, steps))
        link, steps, dist = link[order], steps[order], dist[order]
        if budget is not None:
            keep = _budget_chunk(budget, scene, pos, sl.start, up_km, link, steps, dist, table, per_entry)
            link, steps, dist = link[keep], steps[keep], dist[keep]
        step_ids.append(link.astype(np.int32))
        step_dist.append(dist.astype(np.float32))
        counts[sl] = np.bincount(steps - sl.start, minlength=sl.stop - sl.start)
        if progress:
            progress(sl.stop - sl.start)
    return LinkSeries(
        axis=axis, node_names=scene.node_names, node_layer=scene.node_layer, node_shell=scene.node_shell,
        link_a=table.array("a", np.int32), link_b=table.array("b", np.int32),
        link_kind=table.array("kind", np.int8), ms_per_km=table.array("ms_per_km", np.float64),
        capacity_mbps=table.array("cap", np.float64), loss_pct=table.array("loss", np.float64),
        indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        link_id=np.concatenate(step_ids) if step_ids else np.zeros(0, np.int32),
        distance_km=np.concatenate(step_dist) if step_dist else np.zeros(0, np.float32),
        budget=None if budget is None else budget.to_config(),
        **({name: np.concatenate(parts) for name, parts in per_entry.items()} if budget is not None else {}),
    )


def _budget_chunk(budget, scene, pos, k0, up_km, link, steps, dist, table: _LinkTable,
                  per_entry) -> np.ndarray:
    """Run the budget over one chunk's entries (n,), append their per-entry arrays, return which to keep.

    ``pos`` is the chunk's ITRS km (time, node, 3) from step ``k0``; a ground
    link's station is its higher node index (stations follow satellites).
    """
    from .linkbudget import egress_by_end
    from .rules import KIND_CODE

    spec = table.array("spec")[link]
    ground = table.array("kind")[link] == KIND_CODE["ground"]
    elev = np.full(link.size, np.nan)
    station = np.full(link.size, -1, dtype=np.int64)
    if ground.any():
        a, b = table.array("a")[link[ground]], table.array("b")[link[ground]]
        sta, sat = np.maximum(a, b), np.minimum(a, b)
        t = steps[ground] - k0
        d = pos[t, sat] - pos[t, sta]
        up = up_km[sta - scene.n_sats]
        sin_el = np.einsum("nk,nk->n", d, up) / np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        elev[ground] = np.degrees(np.arcsin(np.clip(sin_el, -1, 1)))
        station[ground] = sta
    res = budget.evaluate(spec, dist.astype(np.float64), elev, station)
    keep = res.up
    per_entry["step_capacity_mbps"].append(res.capacity_mbps[keep])
    a_is_station = ground & (table.array("a")[link] > table.array("b")[link])  # stations follow satellites
    cap_a, cap_b, _, _ = egress_by_end(res, a_is_station)
    per_entry["step_capacity_a_mbps"].append(cap_a[keep].astype(np.float32))
    per_entry["step_capacity_b_mbps"].append(cap_b[keep].astype(np.float32))
    per_entry["step_loss_pct"].append(res.loss_pct[keep])
    per_entry["step_modcod"].append(res.modcod[keep])
    per_entry["step_elevation_deg"].append(elev[keep].astype(np.float32))
    return keep
