"""Moving ground users: ships, aircraft and vehicles whose position changes step by step.

A mover is a ground node like a station (own antennas, elevation mask,
ground-link policy) whose WGS84 position follows a :class:`Track`: timed
waypoints, from a CSV file (``t_s, lat_deg, lon_deg[, alt_m]``), a GPX file
(``<trkpt lat lon><ele/><time/></trkpt>``) or a great-circle route between
two places flown at a constant speed.  Between two waypoints the mover
travels along the great circle joining them at a constant rate (spherical
linear interpolation of the unit vectors of geodetic latitude and
longitude, the navigator's great circle), and its altitude changes
linearly; before the first waypoint it waits there, after the last it
stays.  Positions are returned in ITRS km, like every node's.

In a scenario::

    movers:
      - {name: Ship1, track: ship.csv}
      - {name: Flight1, from: Beijing, to: Paris, speed_kmh: 900, depart_s: 0, alt_m: 10000,
         min_elevation_deg: 25, antennas: 1}

``from``/``to`` are built-in station names or ``{lat_deg, lon_deg}``.  A
GPX track's first point is placed at ``depart_s`` (default 0) and its times
keep their spacing; CSV times are seconds after the scenario's start.
Fibre links to movers are refused: they move.
"""

from __future__ import annotations

import csv
import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .stations import GroundStation, UnknownStation, builtin_station, geodetic_to_itrs_km, local_up
from .timebase import timescale

#: Mean Earth radius (km) for great-circle route lengths.
EARTH_MEAN_RADIUS_KM = 6371.0088


class MoverError(ValueError):
    """A mover that cannot be built; ``field`` names the scenario key at fault."""

    def __init__(self, field_: str, message: str):
        super().__init__(message)
        self.field = field_


def _unit(lat_deg, lon_deg) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


