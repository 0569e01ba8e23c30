"""Terrestrial fibre between named ground stations.

A fibre route is longer than the great circle between its ends (roads,
rights of way, landings): its length is the great-circle distance times a
``route_factor`` (1.5 by default), and light in fibre travels at
c / 1.468, so a 1,000 km great circle costs 1000 * 1.5 * 1.468 / c = 7.35 ms.
Fibre links are always up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import great_circle_km
from .rules import LinkBatch, Rule
from .shell_links import RuleError


@dataclass
class Fiber(Rule):
    """Fibre links between pairs of stations (or a full mesh of the listed stations)."""

    kind: str = field(default="fiber", init=False)
    pairs: list = field(default_factory=list)
    mesh: list = field(default_factory=list)
    route_factor: float = 1.5

    def bind(self, scene, axis, grazing_km):
        if any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in self.pairs):
            raise RuleError("links: fiber pairs are [station, station] lists")
        pairs = [tuple(p) for p in self.pairs]
        pairs += [(x, y) for i, x in enumerate(self.mesh) for y in self.mesh[i + 1:]]
        if not pairs:
            raise RuleError("links: fiber needs `pairs` or `mesh`")
        if self.route_factor < 1.0:
            raise RuleError("links: fiber route_factor must be >= 1")
        a, b, dist = [], [], []
        for x, y in pairs:
            i, j = scene.index(x), scene.index(y)
            if i < scene.n_sats or j < scene.n_sats:
                raise RuleError(f"links: fiber joins ground stations, not satellites ({x!r}-{y!r})")
            if i == j:
                raise RuleError(f"links: fiber joins two different stations, not {x!r} to itself")
            sx, sy = scene.stations[i - scene.n_sats], scene.stations[j - scene.n_sats]
            for st in (sx, sy):
                if getattr(st, "track", None) is not None:
                    raise RuleError(f"links: fiber cannot reach {st.name!r}: it moves (a mover)")
            a.append(min(i, j))
            b.append(max(i, j))
            dist.append(great_circle_km(sx.lat_deg, sx.lon_deg, sy.lat_deg, sy.lon_deg) * self.route_factor)
        self._a, self._b, self._d = np.array(a), np.array(b), np.array(dist)

    def links(self, k0, pos_km):
        n = pos_km.shape[0]
        mask = np.ones((n, self._a.size), dtype=bool)
        return LinkBatch.from_mask(k0, mask, self._a, self._b, np.broadcast_to(self._d, mask.shape))
