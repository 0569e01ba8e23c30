"""Sky plots: the paths satellites trace across one station's sky over a time window.

A sky plot is a polar chart of the sky seen from the ground: azimuth is the
angle (north up, east to the right, clockwise as on a compass) and the
distance from the centre is the zenith angle, so the zenith is the centre
and the horizon the outer circle.  Each satellite's track is drawn in its
layer's colour, solid above the elevation mask and faint between the
horizon and the mask; the mask itself is the dashed ring with the shaded
band beyond it.

:func:`sky_tracks` computes the look angles (vectorised over time and
satellite); :func:`skyplot` draws them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from orbits.propagation import Propagator
from orbits.scene import Scene
from orbits.stations import GroundStation
from orbits.timebase import TimeAxis

from .lookangles import look_angles
from .figures import LAYER_COLORS, duration_text, plural, plt

#: Above this many satellites in the sky, tracks are not labelled (they would be unreadable).
LABEL_LIMIT = 40


@dataclass
class SkyTracks:
    """Azimuth and elevation of satellites from one station; arrays (time, sat) in degrees."""

    station: GroundStation
    axis: TimeAxis
    nodes: list[str]
    layers: list[str]
    az_deg: np.ndarray
    el_deg: np.ndarray
    labels: list[str] | None = None  # short labels (PRN or node); nodes when None

    def risen(self) -> np.ndarray:
        """Indices of satellites above the horizon at some instant, (sat,)."""
        return np.flatnonzero((self.el_deg >= 0).any(axis=0))

    def visible_count(self, min_elevation_deg: float) -> np.ndarray:
        """Satellites at or above the mask at each instant, (time,)."""
        return (self.el_deg >= min_elevation_deg).sum(axis=1)


def sky_tracks(scene: Scene, station: GroundStation, axis: TimeAxis, sat_indices=None,
               chunk_steps: int = 2048) -> SkyTracks:
    """Look angles of the scene's satellites (or ``sat_indices``) from station over the axis."""
    idx = np.arange(scene.n_sats) if sat_indices is None else np.asarray(sat_indices)
    prop = Propagator([scene.satellites[i] for i in idx])
    az = np.empty((axis.n_steps, idx.size))
    el = np.empty((axis.n_steps, idx.size))
    for sl, pos in prop.chunks(axis, chunk_steps):
        az[sl], el[sl], _ = look_angles(station, pos)
    sats = [scene.satellites[i] for i in idx]
    return SkyTracks(station, axis, [s.node for s in sats], [s.layer for s in sats], az, el,
                     [sat_label(s) for s in sats])


def short_name(node: str) -> str:
    """A satellite's node name without its shell prefix (``bds3-M12`` -> ``M12``)."""
    return node.split("-", 1)[1] if "-" in node else node


def sat_label(sat) -> str:
    """What to write next to a satellite: its PRN when the name carries one, else its short node name.

    Published names end in the PRN in brackets (``BEIDOU-3 M1 (C19)`` ->
    ``C19``); generated ones do not (``bds3-M12`` -> ``M12``).
    """
    m = re.search(r"\(([A-Z]\d{2,3})\)\s*$", sat.name or "")
    return m.group(1) if m else short_name(sat.node)


