"""Coverage: how many satellites each place on Earth sees, how often, and with what geometry.

Over a set of ground points (a latitude/longitude grid, or any list of
places) and the instants of a time axis, a satellite is *visible* from a
point when its elevation is at least the mask (``min_elevation_deg``),
elevation being measured from the plane normal to the WGS84 vertical, as
Skyfield's ``altaz`` does.  For each group of satellites (a layer, a shell,
or everything) :func:`coverage` reduces the (time, point, sat) visibility
to per-point figures, shape (point,):

* ``visible_mean``, ``visible_min``, ``visible_max`` -- satellites in view;
* ``pct_time_1plus``, ``pct_time_4plus`` -- % of instants with at least
  one (a link is possible) or four (a navigation fix is possible) in view;
* ``pdop_mean``, ``pdop_max`` -- for navigation groups (no LEO
  satellite), PDOP from the visible satellites (:mod:`experiments.dop`),
  averaged over the instants where it exists; NaN where it never does.
  The mean is honest but touchy: an instant when the four or five
  satellites in view stand on one cone around the receiver gives a PDOP
  in the hundreds, so
* ``pct_time_pdop_ok`` -- % of instants with PDOP at or below
  ``pdop_limit`` (default 6), the usual navigation availability figure --
  is the steadier measure of geometry.

Everything is computed a chunk of instants at a time, with no Python loop
over points or satellites: a day of BeiDou-3 at 10-minute steps over a
2-degree grid (145 x 16,200 x 30) takes a few seconds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from orbits.propagation import Propagator
from orbits.satellite import LAYERS
from orbits.scene import Scene
from orbits.stations import geodetic_to_itrs_km, local_up
from orbits.timebase import TimeAxis
from topologies.geometry import sin_elevation_and_range

from .dop import pdop_from_positions

#: Fields of :class:`GroupCoverage` that are per-point arrays, in CSV column order.
FIELDS = ("visible_mean", "visible_min", "visible_max", "pct_time_1plus", "pct_time_4plus",
          "pdop_mean", "pdop_max", "pct_time_pdop_ok")


class UnknownLayer(ValueError):
    """A ``--layer`` name that is no layer, shell or group of the scene."""


@dataclass(frozen=True)
class GroundGrid:
    """Ground points on a regular latitude/longitude grid of cell centres, at sea level.

    ``lat_deg`` (lat,) runs south to north and ``lon_deg`` (lon,) west to
    east, each ``step_deg`` apart and half a step in from the edges, so a
    2-degree grid has 90 x 180 points centred on -89, -87, ... 89 and
    -179, ... 179.  Points are ordered latitude-major: point ``i * n_lon + j``
    is (lat_deg[i], lon_deg[j]).
    """

    step_deg: float
    lat_deg: np.ndarray
    lon_deg: np.ndarray

    @classmethod
    def global_grid(cls, step_deg: float = 2.0) -> "GroundGrid":
        if not 0 < step_deg <= 90:
            raise ValueError(f"grid step must be more than 0 and at most 90 degrees, got {step_deg:g}")
        lat = np.arange(-90.0 + step_deg / 2, 90.0, step_deg)
        lon = np.arange(-180.0 + step_deg / 2, 180.0, step_deg)
        return cls(float(step_deg), lat, lon)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat_deg.size, self.lon_deg.size)

    def points_deg(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitudes and longitudes of all points, each (point,)."""
        lat, lon = np.meshgrid(self.lat_deg, self.lon_deg, indexing="ij")
        return lat.ravel(), lon.ravel()


@dataclass
class GroupCoverage:
    """Coverage figures of one satellite group at every point; arrays (point,).

    The fields are described in the module docstring.  ``navigation`` is
    True for groups without LEO satellites; their PDOP fields are NaN
    otherwise, and wherever fewer than four satellites were ever in view.
    """

    name: str
    sat_indices: np.ndarray
    navigation: bool
    visible_mean: np.ndarray
    visible_min: np.ndarray
    visible_max: np.ndarray
    pct_time_1plus: np.ndarray
    pct_time_4plus: np.ndarray
    pdop_mean: np.ndarray
    pdop_max: np.ndarray
    pct_time_pdop_ok: np.ndarray

    @property
    def n_sats(self) -> int:
        return int(self.sat_indices.size)


