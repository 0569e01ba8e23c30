"""Link rules: how each pair of node groups gets linked.

A rule is declared in the scenario's ``links:`` list, e.g.::

    - {rule: plus-grid, group: leo, seam_cut: false, max_lat_deg: 75}
    - {rule: inter-layer, lower: leo, upper: bds3, k: 1, max_range_km: 50000}
    - {rule: ground, group: leo, policy: nearest, sticky: true, antennas: 1,
       min_elevation_deg: 25}
    - {rule: fiber, pairs: [[Beijing, Kashi], [Beijing, Sanya]], route_factor: 1.5}

Each rule, once bound to a :class:`orbits.scene.Scene`, turns a chunk of
node positions (time, node, 3) into the links active at each step of the
chunk (:class:`LinkBatch`).  Rules keep state between chunks (a sticky
ground antenna remembers its satellite), so one rule object serves one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import C_KM_PER_MS, FIBER_INDEX

#: Link kinds, in the order of their integer codes.
KINDS = ("isl", "inter-layer", "ground", "fiber")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}


@dataclass
class LinkParams:
    """Per-kind link properties: capacity (Mbit/s) and random loss (%); None = unshaped."""

    capacity_mbps: float | None = None
    loss_pct: float | None = None


@dataclass
class LinkBatch:
    """Links active in a chunk of steps: parallel arrays, one entry per (step, link).

    ``step`` is the index on the run's time axis, ``a`` < ``b`` node indices,
    ``distance_km`` the length used for delay (fibre: route length).
    """

    step: np.ndarray
    a: np.ndarray
    b: np.ndarray
    distance_km: np.ndarray

    @classmethod
    def empty(cls) -> "LinkBatch":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0))

    @classmethod
    def from_mask(cls, k0: int, mask: np.ndarray, a: np.ndarray, b: np.ndarray, dist: np.ndarray) -> "LinkBatch":
        """From a (time, pair) mask over candidate pairs a[p], b[p] and distances (time, pair)."""
        t, p = np.nonzero(mask)
        aa, bb = a[p], b[p]
        return cls(t + k0, np.minimum(aa, bb), np.maximum(aa, bb), dist[t, p])


@dataclass
class Rule:
    """Base of all link rules; subclasses implement :meth:`bind` and :meth:`links`."""

    kind: str = field(default="isl", init=False)
    capacity_mbps: float | None = None
    loss_pct: float | None = None

    #: fibre is slower than vacuum; every other link runs at c.
    @property
    def ms_per_km(self) -> float:
        return (FIBER_INDEX if self.kind == "fiber" else 1.0) / C_KM_PER_MS

    def bind(self, scene, axis, grazing_km: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def links(self, k0: int, pos_km: np.ndarray) -> LinkBatch:  # pragma: no cover - interface
        raise NotImplementedError

    def block_elements(self) -> int:
        """Elements per step of the largest pairwise array :meth:`links` makes (once bound)."""
        return 0

    def describe(self) -> str:
        return type(self).__name__