def skyplot(tracks: SkyTracks, min_elevation_deg: float = 10.0, title: str | None = None, ax=None):
    """Draw a sky plot of ``tracks``; returns the figure.

    Every satellite that rises is drawn; tracks are labelled with the
    satellite's short name just inside the point where they set (the dot),
    unless more than :data:`LABEL_LIMIT` satellites rise.  The elevation
    rings are labelled along the azimuth the tracks cross least, on a white
    ground, and satellite labels keep clear of them.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.2, 7.6), subplot_kw={"projection": "polar"}, layout="constrained")
    else:
        fig = ax.figure
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_rlim(0, 90)
    ax.set_rticks([15, 30, 45, 60, 75], [])
    ax.set_thetagrids(range(0, 360, 30), ["N", "30°", "60°", "E", "120°", "150°", "S", "210°", "240°", "W",
                                          "300°", "330°"], fontsize=8)
    theta = np.linspace(0, 2 * np.pi, 361)
    ax.fill_between(theta, 90.0 - min_elevation_deg, 90.0, color="#bbbbbb", alpha=0.35, zorder=0)
    ax.plot(theta, np.full(theta.shape, 90.0 - min_elevation_deg), "--", color="#c0392b", linewidth=1.2,
            zorder=1, label="_mask")
    risen = tracks.risen()
    label = risen.size <= LABEL_LIMIT
    lw = 1.6 if risen.size <= LABEL_LIMIT else 0.8
    ends = []
    for s in risen:
        color = LAYER_COLORS.get(tracks.layers[s], "#555555")
        az = np.unwrap(np.radians(tracks.az_deg[:, s]))     # no jump at north
        el = tracks.el_deg[:, s]
        r = 90.0 - el
        ax.plot(np.where(el >= 0, az, np.nan), np.where(el >= 0, r, np.nan), color=color, alpha=0.35,
                linewidth=lw * 0.7, zorder=2)
        ax.plot(np.where(el >= min_elevation_deg, az, np.nan), np.where(el >= min_elevation_deg, r, np.nan),
                color=color, linewidth=lw, zorder=3, gid=f"track:{tracks.nodes[s]}")
        last = np.flatnonzero(el >= 0)[-1]
        ax.plot(az[last], r[last], "o", color=color, markersize=4 if label else 2.5, zorder=4,
                gid=f"end:{tracks.nodes[s]}")
        ends.append((float(az[last] % (2 * np.pi)), float(r[last]), s, color))
    ring_az = quietest_azimuth(tracks, [e[0] for e in ends] if label else [])
    for r_tick in (15, 30, 45, 60, 75):
        ax.text(ring_az, r_tick, f"{90 - r_tick}°", fontsize=7, ha="center", va="center", zorder=7,
                color="#444444", gid=f"ring:{90 - r_tick}",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    if label:
        _label_ends(ax, tracks, ends)
    layers = [l for l in ("LEO", "MEO", "IGSO", "GEO") if any(tracks.layers[s] == l for s in risen)]
    handles = [Line2D([], [], color=LAYER_COLORS[l], linewidth=2, label=l) for l in layers]
    handles.append(Line2D([], [], color="#c0392b", linestyle="--", label=f"mask {min_elevation_deg:g}°"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(-0.08, 1.08), fontsize=8, framealpha=0.9)
    st = tracks.station
    if title is None:
        ax0 = tracks.axis
        title = (f"Sky over {st.name} ({st.lat_deg:.2f}°, {st.lon_deg:.2f}°)\n"
                 f"{ax0.start:%Y-%m-%d %H:%M} UTC + {duration_text(ax0.duration_s)}, "
                 f"{plural(risen.size, 'satellite')} {'rises' if risen.size == 1 else 'rise'}, dot = last position")
    ax.set_title(title, fontsize=10)
    return fig


def quietest_azimuth(tracks: SkyTracks, avoid_rad=()) -> float:
    """The azimuth (radians) whose 10-degree sector the tracks above the horizon cross least.

    Points inside 60 degrees of elevation count (that is where the ring
    labels go); a sector next to a satellite label to be avoided counts as busy.
    """
    el, az = tracks.el_deg, tracks.az_deg
    sel = (el >= 0) & (el <= 80)
    busy = np.bincount((az[sel] // 10).astype(int) % 36, minlength=36).astype(float)
    for a in avoid_rad:
        k = int(np.degrees(a) // 10) % 36
        busy[[k - 1, k, (k + 1) % 36]] += busy.max() + 1
    smooth = busy + 0.5 * (np.roll(busy, 1) + np.roll(busy, -1))
    return float(np.radians(10 * int(np.argmin(smooth)) + 5))


def _label_ends(ax, tracks: SkyTracks, ends: list) -> None:
    """Satellite labels just inside each setting point, staggered inwards where they would collide."""
    placed: list[tuple[float, float]] = []
    for a, r, s, color in sorted(ends):
        r_text = max(r - 6.0, 8.0)
        while any(abs(((a - pa + np.pi) % (2 * np.pi)) - np.pi) * max(r_text, pr) < 6.0 and abs(r_text - pr) < 4.5
                  for pa, pr in placed):
            r_text -= 5.0
        placed.append((a, r_text))
        text = tracks.labels[s] if tracks.labels else short_name(tracks.nodes[s])
        ax.text(a, r_text, text, fontsize=7, color=color, ha="center", va="center", zorder=6,
                gid=f"label:{tracks.nodes[s]}")