@dataclass
class Coverage:
    """Coverage of every group over a time axis at ground points ``lat_deg``, ``lon_deg`` (point,).

    ``grid`` is the :class:`GroundGrid` the points came from (None for a
    free list of points); :meth:`on_grid` reshapes a field to (lat, lon).
    """

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    axis: TimeAxis
    min_elevation_deg: float
    groups: dict[str, GroupCoverage]
    grid: GroundGrid | None = None
    layer_spec: str = "all"
    pdop_limit: float = 6.0

    def on_grid(self, group: str, name: str) -> np.ndarray:
        """A per-point field of a group as a (lat, lon) array (needs a grid)."""
        if self.grid is None:
            raise ValueError("coverage was computed on a list of points, not a grid")
        return getattr(self.groups[group], name).reshape(self.grid.shape)

    def summary(self) -> dict:
        """Area-weighted (cos latitude) global figures per group, for JSON and tables."""
        w = np.cos(np.radians(self.lat_deg))
        w = w / w.sum()
        out = {
            "start": self.axis.start.isoformat(),
            "duration_s": self.axis.duration_s,
            "step_s": self.axis.step_s,
            "n_steps": self.axis.n_steps,
            "points": int(self.lat_deg.size),
            "grid_deg": self.grid.step_deg if self.grid else None,
            "min_elevation_deg": self.min_elevation_deg,
            "pdop_limit": self.pdop_limit,
            "layer": self.layer_spec,
            "groups": {},
        }
        for name, g in self.groups.items():
            rec = {
                "satellites": g.n_sats,
                "navigation": g.navigation,
                "visible_mean": _r(np.sum(w * g.visible_mean)),
                "visible_min": int(g.visible_min.min()),
                "visible_max": int(g.visible_max.max()),
                "area_pct_always_1plus": _r(100 * np.sum(w * (g.pct_time_1plus >= 100.0))),
                "area_pct_never_visible": _r(100 * np.sum(w * (g.visible_max == 0))),
                "pct_time_1plus_mean": _r(np.sum(w * g.pct_time_1plus)),
            }
            if g.navigation:
                rec["area_pct_always_4plus"] = _r(100 * np.sum(w * (g.pct_time_4plus >= 100.0)))
                rec["pct_time_4plus_mean"] = _r(np.sum(w * g.pct_time_4plus))
                have = np.isfinite(g.pdop_mean)
                rec["pdop_mean"] = _r(np.sum(w[have] * g.pdop_mean[have]) / np.sum(w[have])) if have.any() else None
                rec["pdop_max"] = _r(np.nanmax(g.pdop_max)) if have.any() else None
                rec["pct_time_pdop_ok_mean"] = _r(np.sum(w * g.pct_time_pdop_ok))
                rec["area_pct_always_pdop_ok"] = _r(100 * np.sum(w * (g.pct_time_pdop_ok >= 100.0)))
            out["groups"][name] = rec
        return out

    def write_csv(self, path: str | Path) -> Path:
        """One row per (group, point): lat_deg, lon_deg, group, then :data:`FIELDS`.

        PDOP columns are empty for groups that are not navigation groups
        and where fewer than four satellites were ever in view.
        """
        path = Path(path)
        lat = [f"{v:g}" for v in self.lat_deg]
        lon = [f"{v:g}" for v in self.lon_deg]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["lat_deg", "lon_deg", "group", *FIELDS])
            for name, g in self.groups.items():
                cols = [_fmt(g.visible_mean, 4), g.visible_min.astype(str), g.visible_max.astype(str),
                        _fmt(g.pct_time_1plus, 3), _fmt(g.pct_time_4plus, 3),
                        _fmt(g.pdop_mean, 4), _fmt(g.pdop_max, 4),
                        _fmt(g.pct_time_pdop_ok if g.navigation else np.full(g.pdop_mean.shape, np.nan), 3)]
                w.writerows(zip(lat, lon, [name] * len(lat), *cols))
        return path


def _r(x) -> float:
    """A figure for JSON: a float rounded to 4 decimals (no 99.99999999999999 %)."""
    return round(float(x), 4)


def _fmt(values: np.ndarray, decimals: int) -> list[str]:
    """Numbers rounded to ``decimals`` as short text; NaN as an empty field."""
    r = np.round(values, decimals)
    return ["" if not np.isfinite(v) else f"{v:g}" for v in r.tolist()]


