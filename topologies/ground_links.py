"""Ground-to-satellite links: which satellites each station's antennas point at.

A station sees a satellite when its elevation is at least the mask (the
station's own ``min_elevation_deg`` if it has one, else the rule's value,
which may differ per layer) and, optionally, its slant range is at most
``max_range_km``.  Among the visible satellites each of the station's
antennas takes one, chosen by policy:

``all-visible``        every visible satellite (antenna count ignored);
``nearest``            the smallest slant range;
``highest-elevation``  the highest in the sky;
``longest-visible``    the one that stays in view longest from now
                       (looking ahead ``lookahead_s``; ties by elevation).

With ``sticky: true`` an antenna keeps its satellite until it drops below
the mask, and only then takes the best free one: far fewer handovers, as
real terminals behave.  Without it the choice is remade at every step.

Scheduled handover (``handover_interval_s: 15, handover_offset_s: 12``):
satellites are (re)assigned only at global epochs, the UTC instants whose
Unix time minus the offset is a multiple of the interval (and at the run's
first step); between epochs every antenna keeps its satellite, and one that
sets before the next epoch leaves its antenna idle until then.  At an epoch
the policy chooses among the satellites that stay in view until the next
epoch (any visible one where none does); with ``sticky`` an antenna keeps a
satellite that stays in view.  This is how Starlink's global scheduler is
measured to behave: terminals are (re)allocated satellites in globally
synchronised 15 s intervals, and latency and throughput change at their
boundaries (Tanveer et al., "Making Sense of Constellations: Methodologies
for Understanding Starlink's Scheduling Algorithms", arXiv:2307.00402, 2023;
Mohan et al., "A Multifaceted Look at Starlink Performance", WWW 2024,
arXiv:2310.09242; Garcia et al., "A Detailed Characterization of Starlink
One-way Delay", LEO-NET 2025).  The phase of the epochs within the minute
is ``handover_offset_s`` (12 s is the phase commonly quoted for Starlink).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orbits.propagation import Propagator
from orbits.timebase import TimeAxis

from .geometry import sin_elevation_and_range
from .rules import LinkBatch, Rule
from .shell_links import RuleError

POLICIES = ("all-visible", "nearest", "highest-elevation", "longest-visible")


@dataclass
class GroundAccess(Rule):
    """Ground stations to satellites of ``group`` through k antennas per station."""

    kind: str = field(default="ground", init=False)
    group: str = ""
    stations: list | None = None
    policy: str = "nearest"
    sticky: bool = False
    antennas: int = 1
    min_elevation_deg: float | dict = 10.0
    max_range_km: float = float("inf")
    lookahead_s: float = 1800.0
    handover_interval_s: float | None = None
    handover_offset_s: float = 0.0

    def bind(self, scene, axis, grazing_km):
        if self.policy not in POLICIES:
            raise RuleError(f"links: ground policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        self._sats = scene.group(self.group)
        if (self._sats >= scene.n_sats).any():
            raise RuleError(f"links: ground rule group {self.group!r} must name satellites")
        if self.stations is None:
            st = np.arange(len(scene.stations))
        else:
            st = np.array([scene.index(n) - scene.n_sats for n in self.stations])
            if (st < 0).any():
                raise RuleError("links: ground rule `stations` must name ground stations")
        if st.size == 0:
            raise RuleError("links: ground rule has no ground station to serve; add `stations` to the scenario")
        self._st = st
        self._node = scene.ground_indices[st]
        self._sta = scene.station_positions_km[st]
        self._up = scene.station_up[st]
        self._moving = np.flatnonzero(np.isin(st, getattr(scene, "movers", np.zeros(0, np.int64))))  # into st
        layers = [scene.satellites[i].layer for i in self._sats]
        if isinstance(self.min_elevation_deg, dict):
            by_layer = {}
            for k, v in self.min_elevation_deg.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise RuleError(f"links: ground min_elevation_deg.{k}: expected a number of degrees, got {v!r}")
                by_layer[str(k).upper()] = float(v)
            default = by_layer.get("DEFAULT", 10.0)
            rule_mask = np.array([by_layer.get(l, default) for l in layers])
        else:
            rule_mask = np.full(len(layers), float(self.min_elevation_deg))
        own = np.array([np.nan if scene.stations[i].min_elevation_deg is None
                        else scene.stations[i].min_elevation_deg for i in st])
        self._mask_deg = np.where(np.isnan(own)[:, None], rule_mask[None, :], own[:, None])  # (G, S)
        self._sin_mask = np.sin(np.radians(self._mask_deg))
        self._ant = np.array([scene.stations[i].antennas or self.antennas for i in st])
        if (self._ant < 1).any():
            raise RuleError("links: ground antennas must be >= 1")
        self._held = np.full((len(st), int(self._ant.max())), -1)
        self._axis = axis
        self._scene = scene
        self._lookahead_steps = int(np.ceil(self.lookahead_s / axis.step_s))
        self._bind_schedule(axis)

    def _bind_schedule(self, axis) -> None:
        """Epoch steps of the scheduled mode and the steps each step's slot still lasts, (time,)."""
        self._epoch = self._slot_left = None
        if self.handover_interval_s is None:
            return
        if isinstance(self.handover_interval_s, bool) or not self.handover_interval_s > 0:
            raise RuleError(f"links: ground handover_interval_s: expected seconds > 0, got {self.handover_interval_s!r}")
        if self.policy == "all-visible":
            raise RuleError("links: ground handover_interval_s needs a choosing policy, not all-visible")
        interval, offset = float(self.handover_interval_s), float(self.handover_offset_s)
        unix_s = axis.start.timestamp() + axis.t_s
        slot = np.floor((unix_s - offset) / interval + 1e-9)
        self._epoch = np.ones(axis.n_steps, dtype=bool)
        self._epoch[1:] = slot[1:] != slot[:-1]
        next_epoch_s = (slot + 1) * interval + offset
        self._slot_left = np.maximum(1, np.ceil((next_epoch_s - unix_s) / axis.step_s - 1e-9)).astype(np.int64)

    # -- scores ---------------------------------------------------------------
    def _remaining_steps(self, k0, vis, sat_pos, lookahead_steps: int | None = None):
        """Steps each visible (station, sat) stays visible from each step, up to the lookahead, (time, G, S)."""
        lookahead_steps = self._lookahead_steps if lookahead_steps is None else lookahead_steps
        c = vis.shape[0]
        g_c, s_c = np.nonzero(vis.any(axis=0))
        rem = np.zeros(vis.shape, dtype=np.float64)
        if g_c.size == 0:
            return rem
        # look ahead past the chunk and, if need be, past the end of the run
        k_end = k0 + c + lookahead_steps
        sats_u, s_inv = np.unique(s_c, return_inverse=True)
        pos = sat_pos[:, sats_u]
        if k_end > k0 + c:
            sub = Propagator([self._scene.satellites[i] for i in self._sats[sats_u]])
            ahead = TimeAxis(self._axis.start, self._axis.step_s, k_end).skyfield(slice(k0 + c, k_end))
            pos = np.concatenate([pos, sub.positions_km(ahead)], axis=0)
        if self._moving.size:  # movers: their own position and vertical at every step looked at
            t = TimeAxis(self._axis.start, self._axis.step_s, k_end).skyfield(slice(k0, k_end))
            sta = self._scene.station_positions_at(t)[:, self._st[g_c]]
            up = self._scene.station_up_at(t)[:, self._st[g_c]]
        else:
            sta, up = self._sta[g_c][None], np.broadcast_to(self._up[g_c], (pos.shape[0],) + self._up[g_c].shape)
        rel = pos[:, s_inv] - sta  # (time', P, 3)
        sin_el = np.einsum("tpk,tpk->tp", rel, up) / np.linalg.norm(rel, axis=-1)
        ok = sin_el >= np.sin(np.radians(self._mask_deg[g_c, s_c]))[None]
        ok &= np.linalg.norm(rel, axis=-1) <= self.max_range_km
        n = ok.shape[0]
        t_idx = np.arange(n, dtype=np.int32)[:, None]
        first_gap = np.where(ok, n, t_idx)  # a gap at t marks the end of visibility
        next_gap = np.minimum.accumulate(first_gap[::-1], axis=0)[::-1]
        # counted up to the lookahead only, so a step's score does not depend on where its chunk starts
        rem[:, g_c, s_c] = np.minimum(next_gap - t_idx, lookahead_steps)[:c]
        return rem

    def _score(self, k0, sin_el, rng, vis, sat_pos):
        if self.policy == "nearest":
            return -rng
        if self.policy == "highest-elevation":
            return sin_el
        return self._remaining_steps(k0, vis, sat_pos) + sin_el / 2.0  # longest-visible, ties by elevation

    # -- selection ------------------------------------------------------------
    def links(self, k0, pos_km):
        sat_pos = pos_km[:, self._sats]
        sin_el, rng = sin_elevation_and_range(self._sta, self._up, sat_pos)  # (time, G, S)
        if self._moving.size:
            self._moving_geometry(k0, pos_km, sat_pos, sin_el, rng)
        vis = sin_el >= self._sin_mask[None]
        if np.isfinite(self.max_range_km):
            vis &= rng <= self.max_range_km
        if self.policy == "all-visible":
            sel = vis
        else:
            score = np.where(vis, self._score(k0, sin_el, rng, vis, sat_pos), -np.inf)
            if self._epoch is not None:
                sel = self._scheduled(k0, score, vis, sat_pos)
            else:
                sel = self._sticky(score, vis) if self.sticky else self._best(score)
        t, g, s = np.nonzero(sel)
        a, b = self._node[g], self._sats[s]
        return LinkBatch(t + k0, np.minimum(a, b), np.maximum(a, b), rng[t, g, s])

    def _moving_geometry(self, k0, pos_km, sat_pos, sin_el, rng) -> None:
        """Overwrite the movers' rows of sin_el and rng (time, G, S) with their positions step by step."""
        m = self._moving
        sta = pos_km[:, self._node[m]]  # (time, M, 3): the scene puts movers where their tracks say
        up = self._scene.station_up_at(self._axis.skyfield(slice(k0, k0 + pos_km.shape[0])))[:, self._st[m]]
        for c in range(pos_km.shape[0]):
            s_c, r_c = sin_elevation_and_range(sta[c], up[c], sat_pos[c:c + 1])
            sin_el[c, m], rng[c, m] = s_c[0], r_c[0]

    def _best(self, score):
        """Top-antennas satellites by score at every step, (time, G, S) bool."""
        k = self._held.shape[1]
        n_sat = score.shape[2]
        top = np.argpartition(-score, k - 1, axis=2)[..., :k] if k < n_sat else \
            np.broadcast_to(np.arange(n_sat), score.shape[:2] + (n_sat,))
        top_score = np.take_along_axis(score, top, 2)
        rank = np.argsort(np.argsort(-top_score, axis=2), axis=2)
        keep = (top_score > -np.inf) & (rank < self._ant[None, :, None])
        sel = np.zeros(score.shape, dtype=bool)
        t, g, j = np.nonzero(keep)
        sel[t, g, top[t, g, j]] = True
        return sel

    def _sticky(self, score, vis):
        """Keep each antenna's satellite while visible; refill free antennas by score."""
        held = self._held
        rows = np.arange(held.shape[0])[:, None]
        sel = np.zeros(score.shape, dtype=bool)
        for c in range(score.shape[0]):
            keep = (held >= 0) & vis[c][rows, np.maximum(held, 0)]
            held = self._fill(np.where(keep, held, -1), score[c])
            g, j = np.nonzero(held >= 0)
            sel[c, g, held[g, j]] = True
        self._held = held
        return sel

    def _scheduled(self, k0, score, vis, sat_pos):
        """Assignments changed only at the schedule's epochs (see the module docstring), (time, G, S) bool."""
        n = score.shape[0]
        slot_left = self._slot_left[k0:k0 + n]
        rem = self._remaining_steps(k0, vis, sat_pos, int(slot_left.max()))
        held = self._held
        rows = np.arange(held.shape[0])[:, None]
        sel = np.zeros(score.shape, dtype=bool)
        for c in range(n):
            keep = (held >= 0) & vis[c][rows, np.maximum(held, 0)]
            held = np.where(keep, held, -1)  # a satellite that set leaves its antenna idle until the epoch
            if self._epoch[k0 + c]:
                lasts = vis[c] & (rem[c] >= slot_left[c])
                ok = np.where(lasts.any(axis=1, keepdims=True), lasts, vis[c])  # (G, S)
                if self.sticky:
                    held = np.where((held >= 0) & ok[rows, np.maximum(held, 0)], held, -1)
                else:
                    held = np.full_like(held, -1)
                held = self._fill(held, np.where(ok, score[c], -np.inf))
            g, j = np.nonzero(held >= 0)
            sel[c, g, held[g, j]] = True
        self._held = held
        return sel

    def _fill(self, held, score_c):
        """Give each free antenna (held -1, within its station's count) the best satellite not yet
        held by that station; ``held`` (G, antenna) satellite columns, ``score_c`` (G, S)."""
        held = held.copy()
        k = held.shape[1]
        free = (held < 0) & (np.arange(k)[None, :] < self._ant[:, None])
        need = np.flatnonzero(free.any(axis=1))
        if need.size == 0:
            return held
        sc = score_c[need].copy()
        taken = held[need]
        r = np.arange(need.size)[:, None]
        sc[r, np.maximum(taken, 0)] = np.where(taken >= 0, -np.inf, sc[r, np.maximum(taken, 0)])
        kk = min(k, sc.shape[1])
        top = np.argpartition(-sc, kk - 1, axis=1)[:, :kk] if kk < sc.shape[1] else \
            np.broadcast_to(np.arange(sc.shape[1]), (need.size, sc.shape[1]))
        top_sc = np.take_along_axis(sc, top, 1)
        order = np.argsort(-top_sc, axis=1)
        top, top_sc = np.take_along_axis(top, order, 1), np.take_along_axis(top_sc, order, 1)
        f = free[need]
        rank = np.cumsum(f, axis=1) - 1  # j-th free antenna takes the j-th best candidate
        rank_c = np.minimum(rank, kk - 1)
        cand = np.take_along_axis(top, rank_c, 1)
        ok = f & (rank < kk) & (np.take_along_axis(top_sc, rank_c, 1) > -np.inf)
        held[need] = np.where(ok, cand, held[need])
        return held
