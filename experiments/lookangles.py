"""Look angles: azimuth, elevation and range of satellites seen from a place on the ground.

A station's local frame is east-north-up (ENU) on the WGS84 ellipsoid: ``up``
is the ellipsoid normal at the station's geodetic latitude and longitude,
``east`` points along the parallel and ``north`` completes the right-handed
set.  A satellite's line of sight, expressed in that frame, gives

* elevation: angle above the plane normal to ``up`` (no refraction -- what
  Skyfield's ``(sat - topos).at(t).altaz()`` reports);
* azimuth: clockwise from north through east, 0..360 degrees.

Everything is ITRS/ECEF km and broadcasts over leading axes.
"""

from __future__ import annotations

import numpy as np

from orbits.stations import GroundStation, geodetic_to_itrs_km


def enu_basis(lat_deg, lon_deg) -> np.ndarray:
    """Rows east, north, up (unit vectors, ITRS) at geodetic lat/lon, shape (..., 3, 3)."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl * so)
    east = np.stack([-so + zero, co + zero, zero], axis=-1)
    north = np.stack([-sl * co, -sl * so, cl + zero], axis=-1)
    up = np.stack([cl * co, cl * so, sl + zero], axis=-1)
    return np.stack([east, north, up], axis=-2)


def look_angles(station: GroundStation, sat_km: np.ndarray):
    """Azimuth (deg, 0..360 from north), elevation (deg) and range (km) of satellites from a station.

    ``sat_km`` is ITRS km of any shape (..., 3) -- typically (time, sat, 3);
    each result has the leading shape (...).
    """
    sta = geodetic_to_itrs_km(np.radians(station.lat_deg), np.radians(station.lon_deg), station.alt_m / 1000.0)
    basis = enu_basis(station.lat_deg, station.lon_deg)       # (3, 3)
    los = np.asarray(sat_km, dtype=float) - sta               # (..., 3)
    enu = los @ basis.T                                       # (..., 3): east, north, up
    range_km = np.linalg.norm(enu, axis=-1)
    el_deg = np.degrees(np.arcsin(np.clip(enu[..., 2] / range_km, -1.0, 1.0)))
    az_deg = np.degrees(np.arctan2(enu[..., 0], enu[..., 1])) % 360.0
    return az_deg, el_deg, range_km
