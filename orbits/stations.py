"""Ground stations: fixed points on the WGS84 ellipsoid that link to satellites.

The built-in list (``orbits/data/stations.csv``) holds about 130 cities: the
world's large cities and remote sites useful for coverage studies, plus the
Chinese sites a BeiDou user expects (Beijing, Shanghai, Kashi, Sanya,
Harbin, Lhasa, Xian, Urumqi, ...).  Scenarios pick from it by name and add
their own stations.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class GroundStation:
    """A ground station at a geodetic WGS84 position.

    ``min_elevation_deg`` and ``antennas`` are the station's own elevation
    mask and number of simultaneous satellite links; ``None`` means "use the
    link rule's value".
    """

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    min_elevation_deg: float | None = None
    antennas: int | None = None
    country: str = ""

    def with_overrides(self, **kw) -> "GroundStation":
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values.update({k: v for k, v in kw.items() if v is not None})
        return GroundStation(**values)


@lru_cache(maxsize=1)
def builtin_stations() -> dict[str, GroundStation]:
    """The built-in stations keyed by lower-case name, in file order."""
    text = resources.files("orbits").joinpath("data/stations.csv").read_text()
    out = {}
    for row in csv.DictReader(text.splitlines()):
        st = GroundStation(row["name"], float(row["lat_deg"]), float(row["lon_deg"]),
                           float(row["alt_m"]), country=row["country"])
        out[st.name.lower()] = st
    return out


class UnknownStation(KeyError):
    """A station name that is not in the built-in list."""

    def __str__(self):
        return self.args[0]


def builtin_station(name: str) -> GroundStation:
    """Look up a built-in station by name, ignoring case."""
    stations = builtin_stations()
    try:
        return stations[name.lower()]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), list(stations), n=3)
        hint = f" (did you mean {', '.join(stations[c].name for c in close)}?)" if close else ""
        raise UnknownStation(f"unknown station {name!r}{hint}; `sgemu stations` lists the built-in ones") from None


def station_positions_km(stations: list[GroundStation]) -> np.ndarray:
    """ITRS (ECEF) positions of the stations in km, shape (station, 3)."""
    if not stations:
        return np.zeros((0, 3))
    lat = np.radians([s.lat_deg for s in stations])
    lon = np.radians([s.lon_deg for s in stations])
    h_km = np.array([s.alt_m for s in stations]) / 1000.0
    return geodetic_to_itrs_km(lat, lon, h_km)


#: WGS84 ellipsoid.
WGS84_A_KM = 6378.137
WGS84_F = 1 / 298.257223563


def geodetic_to_itrs_km(lat_rad, lon_rad, h_km) -> np.ndarray:
    """WGS84 geodetic latitude/longitude (rad) and height (km) to ITRS xyz km, shape (..., 3)."""
    e2 = WGS84_F * (2 - WGS84_F)
    sin_lat = np.sin(lat_rad)
    n = WGS84_A_KM / np.sqrt(1 - e2 * sin_lat**2)
    x = (n + h_km) * np.cos(lat_rad) * np.cos(lon_rad)
    y = (n + h_km) * np.cos(lat_rad) * np.sin(lon_rad)
    z = (n * (1 - e2) + h_km) * sin_lat
    return np.stack([x, y, z], axis=-1)


def local_up(lat_rad, lon_rad) -> np.ndarray:
    """Unit vector of the geodetic vertical (ellipsoid normal), ITRS, shape (..., 3)."""
    return np.stack([np.cos(lat_rad) * np.cos(lon_rad), np.cos(lat_rad) * np.sin(lon_rad), np.sin(lat_rad)], axis=-1)
