"""Link budget per link and step: from slant range and elevation to capacity and loss.

RF links (``model: rf``)::

    FSPL_dB   = 20 log10(4 pi d f / c)
    C/N0_dBHz = EIRP_dBW - FSPL_dB - A_atm_dB - L_impl_dB + G/T_dB/K + 228.6
    Rs        = bandwidth / (1 + roll_off)                      (symbol rate, Hz)
    Es/N0_dB  = C/N0_dBHz - 10 log10(Rs) - margin_dB
    capacity  = share * Rs * eta(MODCOD(Es/N0))                 (bit/s)

where MODCOD() is the most efficient DVB-S2X MODCOD whose ideal threshold the
Es/N0 meets (:mod:`topologies.modcod`) and A_atm is the atmospheric
attenuation of ground links (ITU-R P.618 rain and scintillation, P.676
gases, P.840 clouds through the PyPI package ``itur``, combined as P.618
section 2.5: A_G + sqrt((A_R + A_C)^2 + A_S^2)).

Optical links (``model: optical``) receive
``P_rx = P_tx G_tx G_rx (lambda / 4 pi d)^2 L_optics L_pointing`` with
``G = (pi D / lambda)^2`` and carry the highest of the terminal's rates R
with ``P_rx >= N_ppb h nu R`` (receiver sensitivity in photons per bit).

Ground links are budgeted in both directions: the downlink (satellite ->
ground) with the entry's profile, the uplink (ground -> satellite) with its
``uplink`` profile (``auto``: the built-in pair of a built-in profile,
:data:`topologies.radio_profiles.UPLINK_OF`), each at its own frequency,
EIRP, G/T and bandwidth, through the atmosphere at its own frequency.  A
link series carries one capacity per link, so :class:`BudgetResult` gives
both directions and, for the series, the bottleneck: the lower capacity
(and that direction's MODCOD), the higher loss, and up only when both
directions close.  ISLs and inter-layer links are the same both ways.

Below the lowest MODCOD (or rate) a link follows its ``below_threshold``
rule: ``down`` removes it at that step; ``loss`` keeps it at the lowest
MODCOD with packet loss ``100 min(1, 10^(-5 + deficit_dB / 0.1))`` %: the
threshold's PER of 1e-5 growing one decade per 0.1 dB of deficit (the
steep waterfall of long LDPC codes), i.e. total loss 0.5 dB below it.

Everything is vectorised over (step, link) entries, shape (n,).  The
atmosphere is evaluated once per station on a grid of elevations
(:data:`ELEV_KNOTS_DEG`) and interpolated in ``A sin(el)`` (the path through
a layer grows as 1/sin(el)); below 5 deg, where the ITU-R models stop, the
5 deg value is scaled by the same law.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np

from . import modcod
from .radio_profiles import PROFILES, UPLINK_OF, RadioProfile, profile_keys, resolve
from .rules import KINDS

C_M_S = 299_792_458.0
#: 10 log10(Boltzmann constant), dBW/(K Hz).
BOLTZMANN_DBW = 10 * np.log10(1.380649e-23)
PLANCK_J_S = 6.62607015e-34
#: Elevations (deg) at which the ITU-R models are evaluated per station.
ELEV_KNOTS_DEG = np.array([5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 30, 35, 40, 45, 50, 60, 70, 80, 90.0])
#: Link kinds that can carry a budget (fibre cannot).
BUDGET_KINDS = ("isl", "inter-layer", "ground")
BELOW = ("down", "loss")
#: ``uplink`` values that are not a profile: the built-in pair, or no uplink budget (downlink both ways).
UPLINK_WORDS = ("auto", "none")


class BudgetError(ValueError):
    """A ``link_budget`` entry that cannot be used; ``field`` names it (dotted path)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


# -- arithmetic -----------------------------------------------------------------
def fspl_db(range_km, frequency_ghz) -> np.ndarray:
    """Free-space path loss 20 log10(4 pi d f / c), dB; broadcasts."""
    d_m = np.asarray(range_km, dtype=np.float64) * 1e3
    return 20 * np.log10(4 * np.pi * d_m * np.asarray(frequency_ghz) * 1e9 / C_M_S)


def eirp_dbw(tx_power_dbw, tx_gain_dbi, tx_loss_db=0.0):
    """EIRP = transmit power + antenna gain - feeder loss, dBW."""
    return np.asarray(tx_power_dbw) + np.asarray(tx_gain_dbi) - np.asarray(tx_loss_db)


