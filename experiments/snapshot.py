"""Network snapshots: satellites, stations and the links that are up, on a world map at one instant.

Every node is drawn at its sub-satellite point (stations at their own
position), coloured by layer; every link that is up at the step is a line
between its two ends, coloured by kind (ISL, inter-layer, ground, fibre)
and cut at the antimeridian.  A route between two ground stations
(:func:`topologies.routing.route_pair`) can be laid on top as a thick line
through the nodes it uses, with its round-trip time in the legend.

:class:`SnapshotPlot` builds the figure once and then only moves its
artists from step to step, which is what makes :func:`animate` cheap: a
GIF (Matplotlib's PillowWriter) over a window, and an MP4 as well where
``ffmpeg`` is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from orbits.scene import Scene
from orbits.timebase import TimeAxis
from topologies.rules import KINDS
from topologies.series import LinkSeries

from .figures import KIND_COLORS, LAYER_COLORS, PATH_COLOR, plt, write_png
from .groundtrack import subpoints_deg
from .worldmap import world_axes, wrap_lon_deg, wrap_segments


def series_at_steps(series: LinkSeries, first: int, every: int, count: int) -> LinkSeries:
    """The link series thinned to steps ``first, first + every, ...`` (``count`` of them).

    The result has its own uniform axis (start at step ``first``, step
    ``every * step_s``), so routing and plotting can run on just the frames
    of an animation.
    """
    steps = first + every * np.arange(count)
    if count < 1 or steps[-1] >= series.n_steps or first < 0:
        raise ValueError(f"steps {first}..{steps[-1] if count else first} are outside 0..{series.n_steps - 1}")
    starts, stops = series.indptr[steps], series.indptr[steps + 1]
    take = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) if count else np.zeros(0, int)
    indptr = np.concatenate([[0], np.cumsum(stops - starts)]).astype(series.indptr.dtype)
    axis = TimeAxis(series.axis.utc(first), series.axis.step_s * every, count)
    return LinkSeries(axis, series.node_names, series.node_layer, series.node_shell, series.link_a,
                      series.link_b, series.link_kind, series.ms_per_km, series.capacity_mbps, series.loss_pct,
                      indptr, series.link_id[take], series.distance_km[take])


def node_lat_lon_deg(scene: Scene, axis: TimeAxis) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (deg) of every node at every step of the axis, each (time, node)."""
    lat, lon, _ = subpoints_deg(scene.positions_km(axis.skyfield()))
    return lat, lon


