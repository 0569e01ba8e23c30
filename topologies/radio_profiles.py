"""Radio and optical terminal profiles for the link budget, built-in and from the scenario.

A :class:`RadioProfile` describes one direction of a link kind: what the
transmitter radiates and what the receiver hears.  A ground link has two:
the downlink (satellite -> ground, the entry's profile) and the uplink
(ground -> satellite, :data:`UPLINK_OF` pairs the built-in ones).  ``model: rf`` links are
budgeted as carrier-to-noise density and adaptive DVB-S2X MODCODs
(:mod:`topologies.linkbudget`); ``model: optical`` links by the received
optical power against a receiver sensitivity in photons per bit, at the
highest of the terminal's data rates that it supports.

The built-in profiles (:data:`PROFILES`) and the source of each value are
listed in ``docs/link-physics.md``; values marked "assumed" there are
engineering assumptions of the right magnitude, not published figures.
A scenario names a profile and may override any field::

    link_budget:
      ground: {profile: leo-ku-user, g_over_t_db_k: 12}
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

MODELS = ("rf", "optical")


@dataclass(frozen=True)
class RadioProfile:
    """One direction of a link: transmitter, receiver, channel.  Units in the names.

    RF: ``eirp_dbw`` (or, when it is None, ``tx_power_dbw + tx_gain_dbi``),
    receiver ``g_over_t_db_k``, carrier ``frequency_ghz``, occupied
    ``bandwidth_mhz`` with the pulse ``roll_off`` (symbol rate =
    bandwidth / (1 + roll_off)), ``impl_loss_db`` for everything else
    (modem implementation, polarisation, pointing, feeder losses).
    ``share`` is the fraction of the carrier the link gets (a beam shared by
    several users); 1 = all of it.

    Optical: ``tx_power_w`` at ``wavelength_nm`` through apertures of
    diameter ``tx_aperture_m`` / ``rx_aperture_m`` (gain (pi D / lambda)^2),
    ``optics_loss_db`` (transmit + receive optics) and ``pointing_loss_db``;
    the receiver needs ``sensitivity_photons_per_bit`` at a data rate, and
    the terminal offers ``rates_mbps``.

    Both: ``max_range_km`` (None = no limit) beyond which the link is down.
    """

    name: str = "custom"
    model: str = "rf"
    description: str = ""
    frequency_ghz: float | None = None
    bandwidth_mhz: float | None = None
    roll_off: float = 0.1
    eirp_dbw: float | None = None
    tx_power_dbw: float | None = None
    tx_gain_dbi: float | None = None
    g_over_t_db_k: float | None = None
    impl_loss_db: float = 0.0
    share: float = 1.0
    s2x: bool = True
    wavelength_nm: float = 1550.0
    tx_power_w: float | None = None
    tx_aperture_m: float | None = None
    rx_aperture_m: float | None = None
    optics_loss_db: float = 3.0
    pointing_loss_db: float = 3.0
    sensitivity_photons_per_bit: float | None = None
    rates_mbps: tuple = ()
    max_range_km: float | None = None

    @property
    def eirp(self) -> float:
        """EIRP in dBW: given, or transmit power plus antenna gain."""
        if self.eirp_dbw is not None:
            return self.eirp_dbw
        return float(self.tx_power_dbw) + float(self.tx_gain_dbi)

    def check(self) -> tuple[str, str] | None:
        """(field, message) of the first inconsistent value, or None when the profile is usable."""
        if self.model not in MODELS:
            return "model", f"{self.model!r}; accepted: {', '.join(MODELS)}"
        if self.max_range_km is not None and not self.max_range_km > 0:
            return "max_range_km", "must be a positive distance"
        if self.model == "rf":
            for name in ("frequency_ghz", "bandwidth_mhz", "g_over_t_db_k"):
                if getattr(self, name) is None:
                    return name, "required for model rf"
            if self.eirp_dbw is None and (self.tx_power_dbw is None or self.tx_gain_dbi is None):
                return "eirp_dbw", "give eirp_dbw, or tx_power_dbw and tx_gain_dbi"
            if not 0 < self.frequency_ghz < 1000:
                return "frequency_ghz", "a carrier frequency in GHz, 0 < f < 1000"
            if not self.bandwidth_mhz > 0:
                return "bandwidth_mhz", "must be positive"
            if not 0 <= self.roll_off <= 1:
                return "roll_off", "between 0 and 1 (DVB-S2X: 0.05 to 0.35)"
            if not 0 < self.share <= 1:
                return "share", "a fraction of the carrier, 0 < share <= 1"
            return None
        for name in ("tx_power_w", "tx_aperture_m", "rx_aperture_m", "sensitivity_photons_per_bit"):
            value = getattr(self, name)
            if value is None or not value > 0:
                return name, "required for model optical, a positive number"
        if not self.rates_mbps or any(not (isinstance(r, (int, float)) and r > 0) for r in self.rates_mbps):
            return "rates_mbps", "a list of the terminal's data rates in Mbit/s, each positive"
        return None

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "RadioProfile":
        d = dict(d)
        d["rates_mbps"] = tuple(d.get("rates_mbps") or ())
        return cls(**d)


def _p(name: str, description: str, **kw) -> RadioProfile:
    return RadioProfile(name=name, description=description, **kw)


#: Built-in profiles by name; sources and assumptions in docs/link-physics.md.
PROFILES: dict[str, RadioProfile] = {p.name: p for p in (
    _p("leo-ku-user", "LEO Ku-band downlink to a phased-array user terminal (Starlink-like)",
       frequency_ghz=11.7, bandwidth_mhz=240.0, roll_off=0.1, eirp_dbw=36.7, g_over_t_db_k=10.7,
       impl_loss_db=2.0),
    _p("leo-ka-user", "LEO Ka-band downlink to a user terminal (Kuiper-like)",
       frequency_ghz=19.0, bandwidth_mhz=400.0, roll_off=0.1, eirp_dbw=38.0, g_over_t_db_k=13.0,
       impl_loss_db=2.0),
    _p("leo-ka-gateway", "LEO Ka-band downlink to a 1.5 m gateway dish",
       frequency_ghz=18.5, bandwidth_mhz=500.0, roll_off=0.1, eirp_dbw=38.0, g_over_t_db_k=24.4,
       impl_loss_db=2.0),
    _p("ka-isl", "RF inter-satellite link in the 22.55-23.55 GHz ISS band, 0.3 m dishes",
       frequency_ghz=23.0, bandwidth_mhz=400.0, roll_off=0.1, tx_power_dbw=10.0, tx_gain_dbi=35.3,
       g_over_t_db_k=8.3, impl_loss_db=2.0),
    _p("optical-isl", "1550 nm laser inter-satellite link, 80 mm apertures",
       model="optical", wavelength_nm=1550.0, tx_power_w=1.0, tx_aperture_m=0.08, rx_aperture_m=0.08,
       optics_loss_db=3.0, pointing_loss_db=3.0, sensitivity_photons_per_bit=100.0,
       rates_mbps=(100000.0, 25000.0, 10000.0, 2500.0, 1000.0), max_range_km=6000.0),
    _p("bds-ka-isl", "BeiDou-3 Ka-band inter-satellite link (phased arrays, ranging and low-rate data)",
       frequency_ghz=23.0, bandwidth_mhz=2.0, roll_off=0.35, eirp_dbw=44.0, g_over_t_db_k=4.0,
       impl_loss_db=2.0),
    _p("bds-ka-ground", "BeiDou-3 Ka-band satellite-ground link to a 3 m station dish",
       frequency_ghz=22.0, bandwidth_mhz=2.0, roll_off=0.35, eirp_dbw=40.0, g_over_t_db_k=28.0,
       impl_loss_db=2.0),
    # uplinks (ground -> satellite) of the ground profiles above, paired in UPLINK_OF
    _p("leo-ku-user-up", "LEO Ku-band uplink from a phased-array user terminal (Starlink-like)",
       frequency_ghz=14.25, bandwidth_mhz=60.0, roll_off=0.1, eirp_dbw=38.0, g_over_t_db_k=8.0,
       impl_loss_db=2.0),
    _p("leo-ka-user-up", "LEO Ka-band uplink from a user terminal (Kuiper-like)",
       frequency_ghz=28.5, bandwidth_mhz=100.0, roll_off=0.1, eirp_dbw=40.0, g_over_t_db_k=10.0,
       impl_loss_db=2.0),
    _p("leo-ka-gateway-up", "LEO Ka-band uplink from a 1.5 m gateway dish",
       frequency_ghz=28.5, bandwidth_mhz=500.0, roll_off=0.1, eirp_dbw=60.0, g_over_t_db_k=10.0,
       impl_loss_db=2.0),
    _p("bds-ka-ground-up", "BeiDou-3 Ka-band station-to-satellite link from a 3 m station dish",
       frequency_ghz=27.5, bandwidth_mhz=2.0, roll_off=0.35, eirp_dbw=60.0, g_over_t_db_k=4.0,
       impl_loss_db=2.0),
)}

#: The uplink profile (ground -> satellite) budgeted beside each built-in ground (downlink) profile
#: when a ``link_budget`` entry says ``uplink: auto`` (the default); see topologies.linkbudget.
UPLINK_OF: dict[str, str] = {"leo-ku-user": "leo-ku-user-up", "leo-ka-user": "leo-ka-user-up",
                             "leo-ka-gateway": "leo-ka-gateway-up", "bds-ka-ground": "bds-ka-ground-up"}

#: Scenario keys of a kind's budget that are not profile fields.
_PROFILE_KEYS = {f.name for f in fields(RadioProfile)} - {"name"}


def profile_keys() -> list[str]:
    """Profile fields a scenario may override."""
    return [f.name for f in fields(RadioProfile) if f.name in _PROFILE_KEYS]


def resolve(name: str | None, overrides: dict) -> RadioProfile:
    """The named built-in profile (or an empty custom one for None) with ``overrides`` applied."""
    base = PROFILES[name] if name is not None else RadioProfile()
    kw = dict(overrides)
    if "rates_mbps" in kw:
        kw["rates_mbps"] = tuple(kw["rates_mbps"])
    return replace(base, **kw)

