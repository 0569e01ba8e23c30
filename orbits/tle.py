"""Two-line element sets: reading CelesTrak files and writing valid TLE text.

CelesTrak publishes groups either as three-line sets (a name line, then
lines 1 and 2) or as bare two-line sets.  :func:`load_tle_file` reads both,
checks each line's modulo-10 checksum, and returns :class:`TLE` records that
:class:`orbits.satellite.Satellite` turns into Skyfield ``EarthSatellite``\\ s.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path


class TLEError(ValueError):
    """A TLE file that cannot be read: missing, malformed or with bad checksums."""


@dataclass(frozen=True)
class TLE:
    """One two-line element set with the name it was published under."""

    name: str
    line1: str
    line2: str

    @property
    def norad_id(self) -> int:
        """The NORAD catalogue number (Alpha-5 numbers are decoded)."""
        return _decode_satnum(self.line1[2:7])

    @property
    def epoch(self) -> dt.datetime:
        """The element set's epoch, UTC (two-digit years 57-99 are 1957-1999)."""
        yy = int(self.line1[18:20])
        year = 1900 + yy if yy >= 57 else 2000 + yy
        day = float(self.line1[20:32])
        return dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=day - 1)


def checksum(line: str) -> int:
    """The TLE checksum of the first 68 columns: digits add, '-' adds 1, mod 10."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


_ALPHA5 = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # Alpha-5 first characters: A = 10, I and O skipped


def _decode_satnum(field: str) -> int:
    """A catalogue number: five digits, or Alpha-5 (a letter for the ten-thousands, then four digits)."""
    field = field.strip()
    if field[:1].isalpha():  # Alpha-5: A0000 = 100000, I and O skipped
        if field[0].upper() not in _ALPHA5 or not field[1:].isdigit():
            raise ValueError("not an Alpha-5 catalogue number")
        return (10 + _ALPHA5.index(field[0].upper())) * 10000 + int(field[1:])
    if not field.isdigit():
        raise ValueError("not a catalogue number")
    return int(field)


#: (line, first column, last column (1-based, inclusive), field, lowest, highest) of the fields SGP4 reads as
#: plain decimals; every one is checked so that a garbled set is refused instead of propagated as zeros.
_FIELDS = (
    ("1", 19, 20, "epoch year", 0, 99),
    ("1", 21, 32, "epoch day", 1, 367),
    ("2", 9, 16, "inclination", 0, 180),
    ("2", 18, 25, "right ascension of the node", 0, 360),
    ("2", 27, 33, "eccentricity (digits)", 0, 9999999),
    ("2", 35, 42, "argument of perigee", 0, 360),
    ("2", 44, 51, "mean anomaly", 0, 360),
    ("2", 53, 63, "mean motion", 0.05, 20),
)


def _check_fields(line: str, number: str, where: str) -> None:
    """Each numeric field of line ``number`` parses and lies in range; errors name the field, never its text."""
    for num, first, last, name, lo, hi in _FIELDS:
        if num != number:
            continue
        text = line[first - 1:last].strip()
        try:
            value = float(text)
            ok = lo <= value <= hi and (name != "eccentricity (digits)" or text.isdigit())
        except ValueError:
            ok = False
        if not ok:
            raise TLEError(f"{where}: line {number} columns {first}-{last} ({name}) are not a number "
                           f"from {lo:g} to {hi:g}")


def _check_line(line: str, number: str, where: str) -> None:
    """Layout, checksum and numeric fields of one TLE line.  Errors name the place, not the content
    (a file that is no TLE file -- a secret, say -- is never echoed)."""
    if len(line) < 69 or not line.startswith(number + " "):
        raise TLEError(f"{where}: expected TLE line {number} (69 columns starting with '{number} ')")
    if not line[68].isdigit() or int(line[68]) != checksum(line):
        raise TLEError(f"{where}: checksum of line {number} (column 69) does not match, computed {checksum(line)}")
    try:
        _decode_satnum(line[2:7])
    except ValueError:
        raise TLEError(f"{where}: line {number} columns 3-7 (catalogue number) are neither five digits nor "
                       f"Alpha-5 (a letter other than I or O, then four digits)") from None
    _check_fields(line, number, where)


def parse_tle_text(text: str, source: str = "<text>") -> list[TLE]:
    """Parse two- or three-line element sets from text, checking every checksum.

    Blank lines are ignored.  A set without a name line is named by its
    NORAD number.  Raises :class:`TLEError` naming the line that is wrong.
    """
    lines = [ln.rstrip() for ln in text.splitlines()]
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    tles: list[TLE] = []
    i = 0
    while i < len(numbered):
        lineno, line = numbered[i]
        name = None
        if not line.startswith("1 "):
            name = line.strip()
            if name.startswith("0 "):  # Space-Track style "0 NAME"
                name = name[2:].strip()
            i += 1
            if i >= len(numbered):
                raise TLEError(f"{source}:{lineno}: a name line is not followed by TLE lines")
            if len(name) > 80:
                raise TLEError(f"{source}:{lineno}: expected a satellite name (up to 80 characters) or TLE line 1")
        if i + 1 >= len(numbered):
            raise TLEError(f"{source}:{numbered[i][0]}: TLE line 1 has no line 2")
        (n1, l1), (n2, l2) = numbered[i], numbered[i + 1]
        _check_line(l1, "1", f"{source}:{n1}")
        _check_line(l2, "2", f"{source}:{n2}")
        if l1[2:7] != l2[2:7]:
            raise TLEError(f"{source}:{n2}: the catalogue number of line 2 differs from line 1's")
        tle = TLE(name or "", l1[:69], l2[:69])
        if not name:
            tle = TLE(str(tle.norad_id), tle.line1, tle.line2)
        tles.append(tle)
        i += 2
    return tles


def load_tle_file(path: str | Path) -> list[TLE]:
    """Read every element set in a CelesTrak-format file (2- or 3-line)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_TLE_BYTES:
            raise TLEError(f"{path}: larger than {MAX_TLE_BYTES // 1_000_000} MB; accepted: a CelesTrak TLE file")
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise TLEError(f"{path}: no such TLE file") from None
    except IsADirectoryError:
        raise TLEError(f"{path}: is a directory; accepted: a TLE file") from None
    except OSError as exc:
        raise TLEError(f"{path}: cannot read TLE file ({exc.strerror})") from None
    tles = parse_tle_text(text, str(path))
    if not tles:
        raise TLEError(f"{path}: no TLE sets in file")
    return tles


