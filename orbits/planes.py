"""Grouping a TLE set into orbital planes and slots.

Real constellations published as TLEs carry no plane numbers, yet
plane-based link rules (``plus-grid``, ``ring``) need them.  Satellites of a
Walker design share a few ascending-node longitudes (RAAN): we sort the
RAANs, cut the circle at gaps wider than ``gap_deg``, and number the
resulting clusters as planes in order of RAAN.  Inside a plane, slots are
numbered by argument of latitude.  Both angles are taken at one common
instant (the latest epoch in the set) so that drift between epochs does not
blur the clusters.
"""

from __future__ import annotations

import numpy as np

from .satellite import Satellite


def _raan_and_u_deg(sats: list[Satellite], jd: float) -> tuple[np.ndarray, np.ndarray]:
    """RAAN and argument of latitude (TEME, degrees) of each satellite at Julian date jd."""
    from sgp4.api import SatrecArray

    arr = SatrecArray([s.satrec for s in sats])
    e, r, v = arr.sgp4(np.array([jd]), np.array([0.0]))
    r, v = r[:, 0, :], v[:, 0, :]
    h = np.cross(r, v)
    node = np.cross([0.0, 0.0, 1.0], h)
    raan = np.degrees(np.arctan2(node[:, 1], node[:, 0])) % 360.0
    n_hat = node / np.linalg.norm(node, axis=1, keepdims=True)
    cos_u = np.einsum("ij,ij->i", n_hat, r) / np.linalg.norm(r, axis=1)
    u = np.degrees(np.arccos(np.clip(cos_u, -1, 1)))
    u = np.where(r[:, 2] < 0, 360.0 - u, u)
    return raan, u


def assign_planes(sats: list[Satellite], gap_deg: float = 2.0) -> int:
    """Set ``plane`` and ``slot`` on each satellite from RAAN clusters; return the plane count.

    A gap of more than ``gap_deg`` between consecutive sorted RAANs starts a
    new plane (the cluster that straddles 0/360 is joined).  Planes are
    numbered in increasing RAAN from the largest gap, slots in increasing
    argument of latitude from the ascending node.
    """
    if not sats:
        return 0
    jd = max(s.satrec.jdsatepoch + s.satrec.jdsatepochF for s in sats)
    raan, u = _raan_and_u_deg(sats, jd)
    order = np.argsort(raan)
    sorted_raan = raan[order]
    gaps = np.diff(np.concatenate([sorted_raan, sorted_raan[:1] + 360.0]))
    cuts = np.flatnonzero(gaps > gap_deg)
    if cuts.size == 0:  # a single plane
        labels = np.zeros(len(sats), dtype=int)
    else:
        start = (cuts[np.argmax(gaps[cuts])] + 1) % len(sats)  # begin after the widest gap
        rolled = np.roll(order, -start)
        rolled_gaps = np.roll(gaps, -start)
        labels_sorted = np.concatenate([[0], np.cumsum(rolled_gaps[:-1] > gap_deg)])
        labels = np.empty(len(sats), dtype=int)
        labels[rolled] = labels_sorted
    for p in range(labels.max() + 1):
        members = np.flatnonzero(labels == p)
        for slot, i in enumerate(members[np.argsort(u[members])]):
            sats[i].plane, sats[i].slot = int(p), int(slot)
    return int(labels.max() + 1)
