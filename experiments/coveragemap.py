"""Coverage maps: a group's coverage figures drawn over the world, four panels to a figure.

Each panel colours the grid cells of one per-point field of
:class:`experiments.coverage.Coverage` and draws the coastlines on top:

* mean number of satellites in view (above the elevation mask);
* minimum number in view at any instant of the window;
* for navigation groups, % of the time with PDOP at or below the limit
  (6: navigation availability) and the mean PDOP (colours stop at 6:
  anything worse is one colour);
* for other groups, % of the time with at least one in view and the
  maximum number in view.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm

from .coverage import Coverage
from .figures import duration_text, plt
from .worldmap import world_axes

#: PDOP colour scale upper end; worse geometry saturates.
PDOP_CEILING = 6.0


def panels_for(cov: Coverage, group: str) -> list[tuple[str, str]]:
    """(field, title) of the four panels drawn for a group."""
    g = cov.groups[group]
    if g.navigation and g.n_sats >= 4:
        if not np.isfinite(g.pdop_mean).any():
            return [("visible_mean", "mean satellites in view"), ("visible_min", "minimum satellites in view"),
                    ("pct_time_4plus", "% of time with ≥4 in view"), ("visible_max", "maximum satellites in view")]
        return [("visible_mean", "mean satellites in view"), ("visible_min", "minimum satellites in view"),
                ("pct_time_pdop_ok", f"% of time with PDOP ≤ {cov.pdop_limit:g}"),
                ("pdop_mean", "mean PDOP (where ≥4 in view)")]
    return [("visible_mean", "mean satellites in view"), ("visible_min", "minimum satellites in view"),
            ("pct_time_1plus", "% of time with ≥1 in view"), ("visible_max", "maximum satellites in view")]


def coverage_figure(cov: Coverage, group: str, panels: list[tuple[str, str]] | None = None, ncols: int = 2):
    """A figure of a group's coverage panels (default :func:`panels_for`); needs a grid."""
    panels = panels or panels_for(cov, group)
    grid = cov.grid
    step = grid.step_deg
    lat_edges = np.clip(np.append(grid.lat_deg - step / 2, grid.lat_deg[-1] + step / 2), -90, 90)
    lon_edges = np.append(grid.lon_deg - step / 2, grid.lon_deg[-1] + step / 2)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 3.35 * nrows + 0.5), layout="constrained",
                             squeeze=False)
    g = cov.groups[group]
    for ax, (field, title) in zip(axes.ravel(), panels):
        data = cov.on_grid(group, field)
        kw = _style(field, data)
        ticks = kw.pop("ticks", None)
        world_axes(ax, land=False, ocean=False, coast_zorder=3)
        mesh = ax.pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(data), zorder=1, shading="flat",
                             gid=f"field:{field}", **kw)
        cb = fig.colorbar(mesh, ax=ax, shrink=0.85, pad=0.01, extend="max" if field.startswith("pdop") else "neither")
        if ticks is not None:
            cb.set_ticks(ticks)
        cb.ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=9)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    a = cov.axis
    fig.suptitle(f"Coverage of {group} ({g.n_sats} satellites), mask {cov.min_elevation_deg:g}°, "
                 f"{a.start:%Y-%m-%d %H:%M} UTC + {duration_text(a.duration_s)} every {duration_text(a.step_s)}, "
                 f"{step:g}° grid", fontsize=10)
    return fig


def _style(field: str, data: np.ndarray) -> dict:
    finite = data[np.isfinite(data)]
    top = float(finite.max()) if finite.size else 1.0
    if field.startswith("pdop"):
        return {"cmap": "RdYlGn_r", "vmin": 1.0, "vmax": PDOP_CEILING}
    if field.startswith("pct_time"):
        return {"cmap": "magma", "vmin": 0.0, "vmax": 100.0}
    if field in ("visible_min", "visible_max"):
        top_i = int(max(1, np.ceil(top)))
        bounds = np.arange(-0.5, top_i + 1.5, 1.0 if top_i <= 24 else np.ceil(top_i / 24))
        centres = (bounds[:-1] + bounds[1:]) / 2
        ticks = centres[:: max(1, int(np.ceil(centres.size / 8)))]
        return {"cmap": plt.get_cmap("viridis"), "norm": BoundaryNorm(bounds, 256), "ticks": ticks}
    return {"cmap": "viridis", "vmin": 0.0, "vmax": max(top, 1.0)}
