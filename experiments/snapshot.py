"""Network snapshots: satellites, stations and the links that are up, on a world map at one instant.

Every node is drawn at its sub-satellite point (stations at their own
position), coloured by layer; every link that is up at the step is a line
between its two ends, coloured by kind (ISL, inter-layer, ground, fibre)
and cut at the antimeridian.  A route between two ground stations
(:func:`topologies.routing.route_pair`) can be laid on top as a thick line
through the nodes it uses, with its round-trip time in the legend.

:class:`SnapshotPlot` builds the figure once and then only moves its
artists from step to step, which is what makes :func:`animate` cheap: a
GIF with one palette for all its frames, a lossless animated WebP where
Pillow has WebP, and an MP4 where ``ffmpeg`` is installed.
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
        for kind in self.kinds_present:  # opaque: the colours stay those of the legend
            lw = {"isl": 0.6, "fiber": 2.0}.get(kind, 1.0)
            self.link_lines[kind] = self.ax.add_collection(LineCollection(
                [], colors=KIND_COLORS[kind], linewidths=lw, zorder=2.5 if kind == "fiber" else 2,
                gid=f"links:{kind}"))
        colors = [LAYER_COLORS.get(l, "#555555") for l in layers[self.sats]]
        size = 14 if self.sats.size <= 200 else 5
        self.sat_dots = self.ax.scatter(np.zeros(self.sats.size), np.zeros(self.sats.size), s=size, c=colors,
                                        zorder=4, edgecolors="white", linewidths=0.3, gid="satellites")
        self.station_marks = self.ax.scatter(np.zeros(self.ground.size), np.zeros(self.ground.size), s=36,
                                             marker="^", c=LAYER_COLORS["GROUND"], zorder=5, gid="stations")
        for g in self.ground:
            self.ax.annotate(series.node_names[g], (self.lon[0, g], self.lat[0, g]), xytext=(3, -9),
                             textcoords="offset points", fontsize=7.5, zorder=6)
        self.path_line = self.ax.add_collection(LineCollection([], colors=PATH_COLOR, linewidths=2.6, zorder=7,
                                                               gid="path"))
        self.path_dots = self.ax.scatter([], [], s=40, facecolors="none", edgecolors=PATH_COLOR, linewidths=1.4,
                                         zorder=8, gid="path-nodes")
        self.title_text = self.ax.set_title("", fontsize=11)
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
        self.ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9, ncol=2)

    def save(self, path: str | Path, dpi: int = 110) -> Path:
        """Write the current step as a PNG (256-colour palette)."""
        write_png(self.fig, path, dpi)
        return Path(path)

    def close(self) -> None:
        plt.close(self.fig)


def fixed_colors() -> list[tuple[int, int, int]]:
    """The colours every frame must show exactly: layers, link kinds, the route, the map, black and white."""
    from matplotlib.colors import to_rgb

    from .worldmap import COAST_COLOR, LAND_COLOR, OCEAN_COLOR

    named = [*LAYER_COLORS.values(), *KIND_COLORS.values(), PATH_COLOR, LAND_COLOR, OCEAN_COLOR, COAST_COLOR,
             "#ffffff", "#000000"]
    return list(dict.fromkeys(tuple(int(round(255 * c)) for c in to_rgb(n)) for n in named))


def shared_palette(frames: list, fixed: list[tuple[int, int, int]]):
    """One 256-colour palette image for all ``frames`` (RGB images): ``fixed`` first, exact, then the
    colours the frames use most (median cut over a sample of every frame)."""
    from PIL import Image

    sample = np.concatenate([np.asarray(f)[::3, ::3].reshape(-1, 3) for f in frames])
    side = int(np.ceil(np.sqrt(sample.shape[0])))
    pad = np.zeros((side * side - sample.shape[0], 3), dtype=np.uint8) + sample[:1]
    mosaic = Image.fromarray(np.concatenate([sample, pad]).reshape(side, side, 3))
    adaptive = mosaic.quantize(colors=256 - len(fixed), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    extra = np.array(adaptive.getpalette()[: 3 * (256 - len(fixed))], dtype=np.uint8).reshape(-1, 3)
    colors = list(dict.fromkeys(fixed + [tuple(int(v) for v in c) for c in extra]))[:256]
    colors += [colors[-1]] * (256 - len(colors))
    pal = Image.new("P", (1, 1))
    pal.putpalette([v for c in colors for v in c])
    return pal


def to_palette(frame, pal):
    """An RGB image mapped to the nearest colour of palette image ``pal`` (exact colours stay exact).

    Pillow's own conversion looks colours up in a cache of 4x4x4 boxes and
    so may map an exact palette colour to a neighbour; this is a plain
    nearest-colour search over the distinct colours of the frame.
    """
    from PIL import Image

    rgb = np.asarray(frame, dtype=np.uint8)
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    distinct, inverse = np.unique(packed.ravel(), return_inverse=True)
    colors = np.stack([(distinct >> 16) & 255, (distinct >> 8) & 255, distinct & 255], axis=1).astype(np.int32)
    palette = np.array(pal.getpalette()[:768], dtype=np.int32).reshape(256, 3)
    nearest = np.empty(distinct.size, dtype=np.uint8)
    for i in range(0, distinct.size, 4096):
        d = ((colors[i:i + 4096, None, :] - palette[None, :, :]) ** 2).sum(-1)
        nearest[i:i + 4096] = d.argmin(1)
    out = Image.fromarray(nearest[inverse].reshape(packed.shape), mode="P")
    out.putpalette(pal.getpalette()[:768])
    return out


def render_frames(plot: SnapshotPlot, dpi: int, progress=None) -> list:
    """Every step of ``plot``'s series drawn as an RGB image (PIL), in order."""
    import io

    from PIL import Image

    frames = []
    for k in range(plot.series.n_steps):
        plot.draw(k)
        buf = io.BytesIO()
        plot.fig.savefig(buf, format="png", dpi=dpi)
        buf.seek(0)
        with Image.open(buf) as im:
            frames.append(im.convert("RGB"))
        if progress:
            progress(1)
    return frames


