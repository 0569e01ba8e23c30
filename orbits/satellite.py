"""The :class:`Satellite` record: one orbit, its network node name and layer.

A satellite is an SGP4 element set (``sgp4.api.Satrec``) plus what the
network needs to know about it: a short node name, the shell (constellation)
it belongs to, its layer (LEO, MEO, IGSO or GEO) and, for shells built from a
Walker design or grouped by :mod:`orbits.planes`, its plane and slot.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sgp4.api import Satrec
from sgp4.exporter import export_tle
from skyfield.api import EarthSatellite

from .tle import TLE
from .timebase import timescale

#: Earth's equatorial radius and gravitational parameter in SGP4's WGS72 model.
EARTH_RADIUS_KM = 6378.135
MU_KM3_S2 = 398600.8
#: Mean motion of a geosynchronous orbit (one sidereal day), rev/day.
GEOSYNC_REV_DAY = 1.00273790935

LAYERS = ("LEO", "MEO", "IGSO", "GEO")


def semi_major_axis_km(mean_motion_rev_day: float) -> float:
    """Kepler semi-major axis for a mean motion (rev/day), in km."""
    n_rad_s = mean_motion_rev_day * 2 * math.pi / 86400.0
    return (MU_KM3_S2 / n_rad_s**2) ** (1.0 / 3.0)


def mean_motion_rev_day(altitude_km: float) -> float:
    """Kepler mean motion (rev/day) of a circular orbit at altitude_km above the equator radius."""
    a = EARTH_RADIUS_KM + altitude_km
    return math.sqrt(MU_KM3_S2 / a**3) * 86400.0 / (2 * math.pi)


def classify_layer(satrec: Satrec) -> str:
    """LEO, MEO, IGSO or GEO from mean motion and inclination.

    LEO: period under 128 minutes (below about 2,000 km).  Geosynchronous
    orbits (mean motion within 5% of one sidereal day) are GEO when inclined
    less than 5 degrees, IGSO otherwise.  Everything else is MEO.
    """
    n_rev_day = satrec.no_kozai * 1440.0 / (2 * math.pi)
    if n_rev_day > 1440.0 / 128.0:
        return "LEO"
    if abs(n_rev_day / GEOSYNC_REV_DAY - 1.0) < 0.05:
        return "GEO" if math.degrees(satrec.inclo) < 5.0 else "IGSO"
    return "MEO"


def node_safe(text: str) -> str:
    """A name reduced to letters, digits and hyphens (what a node name may hold)."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9-]", "-", text)).strip("-")


#: A PRN at the end of a published name: ``BEIDOU-3 M1 (C19)`` -> ``C19``, ``GPS BIIF-1 (PRN 25)`` -> ``25``.
_PRN = re.compile(r"\((?:PRN\s*)?([A-Z]?\d{1,3})\)\s*$", re.IGNORECASE)


def prn_of(name: str) -> str | None:
    """The PRN a published TLE name ends with, in brackets, else None."""
    m = _PRN.search(name or "")
    return m.group(1).upper() if m else None


def tle_node_names(shell: str, names: list[str], catalogue: list[int]) -> list[str]:
    """One node name per element set: ``<shell>-<PRN>`` when the published name ends in a PRN
    (``beidou-C19``), else ``<shell>-<catalogue number>`` (``beidou-43603``).

    A PRN carried by two sets (a replaced satellite) names neither: both fall back to their
    catalogue numbers, so a name always means one satellite.  ``names`` and ``catalogue``
    are parallel lists.
    """
    prns = [prn_of(n) for n in names]
    count: dict[str, int] = {}
    for p in prns:
        if p:
            count[p] = count.get(p, 0) + 1
    return [f"{shell}-{p}" if p and count[p] == 1 else f"{shell}-{c}" for p, c in zip(prns, catalogue)]


@dataclass(eq=False)
class Satellite:
    """One satellite of the network: an SGP4 orbit with a node name and a layer.

    ``node`` is the unique, short name the network uses (``leo-3-07``,
    ``bds3-M12``, ``beidou-C19``); ``name`` the published or generated
    display name.  ``plane`` and ``slot`` are indices within the shell when
    known (Walker shells, or TLE sets grouped by :func:`orbits.planes.assign_planes`).
    """

    node: str
    name: str
    shell: str
    layer: str
    satrec: Satrec
    plane: int | None = None
    slot: int | None = None
    _earth_satellite: EarthSatellite | None = field(default=None, repr=False)

    @classmethod
    def from_tle(cls, tle: TLE, shell: str, node: str | None = None) -> "Satellite":
        """A satellite from a published element set; the layer comes from its orbit."""
        satrec = Satrec.twoline2rv(tle.line1, tle.line2)
        return cls(node or f"{shell}-{tle.norad_id}", tle.name, shell, classify_layer(satrec), satrec)

    @property
    def earth_satellite(self) -> EarthSatellite:
        """The same orbit as a Skyfield ``EarthSatellite`` (for ``.at(t)``, altaz, ...)."""
        if self._earth_satellite is None:
            self._earth_satellite = EarthSatellite.from_satrec(self.satrec, timescale())
            self._earth_satellite.name = self.name
        return self._earth_satellite

    @property
    def mean_motion_rev_day(self) -> float:
        return self.satrec.no_kozai * 1440.0 / (2 * math.pi)

    @property
    def inclination_deg(self) -> float:
        return math.degrees(self.satrec.inclo)

    @property
    def raan_deg(self) -> float:
        return math.degrees(self.satrec.nodeo) % 360.0

    @property
    def argument_of_latitude_deg(self) -> float:
        """Argument of perigee plus mean anomaly at epoch (circular-orbit phase)."""
        return math.degrees(self.satrec.argpo + self.satrec.mo) % 360.0

    def tle(self) -> TLE:
        """The orbit as a valid two-line element set (checksums computed)."""
        line1, line2 = export_tle(self.satrec)
        return TLE(self.name, line1, line2)
