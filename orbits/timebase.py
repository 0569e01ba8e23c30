"""The run's time axis: a start instant, a step, and a number of steps.

All of sgemu works on one uniform axis, ``t_s = start + step_s * k`` for
``k = 0 .. n_steps - 1``.  Skyfield's timescale is loaded from the data it
ships (``builtin=True``) so nothing is downloaded at run time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skyfield.api import load


@lru_cache(maxsize=1)
def timescale():
    """Skyfield's timescale built from its shipped leap-second and UT1 tables."""
    return load.timescale(builtin=True)


def parse_utc(text: str | dt.datetime | dt.date) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 text (``2024-07-16T00:00:00Z``) or a datetime.

    Naive datetimes and text without an offset are taken as UTC.  Raises
    ``ValueError`` for text that is not ISO 8601.
    """
    if isinstance(text, dt.datetime):
        value = text
    elif isinstance(text, dt.date):
        value = dt.datetime(text.year, text.month, text.day)
    else:
        s = str(text).strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        value = dt.datetime.fromisoformat(s)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class TimeAxis:
    """A uniform time axis: ``n_steps`` instants ``step_s`` apart from ``start`` (UTC)."""

    start: dt.datetime
    step_s: float
    n_steps: int

    @classmethod
    def from_duration(cls, start, duration_s: float, step_s: float) -> "TimeAxis":
        """Instants from start to start + duration_s inclusive, step_s apart."""
        n = int(np.floor(duration_s / step_s + 1e-9)) + 1
        return cls(parse_utc(start), float(step_s), n)

    @property
    def t_s(self) -> np.ndarray:
        """Seconds since start, shape (time,)."""
        return np.arange(self.n_steps) * self.step_s

    @property
    def duration_s(self) -> float:
        return (self.n_steps - 1) * self.step_s

    def skyfield(self, index=slice(None)):
        """The instants (or a slice/array of them) as a Skyfield ``Time``."""
        s = self.start
        seconds = s.second + s.microsecond * 1e-6 + self.t_s[index]
        return timescale().utc(s.year, s.month, s.day, s.hour, s.minute, seconds)

    def utc(self, k: int) -> dt.datetime:
        """The k-th instant as a UTC datetime."""
        return self.start + dt.timedelta(seconds=float(k * self.step_s))

    def chunks(self, chunk_steps: int):
        """Consecutive slices of at most chunk_steps step indices covering the axis."""
        for k0 in range(0, self.n_steps, chunk_steps):
            yield slice(k0, min(k0 + chunk_steps, self.n_steps))

    def index_of(self, t_s: float) -> int:
        """Index of the step in force at t_s seconds after start (clamped)."""
        return int(np.clip(np.floor(t_s / self.step_s + 1e-9), 0, self.n_steps - 1))