def cn0_dbhz(eirp, path_loss_db, g_over_t_db_k, other_loss_db=0.0):
    """Carrier to noise density, dBHz: EIRP - losses + G/T - 10 log10(k)."""
    return eirp - path_loss_db - other_loss_db + g_over_t_db_k - BOLTZMANN_DBW


def symbol_rate_hz(bandwidth_mhz, roll_off) -> float:
    """Symbol rate filling ``bandwidth_mhz`` with root-raised-cosine pulses of roll-off ``roll_off``."""
    return bandwidth_mhz * 1e6 / (1.0 + roll_off)


def esn0_db(cn0, rs_hz, margin_db=0.0):
    return cn0 - 10 * np.log10(rs_hz) - margin_db


def dish_gain_dbi(diameter_m, wavelength_m, efficiency=1.0):
    """Gain of a circular aperture, 10 log10(efficiency (pi D / lambda)^2), dBi."""
    return 10 * np.log10(efficiency * (np.pi * diameter_m / wavelength_m) ** 2)


def optical_received_w(p: RadioProfile, range_km) -> np.ndarray:
    """Received optical power (W) at ``range_km`` (n,) for an optical profile."""
    lam = p.wavelength_nm * 1e-9
    gains_db = dish_gain_dbi(p.tx_aperture_m, lam) + dish_gain_dbi(p.rx_aperture_m, lam)
    space_db = 20 * np.log10(4 * np.pi * np.asarray(range_km, dtype=np.float64) * 1e3 / lam)
    rx_dbw = 10 * np.log10(p.tx_power_w) + gains_db - space_db - p.optics_loss_db - p.pointing_loss_db
    return 10 ** (rx_dbw / 10)


def optical_max_rate_bps(p: RadioProfile, range_km) -> np.ndarray:
    """Highest bit rate the received power supports at the receiver sensitivity, bit/s."""
    photon_j = PLANCK_J_S * C_M_S / (p.wavelength_nm * 1e-9)
    return optical_received_w(p, range_km) / (p.sensitivity_photons_per_bit * photon_j)


def loss_below_pct(deficit_db, db_per_decade: float = 0.1) -> np.ndarray:
    """Packet loss % of a link ``deficit_db`` (>= 0) below its lowest threshold; see the module docstring."""
    return 100.0 * np.minimum(1.0, 10.0 ** (-5.0 + np.maximum(deficit_db, 0.0) / db_per_decade))


# -- atmosphere -------------------------------------------------------------------
_ATM_CACHE: dict[tuple, np.ndarray] = {}


def _itur_components(sites: list[tuple], freq_ghz: float, p_pct: float, diam_m: float) -> np.ndarray:
    """(site, 4, knot) dB: gases, clouds, rain, scintillation at p % for (lat, lon, alt_m) sites.

    Gases (P.676 Annex 2, 5-90 deg) and clouds (P.840) are exactly
    zenith / sin(el), so they are computed once per site at 90 deg; rain and
    scintillation (P.618) at every knot of :data:`ELEV_KNOTS_DEG`.
    """
    import itur
    import itur.models.itu618 as p618

    todo = [s for s in sites if (s, freq_ghz, p_pct, diam_m) not in _ATM_CACHE]
    if todo:
        k = ELEV_KNOTS_DEG.size
        lat, lon, hs = (np.array([s[i] for s in todo], dtype=np.float64) for i in range(3))
        hs = hs / 1e3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ag, ac, _, _, _ = itur.atmospheric_attenuation_slant_path(
                lat, lon, freq_ghz, np.full(lat.size, 90.0), p_pct, diam_m, hs=hs, return_contributions=True,
                include_rain=False, include_scintillation=False)
            el = np.tile(ELEV_KNOTS_DEG, len(todo))
            lat_k, lon_k, hs_k = (np.repeat(x, k) for x in (lat, lon, hs))
            ar = p618.rain_attenuation(lat_k, lon_k, freq_ghz, el, hs=hs_k, p=min(p_pct, 5.0)).value
            as_ = p618.scintillation_attenuation(lat_k, lon_k, freq_ghz, el, p_pct, diam_m).value
        inv_sin = 1.0 / np.sin(np.radians(ELEV_KNOTS_DEG))
        gas = np.asarray(ag.value, dtype=np.float64).reshape(-1, 1) * inv_sin
        cloud = np.asarray(ac.value, dtype=np.float64).reshape(-1, 1) * inv_sin
        rain = np.asarray(ar, dtype=np.float64).reshape(len(todo), k) * (p_pct <= 5.0)
        scint = np.asarray(as_, dtype=np.float64).reshape(len(todo), k)
        for s, c in zip(todo, np.nan_to_num(np.stack([gas, cloud, rain, scint], 1))):
            _ATM_CACHE[(s, freq_ghz, p_pct, diam_m)] = c
    return np.stack([_ATM_CACHE[(s, freq_ghz, p_pct, diam_m)] for s in sites])