def satellite_groups(scene: Scene, spec: str = "all") -> dict[str, np.ndarray]:
    """The satellite groups a ``--layer`` value names, each as satellite indices.

    ``spec`` is ``all``, a layer (``leo``, ``meo``, ``igso``, ``geo``), a
    shell name (``bds3``, ``leo``, ``beidou``), ``shell:layer``, or several
    of these joined by commas.  Every group that mixes layers is also split
    into its layers, and when more than one group results a combined group
    (``all``, or the comma list) is added -- "per layer and combined".
    Identical sets are kept once, under the first name.  Raises
    :class:`UnknownLayer` for a name the scene does not have.
    """
    if scene.n_sats == 0:
        raise UnknownLayer("the scenario has no satellites")
    layers = np.array(scene.node_layer[:scene.n_sats])
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise UnknownLayer("give a layer, shell or 'all'")
    named: dict[str, np.ndarray] = {}
    for part in parts:
        key = part.lower()
        if key == "all":
            if len(scene.shells()) > 1:
                for shell in scene.shells():
                    named[shell] = scene.group(shell)
            named.update(_split_layers(layers, np.arange(scene.n_sats), ""))
            named["all"] = np.arange(scene.n_sats)
            continue
        if key == "ground":
            raise UnknownLayer("'ground' is not a satellite group")
        try:
            idx = scene.group(part)
        except KeyError:
            names = ", ".join(n for n in scene.group_names() if n != "ground")
            raise UnknownLayer(f"unknown layer or shell {part!r}; this scenario has: {names}, all") from None
        named[key] = idx
        if key not in (l.lower() for l in LAYERS):
            named.update(_split_layers(layers, idx, f"{key}:"))
    if len(parts) > 1:
        named[",".join(p.lower() for p in parts)] = np.unique(np.concatenate(list(named.values())))
    out: dict[str, np.ndarray] = {}
    seen: set[bytes] = set()
    for name, idx in named.items():
        sig = np.sort(idx).tobytes()
        if sig not in seen:
            seen.add(sig)
            out[name] = np.sort(idx)
    return out


