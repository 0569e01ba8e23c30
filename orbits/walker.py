"""Walker constellations built directly as SGP4 orbits.

A Walker shell ``i: T/P/F`` puts ``P`` planes of ``S = T/P`` satellites each
on circular orbits of one inclination.  The planes' ascending nodes are
spread evenly over ``raan_spread_deg`` (360 for a *delta* pattern, 180 for a
*star* pattern whose planes all cross near the poles), and satellite ``s`` of
plane ``p`` has argument of latitude::

    u = 360/S * s + 360 * F / T * p   (+ an optional per-plane offset)

Each orbit is initialised with ``sgp4init`` (WGS72, Kozai mean motion), so the
satellites propagate with the same SGP4 model as published TLEs and can be
written out as TLE text (:meth:`orbits.satellite.Satellite.tle`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from sgp4.api import WGS72, Satrec

from .satellite import Satellite, classify_layer, mean_motion_rev_day
from .timebase import parse_utc, timescale

#: sgp4init counts epoch days from 1949 December 31 00:00 UT (JD 2433281.5).
_SGP4_EPOCH_JD = 2433281.5


def sgp4_epoch_days(epoch: dt.datetime) -> float:
    """Days since 1949-12-31 00:00 UTC, the epoch argument of ``sgp4init``."""
    t = timescale().from_datetime(parse_utc(epoch))
    return (t.whole - _SGP4_EPOCH_JD) + t.tai_fraction - t._leap_seconds() / 86400.0


def circular_satrec(
    satnum: int,
    epoch: dt.datetime,
    inclination_deg: float,
    raan_deg: float,
    arg_latitude_deg: float,
    mean_motion_rev_day: float,
    eccentricity: float = 0.0,
) -> Satrec:
    """An SGP4 element set for a (near-)circular orbit with no drag.

    The argument of latitude is carried by the mean anomaly (argument of
    perigee 0), which is exact for a circular orbit.
    """
    sat = Satrec()
    sat.sgp4init(
        WGS72, "i", satnum, sgp4_epoch_days(epoch),
        0.0, 0.0, 0.0,  # bstar, ndot, nddot: no drag
        eccentricity, 0.0, math.radians(inclination_deg),
        math.radians(arg_latitude_deg % 360.0),
        mean_motion_rev_day * 2 * math.pi / 1440.0,  # rad/min
        math.radians(raan_deg % 360.0),
    )
    return sat


@dataclass(frozen=True)
class WalkerShell:
    """A Walker delta or star shell: ``planes`` x ``sats_per_plane`` circular orbits.

    Give either ``altitude_km`` (above the equatorial radius) or
    ``mean_motion_rev_day``.  ``pattern`` is ``"delta"`` (nodes over 360
    degrees) or ``"star"`` (over 180); ``raan_spread_deg`` overrides it.
    ``plane_phase_offsets_deg`` adds a phase per plane (length ``planes``).
    """

    planes: int
    sats_per_plane: int
    inclination_deg: float
    altitude_km: float | None = None
    mean_motion_rev_day: float | None = None
    phasing: int = 1
    pattern: str = "delta"
    raan_spread_deg: float | None = None
    raan_offset_deg: float = 0.0
    plane_phase_offsets_deg: tuple[float, ...] | None = None
    eccentricity: float = 0.0
    first_satnum: int = 90001
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if (self.altitude_km is None) == (self.mean_motion_rev_day is None):
            raise ValueError("give exactly one of altitude_km or mean_motion_rev_day")
        if self.altitude_km is not None and not self.altitude_km > 0:
            raise ValueError(f"altitude_km must be above the Earth's surface, got {self.altitude_km}")
        if self.mean_motion_rev_day is not None and not self.mean_motion_rev_day > 0:
            raise ValueError(f"mean_motion_rev_day must be positive, got {self.mean_motion_rev_day}")
        if self.planes < 1 or self.sats_per_plane < 1:
            raise ValueError("planes and sats_per_plane must be at least 1")
        if not 0 <= self.phasing < self.planes:
            raise ValueError(f"phasing must be in 0..{self.planes - 1}")
        if self.pattern not in ("delta", "star"):
            raise ValueError("pattern must be 'delta' or 'star'")
        if self.plane_phase_offsets_deg is not None and len(self.plane_phase_offsets_deg) != self.planes:
            raise ValueError(f"plane_phase_offsets_deg needs {self.planes} values")

    @property
    def total(self) -> int:
        return self.planes * self.sats_per_plane

    @property
    def spread_deg(self) -> float:
        if self.raan_spread_deg is not None:
            return self.raan_spread_deg
        return 360.0 if self.pattern == "delta" else 180.0

    @property
    def n_rev_day(self) -> float:
        if self.mean_motion_rev_day is not None:
            return self.mean_motion_rev_day
        return mean_motion_rev_day(self.altitude_km)

    def satellites(self, shell: str, epoch: dt.datetime, name_format: str = "{shell}-{plane}-{slot:02d}") -> list[Satellite]:
        """The shell's satellites, plane by plane, with plane and slot indices set."""
        out = []
        for p in range(self.planes):
            raan = self.raan_offset_deg + p * self.spread_deg / self.planes
            offset = self.plane_phase_offsets_deg[p] if self.plane_phase_offsets_deg else 0.0
            for s in range(self.sats_per_plane):
                u = 360.0 / self.sats_per_plane * s + 360.0 * self.phasing / self.total * p + offset
                satrec = circular_satrec(
                    self.first_satnum + len(out), epoch, self.inclination_deg, raan, u,
                    self.n_rev_day, self.eccentricity,
                )
                node = name_format.format(shell=shell, plane=p, slot=s)
                out.append(Satellite(node, node.upper(), shell, classify_layer(satrec), satrec, p, s))
        return out