class SnapshotPlot:
    """A world map of the network whose artists are updated step by step.

    ``lat_deg``/``lon_deg`` are (time, node) on the series' axis; ``path``
    an optional :class:`topologies.routing.PathSeries` on the same axis;
    ``origin`` the UTC instant titles count seconds from (default: the
    series' start).
    After :meth:`draw(k) <draw>` the attributes ``link_counts`` (per kind)
    and ``path_nodes`` describe what is shown.
    """

    def __init__(self, series: LinkSeries, lat_deg: np.ndarray, lon_deg: np.ndarray, path=None,
                 figsize=(11.0, 6.0), title: str | None = None, origin=None):
        self.series, self.lat, self.lon, self.path = series, lat_deg, wrap_lon_deg(lon_deg), path
        self.title = title
        self.origin = origin or series.axis.start  # "t = ... s" in titles counts from here
        self.fig, self.ax = plt.subplots(figsize=figsize, layout="constrained")
        world_axes(self.ax)
        layers = np.array(series.node_layer)
        self.sats = np.flatnonzero(layers != "GROUND")
        self.ground = np.flatnonzero(layers == "GROUND")
        self.kinds_present = [k for c, k in enumerate(KINDS) if (series.link_kind == c).any()]
        self.link_lines = {}
        for kind in self.kinds_present:
            lw = 0.5 if kind == "isl" else 0.8
            self.link_lines[kind] = self.ax.add_collection(LineCollection(
                [], colors=KIND_COLORS[kind], linewidths=lw, alpha=0.8, zorder=2, gid=f"links:{kind}"))
        colors = [LAYER_COLORS.get(l, "#555555") for l in layers[self.sats]]
        size = 14 if self.sats.size <= 200 else 5
        self.sat_dots = self.ax.scatter(np.zeros(self.sats.size), np.zeros(self.sats.size), s=size, c=colors,
                                        zorder=4, edgecolors="white", linewidths=0.3, gid="satellites")
        self.station_marks = self.ax.scatter(np.zeros(self.ground.size), np.zeros(self.ground.size), s=36,
                                             marker="^", c=LAYER_COLORS["GROUND"], zorder=5, gid="stations")
        for g in self.ground:
            self.ax.annotate(series.node_names[g], (self.lon[0, g], self.lat[0, g]), xytext=(3, -8),
                             textcoords="offset points", fontsize=6.5, zorder=6)
        self.path_line = self.ax.add_collection(LineCollection([], colors=PATH_COLOR, linewidths=2.6, zorder=7,
                                                               gid="path"))
        self.path_dots = self.ax.scatter([], [], s=40, facecolors="none", edgecolors=PATH_COLOR, linewidths=1.4,
                                         zorder=8, gid="path-nodes")
        self.title_text = self.ax.set_title("", fontsize=10)
        self.link_counts: dict[str, int] = {}
        self.path_nodes: list[int] = []
        self._legend_layers = [l for l in ("LEO", "MEO", "IGSO", "GEO") if l in set(layers)]

    def draw(self, k: int):
        """Show step ``k`` of the series; returns the artists that changed."""
        s = self.series
        lat, lon = self.lat[k], self.lon[k]
        self.sat_dots.set_offsets(np.column_stack([lon[self.sats], lat[self.sats]]))
        self.station_marks.set_offsets(np.column_stack([lon[self.ground], lat[self.ground]]))
        ids, delay = s.active(k)
        kinds = s.link_kind[ids]
        for code, kind in enumerate(KINDS):
            if kind not in self.link_lines:
                continue
            sel = ids[kinds == code]
            a, b = s.link_a[sel], s.link_b[sel]
            self.link_lines[kind].set_segments(wrap_segments(lon[a], lat[a], lon[b], lat[b]))
            self.link_counts[kind] = int(sel.size)
        path_label = None
        if self.path is not None:
            nodes = self.path.paths[k]
            self.path_nodes = list(nodes)
            if len(nodes) >= 2:
                n = np.array(nodes)
                self.path_line.set_segments(wrap_segments(lon[n[:-1]], lat[n[:-1]], lon[n[1:]], lat[n[1:]]))
                self.path_dots.set_offsets(np.column_stack([lon[n], lat[n]]))
                path_label = (f"{s.node_names[self.path.src]} → {s.node_names[self.path.dst]}: "
                              f"{self.path.rtt_ms[k]:.1f} ms RTT, {len(nodes) - 1} hops")
            else:
                self.path_line.set_segments([])
                self.path_dots.set_offsets(np.zeros((0, 2)))
                path_label = f"{s.node_names[self.path.src]} → {s.node_names[self.path.dst]}: unreachable"
        self._legend(path_label)
        when = s.axis.utc(k)
        head = self.title or f"{s.n_nodes} nodes, {len(ids)} links up"
        t_s = (when - self.origin).total_seconds()
        self.title_text.set_text(f"{head} — {when:%Y-%m-%d %H:%M:%S} UTC (t = {t_s:g} s)")
        return [self.sat_dots, self.station_marks, self.path_line, self.path_dots, self.title_text,
                *self.link_lines.values()]

    def _legend(self, path_label: str | None) -> None:
        handles = [Line2D([], [], marker="o", linestyle="", color=LAYER_COLORS[l], label=l)
                   for l in self._legend_layers]
        handles.append(Line2D([], [], marker="^", linestyle="", color=LAYER_COLORS["GROUND"], label="station"))
        handles += [Line2D([], [], color=KIND_COLORS[k], linewidth=1.5, label=f"{k} ({self.link_counts.get(k, 0)})")
                    for k in self.kinds_present]
        if path_label:
            handles.append(Line2D([], [], color=PATH_COLOR, linewidth=2.6, label=path_label))
        old = self.ax.get_legend()
        if old is not None:
            old.remove()
        self.ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9, ncol=2)

    def save(self, path: str | Path, dpi: int = 110) -> Path:
        """Write the current step as a PNG (256-colour palette)."""
        write_png(self.fig, path, dpi)
        return Path(path)

    def close(self) -> None:
        plt.close(self.fig)


def animate(plot: SnapshotPlot, out_stem: str | Path, fps: float = 5.0, dpi: int = 80,
            mp4: bool | None = None, progress=None) -> list[Path]:
    """Write every step of ``plot``'s series as a GIF (and an MP4 when ffmpeg exists); returns the files.

    ``mp4=None`` writes the MP4 only where Matplotlib finds ffmpeg;
    ``progress(n)`` is called after each frame.
    """
    from matplotlib import animation

    frames = range(plot.series.n_steps)

    def update(k):
        artists = plot.draw(k)
        if progress:
            progress(1)
        return artists

    out_stem = Path(out_stem)
    written = []
    anim = animation.FuncAnimation(plot.fig, update, frames=frames, init_func=lambda: plot.draw(0),
                                   blit=False, repeat=False)
    gif = out_stem.with_suffix(".gif")
    anim.save(gif, writer=animation.PillowWriter(fps=fps), dpi=dpi)
    written.append(gif)
    if mp4 is None:
        mp4 = animation.writers.is_available("ffmpeg")
    if mp4:
        movie = out_stem.with_suffix(".mp4")
        anim.save(movie, writer=animation.FFMpegWriter(fps=fps), dpi=dpi)
        written.append(movie)
    return written