#: The largest TLE file read (CelesTrak's whole active catalogue is about 3 MB).
MAX_TLE_BYTES = 50_000_000


def compile_patterns(pattern: str | list[str] | None) -> list:
    """Check ``select`` patterns (TLEError naming the bad one); returns them ready for :func:`select`."""
    if pattern is None:
        return []
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    out = []
    for pat in patterns:
        if not isinstance(pat, str):
            raise TLEError("select: patterns must be text")
        if pat.startswith("re:"):
            try:
                out.append(re.compile(pat[3:], re.IGNORECASE))
            except re.error as exc:
                raise TLEError(f"select: {pat[:60]!r} is not a regular expression ({exc.msg} at position "
                               f"{exc.pos})") from None
        else:
            out.append(pat.upper())
    return out


def select(tles: list[TLE], pattern: str | list[str] | None) -> list[TLE]:
    """Keep the sets whose name matches a shell-style pattern (or any of several).

    Matching ignores case; ``"BEIDOU-3 *"`` keeps every BeiDou-3 satellite (``"BEIDOU-3*"``
    would also keep the experimental ``BEIDOU-3S`` ones),
    ``["*(C2?)", "*(C3?)"]`` keeps PRNs C20-C39.  ``None`` keeps everything.
    A pattern of the form ``re:EXPR`` is a regular expression searched in
    the name.
    """
    if pattern is None:
        return list(tles)
    patterns = compile_patterns(pattern)
    keep = []
    for tle in tles:
        for pat in patterns:
            if isinstance(pat, str):
                ok = fnmatch.fnmatchcase(tle.name.upper(), pat)
            else:
                ok = pat.search(tle.name) is not None
            if ok:
                keep.append(tle)
                break
    return keep


def format_tle_text(tles: list[TLE]) -> str:
    """Three-line text (name, line 1, line 2) that :func:`parse_tle_text` reads back."""
    return "".join(f"{t.name}\n{t.line1}\n{t.line2}\n" for t in tles)
