"""DVB-S2 / DVB-S2X MODCODs: the Es/N0 each needs and the bits per symbol it carries.

Values are the "ideal Es/N0" thresholds of the standards for quasi-error-free
reception over an AWGN channel with normal (64,800-bit) FECFRAMEs, and the
spectral efficiency (information bits per transmitted symbol, no pilots):

* DVB-S2X: ETSI EN 302 307-2 V1.1.1 (2014-10), Table 20a (QEF = PER 1e-5);
* DVB-S2: ETSI EN 302 307-1 V1.4.1 (2014-11), Table 13 (QEF = PER 1e-7),
  which every DVB-S2X receiver also decodes.

Adaptive coding and modulation picks, for a given Es/N0, the most efficient
MODCOD whose threshold it meets (:func:`select`).  Because the table is not
ordered by efficiency (a "-L" MODCOD can need less Es/N0 than a slower one),
the choice is made over the efficient frontier: thresholds sorted, running
maximum of the efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Modcod:
    """One modulation and code rate: threshold Es/N0 (dB) and efficiency (bit/symbol)."""

    name: str
    esn0_db: float
    bits_per_symbol: float
    standard: str


# (name, ideal Es/N0 dB, spectral efficiency bit/symbol) -- EN 302 307-1 Table 13
_S2 = (
    ("QPSK 1/4", -2.35, 0.490243), ("QPSK 1/3", -1.24, 0.656448), ("QPSK 2/5", -0.30, 0.789412),
    ("QPSK 1/2", 1.00, 0.988858), ("QPSK 3/5", 2.23, 1.188304), ("QPSK 2/3", 3.10, 1.322253),
    ("QPSK 3/4", 4.03, 1.487473), ("QPSK 4/5", 4.68, 1.587196), ("QPSK 5/6", 5.18, 1.654663),
    ("QPSK 8/9", 6.20, 1.766451), ("QPSK 9/10", 6.42, 1.788612),
    ("8PSK 3/5", 5.50, 1.779991), ("8PSK 2/3", 6.62, 1.980636), ("8PSK 3/4", 7.91, 2.228124),
    ("8PSK 5/6", 9.35, 2.478562), ("8PSK 8/9", 10.69, 2.646012), ("8PSK 9/10", 10.98, 2.679207),
    ("16APSK 2/3", 8.97, 2.637201), ("16APSK 3/4", 10.21, 2.966728), ("16APSK 4/5", 11.03, 3.165623),
    ("16APSK 5/6", 11.61, 3.300184), ("16APSK 8/9", 12.89, 3.523143), ("16APSK 9/10", 13.13, 3.567342),
    ("32APSK 3/4", 12.73, 3.703295), ("32APSK 4/5", 13.64, 3.951571), ("32APSK 5/6", 14.28, 4.119540),
    ("32APSK 8/9", 15.69, 4.397854), ("32APSK 9/10", 16.05, 4.453027),
)

# EN 302 307-2 Table 20a (normal FECFRAME, no VL-SNR)
_S2X = (
    ("QPSK 13/45", -2.03, 0.567805), ("QPSK 9/20", 0.22, 0.889135), ("QPSK 11/20", 1.45, 1.088581),
    ("8APSK 5/9-L", 4.73, 1.647211), ("8APSK 26/45-L", 5.13, 1.713601),
    ("8PSK 23/36", 6.12, 1.896173), ("8PSK 25/36", 7.02, 2.062148), ("8PSK 13/18", 7.49, 2.145136),
    ("16APSK 1/2-L", 5.97, 1.972253), ("16APSK 8/15-L", 6.55, 2.104850), ("16APSK 5/9-L", 6.84, 2.193247),
    ("16APSK 26/45", 7.51, 2.281645), ("16APSK 3/5", 7.80, 2.370043), ("16APSK 3/5-L", 7.41, 2.370043),
    ("16APSK 28/45", 8.10, 2.458441), ("16APSK 23/36", 8.38, 2.524739), ("16APSK 2/3-L", 8.43, 2.635236),
    ("16APSK 25/36", 9.27, 2.745734), ("16APSK 13/18", 9.71, 2.856231), ("16APSK 7/9", 10.65, 3.077225),
    ("16APSK 77/90", 11.99, 3.386618), ("32APSK 2/3-L", 11.10, 3.289502), ("32APSK 32/45", 11.75, 3.510192),
    ("32APSK 11/15", 12.17, 3.620536), ("32APSK 7/9", 13.05, 3.841226),
    ("64APSK 32/45-L", 13.98, 4.206428), ("64APSK 11/15", 14.81, 4.338659), ("64APSK 7/9", 15.47, 4.603122),
    ("64APSK 4/5", 15.87, 4.735354), ("64APSK 5/6", 16.55, 4.933701),
    ("128APSK 3/4", 17.73, 5.163248), ("128APSK 7/9", 18.53, 5.355556),
    ("256APSK 29/45-L", 16.98, 5.065690), ("256APSK 2/3-L", 17.24, 5.241514),
    ("256APSK 31/45-L", 18.10, 5.417338), ("256APSK 32/45", 18.59, 5.593162),
    ("256APSK 11/15-L", 18.84, 5.768987), ("256APSK 3/4", 19.57, 5.900855),
)

#: Every MODCOD, DVB-S2 first; ``step_modcod`` in a link series indexes this tuple.
MODCODS: tuple[Modcod, ...] = (tuple(Modcod(n, e, b, "DVB-S2") for n, e, b in _S2)
                               + tuple(Modcod(n, e, b, "DVB-S2X") for n, e, b in _S2X))

_THRESH = np.array([m.esn0_db for m in MODCODS])
_EFF = np.array([m.bits_per_symbol for m in MODCODS])


def _frontier(allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the allowed MODCODs sorted by threshold, and the index of the best one at or below each."""
    idx = np.flatnonzero(allowed)
    idx = idx[np.lexsort((-_EFF[idx], _THRESH[idx]))]
    best = np.empty(idx.size, dtype=np.int64)
    cur = -1
    for j, i in enumerate(idx.tolist()):
        if cur < 0 or _EFF[i] > _EFF[cur]:
            cur = i
        best[j] = cur
    return idx, best


