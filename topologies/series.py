"""The :class:`LinkSeries`: every link of a run and when it is up, with its delay.

Links are numbered once for the whole run (``link_a``, ``link_b``,
``link_kind``: shape (link,)).  Which links are up at each step, and their
length, are stored step by step in compressed sparse rows: the links of
step ``k`` are ``link_id[indptr[k]:indptr[k+1]]`` with lengths
``distance_km`` at the same positions.  A 1,700-node network over 5,700
steps thus costs the links that are up, not (time x link) dense arrays.

One-way delay is ``distance_km * ms_per_km[link]``: 1/c for space and
ground links, 1.468/c for fibre.  Capacity and loss come per link from its
rule (NaN = not shaped).  Per-step values sit at the same positions as
``link_id`` (NaN = the link's own constant): ``step_capacity_mbps`` and
``step_loss_pct`` from the link budget (:mod:`topologies.linkbudget`, when
the scenario has a ``link_budget`` section) and from weather fades
(:mod:`topologies.events`); with a budget also ``step_modcod`` (index into
:data:`topologies.modcod.MODCODS`, -1 = below the lowest, -2 = not a DVB-S2X
link) and
``step_elevation_deg`` (ground links; NaN elsewhere), which a physical
weather fade needs to re-run the budget.  Read them per step with
:meth:`LinkSeries.capacity_at` and :meth:`LinkSeries.loss_at`.  Series are
saved to one ``.npz`` file plus a JSON header (:meth:`LinkSeries.save`) and
load back unchanged (files written before the per-step capacity load too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from orbits.timebase import TimeAxis, parse_utc

from .rules import KINDS


@dataclass
class LinkSeries:
    """Links of a run step by step (CSR over steps); see the module docstring."""

    axis: TimeAxis
    node_names: list[str]
    node_layer: list[str]
    node_shell: list[str]
    link_a: np.ndarray          # (link,) int32 node index, a < b
    link_b: np.ndarray          # (link,) int32
    link_kind: np.ndarray       # (link,) int8 code into KINDS
    ms_per_km: np.ndarray       # (link,) float64
    capacity_mbps: np.ndarray   # (link,) float64, NaN = unshaped
    loss_pct: np.ndarray        # (link,) float64, NaN = none
    indptr: np.ndarray          # (time + 1,) int64
    link_id: np.ndarray         # (nnz,) int32, sorted within each step
    distance_km: np.ndarray     # (nnz,) float32
    step_loss_pct: np.ndarray | None = None  # (nnz,) float32 loss % per direction, NaN = link's own
    step_capacity_mbps: np.ndarray | None = None  # (nnz,) float32 Mbit/s, NaN = link's own
    step_modcod: np.ndarray | None = None         # (nnz,) int8 into modcod.MODCODS, -1 below, -2 not DVB-S2X
    step_elevation_deg: np.ndarray | None = None  # (nnz,) float32, ground links only (NaN elsewhere)
    step_capacity_a_mbps: np.ndarray | None = None  # (nnz,) float32 Mbit/s end a sends at, NaN = step_capacity_mbps
    step_capacity_b_mbps: np.ndarray | None = None  # (nnz,) float32 Mbit/s end b sends at, NaN = step_capacity_mbps
    budget: dict | None = None  # the link budget's configuration (JSON), see topologies.linkbudget

    #: per-entry optional arrays, all (nnz,) in ``link_id`` order
    STEP_ARRAYS = ("step_loss_pct", "step_capacity_mbps", "step_modcod", "step_elevation_deg",
                   "step_capacity_a_mbps", "step_capacity_b_mbps")

    # -- shape ----------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return self.axis.n_steps

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_links(self) -> int:
        return int(self.link_a.size)

    @property
    def ground_indices(self) -> np.ndarray:
        return np.array([i for i, l in enumerate(self.node_layer) if l == "GROUND"], dtype=np.int64)

    @cached_property
    def _index_of(self) -> dict[str, int]:
        return {n.lower(): i for i, n in enumerate(self.node_names)}

    def index(self, name: str) -> int:
        """Node index of a node name, ignoring case (``KeyError`` if unknown)."""
        try:
            return self._index_of[name.lower()]
        except KeyError:
            raise KeyError(f"unknown node {name!r}") from None

    # -- per step -------------------------------------------------------------
    def active(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(link ids, one-way delay ms) of the links up at step k."""
        sl = slice(self.indptr[k], self.indptr[k + 1])
        ids = self.link_id[sl]
        return ids, self.distance_km[sl].astype(np.float64) * self.ms_per_km[ids]

    def path_rtt_ms(self, k: int, names: list) -> float:
        """Round-trip delay (ms) along a path of node names at step k: twice the sum of its links'
        one-way delays; NaN when a hop is unknown (None, ``*``) or no link joins two neighbours."""
        ids, delay = self.active(k)
        one_way = dict(zip(ids.tolist(), delay.tolist()))
        link_of = {}
        for l in ids.tolist():
            a, b = int(self.link_a[l]), int(self.link_b[l])
            link_of[(a, b)] = link_of[(b, a)] = l
        total = 0.0
        for u, v in zip(names, names[1:]):
            try:
                total += one_way[link_of[(self.index(u), self.index(v))]]
            except (KeyError, AttributeError):
                return float("nan")
        return 2.0 * total

    def loss_at(self, k: int) -> np.ndarray:
        """Loss % per direction of the links up at step k (same order as :meth:`active`), 0 = none."""
        sl = slice(self.indptr[k], self.indptr[k + 1])
        loss = self.loss_pct[self.link_id[sl]]
        if self.step_loss_pct is not None:
            over = self.step_loss_pct[sl]
            loss = np.where(np.isnan(over), loss, over)
        return np.nan_to_num(loss, nan=0.0)

    def capacity_at(self, k: int) -> np.ndarray:
        """Capacity Mbit/s of the links up at step k (same order as :meth:`active`), NaN = unshaped."""
        sl = slice(self.indptr[k], self.indptr[k + 1])
        cap = self.capacity_mbps[self.link_id[sl]]
        if self.step_capacity_mbps is not None:
            over = self.step_capacity_mbps[sl]
            cap = np.where(np.isnan(over), cap, over)
        return cap.astype(np.float64)

    def capacity_by_end_at(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Mbit/s end a sends at, Mbit/s end b sends at) of the links up at step k, each shape (up,) in
        :meth:`active` order, NaN = unshaped.  The two differ on ground links budgeted in both
        directions (uplink and downlink); elsewhere both are :meth:`capacity_at`."""
        cap = self.capacity_at(k)
        sl = slice(self.indptr[k], self.indptr[k + 1])
        ends = []
        for per_end in (self.step_capacity_a_mbps, self.step_capacity_b_mbps):
            over = None if per_end is None else per_end[sl]
            ends.append(cap if over is None else np.where(np.isnan(over), cap, over).astype(np.float64))
        return ends[0], ends[1]

    def entry_capacity_mbps(self) -> np.ndarray:
        """Capacity Mbit/s of every (step, link) entry, shape (nnz,) in ``link_id`` order, NaN = unshaped."""
        cap = self.capacity_mbps[self.link_id]
        if self.step_capacity_mbps is not None:
            cap = np.where(np.isnan(self.step_capacity_mbps), cap, self.step_capacity_mbps)
        return cap

    def step_of_entry(self) -> np.ndarray:
        """Step index of every (step, link) entry, shape (nnz,)."""
        return np.repeat(np.arange(self.n_steps), np.diff(self.indptr))

    def keep_entries(self, keep: np.ndarray) -> "LinkSeries":
        """A new series with only the (step, link) entries where ``keep`` (nnz,) is True."""
        from dataclasses import replace

        counts = np.bincount(self.step_of_entry()[keep], minlength=self.n_steps)
        over = {name: (None if getattr(self, name) is None else getattr(self, name)[keep])
                for name in self.STEP_ARRAYS}
        return replace(self, link_id=self.link_id[keep], distance_km=self.distance_km[keep],
                       indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), **over)

    def delay_ms(self, k: int) -> np.ndarray:
        """One-way delay of every link at step k, NaN where down, shape (link,)."""
        out = np.full(self.n_links, np.nan)
        ids, d = self.active(k)
        out[ids] = d
        return out

    def active_mask(self) -> np.ndarray:
        """Dense (time, link) bool: which links are up at each step (small runs only)."""
        mask = np.zeros((self.n_steps, self.n_links), dtype=bool)
        steps = np.repeat(np.arange(self.n_steps), np.diff(self.indptr))
        mask[steps, self.link_id] = True
        return mask

    def links_per_step(self) -> np.ndarray:
        return np.diff(self.indptr)

    def link_name(self, i: int) -> str:
        return f"{self.node_names[self.link_a[i]]}--{self.node_names[self.link_b[i]]}"

    # -- persistence ----------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz, arrays + JSON header); lossless round trip with :meth:`load`.

        Returns the path written: numpy adds ``.npz`` to a name without it.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        header = {
            "format": "sgemu-link-series/1",
            "start": self.axis.start.isoformat(),
            "step_s": self.axis.step_s,
            "n_steps": self.axis.n_steps,
            "node_names": self.node_names,
            "node_layer": self.node_layer,
            "node_shell": self.node_shell,
            "kinds": list(KINDS),
            "link_budget": self.budget,
        }
        arrays = {k: getattr(self, k) for k in (
            "link_a", "link_b", "link_kind", "ms_per_km", "capacity_mbps", "loss_pct",
            "indptr", "link_id", "distance_km")}
        for name in self.STEP_ARRAYS:
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        np.savez_compressed(path, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LinkSeries":
        with np.load(Path(path)) as z:
            header = json.loads(bytes(z["header"]).decode())
            if header.get("format") != "sgemu-link-series/1":
                raise ValueError(f"{path}: not an sgemu link series")
            arrays = {k: z[k] for k in z.files if k != "header"}
        axis = TimeAxis(parse_utc(header["start"]), header["step_s"], header["n_steps"])
        return cls(axis, header["node_names"], header["node_layer"], header["node_shell"], **arrays,
                   budget=header.get("link_budget"))

    # -- events ---------------------------------------------------------------
    def events(self) -> list[dict]:
        """Link up/down events and ground handovers, in time order.

        Each event is a dict with ``t_s``, ``step``, ``event`` (``up``,
        ``down`` or ``handover``) and the nodes involved.  A handover is a
        station whose ground links changed at a step: it names the station
        and the satellite(s) it left (``from``) and took (``to``).
        """
        out = []
        is_ground = np.array([l == "GROUND" for l in self.node_layer])
        prev = np.zeros(0, dtype=self.link_id.dtype)
        for k in range(self.n_steps):
            cur = self.link_id[self.indptr[k]:self.indptr[k + 1]]
            if k > 0:
                up = np.setdiff1d(cur, prev, assume_unique=True)
                down = np.setdiff1d(prev, cur, assume_unique=True)
                t_s = float(self.axis.t_s[k])
                changes: dict[int, dict] = {}
                for kind, ids in (("down", down), ("up", up)):
                    for i in ids.tolist():
                        a, b = int(self.link_a[i]), int(self.link_b[i])
                        out.append({"t_s": t_s, "step": k, "event": kind, "kind": KINDS[self.link_kind[i]],
                                    "a": self.node_names[a], "b": self.node_names[b]})
                        if KINDS[self.link_kind[i]] == "ground":
                            g, s = (a, b) if is_ground[a] else (b, a)
                            rec = changes.setdefault(g, {"from": [], "to": []})
                            rec["from" if kind == "down" else "to"].append(self.node_names[s])
                for g, rec in changes.items():
                    if rec["from"] and rec["to"]:
                        out.append({"t_s": t_s, "step": k, "event": "handover", "station": self.node_names[g],
                                    "from": rec["from"], "to": rec["to"]})
            prev = cur
        return out

    def summary(self) -> dict:
        """Counts per link kind and per step, for reports and ``sgemu links``."""
        per_step = self.links_per_step()
        ids_kind = self.link_kind[self.link_id]
        steps = np.repeat(np.arange(self.n_steps), per_step)
        kinds = {}
        caps_all = self.entry_capacity_mbps()
        for code, name in enumerate(KINDS):
            sel = ids_kind == code
            if not (self.link_kind == code).any():
                continue
            counts = np.bincount(steps[sel], minlength=self.n_steps)
            d = self.distance_km[sel] * self.ms_per_km[self.link_id[sel]]
            cap = caps_all[sel]
            cap = cap[~np.isnan(cap)]
            kinds[name] = {
                "distinct_links": int((self.link_kind == code).sum()),
                "up_per_step_mean": float(counts.mean()),
                "up_per_step_min": int(counts.min()),
                "up_per_step_max": int(counts.max()),
                "delay_ms_min": float(d.min()) if d.size else None,
                "delay_ms_mean": float(d.mean()) if d.size else None,
                "delay_ms_max": float(d.max()) if d.size else None,
                "capacity_mbps_min": float(cap.min()) if cap.size else None,
                "capacity_mbps_mean": float(cap.mean()) if cap.size else None,
                "capacity_mbps_max": float(cap.max()) if cap.size else None,
            }
            if self.step_modcod is not None:
                kinds[name]["modcod_share"] = self._modcod_share(self.step_modcod[sel])
        return {
            "start": self.axis.start.isoformat(),
            "step_s": self.axis.step_s,
            "n_steps": self.n_steps,
            "duration_s": self.axis.duration_s,
            "nodes": self.n_nodes,
            "satellites": int(sum(l != "GROUND" for l in self.node_layer)),
            "ground_stations": int(sum(l == "GROUND" for l in self.node_layer)),
            "links_up_per_step_mean": float(per_step.mean()),
            "kinds": kinds,
        }

    @staticmethod
    def _modcod_share(codes: np.ndarray) -> dict[str, float]:
        """Share of entries per MODCOD name (``below`` = under the lowest threshold), largest first."""
        from .modcod import MODCODS

        if not codes.size or (codes == -2).all():
            return {}
        codes = codes[codes != -2]
        values, counts = np.unique(codes, return_counts=True)
        names = ["below" if v == -1 else MODCODS[v].name for v in values.tolist()]
        order = np.argsort(-counts, kind="stable")
        return {names[i]: float(counts[i] / codes.size) for i in order}
