"""Two-line element sets: reading CelesTrak files and writing valid TLE text.

CelesTrak publishes groups either as three-line sets (a name line, then
lines 1 and 2) or as bare two-line sets.  :func:`load_tle_file` reads both,
checks each line's modulo-10 checksum, and returns :class:`TLE` records that
:class:`orbits.satellite.Satellite` turns into Skyfield ``EarthSatellite``\\ s.
"""

from __future__ import annotations

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


def checksum(line: str) -> int:
    """The TLE checksum of the first 68 columns: digits add, '-' adds 1, mod 10."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def _decode_satnum(field: str) -> int:
    field = field.strip()
    if field and field[0].isalpha():  # Alpha-5: A0000 = 100000, I and O skipped
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        return (10 + letters.index(field[0].upper())) * 10000 + int(field[1:])
    return int(field)


def _check_line(line: str, number: str, where: str) -> None:
    if len(line) < 69 or not line.startswith(number + " "):
        raise TLEError(f"{where}: expected TLE line {number} of 69 columns, got {line[:40]!r}")
    if not line[68].isdigit() or int(line[68]) != checksum(line):
        raise TLEError(
            f"{where}: checksum of line {number} is {line[68]!r}, computed {checksum(line)}"
        )


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
                raise TLEError(f"{source}:{lineno}: name {name!r} is not followed by TLE lines")
        if i + 1 >= len(numbered):
            raise TLEError(f"{source}:{numbered[i][0]}: TLE line 1 has no line 2")
        (n1, l1), (n2, l2) = numbered[i], numbered[i + 1]
        _check_line(l1, "1", f"{source}:{n1}")
        _check_line(l2, "2", f"{source}:{n2}")
        if l1[2:7] != l2[2:7]:
            raise TLEError(f"{source}:{n2}: line 2 catalogue number {l2[2:7]!r} differs from line 1")
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
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise TLEError(f"{path}: no such TLE file") from None
    except OSError as exc:
        raise TLEError(f"{path}: cannot read TLE file ({exc.strerror})") from None
    tles = parse_tle_text(text, str(path))
    if not tles:
        raise TLEError(f"{path}: no TLE sets in file")
    return tles


def select(tles: list[TLE], pattern: str | list[str] | None) -> list[TLE]:
    """Keep the sets whose name matches a shell-style pattern (or any of several).

    Matching ignores case; ``"BEIDOU-3*"`` keeps every BeiDou-3 satellite,
    ``["*(C2?)", "*(C3?)"]`` keeps PRNs C20-C39.  ``None`` keeps everything.
    A pattern of the form ``re:EXPR`` is a regular expression searched in
    the name.
    """
    if pattern is None:
        return list(tles)
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    keep = []
    for tle in tles:
        for pat in patterns:
            if pat.startswith("re:"):
                ok = re.search(pat[3:], tle.name, re.IGNORECASE) is not None
            else:
                ok = fnmatch.fnmatchcase(tle.name.upper(), pat.upper())
            if ok:
                keep.append(tle)
                break
    return keep


def format_tle_text(tles: list[TLE]) -> str:
    """Three-line text (name, line 1, line 2) that :func:`parse_tle_text` reads back."""
    return "".join(f"{t.name}\n{t.line1}\n{t.line2}\n" for t in tles)