def _itur_rain_rate(sites: list[tuple], freq_ghz: float, rain_mm_h: float) -> np.ndarray:
    """(site, knot) dB: rain attenuation for a point rain rate (P.838 gamma times P.618 effective path)."""
    import itur.models.itu618 as p618

    todo = [s for s in sites if (s, freq_ghz, "R", rain_mm_h) not in _ATM_CACHE]
    if todo:
        k = ELEV_KNOTS_DEG.size
        lat = np.repeat([s[0] for s in todo], k)
        lon = np.repeat([s[1] for s in todo], k)
        hs = np.repeat([s[2] / 1e3 for s in todo], k)
        el = np.tile(ELEV_KNOTS_DEG, len(todo))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = p618.rain_attenuation(lat, lon, freq_ghz, el, hs=hs, p=0.01, R001=max(rain_mm_h, 1e-6))
        a = np.asarray(a.value, dtype=np.float64).reshape(len(todo), k) if rain_mm_h > 0 else np.zeros((len(todo), k))
        for s, row in zip(todo, a):
            _ATM_CACHE[(s, freq_ghz, "R", rain_mm_h)] = row
    return np.stack([_ATM_CACHE[(s, freq_ghz, "R", rain_mm_h)] for s in sites])


def _interp_knots(knots_db: np.ndarray, site_of: np.ndarray, elev_deg: np.ndarray) -> np.ndarray:
    """Attenuation at each entry from per-site knot values (site, knot), interpolated in A sin(el)."""
    el = np.clip(elev_deg, 0.5, 90.0)
    s_k = np.sin(np.radians(ELEV_KNOTS_DEG))
    pos = np.clip(np.searchsorted(ELEV_KNOTS_DEG, el) - 1, 0, ELEV_KNOTS_DEG.size - 2)
    w = np.clip((el - ELEV_KNOTS_DEG[pos]) / (ELEV_KNOTS_DEG[pos + 1] - ELEV_KNOTS_DEG[pos]), 0.0, 1.0)
    y0 = knots_db[site_of, pos] * s_k[pos]
    y1 = knots_db[site_of, pos + 1] * s_k[pos + 1]
    return ((1 - w) * y0 + w * y1) / np.sin(np.radians(el))


def combine_p618(gas_db, cloud_db, rain_db, scint_db):
    """Total slant-path attenuation, ITU-R P.618 section 2.5, dB."""
    return gas_db + np.sqrt((rain_db + cloud_db) ** 2 + scint_db ** 2)


def slant_range_km(elev_deg, alt_km, earth_radius_km: float = 6371.0):
    """Slant range (km) to a satellite at ``alt_km`` seen at ``elev_deg`` over a spherical Earth."""
    el = np.radians(np.asarray(elev_deg, dtype=np.float64))
    r, s = earth_radius_km, earth_radius_km + alt_km
    return np.sqrt(s * s - (r * np.cos(el)) ** 2) - r * np.sin(el)


