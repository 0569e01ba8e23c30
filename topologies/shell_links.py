"""Links inside one shell: plus-grid, ring and nearest-k inter-satellite links.

``plus-grid`` is the classic "+Grid" of LEO constellations: each satellite
links to its two in-plane neighbours and to the satellite in the same slot
(plus ``slot_shift``) of each adjacent plane, four ISLs per satellite and
``2 P S`` links in a shell of P planes of S satellites.  Options cut the
seam between the last and first plane (counter-rotating planes of a star
pattern) and switch inter-plane links off above a latitude (where planes
cross and antennas cannot track).  Every link must also clear the Earth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import clears_earth, latitude_deg, pairwise_distance_and_clearance
from .rules import LinkBatch, Rule


class RuleError(ValueError):
    """A rule that cannot apply to the nodes it names."""


def _planes(scene, idx: np.ndarray, group: str) -> list[np.ndarray]:
    """Node indices of each plane of a group, in slot order."""
    sats = [scene.satellites[i] for i in idx]
    if any(s.plane is None or s.slot is None for s in sats):
        raise RuleError(
            f"links: group {group!r} has satellites without plane/slot numbers; "
            "plus-grid and ring need a Walker shell or a TLE shell with `planes: auto`"
        )
    planes = sorted({s.plane for s in sats})
    return [np.array(sorted((i for i, s in zip(idx, sats) if s.plane == p),
                            key=lambda i: scene.satellites[i].slot)) for p in planes]


@dataclass
class StaticPairs(Rule):
    """A rule whose candidate pairs are fixed; each step keeps those that clear the Earth."""

    group: str = ""

    def _pairs(self, scene, idx, pos0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pairs (a, b) and whether each is inter-plane (subject to max_lat_deg)."""
        raise NotImplementedError

    def bind(self, scene, axis, grazing_km):
        self.grazing_km = grazing_km
        idx = scene.group(self.group)
        pos0 = scene.positions_km(axis.skyfield(slice(0, 1)))[0]
        a, b, interplane = self._pairs(scene, idx, pos0)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        _, first = np.unique(lo * scene.n_nodes + hi, return_index=True)
        first = first[lo[first] != hi[first]]
        self._a, self._b, self._cut_mask = lo[first], hi[first], interplane[first]

    def links(self, k0, pos_km):
        pa, pb = pos_km[:, self._a], pos_km[:, self._b]
        ok = clears_earth(pa, pb, self.grazing_km)
        if getattr(self, "max_lat_deg", None) is not None and self._cut_mask.any():
            high = (np.abs(latitude_deg(pa)) > self.max_lat_deg) | (np.abs(latitude_deg(pb)) > self.max_lat_deg)
            ok &= ~(high & self._cut_mask[None, :])
        dist = np.linalg.norm(pa - pb, axis=-1)
        return LinkBatch.from_mask(k0, ok, self._a, self._b, dist)


@dataclass
class PlusGrid(StaticPairs):
    """+Grid ISLs: 2 in-plane and 2 inter-plane neighbours per satellite."""

    slot_shift: int = 0
    seam_cut: bool = False
    max_lat_deg: float | None = None

    def _pairs(self, scene, idx, pos0):
        planes = _planes(scene, idx, self.group)
        a, b, ia, ib = [], [], [], []
        for plane in planes:
            if len(plane) > 1:
                a.append(plane)
                b.append(np.roll(plane, -1))
        for p, plane in enumerate(planes):
            if p == len(planes) - 1 and (self.seam_cut or len(planes) < 2):
                break
            nxt = planes[(p + 1) % len(planes)]
            if len(nxt) == len(plane):
                if p == len(planes) - 1:  # seam: pick the slot offset that joins nearest neighbours
                    costs = [np.linalg.norm(pos0[plane] - pos0[np.roll(nxt, -o)], axis=1).sum()
                             for o in range(len(nxt))]
                    partner = np.roll(nxt, -int(np.argmin(costs)))
                else:
                    partner = np.roll(nxt, -self.slot_shift)
            else:  # planes of different size (real TLE sets): nearest satellite of the next plane
                d = np.linalg.norm(pos0[plane][:, None] - pos0[nxt][None], axis=-1)
                partner = nxt[np.argmin(d, axis=1)]
            ia.append(plane)
            ib.append(partner)
        a_in = np.concatenate(a) if a else np.zeros(0, int)
        b_in = np.concatenate(b) if b else np.zeros(0, int)
        a_x = np.concatenate(ia) if ia else np.zeros(0, int)
        b_x = np.concatenate(ib) if ib else np.zeros(0, int)
        interplane = np.concatenate([np.zeros(a_in.size, bool), np.ones(a_x.size, bool)])
        return np.concatenate([a_in, a_x]), np.concatenate([b_in, b_x]), interplane


@dataclass
class Ring(StaticPairs):
    """In-plane rings; for a group without planes (a GEO belt), one ring in longitude order."""

    def _pairs(self, scene, idx, pos0):
        sats = [scene.satellites[i] for i in idx]
        if all(s.plane is not None and s.slot is not None for s in sats):
            rings = _planes(scene, idx, self.group)
        else:
            lon = np.arctan2(pos0[idx, 1], pos0[idx, 0])
            rings = [idx[np.argsort(lon)]]
        a = [r for r in rings if len(r) > 1]
        b = [np.roll(r, -1) for r in rings if len(r) > 1]
        if not a:
            return np.zeros(0, int), np.zeros(0, int), np.zeros(0, bool)
        a, b = np.concatenate(a), np.concatenate(b)
        return a, b, np.zeros(a.size, bool)


@dataclass
class NearestK(Rule):
    """Each satellite to its k nearest neighbours in the group within max_range_km, clear of the Earth."""

    group: str = ""
    k: int = 4
    max_range_km: float = float("inf")

    def bind(self, scene, axis, grazing_km):
        self.grazing_km = grazing_km
        self._idx = scene.group(self.group)
        if self.k < 1:
            raise RuleError("links: nearest-k needs k >= 1")

    def block_elements(self) -> int:
        return len(self._idx) ** 2

    def links(self, k0, pos_km):
        p = pos_km[:, self._idx]  # (time, n, 3)
        n = p.shape[1]
        if n < 2:
            return LinkBatch.empty()
        d, ok = pairwise_distance_and_clearance(p, p, self.grazing_km)
        ok &= d <= self.max_range_km
        ok[:, np.arange(n), np.arange(n)] = False
        score = np.where(ok, d, np.inf)
        k = min(self.k, n - 1)
        nearest = np.argpartition(score, k - 1, axis=2)[:, :, :k]  # (time, n, k)
        good = np.take_along_axis(score, nearest, 2) < np.inf
        t, i, j = np.nonzero(good)
        a, b = self._idx[i], self._idx[nearest[t, i, j]]
        return LinkBatch(t + k0, np.minimum(a, b), np.maximum(a, b), d[t, i, nearest[t, i, j]])