@dataclass(frozen=True, eq=False)
class Track:
    """Timed waypoints of a moving node: ``t_s`` seconds after ``epoch`` (UTC), geodetic WGS84
    ``lat_deg``, ``lon_deg``, ``alt_m``, each shape (point,), ``t_s`` strictly increasing."""

    epoch: dt.datetime
    t_s: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_m: np.ndarray

    def __post_init__(self):
        t = np.asarray(self.t_s, dtype=float)
        if t.ndim != 1 or t.size == 0:
            raise ValueError("a track needs at least one point")
        if (np.diff(t) <= 0).any():
            raise ValueError("track times must increase strictly")
        if (np.abs(self.lat_deg) > 90).any():
            raise ValueError("track latitudes must be within -90..90")
        u = _unit(self.lat_deg, self.lon_deg)
        if (np.einsum("ij,ij->i", u[1:], u[:-1]) < -1 + 1e-9).any():
            raise ValueError("two consecutive track points are antipodal: the great circle between them is undefined")

    def seconds(self, t) -> np.ndarray:
        """Seconds after the track's epoch of a Skyfield Time (array or scalar), shape (time,)."""
        epoch_tt = timescale().from_datetime(self.epoch).tt
        return np.atleast_1d((np.asarray(t.tt) - epoch_tt) * 86400.0)

    def geodetic(self, t_s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lat_deg, lon_deg, alt_m) at times ``t_s`` (seconds after the epoch), each shape (time,)."""
        t = np.clip(np.atleast_1d(np.asarray(t_s, dtype=float)), self.t_s[0], self.t_s[-1])
        if self.t_s.size == 1:
            n = t.size
            return np.full(n, self.lat_deg[0]), np.full(n, self.lon_deg[0]), np.full(n, self.alt_m[0])
        i = np.clip(np.searchsorted(self.t_s, t, side="right") - 1, 0, self.t_s.size - 2)
        f = (t - self.t_s[i]) / (self.t_s[i + 1] - self.t_s[i])
        u0, u1 = _unit(self.lat_deg[i], self.lon_deg[i]), _unit(self.lat_deg[i + 1], self.lon_deg[i + 1])
        omega = np.arccos(np.clip(np.einsum("ij,ij->i", u0, u1), -1.0, 1.0))
        small = omega < 1e-12
        s = np.where(small, 1.0, np.sin(omega))
        a = np.where(small, 1.0 - f, np.sin((1.0 - f) * omega) / s)
        b = np.where(small, f, np.sin(f * omega) / s)
        u = a[:, None] * u0 + b[:, None] * u1
        lat = np.degrees(np.arcsin(np.clip(u[:, 2] / np.linalg.norm(u, axis=1), -1.0, 1.0)))
        lon = np.degrees(np.arctan2(u[:, 1], u[:, 0]))
        alt = self.alt_m[i] + f * (self.alt_m[i + 1] - self.alt_m[i])
        return lat, lon, alt

    def positions_km(self, t_s) -> np.ndarray:
        """ITRS km at times ``t_s`` (seconds after the epoch), shape (time, 3)."""
        lat, lon, alt = self.geodetic(t_s)
        return geodetic_to_itrs_km(np.radians(lat), np.radians(lon), alt / 1000.0)

    def up(self, t_s) -> np.ndarray:
        """Unit geodetic vertical at times ``t_s``, ITRS, shape (time, 3)."""
        lat, lon, _ = self.geodetic(t_s)
        return local_up(np.radians(lat), np.radians(lon))

    # -- makers -------------------------------------------------------------------------------
    @classmethod
    def great_circle(cls, epoch, start: tuple[float, float], end: tuple[float, float], speed_kmh: float,
                     depart_s: float = 0.0, alt_m: float = 0.0) -> "Track":
        """From ``start`` to ``end`` ((lat_deg, lon_deg)) along the great circle at ``speed_kmh``."""
        if not speed_kmh > 0:
            raise ValueError("speed_kmh must be positive")
        u0, u1 = _unit(*start), _unit(*end)
        length_km = EARTH_MEAN_RADIUS_KM * float(np.arccos(np.clip(u0 @ u1, -1.0, 1.0)))
        if length_km < 1e-6:
            raise ValueError("from and to are the same place")
        t1 = depart_s + length_km / speed_kmh * 3600.0
        return cls(epoch, np.array([depart_s, t1]), np.array([start[0], end[0]]),
                   np.array([start[1], end[1]]), np.array([alt_m, alt_m], dtype=float))

    @classmethod
    def from_csv(cls, path: str | Path, epoch) -> "Track":
        """A CSV with a header naming ``t_s, lat_deg, lon_deg`` and optionally ``alt_m``."""
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"t_s", "lat_deg", "lon_deg"} <= set(rows[0]):
            raise ValueError(f"{path}: expected a header with t_s, lat_deg, lon_deg[, alt_m]")
        try:
            cols = {k: np.array([float(r[k]) for r in rows]) for k in ("t_s", "lat_deg", "lon_deg")}
            alt = np.array([float(r.get("alt_m") or 0.0) for r in rows])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: every t_s, lat_deg, lon_deg, alt_m must be a number") from None
        return cls(epoch, cols["t_s"], cols["lat_deg"], cols["lon_deg"], alt)

    @classmethod
    def from_gpx(cls, path: str | Path, epoch, depart_s: float = 0.0) -> "Track":
        """A GPX 1.0/1.1 track (every ``trkpt`` with a ``time``); its first point at ``depart_s``."""
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise ValueError(f"{path}: not valid GPX XML ({exc})") from None
        pts = [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] in ("trkpt", "rtept")]
        if not pts:
            raise ValueError(f"{path}: no trkpt in the file")
        lat, lon, alt, when = [], [], [], []
        for p in pts:
            kids = {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in p}
            if "time" not in kids:
                raise ValueError(f"{path}: every trkpt needs a <time>")
            lat.append(float(p.get("lat")))
            lon.append(float(p.get("lon")))
            alt.append(float(kids.get("ele") or 0.0))
            when.append(dt.datetime.fromisoformat(kids["time"].replace("Z", "+00:00")).timestamp())
        t = np.array(when) - when[0] + depart_s
        return cls(epoch, t, np.array(lat), np.array(lon), np.array(alt))


@dataclass(frozen=True)
class MovingStation(GroundStation):
    """A ground station that moves along ``track``; ``lat_deg``/``lon_deg``/``alt_m`` are where it starts."""

    track: Track | None = field(default=None, compare=False, repr=False)


def _place(value, where: str) -> tuple[float, float]:
    if isinstance(value, str):
        try:
            st = builtin_station(value)
        except UnknownStation as exc:
            raise MoverError(where, str(exc)) from None
        return st.lat_deg, st.lon_deg
    if isinstance(value, dict) and set(value) == {"lat_deg", "lon_deg"}:
        lat, lon = value["lat_deg"], value["lon_deg"]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)) and abs(lat) <= 90:
            return float(lat), float(lon)
    raise MoverError(where, f"expected a built-in station name or {{lat_deg, lon_deg}}, got {value!r}")


_KEYS = ("name", "track", "from", "to", "speed_kmh", "depart_s", "alt_m", "min_elevation_deg", "antennas")


def mover_station(spec: dict, epoch, base_dir: Path, where: str) -> MovingStation:
    """Build one ``movers[]`` entry; :class:`MoverError` names the field at fault."""
    if not isinstance(spec, dict):
        raise MoverError(where, "expected a mapping like {name: Ship1, track: ship.csv}")
    unknown = [k for k in spec if k not in _KEYS]
    if unknown:
        raise MoverError(f"{where}.{unknown[0]}", f"unknown key; accepted: {', '.join(_KEYS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise MoverError(f"{where}.name", "a mover needs a name")
    for key in ("speed_kmh", "depart_s", "alt_m", "min_elevation_deg"):
        v = spec.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise MoverError(f"{where}.{key}", f"expected a number, got {v!r}")
    track = _track(spec, epoch, base_dir, where)
    lat, lon, alt = (float(x[0]) for x in track.geodetic([track.t_s[0]]))
    antennas = spec.get("antennas")
    if antennas is not None and (isinstance(antennas, bool) or not isinstance(antennas, int) or antennas < 1):
        raise MoverError(f"{where}.antennas", f"expected a whole number >= 1, got {antennas!r}")
    return MovingStation(name, lat, lon, alt, spec.get("min_elevation_deg"), antennas, track=track)


def _track(spec: dict, epoch, base_dir: Path, where: str) -> Track:
    route = [k for k in ("from", "to", "speed_kmh") if k in spec]
    if ("track" in spec) == bool(route):
        raise MoverError(where, "give either track (a CSV or GPX file) or from, to and speed_kmh")
    try:
        if "track" in spec:
            path = Path(str(spec["track"])).expanduser()
            if not path.is_absolute():
                path = base_dir / path
            if not path.is_file():
                raise MoverError(f"{where}.track", f"no such file: {path}")
            if path.suffix.lower() == ".gpx":
                return Track.from_gpx(path, epoch, float(spec.get("depart_s", 0.0)))
            return Track.from_csv(path, epoch)
        missing = [k for k in ("from", "to", "speed_kmh") if k not in spec]
        if missing:
            raise MoverError(f"{where}.{missing[0]}", "a great-circle route needs from, to and speed_kmh")
        return Track.great_circle(epoch, _place(spec["from"], f"{where}.from"), _place(spec["to"], f"{where}.to"),
                                  float(spec["speed_kmh"]), float(spec.get("depart_s", 0.0)),
                                  float(spec.get("alt_m", 0.0)))
    except MoverError:
        raise
    except ValueError as exc:
        raise MoverError(f"{where}.track" if "track" in spec else where, str(exc)) from None