# -- the scenario's budget ----------------------------------------------------------
@dataclass
class KindBudget:
    """Budget options of one ``link_budget`` entry (the other keys of the entry override the profile).

    ``exceedance_pct`` sets the ITU-R conditions of ground links (attenuation
    exceeded that % of an average year; 50 = median: gases, clouds,
    scintillation, no rain); ``rain_mm_h`` instead sets the rain from a point
    rain rate.  ``antenna_diameter_m`` is the ground antenna's size for P.618
    scintillation.  ``margin_db`` is held back from every Es/N0.
    ``uplink`` (ground links): ``"auto"`` = the built-in uplink paired with a
    built-in profile (none for a custom one), ``"none"`` = the downlink's
    value both ways, or ``{"profile": NAME or None, FIELD: value...}``: an
    uplink profile with overrides (the entry's own overrides are the
    downlink's and do not carry over).
    """

    profile: str | None = None
    below_threshold: str = "down"
    margin_db: float = 0.0
    atmosphere: bool = True
    exceedance_pct: float = 50.0
    rain_mm_h: float | None = None
    antenna_diameter_m: float = 0.6
    uplink: object = "auto"

    def check(self) -> tuple[str, str] | None:
        if self.profile is not None and self.profile not in PROFILES:
            return "profile", f"unknown profile {self.profile!r}; accepted: {', '.join(PROFILES)}"
        if self.below_threshold not in BELOW:
            return "below_threshold", f"{self.below_threshold!r}; accepted: {', '.join(BELOW)}"
        if not 0.001 <= self.exceedance_pct <= 50:
            return "exceedance_pct", "a percentage of an average year, 0.001 to 50"
        if self.rain_mm_h is not None and not 0 <= self.rain_mm_h <= 300:
            return "rain_mm_h", "a rain rate in mm/h, 0 to 300"
        if not self.antenna_diameter_m > 0:
            return "antenna_diameter_m", "must be positive"
        if not (self.uplink is None or self.uplink in UPLINK_WORDS or isinstance(self.uplink, dict)):
            return "uplink", "auto, none, or a mapping like {profile: leo-ku-user-up, eirp_dbw: 40}"
        return None


def _split_key(key: str, where: str) -> tuple[str, str | None]:
    kind, _, group = str(key).partition("/")
    if kind not in BUDGET_KINDS:
        raise BudgetError(f"{where}.{key}", f"unknown link kind; accepted: {', '.join(BUDGET_KINDS)}, "
                                            "each optionally /GROUP (a shell or layer), e.g. ground/leo")
    return kind, (group or None)


