"""Links between layers: each lower satellite to its nearest visible upper satellites.

A LEO satellite relays through MEO, IGSO or GEO satellites (and MEO through
GEO): at each step it links to the ``k`` nearest satellites of the upper
group that are within ``max_range_km`` and whose line of sight clears the
Earth plus the grazing altitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import pairwise_distance_and_clearance
from .rules import LinkBatch, Rule
from .shell_links import RuleError


@dataclass
class InterLayer(Rule):
    """Each node of ``lower`` to its k nearest visible nodes of ``upper`` (inter-layer links)."""

    kind: str = field(default="inter-layer", init=False)
    lower: str = ""
    upper: str = ""
    k: int = 1
    max_range_km: float = float("inf")

    def bind(self, scene, axis, grazing_km):
        self.grazing_km = grazing_km
        self._lo, self._up = scene.group(self.lower), scene.group(self.upper)
        if np.intersect1d(self._lo, self._up).size:
            raise RuleError(f"links: inter-layer groups {self.lower!r} and {self.upper!r} overlap")
        if self.k < 1:
            raise RuleError("links: inter-layer needs k >= 1")

    def block_elements(self) -> int:
        return len(self._lo) * len(self._up)

    def links(self, k0, pos_km):
        lo, up = pos_km[:, self._lo], pos_km[:, self._up]  # (time, L, 3), (time, U, 3)
        d, ok = pairwise_distance_and_clearance(lo, up, self.grazing_km)  # (time, L, U)
        ok &= d <= self.max_range_km
        score = np.where(ok, d, np.inf)
        k = min(self.k, len(self._up))
        best = np.argpartition(score, k - 1, axis=2)[:, :, :k] if k < len(self._up) else \
            np.broadcast_to(np.arange(k), score.shape[:2] + (k,))
        good = np.take_along_axis(score, best, 2) < np.inf
        t, i, j = np.nonzero(good)
        a, b = self._lo[i], self._up[best[t, i, j]]
        return LinkBatch(t + k0, np.minimum(a, b), np.maximum(a, b), d[t, i, best[t, i, j]])
