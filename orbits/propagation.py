"""Positions of every satellite at every instant, in one vectorised call.

:class:`Propagator` holds the SGP4 element sets of a whole network as one
``sgp4.api.SatrecArray`` and evaluates them for many instants at once (the C
extension loops, not Python).  SGP4 answers in its TEME frame; a rotation by
the Greenwich mean sidereal angle of 1982 (the same one Skyfield uses for
``TEME``; polar motion ignored) turns that into ITRS/ECEF.  Results are
arrays shaped ``(time, satellite, 3)`` in km.

Long runs are processed in chunks of time (:meth:`Propagator.chunks`) so
that memory stays bounded whatever the duration.
"""

from __future__ import annotations

import warnings
from typing import Iterator

import numpy as np
from sgp4.api import SGP4_ERRORS, SatrecArray
from skyfield.sgp4lib import theta_GMST1982

from .satellite import Satellite
from .timebase import TimeAxis


def teme_to_itrs(r_teme_km: np.ndarray, gmst_rad: np.ndarray) -> np.ndarray:
    """Rotate TEME positions, shape (time, n, 3), into ITRS by GMST82 (shape (time,))."""
    c, s = np.cos(gmst_rad)[:, None], np.sin(gmst_rad)[:, None]
    out = np.empty_like(r_teme_km)
    out[..., 0] = c * r_teme_km[..., 0] + s * r_teme_km[..., 1]
    out[..., 1] = -s * r_teme_km[..., 0] + c * r_teme_km[..., 1]
    out[..., 2] = r_teme_km[..., 2]
    return out


class Propagator:
    """SGP4 for a list of satellites at once; positions in ITRS km, shape (time, sat, 3)."""

    def __init__(self, satellites: list[Satellite]):
        self.satellites = list(satellites)
        self._array = SatrecArray([s.satrec for s in self.satellites]) if self.satellites else None

    def positions_km(self, t) -> np.ndarray:
        """ITRS positions (km) at the instants of Skyfield ``Time`` t, shape (time, sat, 3).

        A satellite SGP4 cannot propagate (decayed, bad elements) gets NaN
        at those instants and a warning naming it.
        """
        whole = np.atleast_1d(t.whole).astype(float)
        utc_fraction = np.atleast_1d(t.tai_fraction - t._leap_seconds() / 86400.0)
        ut1_fraction = np.atleast_1d(t.ut1_fraction)
        if self._array is None:
            return np.zeros((whole.size, 0, 3))
        err, r, _ = self._array.sgp4(whole, utc_fraction)  # (sat, time, 3) TEME km
        r = np.ascontiguousarray(np.transpose(r, (1, 0, 2)))
        if err.any():
            bad = np.flatnonzero(err.any(axis=1))
            names = ", ".join(self.satellites[i].node for i in bad[:5])
            code = int(err[bad[0]][err[bad[0]] != 0][0])
            warnings.warn(f"SGP4 failed for {bad.size} satellite(s) ({names}...): {SGP4_ERRORS.get(code, code)}")
            r[np.transpose(err != 0)] = np.nan
        gmst, _ = theta_GMST1982(whole, ut1_fraction)
        return teme_to_itrs(r, np.atleast_1d(gmst))

    def chunks(self, axis: TimeAxis, chunk_steps: int = 256) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(steps, positions_km)`` over the axis, at most chunk_steps at a time.

        ``steps`` is the slice of the axis' indices covered; positions are
        shaped (len(steps), sat, 3).
        """
        for sl in axis.chunks(chunk_steps):
            yield sl, self.positions_km(axis.skyfield(sl))