def parse_link_budget(section, check_fields, where: str = "link_budget") -> list[tuple[str, KindBudget, RadioProfile]]:
    """Check a scenario's ``link_budget`` mapping; (key, options, profile) per entry.

    ``check_fields(cls, mapping, where)`` is :func:`sgemu.schema.check_fields`
    (type checks with one-line errors); consistency errors raise :class:`BudgetError`.
    """
    if not isinstance(section, dict):
        raise BudgetError(where, f"expected a mapping of link kind to budget, got {section!r}")
    opt_keys = [f.name for f in fields(KindBudget)]
    accepted = opt_keys + profile_keys()
    out = []
    for key, spec in section.items():
        _split_key(key, where)
        w = f"{where}.{key}"
        if not isinstance(spec, dict):
            raise BudgetError(w, f"expected a mapping like {{profile: leo-ku-user}}, got {spec!r}")
        for k in spec:
            if k not in accepted:
                close = difflib.get_close_matches(str(k), accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise BudgetError(f"{w}.{k}", f"unknown key{hint}; accepted: {', '.join(accepted)}")
        opts = KindBudget(**check_fields(KindBudget, {k: v for k, v in spec.items() if k in opt_keys}, w,
                                         skip=("uplink",)),
                          uplink=_parse_uplink(spec.get("uplink", "auto"), key, check_fields, f"{w}.uplink"))
        bad = opts.check()
        if bad:
            raise BudgetError(f"{w}.{bad[0]}", bad[1])
        over = check_fields(RadioProfile, {k: v for k, v in spec.items() if k not in opt_keys}, w)
        prof = resolve(opts.profile, over)
        bad = prof.check()
        if bad:
            raise BudgetError(f"{w}.{bad[0]}", bad[1] + ("" if opts.profile else "; or name a built-in profile: "
                                                          + ", ".join(PROFILES)))
        out.append((str(key), opts, prof))
    return out


def egress_by_end(res: "BudgetResult", a_is_station: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per entry (n,): (capacity Mbit/s of end a's egress, of end b's egress, loss % of a's, of b's).

    End a's egress carries a -> b: the downlink when a is the satellite, the
    uplink when a is the ground node (``a_is_station``, (n,) bool; False for
    entries that are not ground links, whose two directions are equal).
    This is what per-direction shaping gives each end of a veth pair.
    """
    up_a = np.asarray(a_is_station, dtype=bool)
    return (np.where(up_a, res.capacity_up_mbps, res.capacity_down_mbps),
            np.where(up_a, res.capacity_down_mbps, res.capacity_up_mbps),
            np.where(up_a, res.loss_up_pct, res.loss_down_pct),
            np.where(up_a, res.loss_down_pct, res.loss_up_pct))


def _parse_uplink(value, key: str, check_fields, where: str):
    """A ``link_budget`` entry's ``uplink``: "auto", "none" or {"profile": name or None, **overrides}."""
    if value is None:
        value = "none"
    if isinstance(value, str) and value in UPLINK_WORDS:
        return value
    if str(key).partition("/")[0] != "ground":
        raise BudgetError(where, "only ground links have an uplink (ISL and inter-layer profiles serve both "
                                 "directions); accepted here: auto, none")
    if isinstance(value, str):
        value = {"profile": value}
    if not isinstance(value, dict):
        raise BudgetError(where, f"expected a profile name, a mapping like {{profile: leo-ku-user-up, "
                                 f"eirp_dbw: 40}}, auto or none; got {value!r}")
    name = value.get("profile")
    if name is not None and name not in PROFILES:
        raise BudgetError(f"{where}.profile", f"unknown profile {name!r}; accepted: {', '.join(PROFILES)}")
    accepted = ["profile"] + profile_keys()
    for k in value:
        if k not in accepted:
            close = difflib.get_close_matches(str(k), accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BudgetError(f"{where}.{k}", f"unknown key{hint}; accepted: {', '.join(accepted)}")
    over = check_fields(RadioProfile, {k: v for k, v in value.items() if k != "profile"}, where)
    bad = resolve(name, over).check()
    if bad:
        raise BudgetError(f"{where}.{bad[0]}", bad[1])
    return {"profile": name, **over}


def uplink_profile(kind: str, opts: KindBudget, downlink: RadioProfile) -> RadioProfile | None:
    """The profile budgeting a ground link's uplink (ground -> satellite), or None (downlink both ways)."""
    if kind != "ground" or opts.uplink in (None, "none"):
        return None
    if opts.uplink == "auto":
        name = UPLINK_OF.get(downlink.name)
        return None if name is None else PROFILES[name]
    spec = dict(opts.uplink)
    return resolve(spec.pop("profile", None), spec)


@dataclass
class BudgetResult:
    """Per entry (n,): what a link series carries, the bottleneck of the two directions --
    capacity Mbit/s, loss % (NaN = none), MODCOD index (-1 below, -2 not DVB-S2X), up -- and
    each direction's own capacity, loss and MODCOD (down = satellite -> ground, or both ways
    where there is no separate uplink; up = ground -> satellite, equal to down there)."""

    capacity_mbps: np.ndarray
    loss_pct: np.ndarray
    modcod: np.ndarray
    up: np.ndarray
    capacity_down_mbps: np.ndarray | None = None
    capacity_up_mbps: np.ndarray | None = None
    loss_down_pct: np.ndarray | None = None
    loss_up_pct: np.ndarray | None = None
    modcod_down: np.ndarray | None = None
    modcod_up: np.ndarray | None = None

    DIRECTED = ("capacity_down_mbps", "capacity_up_mbps", "loss_down_pct", "loss_up_pct", "modcod_down", "modcod_up")

    def __post_init__(self):
        for name in self.DIRECTED:  # one direction only: both directions are that one
            if getattr(self, name) is None:
                setattr(self, name, getattr(self, {"capacity": "capacity_mbps", "loss": "loss_pct",
                                                   "modcod": "modcod"}[name.split("_")[0]]).copy())

    @classmethod
    def empty(cls, n: int) -> "BudgetResult":
        return cls(np.full(n, np.nan, np.float32), np.full(n, np.nan, np.float32),
                   np.full(n, -2, np.int8), np.ones(n, bool))

    @classmethod
    def both_ways(cls, down: "BudgetResult", up: "BudgetResult") -> "BudgetResult":
        """The bottleneck of a downlink and an uplink result: lower capacity (its MODCOD; a tie
        is the downlink's), higher loss, up when both are."""
        up_lower = up.capacity_mbps < down.capacity_mbps
        return cls(np.where(up_lower, up.capacity_mbps, down.capacity_mbps).astype(np.float32),
                   np.fmax(down.loss_pct, up.loss_pct).astype(np.float32),
                   np.where(up_lower, up.modcod, down.modcod).astype(np.int8), down.up & up.up,
                   down.capacity_mbps, up.capacity_mbps, down.loss_pct, up.loss_pct, down.modcod, up.modcod)


class LinkBudget:
    """A scenario's link budget bound to its nodes: which profile each link uses, and the arithmetic.

    ``entries`` are (key, options, profile) from :func:`parse_link_budget`;
    a key ``kind/GROUP`` applies to links of that kind with an end in GROUP
    (a shell beats a layer beats the bare kind).  ``stations`` maps ground
    node names to (lat_deg, lon_deg, alt_m) in WGS84.
    """

    def __init__(self, entries, node_names, node_shell, node_layer, stations: dict[str, tuple]):
        self.entries = list(entries)
        self.node_names, self.node_shell, self.node_layer = list(node_names), list(node_shell), list(node_layer)
        self.stations = {str(k): tuple(float(x) for x in v) for k, v in stations.items()}
        groups = {s.lower() for s, l in zip(node_shell, node_layer) if l != "GROUND"} | \
                 {l.lower() for l in node_layer if l != "GROUND"}
        self._keys = []
        for key, _, _ in self.entries:
            kind, group = _split_key(key, "link_budget")
            if group is not None and group.lower() not in groups:
                raise BudgetError(f"link_budget.{key}", f"no satellites in group {group!r}; "
                                                        f"groups: {', '.join(sorted(groups))}")
            self._keys.append((kind, None if group is None else group.lower()))
        self._memo: dict[tuple, int] = {}
        self.uplinks = [uplink_profile(kind, o, p) for (kind, _), (_, o, p) in zip(self._keys, self.entries)]

    # -- configuration ------------------------------------------------------------
    def to_config(self) -> dict:
        """JSON-able configuration (stored in a link series' header)."""
        return {"entries": [{"key": k, "options": asdict(o), "profile": p.to_dict()} for k, o, p in self.entries],
                "stations": {k: list(v) for k, v in self.stations.items()}}

    @classmethod
    def from_config(cls, config: dict, node_names, node_shell, node_layer) -> "LinkBudget":
        # files written before uplinks were budgeted carry the downlink both ways
        entries = [(e["key"], KindBudget(**{"uplink": "none", **e["options"]}), RadioProfile.from_dict(e["profile"]))
                   for e in config["entries"]]
        return cls(entries, node_names, node_shell, node_layer, config["stations"])

    @classmethod
    def for_series(cls, series) -> "LinkBudget | None":
        if series.budget is None:
            return None
        return cls.from_config(series.budget, series.node_names, series.node_shell, series.node_layer)

    # -- which entry a link uses ------------------------------------------------------
    def spec_index(self, kind: str, a: int, b: int) -> int:
        """Index of the entry for a link of ``kind`` between nodes a and b; -1 = none (constants apply)."""
        ends = ((self.node_shell[a].lower(), self.node_layer[a].lower()),
                (self.node_shell[b].lower(), self.node_layer[b].lower()))
        memo = (kind, ends)
        if memo not in self._memo:
            best, best_rank = -1, 0
            for i, (k, group) in enumerate(self._keys):
                if k != kind:
                    continue
                rank = 1 if group is None else (3 if group in (ends[0][0], ends[1][0])
                                                else 2 if group in (ends[0][1], ends[1][1]) else 0)
                if rank > best_rank:
                    best, best_rank = i, rank
            self._memo[memo] = best
        return self._memo[memo]

    # -- arithmetic over entries ----------------------------------------------------------
    def evaluate(self, spec: np.ndarray, range_km: np.ndarray, elev_deg: np.ndarray, station: np.ndarray,
                 rain: tuple[str, float] | None = None) -> BudgetResult:
        """Capacity, loss, MODCOD and up/down of n entries.

        ``spec`` (n,) entry indices (-1 = no budget: NaN capacity, up),
        ``range_km`` (n,), ``elev_deg`` (n,) for ground links, ``station`` (n,)
        the ground node of ground links (-1 elsewhere).  ``rain`` =
        ("rain_mm_h", R) or ("exceedance_pct", p) replaces the rain of ground links.
        """
        out = BudgetResult.empty(spec.size)
        for s in np.unique(spec[spec >= 0]).tolist():
            sel = np.flatnonzero(spec == s)
            _, opts, prof = self.entries[s]
            res = self._direction(s, prof, range_km[sel], elev_deg[sel], station[sel], rain)
            if self.uplinks[s] is not None:
                res = BudgetResult.both_ways(
                    res, self._direction(s, self.uplinks[s], range_km[sel], elev_deg[sel], station[sel], rain))
            for name in ("capacity_mbps", "loss_pct", "modcod", "up") + BudgetResult.DIRECTED:
                getattr(out, name)[sel] = getattr(res, name)
        return out

    def _direction(self, s: int, prof: RadioProfile, range_km, elev_deg, station, rain) -> BudgetResult:
        """One direction of entry s's links with profile ``prof`` (atmosphere at its frequency)."""
        opts = self.entries[s][1]
        if prof.model == "optical":
            res = self._optical(prof, opts, range_km)
        else:
            atm = (self.atmosphere_db(s, station, elev_deg, rain, frequency_ghz=prof.frequency_ghz)
                   if self._keys[s][0] == "ground" and opts.atmosphere else 0.0)
            res = self._rf(prof, opts, range_km, atm)
        if prof.max_range_km is not None:
            res.up &= range_km <= prof.max_range_km
        return res

    def atmosphere_db(self, s: int, station: np.ndarray, elev_deg: np.ndarray, rain=None,
                      frequency_ghz: float | None = None) -> np.ndarray:
        """Total atmospheric attenuation (dB) of entry s's ground links at the given stations/elevations,
        at ``frequency_ghz`` (default: the entry's downlink frequency)."""
        _, opts, prof = self.entries[s]
        uniq, site_of = np.unique(station, return_inverse=True)
        sites = [self.stations[self.node_names[n]] for n in uniq.tolist()]
        f = float(prof.frequency_ghz if frequency_ghz is None else frequency_ghz)
        d = opts.antenna_diameter_m
        comp = _itur_components(sites, f, opts.exceedance_pct, d)
        gas, cloud, rain_db, scint = (_interp_knots(comp[:, i], site_of, elev_deg) for i in range(4))
        mode = rain or (("rain_mm_h", opts.rain_mm_h) if opts.rain_mm_h is not None else None)
        if mode is not None and mode[0] == "rain_mm_h":
            rain_db = _interp_knots(_itur_rain_rate(sites, f, float(mode[1])), site_of, elev_deg)
        elif mode is not None:
            rain_db = _interp_knots(_itur_components(sites, f, float(mode[1]), d)[:, 2], site_of, elev_deg)
        return combine_p618(gas, cloud, rain_db, scint)

    @staticmethod
    def _rf(prof: RadioProfile, opts: KindBudget, range_km, atm_db) -> BudgetResult:
        rs = symbol_rate_hz(prof.bandwidth_mhz, prof.roll_off)
        cn0 = cn0_dbhz(prof.eirp, fspl_db(range_km, prof.frequency_ghz), prof.g_over_t_db_k,
                       prof.impl_loss_db + atm_db)
        es = esn0_db(cn0, rs, opts.margin_db)
        mc = modcod.select(es, prof.s2x)
        below = mc < 0
        low = modcod.lowest(prof.s2x)
        loss = np.full(es.shape, np.nan)
        if opts.below_threshold == "loss":
            loss[below] = loss_below_pct(modcod.threshold_db(low) - es[below])
            mc = np.where(below, low, mc)
        cap = modcod.bits_per_symbol(mc) * rs * prof.share / 1e6
        up = ~below if opts.below_threshold == "down" else np.ones(es.shape, bool)
        return BudgetResult(cap.astype(np.float32), loss.astype(np.float32),
                            np.where(below, -1 if opts.below_threshold == "down" else mc, mc).astype(np.int8), up)

    @staticmethod
    def _optical(prof: RadioProfile, opts: KindBudget, range_km) -> BudgetResult:
        rates = np.sort(np.asarray(prof.rates_mbps, dtype=np.float64))
        max_mbps = optical_max_rate_bps(prof, range_km) / 1e6 * 10 ** (-opts.margin_db / 10)
        pos = np.searchsorted(rates, max_mbps, side="right") - 1
        below = pos < 0
        cap = np.where(below, rates[0], rates[np.maximum(pos, 0)])
        loss = np.full(cap.shape, np.nan)
        if opts.below_threshold == "loss":
            loss[below] = loss_below_pct(10 * np.log10(rates[0] / max_mbps[below]))
        up = ~below if opts.below_threshold == "down" else np.ones(cap.shape, bool)
        return BudgetResult(cap.astype(np.float32), loss.astype(np.float32), np.full(cap.shape, -2, np.int8), up)