def animate(plot: SnapshotPlot, out_stem: str | Path, fps: float = 4.0, dpi: int = 100,
            webp: bool | None = None, mp4: bool | None = None, progress=None) -> list[Path]:
    """Write every step of ``plot``'s series as a GIF, an animated WebP and an MP4; returns the files.

    The GIF has one palette for all frames (:func:`shared_palette`): a
    palette per frame, as Matplotlib's Pillow writer makes, turns IGSO
    orange to salmon in one frame and red in the next.  The layer, link
    and route colours are in it exactly, so they stay what the legend says.
    The WebP is lossless and full-colour (written where Pillow has WebP,
    ``webp=None``), the MP4 only where Matplotlib finds ``ffmpeg``
    (``mp4=None``).  ``progress(n)`` is called after each frame.
    """
    from PIL import Image, features

    out_stem = Path(out_stem)
    frames = render_frames(plot, dpi, progress)
    duration_ms = int(round(1000.0 / fps))
    pal = shared_palette(frames, fixed_colors())
    indexed = [to_palette(f, pal) for f in frames]
    gif = out_stem.with_suffix(".gif")
    indexed[0].save(gif, save_all=True, append_images=indexed[1:], duration=duration_ms, loop=0, optimize=False)
    written = [gif]
    if webp is None:
        webp = features.check("webp")
    if webp:
        movie = out_stem.with_suffix(".webp")
        frames[0].save(movie, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0,
                       lossless=True, method=4)
        written.append(movie)
    if mp4 is None:
        from matplotlib import animation

        mp4 = animation.writers.is_available("ffmpeg")
    if mp4:
        written.append(_write_mp4(frames, out_stem.with_suffix(".mp4"), fps))
    return written


def _write_mp4(frames: list, path: Path, fps: float) -> Path:
    """Frames (RGB images) as an H.264 MP4 through Matplotlib's ffmpeg writer."""
    from matplotlib import animation

    h, w = np.asarray(frames[0]).shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    image = ax.imshow(np.asarray(frames[0]))
    writer = animation.FFMpegWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=100):
        for f in frames:
            image.set_data(np.asarray(f))
            writer.grab_frame()
    plt.close(fig)
    return path
