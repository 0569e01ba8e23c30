"""Dilution of precision: how the geometry of the visible satellites scales ranging errors.

A receiver solving for its position (x, y, z) and clock bias from pseudoranges
linearises each measurement around its position.  Satellite ``s`` seen along
the unit line-of-sight vector ``e_s`` (receiver to satellite) contributes one
row to the *geometry matrix* G::

    G[s] = [-e_x, -e_y, -e_z, 1]

With equal, independent ranging errors of variance sigma^2 the least-squares
solution has covariance ``sigma^2 (G^T G)^-1``, and the dilutions of
precision are square roots of sums of that matrix's diagonal:

* PDOP = sqrt(Q_xx + Q_yy + Q_zz)   (3-D position)
* TDOP = sqrt(Q_tt)                 (clock)
* GDOP = sqrt(trace Q)              (both)
* VDOP = sqrt(u^T Q_pos u), HDOP = sqrt(PDOP^2 - VDOP^2), with u the local vertical.

PDOP does not depend on the frame: any rotation of (x, y, z) leaves the
trace of the position block unchanged, so ECEF unit vectors serve as well
as local east-north-up ones.  Four satellites at least are needed, and they
must not all lie on one cone around the receiver; elsewhere the DOPs are NaN.

Two ways in:

* :func:`dops` takes line-of-sight unit vectors and a visibility mask of any
  leading shape and inverts each 4x4 ``G^T G`` -- the plain textbook route.
* :func:`pdop_from_positions` is the fast path used for coverage maps: it
  builds the normal matrix for a whole (time, point) block with matrix
  products over satellites (no (time, point, sat, 3) array is made) and
  inverts only a 3x3 block in closed form.
"""

from __future__ import annotations

import numpy as np

#: Below this determinant of the (unit-less) position block the geometry is called degenerate.
_DET_FLOOR = 1e-12


def geometry_matrix(los_unit: np.ndarray) -> np.ndarray:
    """G for line-of-sight unit vectors (..., sat, 3): rows [-e_x, -e_y, -e_z, 1], shape (..., sat, 4)."""
    los_unit = np.asarray(los_unit, dtype=float)
    ones = np.ones(los_unit.shape[:-1] + (1,))
    return np.concatenate([-los_unit, ones], axis=-1)


def dops(los_unit: np.ndarray, visible: np.ndarray | None = None, up: np.ndarray | None = None) -> dict:
    """GDOP, PDOP, TDOP (and HDOP, VDOP when ``up`` is given) from line-of-sight unit vectors.

    ``los_unit`` is (..., sat, 3), receiver-to-satellite unit vectors in any
    Earth-fixed frame; ``visible`` (..., sat) bool selects the satellites in
    view (all when None); ``up`` (..., 3) is the receiver's local vertical
    in the same frame.  Each result has the leading shape (...), NaN where
    fewer than four satellites are visible or the geometry is degenerate.
    """
    g = geometry_matrix(los_unit)
    if visible is not None:
        g = g * np.asarray(visible, dtype=float)[..., None]  # an invisible satellite adds a zero row
    normal = np.swapaxes(g, -1, -2) @ g                       # (..., 4, 4)
    n_vis = normal[..., 3, 3]
    ok = (n_vis >= 4) & (np.abs(np.linalg.det(normal)) > _DET_FLOOR)
    q = np.full(normal.shape, np.nan)
    if ok.any():
        q[ok] = np.linalg.inv(normal[ok])
    diag = np.diagonal(q, axis1=-2, axis2=-1)
    out = {
        "gdop": np.sqrt(diag.sum(-1)),
        "pdop": np.sqrt(diag[..., :3].sum(-1)),
        "tdop": np.sqrt(diag[..., 3]),
    }
    if up is not None:
        u = np.asarray(up, dtype=float)
        vdop2 = np.einsum("...i,...ij,...j->...", u, q[..., :3, :3], u)
        out["vdop"] = np.sqrt(vdop2)
        out["hdop"] = np.sqrt(np.maximum(diag[..., :3].sum(-1) - vdop2, 0.0))
    return out


def pdop_from_positions(rcv_km: np.ndarray, sat_km: np.ndarray, visible: np.ndarray,
                        range_km: np.ndarray | None = None) -> np.ndarray:
    """PDOP of receivers at many points over many instants, shape (time, point).

    ``rcv_km`` (point, 3) and ``sat_km`` (time, sat, 3) are ITRS km;
    ``visible`` (time, point, sat) bool says which satellites each point
    uses; ``range_km`` (time, point, sat), if already computed, saves one
    pass.  NaN where fewer than four satellites are visible.

    How: with weights w = visible / range^2 the position block of G^T G,
    ``S = sum_s e_s e_s^T``, expands into sums of satellite coordinates
    (sum w x_s x_s^T, sum w x_s, sum w) that are matrix products
    (point, sat) @ (sat, k) for each instant; likewise ``s = sum_s e_s``.
    The position block of (G^T G)^-1 is the inverse of the Schur complement
    ``M = S - s s^T / n``, whose trace is trace(adj M) / det M.
    """
    rcv = np.asarray(rcv_km, dtype=float)
    sat = np.asarray(sat_km, dtype=float)
    vis = np.asarray(visible, dtype=bool)
    if range_km is None:
        diff = sat[:, None, :, :] - rcv[None, :, None, :]
        range_km = np.sqrt(np.einsum("tpsk,tpsk->tps", diff, diff))
    sat = np.nan_to_num(sat)                                   # failed propagations are never visible
    w1 = np.zeros(vis.shape)                                   # (time, point, sat): 1/range where visible
    np.reciprocal(range_km, out=w1, where=vis)
    w2 = w1 * w1
    n = vis.sum(-1).astype(float)                              # (time, point)
    x, y, z = sat[..., 0], sat[..., 1], sat[..., 2]            # (time, sat)
    ones = np.ones_like(x)
    quad = np.stack([x * x, x * y, x * z, y * y, y * z, z * z, x, y, z, ones], axis=-1)  # (time, sat, 10)
    a = w2 @ quad                                              # (time, point, 10)
    b = w1 @ np.stack([x, y, z, ones], axis=-1)                # (time, point, 4)
    p = rcv[None, :, :]                                        # (1, point, 3)
    a_lin, a_0 = a[..., 6:9], a[..., 9]
    # S_ij = sum w2 (x_i - p_i)(x_j - p_j)
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    s_block = {}
    for col, (i, j) in enumerate(pairs):
        s_block[i, j] = (a[..., col] - p[..., i] * a_lin[..., j] - p[..., j] * a_lin[..., i]
                         + p[..., i] * p[..., j] * a_0)
    s_vec = b[..., :3] - p * b[..., 3:4]                       # sum e_s, (time, point, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_n = np.where(n > 0, 1.0 / n, 0.0)
    m = {k: v - s_vec[..., k[0]] * s_vec[..., k[1]] * inv_n for k, v in s_block.items()}
    m00, m01, m02, m11, m12, m22 = (m[k] for k in pairs)
    adj_trace = (m11 * m22 - m12 * m12) + (m00 * m22 - m02 * m02) + (m00 * m11 - m01 * m01)
    det = m00 * (m11 * m22 - m12 * m12) - m01 * (m01 * m22 - m12 * m02) + m02 * (m01 * m12 - m11 * m02)
    ok = (n >= 4) & (det > _DET_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        pdop = np.sqrt(adj_trace / det)
    return np.where(ok, pdop, np.nan)
