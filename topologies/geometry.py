"""Geometry between nodes: elevation, slant range, Earth blockage, great circles.

All positions are ITRS/ECEF in km.  Functions broadcast over leading axes,
so a whole (time, station, satellite) block is one call.
"""

from __future__ import annotations

import numpy as np

#: Speed of light in vacuum, km per millisecond.
C_KM_PER_MS = 299_792.458 / 1000.0
#: Group index of standard single-mode fibre: light in fibre travels at c / 1.468.
FIBER_INDEX = 1.468
#: WGS84 semi-axes, km.
EARTH_A_KM = 6378.137
EARTH_B_KM = 6356.752314245
#: Mean Earth radius (great-circle distances), km.
EARTH_MEAN_RADIUS_KM = 6371.0088


def sin_elevation_and_range(sta_km: np.ndarray, up: np.ndarray, sat_km: np.ndarray):
    """Sine of elevation and slant range (km) of satellites seen from stations.

    ``sta_km`` and ``up`` are (station, 3), ``sat_km`` is (time, sat, 3);
    both results are (time, station, sat).  Elevation is measured from the
    plane normal to the geodetic vertical ``up`` (what Skyfield's ``altaz``
    reports, without refraction).  Every dot product is a matrix product,
    so a block of 100 stations x 1,600 satellites costs a few BLAS calls
    per step and no (time, station, sat, 3) array is ever made.  The sine is
    returned because comparing it with ``sin(mask)`` avoids an arcsin per pair.
    """
    sat_dot_up = np.matmul(up, np.swapaxes(sat_km, 1, 2))      # (time, G, S)
    sat_dot_sta = np.matmul(sta_km, np.swapaxes(sat_km, 1, 2))  # (time, G, S)
    sta_dot_up = np.einsum("gk,gk->g", sta_km, up)[None, :, None]
    r2 = sat_dot_sta
    r2 *= -2.0
    r2 += np.einsum("tsk,tsk->ts", sat_km, sat_km)[:, None, :]
    r2 += np.einsum("gk,gk->g", sta_km, sta_km)[None, :, None]
    np.maximum(r2, 1e-12, out=r2)
    range_km = np.sqrt(r2, out=r2)
    sin_el = sat_dot_up
    sin_el -= sta_dot_up
    sin_el /= range_km
    return sin_el, range_km


def elevation_and_range(sta_km: np.ndarray, up: np.ndarray, sat_km: np.ndarray):
    """Elevation (deg) and slant range (km), shapes (time, station, sat); see above."""
    sin_el, range_km = sin_elevation_and_range(sta_km, up, sat_km)
    return np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0))), range_km


def clears_earth(a_km: np.ndarray, b_km: np.ndarray, grazing_km: float = 80.0) -> np.ndarray:
    """True where the straight segment a-b stays above the Earth plus grazing_km.

    The Earth is the WGS84 ellipsoid grown by ``grazing_km``; scaling the z
    axis by a/b turns it into a sphere of radius ``a + grazing_km``, and the
    test becomes "the segment's closest point to the centre lies outside
    that sphere".  Shapes broadcast; the last axis is xyz.
    """
    scale = np.array([1.0, 1.0, EARTH_A_KM / EARTH_B_KM])
    a = a_km * scale
    b = b_km * scale
    d = b - a
    dd = np.einsum("...k,...k->...", d, d)
    t = np.clip(-np.einsum("...k,...k->...", a, d) / np.maximum(dd, 1e-12), 0.0, 1.0)
    closest = a + t[..., None] * d
    radius = EARTH_A_KM + grazing_km
    return np.einsum("...k,...k->...", closest, closest) > radius * radius


def pairwise_distance_and_clearance(a_km: np.ndarray, b_km: np.ndarray, grazing_km: float = 80.0):
    """Distances (km) and Earth clearance between every a and every b, per step.

    ``a_km`` is (time, A, 3), ``b_km`` (time, B, 3); both results are
    (time, A, B).  Same test as :func:`clears_earth`, written with dot
    products (batched matrix products) so no (time, A, B, 3) array is made:
    for d = b - a, the closest point of the segment to the centre is at
    t = clip(-a.d / d.d, 0, 1) and its squared radius is
    a.a + 2 t a.d + t^2 d.d.
    """
    aa = np.einsum("tak,tak->ta", a_km, a_km)[:, :, None]
    bb = np.einsum("tbk,tbk->tb", b_km, b_km)[:, None, :]
    ab = np.matmul(a_km, np.swapaxes(b_km, 1, 2))
    dist = np.sqrt(np.maximum(aa + bb - 2 * ab, 0.0))
    scale = np.array([1.0, 1.0, EARTH_A_KM / EARTH_B_KM])
    a_s, b_s = a_km * scale, b_km * scale
    aa = np.einsum("tak,tak->ta", a_s, a_s)[:, :, None]
    bb = np.einsum("tbk,tbk->tb", b_s, b_s)[:, None, :]
    ab = np.matmul(a_s, np.swapaxes(b_s, 1, 2))
    a_dot_d = ab - aa
    d_dot_d = np.maximum(aa + bb - 2 * ab, 1e-12)
    t = np.clip(-a_dot_d / d_dot_d, 0.0, 1.0)
    r2 = aa + t * (2 * a_dot_d + t * d_dot_d)
    radius = EARTH_A_KM + grazing_km
    return dist, r2 > radius * radius


def distance_km(a_km: np.ndarray, b_km: np.ndarray) -> np.ndarray:
    """Straight-line distance between positions, km (last axis xyz)."""
    return np.linalg.norm(a_km - b_km, axis=-1)


def great_circle_km(lat1_deg, lon1_deg, lat2_deg, lon2_deg) -> np.ndarray:
    """Great-circle distance on the mean-radius sphere (haversine), km."""
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dl = np.radians(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def latitude_deg(pos_km: np.ndarray) -> np.ndarray:
    """Geocentric latitude of ITRS positions, degrees (last axis xyz)."""
    return np.degrees(np.arctan2(pos_km[..., 2], np.hypot(pos_km[..., 0], pos_km[..., 1])))
