"""Coverage: how many satellites each place on Earth sees, how often, and with what geometry.

Over a set of ground points (a latitude/longitude grid, or any list of
places) and the instants of a time axis, a satellite is *visible* from a
point when its elevation is at least the mask (``min_elevation_deg``),
elevation being measured from the plane normal to the WGS84 vertical, as
Skyfield's ``altaz`` does.  For each group of satellites (a layer, a shell,
or everything) :func:`coverage` reduces the (time, point, sat) visibility
to per-point figures, shape (point,):

* ``visible_mean``, ``visible_min``, ``visible_max`` -- satellites in view;
* ``visible_p5`` -- satellites in view at least 95 % of the time (the 5th
  percentile over the instants): the minimum without the rare moments;
* ``pct_time_1plus``, ``pct_time_4plus`` -- % of instants with at least
  one (a link is possible) or four (a navigation fix is possible) in view;
* ``pdop_median``, ``pdop_p95`` -- for navigation groups (no LEO
  satellite), PDOP from the visible satellites (:mod:`experiments.dop`)
  that half and 95 % of the instants stay at or below.  An instant without
  a fix (fewer than four in view, degenerate geometry, or PDOP above
  :data:`PDOP_NO_FIX`) counts as an infinite PDOP, so a percentile is
  ``inf`` where there was no fix for more than the rest of the time;
* ``pct_time_pdop_ok`` -- % of instants with PDOP at or below ``pdop_limit``
  (default 2, the "excellent" class of the usual DOP rating);
* ``pct_time_fix`` -- % of instants with PDOP at or below
  :data:`USABLE_PDOP` (6), the classical navigation availability figure.

Why percentiles and not the mean or the maximum: a nominal Walker
constellation such as BeiDou-3's 24 MEO satellites is perfectly
symmetric, so in two latitude bands (about 13-16 and 41-47 degrees north
and south for BDS-3 at a 10-degree mask) there are moments of a few
minutes when exactly four satellites stand above the mask at nearly the
same elevation, the rest just below it.  Four lines of sight on one cone
around the vertical make G^T G singular: PDOP reaches thousands there,
one such instant dominates a mean, and because the moments are short, a
10-minute time step catches them at some longitudes and misses them at
others -- a dashed stripe.  The geometry is real (Skyfield gives the same
elevations); the stripes were the statistic's.  Percentiles over the
instants are unmoved by a handful of instants, whatever the step.

A group *gives a fix alone* when somewhere on the grid its PDOP is at or
below :data:`USABLE_PDOP` at least half of the time.  GEO satellites all
lie in the equatorial plane, so the lines of sight from any receiver are
nearly coplanar and PDOP is in the tens to thousands everywhere; three
IGSO or GEO satellites are never four in view.  Such groups get no PDOP
figures at all (NaN), and ``fix_note`` says why.

Percentiles come from per-point histograms (counts exactly; PDOP in
:data:`PDOP_BINS` logarithmic bins from 0.5 to :data:`PDOP_NO_FIX`, each
2.2 % wide, interpolated within the bin), so memory does not grow with the
number of instants.  Everything is computed a chunk of instants at a time,
with no Python loop over points or satellites: a day of BeiDou-3 at
10-minute steps over a 2-degree grid (145 x 16,200 x 30) takes seconds.
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
FIELDS = ("visible_mean", "visible_min", "visible_p5", "visible_max", "pct_time_1plus", "pct_time_4plus",
          "pdop_median", "pdop_p95", "pct_time_pdop_ok", "pct_time_fix")
#: PDOP at or below which a position fix counts as usable (the classical availability limit).
USABLE_PDOP = 6.0
#: PDOP above this counts as no fix at all (the histogram's overflow bin).
PDOP_NO_FIX = 100.0
#: Logarithmic PDOP histogram bin edges, 0.5 .. PDOP_NO_FIX (each bin 2.2 % wide); below 0.5 goes in the first.
PDOP_BINS = np.geomspace(0.5, PDOP_NO_FIX, 241)


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
    True for groups without LEO satellites; ``fix_alone`` when the group
    gives a usable fix somewhere on its own.  The PDOP fields are NaN for
    every other group, and ``fix_note`` says why (empty when it does).
    """

    name: str
    sat_indices: np.ndarray
    navigation: bool
    visible_mean: np.ndarray
    visible_min: np.ndarray
    visible_p5: np.ndarray
    visible_max: np.ndarray
    pct_time_1plus: np.ndarray
    pct_time_4plus: np.ndarray
    pdop_median: np.ndarray
    pdop_p95: np.ndarray
    pct_time_pdop_ok: np.ndarray
    pct_time_fix: np.ndarray
    fix_alone: bool = False
    fix_note: str = ""

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
    pdop_limit: float = 2.0

    def on_grid(self, group: str, name: str) -> np.ndarray:
        """A per-point field of a group as a (lat, lon) array (needs a grid)."""
        if self.grid is None:
            raise ValueError("coverage was computed on a list of points, not a grid")
        return getattr(self.groups[group], name).reshape(self.grid.shape)

    def summary(self) -> dict:
        """Area-weighted (cos latitude) global figures per group, for JSON and tables.

        Per-point percentiles are summarised by their area-weighted median
        over the globe (``pdop_median``) and their worst value
        (``pdop_p95_worst``); either is None where it is infinite (no fix).
        """
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
            "usable_pdop": USABLE_PDOP,
            "layer": self.layer_spec,
            "groups": {},
        }
        for name, g in self.groups.items():
            rec = {
                "satellites": g.n_sats,
                "navigation": g.navigation,
                "visible_mean": _r(np.sum(w * g.visible_mean)),
                "visible_min": int(g.visible_min.min()),
                "visible_p5_mean": _r(np.sum(w * g.visible_p5)),
                "visible_max": int(g.visible_max.max()),
                "area_pct_always_1plus": _r(100 * np.sum(w * (g.pct_time_1plus >= 100.0))),
                "area_pct_never_visible": _r(100 * np.sum(w * (g.visible_max == 0))),
                "pct_time_1plus_mean": _r(np.sum(w * g.pct_time_1plus)),
            }
            if g.navigation:
                rec["area_pct_always_4plus"] = _r(100 * np.sum(w * (g.pct_time_4plus >= 100.0)))
                rec["pct_time_4plus_mean"] = _r(np.sum(w * g.pct_time_4plus))
                rec["fix_alone"] = g.fix_alone
                if g.fix_alone:
                    rec["pdop_median"] = _finite(weighted_median(g.pdop_median, w))
                    rec["pdop_p95_worst"] = _finite(np.max(g.pdop_p95))
                    rec["pct_time_pdop_ok_mean"] = _r(np.sum(w * g.pct_time_pdop_ok))
                    rec["pct_time_pdop_ok_min"] = _r(g.pct_time_pdop_ok.min())
                    rec["pct_time_pdop_ok_max"] = _r(g.pct_time_pdop_ok.max())
                    rec["pct_time_fix_mean"] = _r(np.sum(w * g.pct_time_fix))
                    rec["area_pct_always_fix"] = _r(100 * np.sum(w * (g.pct_time_fix >= 100.0)))
                else:
                    rec["fix_note"] = g.fix_note
            out["groups"][name] = rec
        return out

    def write_csv(self, path: str | Path) -> Path:
        """One row per (group, point): lat_deg, lon_deg, group, then :data:`FIELDS`.

        PDOP columns are empty for groups that do not give a fix alone; a
        PDOP percentile is ``inf`` where there was no fix that share of the time.
        """
        path = Path(path)
        lat = [f"{v:g}" for v in self.lat_deg]
        lon = [f"{v:g}" for v in self.lon_deg]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["lat_deg", "lon_deg", "group", *FIELDS])
            for name, g in self.groups.items():
                cols = [_fmt(g.visible_mean, 4), g.visible_min.astype(str), g.visible_p5.astype(str),
                        g.visible_max.astype(str), _fmt(g.pct_time_1plus, 3), _fmt(g.pct_time_4plus, 3),
                        _fmt(g.pdop_median, 3), _fmt(g.pdop_p95, 3), _fmt(g.pct_time_pdop_ok, 3),
                        _fmt(g.pct_time_fix, 3)]
                w.writerows(zip(lat, lon, [name] * len(lat), *cols))
        return path


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of ``values`` (n,) with ``weights`` (n,) (inf allowed; NaN ignored)."""
    ok = ~np.isnan(values)
    v, w = values[ok], weights[ok]
    if v.size == 0:
        return float("nan")
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _r(x) -> float:
    """A figure for JSON: a float rounded to 4 decimals (no 99.99999999999999 %)."""
    return round(float(x), 4)


def _finite(x) -> float | None:
    """:func:`_r`, or None for an infinite figure (JSON has no infinity)."""
    return _r(x) if np.isfinite(x) else None


def _fmt(values: np.ndarray, decimals: int) -> list[str]:
    """Numbers rounded to ``decimals`` as short text; NaN as an empty field, infinity as ``inf``."""
    r = np.round(values, decimals)
    return ["" if np.isnan(v) else ("inf" if np.isinf(v) else f"{v:g}") for v in r.tolist()]


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
    pdop_limit: float = 2.0,
    alt_m: float = 0.0,
    progress: Callable[[int], None] | None = None,
    max_block: int = 1_000_000,
) -> Coverage:
    """Coverage of each satellite group at points lat_deg, lon_deg (point,) over the axis.

    ``groups`` maps a name to satellite indices (:func:`satellite_groups`);
    ``pdop_limit`` is the PDOP counted in ``pct_time_pdop_ok``.
    Instants are processed in chunks sized so that a (time, point, sat)
    block stays under ``max_block`` elements; ``progress(n)`` is called
    with the number of instants done after each chunk.
    """
    lat_deg = np.atleast_1d(np.asarray(lat_deg, dtype=float))
    lon_deg = np.atleast_1d(np.asarray(lon_deg, dtype=float))
    if lat_deg.shape != lon_deg.shape or lat_deg.ndim != 1:
        raise ValueError("lat_deg and lon_deg must be 1-D arrays of the same length")
    if not 0 < pdop_limit <= PDOP_NO_FIX:
        raise ValueError(f"pdop_limit must be more than 0 and at most {PDOP_NO_FIX:g}, got {pdop_limit:g}")
    lat_r, lon_r = np.radians(lat_deg), np.radians(lon_deg)
    rcv_km = geodetic_to_itrs_km(lat_r, lon_r, np.full(lat_deg.shape, alt_m / 1000.0))
    up = local_up(lat_r, lon_r)
    used = np.unique(np.concatenate([np.asarray(v) for v in groups.values()]))
    col = {name: np.searchsorted(used, idx) for name, idx in groups.items()}
    nav = {name: is_navigation(scene, idx) for name, idx in groups.items()}
    sin_mask = np.sin(np.radians(min_elevation_deg))
    n_pts, n_sat = lat_deg.size, used.size
    acc = {name: _Accumulator(n_pts, pdop_limit, nav[name] and col[name].size >= 4) for name in groups}
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
                    if acc[name].with_pdop:
                        pdop = pdop_from_positions(rcv_km[ps], sat_km if whole else sat_km[:, c], v,
                                                   range_km if whole else range_km[..., c])
                    acc[name].add(ps, v.sum(-1), pdop)
        if progress:
            progress(sl.stop - sl.start)
    out = {name: acc[name].result(name, groups[name], nav[name], axis.n_steps) for name in groups}
    return Coverage(lat_deg, lon_deg, axis, float(min_elevation_deg), out, pdop_limit=float(pdop_limit))


def grid_coverage(scene: Scene, axis: TimeAxis, groups: dict[str, np.ndarray], step_deg: float = 2.0,
                  min_elevation_deg: float = 10.0, progress=None, layer_spec: str = "all",
                  pdop_limit: float = 2.0) -> Coverage:
    """:func:`coverage` on a global :class:`GroundGrid` of ``step_deg`` cells."""
    grid = GroundGrid.global_grid(step_deg)
    lat, lon = grid.points_deg()
    cov = coverage(scene, axis, groups, lat, lon, min_elevation_deg, pdop_limit, progress=progress)
    cov.grid = grid
    cov.layer_spec = layer_spec
    return cov


def count_quantile(hist: np.ndarray, q: float) -> np.ndarray:
    """Per row of a count histogram (point, count), the q-quantile of the count, (point,).

    The smallest count c with at least a share ``q`` of the instants at or
    below c (numpy's ``inverted_cdf``).
    """
    cum = np.cumsum(hist, axis=1)
    need = np.ceil(q * cum[:, -1:] - 1e-9)
    return np.argmax(cum >= np.maximum(need, 1), axis=1)


def pdop_quantile(hist: np.ndarray, q: float) -> np.ndarray:
    """Per row of a PDOP histogram (point, bin) over :data:`PDOP_BINS`, the q-quantile, (point,).

    The last bin holds the instants without a fix; a quantile that falls
    there is ``inf``.  Within a bin the value is interpolated on the log
    scale by rank, so it is within one bin (2.2 %) of the exact quantile.
    """
    cum = np.cumsum(hist, axis=1)
    n = cum[:, -1]
    need = np.maximum(np.ceil(q * n - 1e-9), 1)
    b = np.argmax(cum >= need[:, None], axis=1)
    before = np.where(b > 0, cum[np.arange(b.size), np.maximum(b - 1, 0)], 0)
    inside = hist[np.arange(b.size), b]
    frac = (need - before - 0.5) / np.maximum(inside, 1)
    last = PDOP_BINS.size - 1                                  # index of the no-fix bin
    lo = np.log(PDOP_BINS[np.minimum(b, last - 1)])
    hi = np.log(PDOP_BINS[np.minimum(b + 1, last)])
    value = np.exp(lo + frac * (hi - lo))
    return np.where(b >= last, np.inf, value)


class _Accumulator:
    """Running per-point sums and histograms over chunks of instants for one group."""

    def __init__(self, n: int, pdop_limit: float, with_pdop: bool):
        self.pdop_limit = pdop_limit
        self.with_pdop = with_pdop
        self.sum = np.zeros(n)
        self.min = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.max = np.zeros(n, dtype=np.int64)
        self.n1 = np.zeros(n, dtype=np.int64)
        self.n4 = np.zeros(n, dtype=np.int64)
        self.count_hist = np.zeros((n, 1), dtype=np.int32)      # (point, count), widened as needed
        self.pdop_ok = np.zeros(n, dtype=np.int64)
        self.fix = np.zeros(n, dtype=np.int64)
        self.pdop_hist = np.zeros((n, PDOP_BINS.size), dtype=np.int32) if with_pdop else None  # 16 MB at 2 deg

    def add(self, ps: slice, count: np.ndarray, pdop: np.ndarray | None) -> None:
        """Add a block: ``count`` (time, point) visible satellites, ``pdop`` the same shape or None."""
        self.sum[ps] += count.sum(0)
        np.minimum(self.min[ps], count.min(0), out=self.min[ps])
        np.maximum(self.max[ps], count.max(0), out=self.max[ps])
        self.n1[ps] += (count >= 1).sum(0)
        self.n4[ps] += (count >= 4).sum(0)
        width = int(count.max()) + 1
        if width > self.count_hist.shape[1]:
            self.count_hist = np.pad(self.count_hist, ((0, 0), (0, width - self.count_hist.shape[1])))
        self.count_hist[ps] += _row_histogram(count, self.count_hist.shape[1])
        if pdop is not None:
            ok = np.isfinite(pdop) & (pdop <= PDOP_NO_FIX)
            self.pdop_ok[ps] += (ok & (pdop <= self.pdop_limit)).sum(0)
            self.fix[ps] += (ok & (pdop <= USABLE_PDOP)).sum(0)
            last = PDOP_BINS.size - 1
            b = np.clip(np.searchsorted(PDOP_BINS, np.where(ok, pdop, 0.0), side="right") - 1, 0, last - 1)
            self.pdop_hist[ps] += _row_histogram(np.where(ok, b, last), PDOP_BINS.size)

    def result(self, name, idx, navigation, n_steps) -> GroupCoverage:
        n = self.sum.size
        nan = np.full(n, np.nan)
        pdop = (nan, nan, nan, nan)
        fix_alone, note = False, ""
        if self.with_pdop:
            median = pdop_quantile(self.pdop_hist, 0.5)
            fix_alone = bool((median <= USABLE_PDOP).any())
            if fix_alone:
                pdop = (median, pdop_quantile(self.pdop_hist, 0.95), 100.0 * self.pdop_ok / n_steps,
                        100.0 * self.fix / n_steps)
            else:
                note = (f"no place has PDOP ≤ {USABLE_PDOP:g} half of the time (≥4 in view "
                        f"{100.0 * self.n4.sum() / (n * n_steps):.0f} % of point-instants): no usable fix alone")
        elif navigation:
            n_sats = np.asarray(idx).size
            note = f"{n_sats} satellite{'' if n_sats == 1 else 's'}: never 4 in view" if n_sats < 4 else "no fix"
        return GroupCoverage(
            name, np.asarray(idx), navigation,
            self.sum / n_steps, self.min.copy(), count_quantile(self.count_hist, 0.05), self.max.copy(),
            100.0 * self.n1 / n_steps, 100.0 * self.n4 / n_steps, *pdop, fix_alone=fix_alone, fix_note=note,
        )


def _row_histogram(values: np.ndarray, width: int) -> np.ndarray:
    """Histogram per point of integer ``values`` (time, point) in 0..width-1, shape (point, width)."""
    n_pts = values.shape[1]
    flat = (np.arange(n_pts)[None, :] * width + values).ravel()
    return np.bincount(flat, minlength=n_pts * width).reshape(n_pts, width)
