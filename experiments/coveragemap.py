"""Coverage maps: a group's coverage figures drawn over the world, four panels to a figure.

Each panel colours the grid cells of one per-point field of
:class:`experiments.coverage.Coverage` and draws the coastlines on top:

* mean number of satellites in view (above the elevation mask);
* satellites in view at all but at most 5 % of the time (the 5th
  percentile: the minimum without its rare moments, see the
  :mod:`experiments.coverage` docstring for why the plain minimum stripes);
* for groups that give a position fix alone, % of the time with PDOP at or
  below the limit (default 2, "excellent": at the classical limit of 6
  BeiDou-3 is available everywhere all the time, a map of one colour) and
  the PDOP not exceeded 95 % of the time (colours stop at 6: anything worse,
  or no fix that often, is one colour);
* for other navigation groups, % of the time with at least four in view
  and the maximum in view, and a line under the title saying why there is
  no PDOP;
* for LEO and mixed groups, % of the time with at least one in view and
  the maximum number in view.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm

from .coverage import USABLE_PDOP, Coverage
from .figures import duration_text, plural, plt
from .worldmap import world_axes

#: PDOP colour scale upper end; worse geometry (and no fix) saturates.
PDOP_CEILING = USABLE_PDOP
#: Colour of cells whose PDOP is above the scale or that had no fix.
NO_FIX_COLOR = "#4a0d0d"


def panels_for(cov: Coverage, group: str) -> list[tuple[str, str]]:
    """(field, title) of the four panels drawn for a group."""
    g = cov.groups[group]
    common = [("visible_mean", "mean satellites in view"),
              ("visible_p5", "satellites in view 95 % of the time")]
    if g.navigation and g.fix_alone:
        return common + [("pct_time_pdop_ok", f"% of time with PDOP ≤ {cov.pdop_limit:g}"),
                         ("pdop_p95", "PDOP not exceeded 95 % of the time")]
    if g.navigation and g.n_sats >= 4:
        return common + [("pct_time_4plus", "% of time with ≥4 in view"), ("visible_max", "maximum satellites in view")]
    return common + [("pct_time_1plus", "% of time with ≥1 in view"), ("visible_max", "maximum satellites in view")]


def coverage_figure(cov: Coverage, group: str, panels: list[tuple[str, str]] | None = None, ncols: int = 2):
    """A figure of a group's coverage panels (default :func:`panels_for`); needs a grid."""
    panels = panels or panels_for(cov, group)
    grid = cov.grid
    step = grid.step_deg
    lat_edges = np.clip(np.append(grid.lat_deg - step / 2, grid.lat_deg[-1] + step / 2), -90, 90)
    lon_edges = np.append(grid.lon_deg - step / 2, grid.lon_deg[-1] + step / 2)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 3.35 * nrows + 0.7), layout="constrained",
                             squeeze=False)
    g = cov.groups[group]
    for ax, (field, title) in zip(axes.ravel(), panels):
        data = cov.on_grid(group, field)
        kw = _style(field, data)
        ticks = kw.pop("ticks", None)
        if field.startswith("pdop"):
            data = np.where(np.isinf(data), 1e9, data)  # no fix that often: the "over" colour
        world_axes(ax, land=False, ocean=False, coast_zorder=3)
        mesh = ax.pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(data), zorder=1, shading="flat",
                             gid=f"field:{field}", **kw)
        cb = fig.colorbar(mesh, ax=ax, shrink=0.85, pad=0.01, extend="max" if field.startswith("pdop") else "neither")
        if ticks is not None:
            cb.set_ticks(ticks)
        if field.startswith("pdop"):
            cb.set_label(f"dark: > {PDOP_CEILING:g} or no fix", fontsize=7)
        cb.ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=9)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    a = cov.axis
    head = (f"Coverage of {group} ({plural(g.n_sats, 'satellite')}), mask {cov.min_elevation_deg:g}°, "
            f"{a.start:%Y-%m-%d %H:%M} UTC + {duration_text(a.duration_s)} every {duration_text(a.step_s)}, "
            f"{step:g}° grid")
    if g.navigation and not g.fix_alone:
        head += f"\nNo PDOP: {group} cannot give a position fix alone ({g.fix_note})"
    fig.suptitle(head, fontsize=10)
    return fig


def _style(field: str, data: np.ndarray) -> dict:
    finite = data[np.isfinite(data)]
    top = float(finite.max()) if finite.size else 1.0
    if field.startswith("pdop"):
        cmap = plt.get_cmap("RdYlGn_r").with_extremes(over=NO_FIX_COLOR)
        return {"cmap": cmap, "vmin": 1.0, "vmax": PDOP_CEILING}
    if field.startswith("pct_time"):
        return {"cmap": "magma", "vmin": 0.0, "vmax": 100.0}
    if field in ("visible_min", "visible_max", "visible_p5"):
        top_i = int(max(1, np.ceil(top)))
        bounds = np.arange(-0.5, top_i + 1.5, 1.0 if top_i <= 24 else np.ceil(top_i / 24))
        centres = (bounds[:-1] + bounds[1:]) / 2
        ticks = centres[:: max(1, int(np.ceil(centres.size / 8)))]
        return {"cmap": plt.get_cmap("viridis"), "norm": BoundaryNorm(bounds, 256), "ticks": ticks}
    return {"cmap": "viridis", "vmin": 0.0, "vmax": max(top, 1.0)}
