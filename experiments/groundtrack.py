"""Ground tracks: the path of the point directly below each satellite, on a world map.

The sub-satellite point is the geodetic latitude and longitude (WGS84) of a
satellite's ITRS position -- where the ellipsoid normal through the
satellite meets the ground.  Over a day a GEO satellite's point barely
moves (it is drawn as a dot), an IGSO satellite's traces a figure-eight
centred on its node longitude, and MEO and LEO tracks wind westwards round
the globe as the Earth turns beneath their orbits.  Tracks are cut where
they cross the antimeridian so no line is drawn across the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from orbits.propagation import Propagator
from orbits.scene import Scene
from orbits.stations import WGS84_A_KM, WGS84_F
from orbits.timebase import TimeAxis

from .skyplot import LABEL_LIMIT, sat_label, short_name
from .figures import LAYER_COLORS, duration_text, plural
from .worldmap import break_at_antimeridian, world_axes, wrap_lon_deg

#: A track that stays within this many degrees (latitude and longitude) is drawn as a dot.
STATIONARY_DEG = 2.0


def subpoints_deg(pos_km: np.ndarray, iterations: int = 4):
    """Geodetic latitude, longitude (degrees) and height (km) under ITRS positions (..., 3).

    Longitude is ``atan2(y, x)``; latitude is found by fixed-point
    iteration on ``tan(lat) = z / (p (1 - e^2 N / (N + h)))`` with
    ``p = sqrt(x^2 + y^2)`` and ``N`` the prime-vertical radius; four
    iterations are good to well under a metre for any orbit.
    """
    pos = np.asarray(pos_km, dtype=float)
    x, y, z = pos[..., 0], pos[..., 1], pos[..., 2]
    e2 = WGS84_F * (2 - WGS84_F)
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    lat = np.arctan2(z, p * (1 - e2))
    h = np.zeros_like(p)
    for _ in range(iterations):
        n = WGS84_A_KM / np.sqrt(1 - e2 * np.sin(lat) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where(np.abs(np.cos(lat)) > 1e-9, p / np.cos(lat) - n, np.abs(z) - n * (1 - e2))
        lat = np.arctan2(z, p * (1 - e2 * n / (n + h)))
    return np.degrees(lat), np.degrees(lon), h


@dataclass
class GroundTracks:
    """Sub-satellite points over a time axis: lat_deg, lon_deg (time, sat) and satellite names/layers."""

    axis: TimeAxis
    nodes: list[str]
    layers: list[str]
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    labels: list[str] | None = None  # short labels (PRN or node); nodes when None

    def stationary(self) -> np.ndarray:
        """(sat,) bool: the point stays within :data:`STATIONARY_DEG` over the window (a GEO)."""
        lat_span = np.nanmax(self.lat_deg, 0) - np.nanmin(self.lat_deg, 0)
        ref = self.lon_deg[:1]
        dlon = wrap_lon_deg(self.lon_deg - ref)
        lon_span = np.nanmax(dlon, 0) - np.nanmin(dlon, 0)
        return (lat_span <= STATIONARY_DEG) & (lon_span <= STATIONARY_DEG)


def ground_tracks(scene: Scene, axis: TimeAxis, sat_indices=None, chunk_steps: int = 2048) -> GroundTracks:
    """Sub-satellite points of the scene's satellites (or ``sat_indices``) at every step of the axis."""
    idx = np.arange(scene.n_sats) if sat_indices is None else np.asarray(sat_indices)
    prop = Propagator([scene.satellites[i] for i in idx])
    lat = np.empty((axis.n_steps, idx.size))
    lon = np.empty((axis.n_steps, idx.size))
    for sl, pos in prop.chunks(axis, chunk_steps):
        lat[sl], lon[sl], _ = subpoints_deg(pos)
    sats = [scene.satellites[i] for i in idx]
    return GroundTracks(axis, [s.node for s in sats], [s.layer for s in sats], lat, lon,
                        [sat_label(s) for s in sats])


def groundtrack_map(tracks: GroundTracks, stations=(), title: str | None = None, ax=None):
    """Draw ground tracks (and station triangles) on a world map; returns the figure.

    Moving satellites are lines in their layer colour with a small circle
    where the window starts; GEO satellites (and any that stay put) are a
    large dot, with the short track of an inclined GEO through it.
    Satellites are labelled when there are at most :data:`LABEL_LIMIT`.
    """
    ax = world_axes(ax)
    fig = ax.figure
    still = tracks.stationary()
    n = len(tracks.nodes)
    label = n <= LABEL_LIMIT
    lw = 1.3 if n <= LABEL_LIMIT else 0.6
    for s in range(n):
        color = LAYER_COLORS.get(tracks.layers[s], "#555555")
        lat, lon = tracks.lat_deg[:, s], tracks.lon_deg[:, s]
        if not np.isfinite(lat).any():
            continue
        k = np.flatnonzero(np.isfinite(lat))[0]
        x0, y0 = float(wrap_lon_deg(lon[k])), float(lat[k])
        if not still[s]:
            x, y = break_at_antimeridian(lon, lat)
            ax.plot(x, y, color=color, linewidth=lw if tracks.layers[s] != "GEO" else 1.0, alpha=0.85, zorder=3,
                    gid=f"track:{tracks.nodes[s]}")
        if still[s] or tracks.layers[s] == "GEO":  # a GEO is a dot (with its short track, if inclined)
            ax.plot(x0, y0, "o", color=color, markersize=8, markeredgecolor="white", zorder=4,
                    gid=f"dot:{tracks.nodes[s]}")
        else:
            ax.plot(x0, y0, "o", color=color, markersize=3.5, zorder=4, gid=f"start:{tracks.nodes[s]}")
        at = (x0, y0)
        if label:
            text = tracks.labels[s] if tracks.labels else short_name(tracks.nodes[s])
            ax.annotate(text, at, xytext=(3, 3), textcoords="offset points",
                        fontsize=6.5, color=color, zorder=5)
    for st in stations:
        ax.plot(wrap_lon_deg(st.lon_deg), st.lat_deg, "^", color=LAYER_COLORS["GROUND"], markersize=5, zorder=5,
                gid=f"station:{st.name}")
        ax.annotate(st.name, (float(wrap_lon_deg(st.lon_deg)), st.lat_deg), xytext=(3, -8),
                    textcoords="offset points", fontsize=6, color="#222222", zorder=5)
    layers = [l for l in ("LEO", "MEO", "IGSO", "GEO") if l in tracks.layers]
    handles = [Line2D([], [], color=LAYER_COLORS[l], linewidth=2, label=l) for l in layers]
    if stations:
        handles.append(Line2D([], [], marker="^", linestyle="", color=LAYER_COLORS["GROUND"], label="station"))
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9)
    if title is None:
        a = tracks.axis
        title = (f"Ground tracks of {plural(n, 'satellite')}, {a.start:%Y-%m-%d %H:%M} UTC + "
                 f"{duration_text(a.duration_s)} (circle = start, dot = stationary)")
    ax.set_title(title, fontsize=10)
    return fig
