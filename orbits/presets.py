"""Named constellations: well-known LEO shells and the nominal BeiDou-3.

``PRESETS[name].satellites(shell, epoch)`` builds a preset's satellites.  The
LEO shells are Walker designs from their operators' filings; near-polar
shells (OneWeb, Iridium, Telesat's polar shell) are *star* patterns, since
their planes all cross near the poles.

``bds3`` is the nominal BeiDou-3 design: 24 MEO satellites in a Walker
24/3/1 at 21,528 km and 55 degrees, 3 IGSO at geosynchronous altitude and
55 degrees sharing one figure-eight ground track whose node is at 118 E, and
3 GEO at 80, 110.5 and 140 E.  For the real, as-flown BeiDou positions use a
TLE file instead (``../shared/data/tle/beidou.txt``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Callable

from .satellite import GEOSYNC_REV_DAY, Satellite, classify_layer
from .timebase import timescale
from .walker import WalkerShell, circular_satrec


@dataclass(frozen=True)
class Preset:
    """A named constellation that can build its satellites at an epoch."""

    name: str
    description: str
    build: Callable[[str, dt.datetime, int], list[Satellite]]

    def satellites(self, shell: str, epoch: dt.datetime, first_satnum: int = 90001) -> list[Satellite]:
        return self.build(shell, epoch, first_satnum)


def _walker_preset(name: str, description: str, **params) -> Preset:
    def build(shell, epoch, first_satnum):
        return WalkerShell(first_satnum=first_satnum, **params).satellites(shell, epoch)

    return Preset(name, description, build)


def _gmst_deg(epoch: dt.datetime) -> float:
    """Greenwich mean sidereal angle at epoch, degrees (the TEME x-axis longitude offset)."""
    from skyfield.sgp4lib import theta_GMST1982

    t = timescale().from_datetime(epoch)
    theta, _ = theta_GMST1982(t.whole, t.ut1_fraction)
    return math.degrees(theta)


#: Node longitude of the BeiDou-3 IGSO ground track and the GEO slots (degrees east).
BDS3_IGSO_NODE_LON_DEG = 118.0
BDS3_GEO_LON_DEG = (80.0, 110.5, 140.0)
BDS3_MEO_ALTITUDE_KM = 21528.0


def bds3_satellites(shell: str, epoch: dt.datetime, first_satnum: int = 90001) -> list[Satellite]:
    """The nominal BeiDou-3 constellation (24 MEO, 3 IGSO, 3 GEO) at epoch.

    IGSO satellite ``k`` has its node 120*k degrees further east in inertial
    space and its argument of latitude 120*k degrees behind, so it crosses the
    equator northbound 8 sidereal hours after satellite ``k-1`` -- exactly when
    the Earth has turned the same 120 degrees: all three trace one figure-eight
    centred on 118 E.  GEO satellites sit at inclination 0 with their mean
    longitude (node + argument of latitude - GMST) on their slot.
    """
    gmst = _gmst_deg(epoch)
    meo = WalkerShell(
        planes=3, sats_per_plane=8, phasing=1, inclination_deg=55.0,
        altitude_km=BDS3_MEO_ALTITUDE_KM, first_satnum=first_satnum,
    ).satellites(shell, epoch)
    for k, sat in enumerate(meo):
        sat.node = f"{shell}-M{k + 1:02d}"
        sat.name = f"BDS-3 MEO-{k + 1:02d}"
    sats = list(meo)
    for k in range(3):
        satrec = circular_satrec(
            first_satnum + len(sats), epoch, 55.0,
            BDS3_IGSO_NODE_LON_DEG + gmst + 120.0 * k, -120.0 * k, GEOSYNC_REV_DAY,
        )
        sats.append(Satellite(f"{shell}-I{k + 1}", f"BDS-3 IGSO-{k + 1}", shell, classify_layer(satrec), satrec, k, 0))
    for k, lon in enumerate(BDS3_GEO_LON_DEG):
        satrec = circular_satrec(first_satnum + len(sats), epoch, 0.0, 0.0, lon + gmst, GEOSYNC_REV_DAY)
        sats.append(Satellite(f"{shell}-G{k + 1}", f"BDS-3 GEO-{k + 1} ({lon:g}E)", shell, classify_layer(satrec), satrec, None, k))
    return sats


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _walker_preset("starlink-550", "Starlink shell 1: Walker delta 72x22, 550 km, 53 deg",
                       planes=72, sats_per_plane=22, phasing=1, inclination_deg=53.0, altitude_km=550.0),
        _walker_preset("kuiper-630", "Kuiper shell: Walker delta 34x34, 630 km, 51.9 deg",
                       planes=34, sats_per_plane=34, phasing=1, inclination_deg=51.9, altitude_km=630.0),
        _walker_preset("oneweb", "OneWeb phase 1: Walker star 18x36, 1200 km, 87.9 deg",
                       planes=18, sats_per_plane=36, phasing=1, inclination_deg=87.9, altitude_km=1200.0,
                       pattern="star"),
        _walker_preset("iridium", "Iridium NEXT: Walker star 6x11, 780 km, 86.4 deg",
                       planes=6, sats_per_plane=11, phasing=1, inclination_deg=86.4, altitude_km=780.0,
                       pattern="star"),
        _walker_preset("telesat-1015", "Telesat Lightspeed polar shell: Walker star 27x13, 1015 km, 98.98 deg",
                       planes=27, sats_per_plane=13, phasing=1, inclination_deg=98.98, altitude_km=1015.0,
                       pattern="star"),
        Preset("bds3", "BeiDou-3 nominal: 24 MEO (Walker 24/3/1, 21528 km, 55 deg), "
                       "3 IGSO (55 deg, track at 118E), 3 GEO (80, 110.5, 140E)", bds3_satellites),
    )
}