def _split_layers(layers: np.ndarray, idx: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    present = [l for l in LAYERS if (layers[idx] == l).any()]
    if len(present) < 2:
        return {}
    return {f"{prefix}{l.lower()}": idx[layers[idx] == l] for l in present}


def is_navigation(scene: Scene, idx: np.ndarray) -> bool:
    """A navigation group: no LEO satellite in it (BeiDou GEO/IGSO/MEO and such)."""
    return bool(idx.size) and all(scene.satellites[i].layer != "LEO" for i in idx)


def coverage(
    scene: Scene,
    axis: TimeAxis,
    groups: dict[str, np.ndarray],
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    min_elevation_deg: float = 10.0,
    pdop_limit: float = 6.0,
    alt_m: float = 0.0,
    progress: Callable[[int], None] | None = None,
    max_block: int = 1_000_000,
) -> Coverage:
    """Coverage of each satellite group at points lat_deg, lon_deg (point,) over the axis.

    ``groups`` maps a name to satellite indices (:func:`satellite_groups`);
    ``pdop_limit`` is the PDOP counted as good enough for ``pct_time_pdop_ok``.
    Instants are processed in chunks sized so that a (time, point, sat)
    block stays under ``max_block`` elements; ``progress(n)`` is called
    with the number of instants done after each chunk.
    """
    lat_deg = np.atleast_1d(np.asarray(lat_deg, dtype=float))
    lon_deg = np.atleast_1d(np.asarray(lon_deg, dtype=float))
    if lat_deg.shape != lon_deg.shape or lat_deg.ndim != 1:
        raise ValueError("lat_deg and lon_deg must be 1-D arrays of the same length")
    lat_r, lon_r = np.radians(lat_deg), np.radians(lon_deg)
    rcv_km = geodetic_to_itrs_km(lat_r, lon_r, np.full(lat_deg.shape, alt_m / 1000.0))
    up = local_up(lat_r, lon_r)
    used = np.unique(np.concatenate([np.asarray(v) for v in groups.values()]))
    col = {name: np.searchsorted(used, idx) for name, idx in groups.items()}
    nav = {name: is_navigation(scene, idx) for name, idx in groups.items()}
    sin_mask = np.sin(np.radians(min_elevation_deg))
    n_pts, n_sat = lat_deg.size, used.size
    acc = {name: _Accumulator(n_pts, pdop_limit) for name in groups}
    # blocks of (time, point, sat) of at most max_block elements: all points at once when they fit
    pts_block = int(min(n_pts, max(1, max_block // max(1, n_sat))))
    steps_block = int(max(1, max_block // (pts_block * max(1, n_sat))))
    prop = Propagator([scene.satellites[i] for i in used])
    for k0 in range(0, axis.n_steps, 256):
        sl = slice(k0, min(k0 + 256, axis.n_steps))
        sat_all = prop.positions_km(axis.skyfield(sl))             # (time, sat, 3)
        for t0 in range(0, sat_all.shape[0], steps_block):
            sat_km = sat_all[t0:t0 + steps_block]
            for p0 in range(0, n_pts, pts_block):
                ps = slice(p0, min(p0 + pts_block, n_pts))
                sin_el, range_km = sin_elevation_and_range(rcv_km[ps], up[ps], sat_km)  # (time, point, sat)
                visible = sin_el >= sin_mask                          # NaN (failed SGP4) -> False
                for name, c in col.items():
                    whole = c.size == n_sat                                 # the group is every satellite used
                    v = visible if whole else visible[..., c]
                    pdop = None
                    if nav[name] and c.size >= 4:
                        pdop = pdop_from_positions(rcv_km[ps], sat_km if whole else sat_km[:, c], v,
                                                   range_km if whole else range_km[..., c])
                    acc[name].add(ps, v.sum(-1), pdop)
        if progress:
            progress(sl.stop - sl.start)
    out = {name: acc[name].result(name, groups[name], nav[name], axis.n_steps) for name in groups}
    return Coverage(lat_deg, lon_deg, axis, float(min_elevation_deg), out, pdop_limit=float(pdop_limit))


def grid_coverage(scene: Scene, axis: TimeAxis, groups: dict[str, np.ndarray], step_deg: float = 2.0,
                  min_elevation_deg: float = 10.0, progress=None, layer_spec: str = "all",
                  pdop_limit: float = 6.0) -> Coverage:
    """:func:`coverage` on a global :class:`GroundGrid` of ``step_deg`` cells."""
    grid = GroundGrid.global_grid(step_deg)
    lat, lon = grid.points_deg()
    cov = coverage(scene, axis, groups, lat, lon, min_elevation_deg, pdop_limit, progress=progress)
    cov.grid = grid
    cov.layer_spec = layer_spec
    return cov


class _Accumulator:
    """Running per-point sums over chunks of instants for one group."""

    def __init__(self, n: int, pdop_limit: float):
        self.pdop_limit = pdop_limit
        self.pdop_ok = np.zeros(n, dtype=np.int64)
        self.sum = np.zeros(n)
        self.min = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.max = np.zeros(n, dtype=np.int64)
        self.n1 = np.zeros(n, dtype=np.int64)
        self.n4 = np.zeros(n, dtype=np.int64)
        self.pdop_sum = np.zeros(n)
        self.pdop_n = np.zeros(n, dtype=np.int64)
        self.pdop_max = np.full(n, -np.inf)

    def add(self, ps: slice, count: np.ndarray, pdop: np.ndarray | None) -> None:
        """Add a block: ``count`` (time, point) visible satellites, ``pdop`` the same shape or None."""
        self.sum[ps] += count.sum(0)
        np.minimum(self.min[ps], count.min(0), out=self.min[ps])
        np.maximum(self.max[ps], count.max(0), out=self.max[ps])
        self.n1[ps] += (count >= 1).sum(0)
        self.n4[ps] += (count >= 4).sum(0)
        if pdop is not None:
            ok = np.isfinite(pdop)
            self.pdop_sum[ps] += np.where(ok, pdop, 0.0).sum(0)
            self.pdop_n[ps] += ok.sum(0)
            self.pdop_ok[ps] += (ok & (pdop <= self.pdop_limit)).sum(0)
            np.maximum(self.pdop_max[ps], np.where(ok, pdop, -np.inf).max(0), out=self.pdop_max[ps])

    def result(self, name, idx, navigation, n_steps) -> GroupCoverage:
        with np.errstate(invalid="ignore", divide="ignore"):
            pdop_mean = np.where(self.pdop_n > 0, self.pdop_sum / self.pdop_n, np.nan)
        pdop_max = np.where(self.pdop_n > 0, self.pdop_max, np.nan)
        return GroupCoverage(
            name, np.asarray(idx), navigation,
            self.sum / n_steps, self.min.copy(), self.max.copy(),
            100.0 * self.n1 / n_steps, 100.0 * self.n4 / n_steps, pdop_mean, pdop_max,
            100.0 * self.pdop_ok / n_steps,
        )