_ALL = _frontier(np.ones(len(MODCODS), dtype=bool))
_S2_ONLY = _frontier(np.array([m.standard == "DVB-S2" for m in MODCODS]))

#: The lowest threshold of the table, dB (below it no MODCOD decodes).
LOWEST_ESN0_DB = float(_THRESH.min())


def select(esn0_db: np.ndarray, s2x: bool = True) -> np.ndarray:
    """Index into :data:`MODCODS` of the most efficient MODCOD each Es/N0 (dB) supports; -1 = none.

    ``esn0_db`` is any shape; the result has the same shape (int64).  A value
    exactly at a threshold selects that MODCOD.  ``s2x=False`` limits the
    choice to DVB-S2's 28 MODCODs.
    """
    idx, best = _ALL if s2x else _S2_ONLY
    esn0 = np.asarray(esn0_db, dtype=np.float64)
    pos = np.searchsorted(_THRESH[idx], esn0, side="right") - 1
    out = np.where(pos >= 0, best[np.maximum(pos, 0)], -1)
    return np.where(np.isnan(esn0), -1, out)


def bits_per_symbol(index: np.ndarray) -> np.ndarray:
    """Spectral efficiency (bit/symbol) of MODCOD indices; 0 where the index is negative."""
    index = np.asarray(index)
    return np.where(index >= 0, _EFF[np.maximum(index, 0)], 0.0)


def threshold_db(index: np.ndarray) -> np.ndarray:
    """Ideal Es/N0 threshold (dB) of MODCOD indices; NaN where the index is negative."""
    index = np.asarray(index)
    return np.where(index >= 0, _THRESH[np.maximum(index, 0)], np.nan)


def lowest(s2x: bool = True) -> int:
    """Index of the MODCOD with the lowest threshold."""
    idx, _ = _ALL if s2x else _S2_ONLY
    return int(idx[0])
