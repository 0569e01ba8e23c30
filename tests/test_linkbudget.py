"""Link budget: ITU-R propagation against ITU's validation examples, budget arithmetic by hand,
MODCOD boundaries, capacity against range and rain, the series' per-step capacity, scenario errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sgemu.scenario import parse_scenario
from sgemu.schema import ScenarioError
from topologies import linkbudget as lb
from topologies import modcod
from topologies.builder import build_series
from topologies.events import EventError, apply_events, parse_events
from topologies.radio_profiles import PROFILES
from topologies.series import LinkSeries

# ITU-R Study Group 3 validation examples (CG-3M3J-13-ValEx, as shipped in ITU-Rpy's
# test/test_data: 618/ITURP618-13_A_rain.csv, 840/ITURP840-8_cloud_attenuation.csv,
# 676/ITURP676-12_A_gas.csv).  Site: London (51.5 N, -0.14 E, 0.031383 km), el 31.07699124 deg.
LONDON = dict(lat=51.5, lon=-0.14, el=31.07699124)
P618_RAIN = [  # (f GHz, p %, A_rain dB), tau = 0
    (14.25, 1.0, 0.495317069), (14.25, 0.1, 2.185847422), (14.25, 0.01, 6.798072267),
    (14.25, 0.001, 14.89982248), (29.0, 0.01, 23.44444523), (29.0, 0.001, 45.19865638),
]
P840_CLOUD = [(14.25, 1.0, 0.45516982), (14.25, 0.2, 0.62448661), (29.0, 1.0, 1.77246907)]
P676_GAS = [  # (f, rho g/m3, T K, P hPa, V_t kg/m2, A_gas dB)
    (14.25, 13.79653679, 283.6108756, 1009.485611798, 33.72946527, 0.226874038),
    (29.0, 13.79653679, 283.6108756, 1009.485611798, 33.72946527, 0.837659939),
]
P618_SCINT = [(14.25, 1.0, 0.261931889), (14.25, 0.01, 0.628287291)]  # D 1 m, eta 0.65


@pytest.mark.parametrize("f, p, expected", P618_RAIN)
def test_itur_rain_matches_itu_validation_example(f, p, expected):
    import itur.models.itu618 as p618

    a = p618.rain_attenuation(LONDON["lat"], LONDON["lon"], f, LONDON["el"], hs=0.031382984, p=p, tau=0)
    assert a.value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("f, p, expected", P840_CLOUD)
def test_itur_clouds_match_itu_validation_example(f, p, expected):
    import itur.models.itu840 as p840

    assert p840.cloud_attenuation(LONDON["lat"], LONDON["lon"], LONDON["el"], f, p).value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("f, rho, t_k, p_hpa, v_t, expected", P676_GAS)
def test_itur_gases_match_itu_validation_example(f, rho, t_k, p_hpa, v_t, expected):
    import itur.models.itu676 as p676

    a = p676.gaseous_attenuation_slant_path(f, LONDON["el"], rho, p_hpa, t_k, V_t=v_t, h=0.031382984, mode="approx")
    assert a.value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("f, p, expected", P618_SCINT)
def test_itur_scintillation_matches_itu_validation_example(f, p, expected):
    import itur.models.itu618 as p618

    a = p618.scintillation_attenuation(LONDON["lat"], LONDON["lon"], f, LONDON["el"], p, 1.0, eta=0.65)
    assert a.value == pytest.approx(expected, rel=1e-6)


def test_elevation_grid_interpolation_stays_within_3_percent_of_itur():
    import itur

    site, f, el = (39.9, 116.4, 50.0), 11.7, np.array([11.0, 17.0, 27.5, 37.0, 55.0, 73.0])
    knots = lb._itur_components([site], f, 1.0, 0.6)
    ours = lb.combine_p618(*(lb._interp_knots(knots[:, i], np.zeros(el.size, int), el) for i in range(4)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = itur.atmospheric_attenuation_slant_path(np.full(el.size, site[0]), np.full(el.size, site[1]), f, el,
                                                         1.0, 0.6, hs=np.full(el.size, site[2] / 1e3)).value
    assert np.allclose(ours, direct, rtol=0.03)


# -- arithmetic by hand ---------------------------------------------------------------------
def test_free_space_path_loss_by_hand():
    # FSPL = 92.45 + 20 log10(d km) + 20 log10(f GHz): 1,000 km at 10 GHz = 172.45 dB
    assert lb.fspl_db(1000.0, 10.0) == pytest.approx(172.45, abs=0.01)
    assert lb.fspl_db(550.0, 11.7) == pytest.approx(92.45 + 20 * math.log10(550) + 20 * math.log10(11.7), abs=0.01)
    # doubling the range costs 6.02 dB
    assert lb.fspl_db(2000.0, 20.0) - lb.fspl_db(1000.0, 20.0) == pytest.approx(6.0206, abs=1e-3)


def test_eirp_and_carrier_to_noise_density_by_hand():
    assert lb.eirp_dbw(10.0, 35.3) == pytest.approx(45.3)
    assert lb.eirp_dbw(10.0, 35.3, 1.5) == pytest.approx(43.8)
    # 36.7 dBW - 168.62 dB + 10.7 dB/K + 228.6 dB = 107.38 dBHz
    assert lb.cn0_dbhz(36.7, 168.62, 10.7) == pytest.approx(107.38, abs=0.01)
    # 240 MHz at roll-off 0.1 is 218.18 Msym/s: Es/N0 = 107.38 - 83.39 = 23.99 dB
    assert lb.symbol_rate_hz(240.0, 0.1) == pytest.approx(218.1818e6, rel=1e-6)
    assert lb.esn0_db(107.38, 218.1818e6) == pytest.approx(23.99, abs=0.01)


def test_slant_range_geometry():
    assert lb.slant_range_km(90.0, 550.0) == pytest.approx(550.0)
    # at 0 deg: sqrt((R+h)^2 - R^2)
    assert lb.slant_range_km(0.0, 550.0) == pytest.approx(math.sqrt(6921.0 ** 2 - 6371.0 ** 2))


def test_optical_received_power_by_hand():
    p = PROFILES["optical-isl"]
    lam = 1550e-9
    g = 10 * math.log10((math.pi * 0.08 / lam) ** 2)  # 104.2 dBi per aperture
    space = 20 * math.log10(4 * math.pi * 5000e3 / lam)
    expect_dbw = 0.0 + 2 * g - space - 3.0 - 3.0
    assert 10 * math.log10(lb.optical_received_w(p, 5000.0)) == pytest.approx(expect_dbw, abs=1e-6)
    photon = 6.62607015e-34 * 299792458.0 / lam
    assert lb.optical_max_rate_bps(p, 5000.0) == pytest.approx(10 ** (expect_dbw / 10) / (100 * photon), rel=1e-9)


# -- MODCODs ------------------------------------------------------------------------------------
def test_modcod_boundaries():
    names = lambda es: [modcod.MODCODS[i].name if i >= 0 else None for i in modcod.select(es)]  # noqa: E731
    assert names([-2.36, -2.35, -2.03, 19.57, 40.0]) == [None, "QPSK 1/4", "QPSK 13/45", "256APSK 3/4", "256APSK 3/4"]
    # just under 5.97 dB the best is DVB-S2's 8PSK 3/5 (5.50 dB, 1.78 bit/symbol, better than
    # 8APSK 26/45-L at 5.13 dB, 1.71); at 5.97 dB 16APSK 1/2-L (1.97) takes over
    assert names([5.969, 5.97]) == ["8PSK 3/5", "16APSK 1/2-L"]
    assert modcod.select(np.nan) == -1
    s2 = modcod.select(np.array([-2.0, 7.0, 40.0]), s2x=False)
    assert [modcod.MODCODS[i].name for i in s2] == ["QPSK 1/4", "8PSK 2/3", "32APSK 9/10"]


def test_selected_efficiency_never_falls_as_esn0_rises_and_threshold_is_met():
    es = np.linspace(-5, 25, 3001)
    idx = modcod.select(es)
    eff = modcod.bits_per_symbol(idx)
    assert np.all(np.diff(eff) >= 0)
    ok = idx >= 0
    assert np.all(modcod.threshold_db(idx[ok]) <= es[ok])
    # and nothing better was available: every MODCOD with threshold <= Es/N0 has efficiency <= the chosen one
    all_t = np.array([m.esn0_db for m in modcod.MODCODS])
    all_e = np.array([m.bits_per_symbol for m in modcod.MODCODS])
    for e, chosen in zip(es[ok][::97], eff[ok][::97]):
        assert all_e[all_t <= e].max() == chosen


# -- capacity against range and rain ---------------------------------------------------------------
def _budget(entries, stations=None):
    names = ["sat", "GS"]
    return lb.LinkBudget(entries, names, ["leo", "ground"], ["LEO", "GROUND"], stations or {"GS": (39.9, 116.4, 50.0)})


@pytest.mark.parametrize("profile, near_km, far_km", [
    ("leo-ku-user", 500, 3000), ("leo-ka-user", 500, 3000), ("leo-ka-gateway", 500, 3000),
    ("bds-ka-ground", 20000, 80000)])
def test_ground_capacity_falls_with_range_and_with_rain(profile, near_km, far_km):
    b = _budget([("ground", lb.KindBudget(profile=profile), PROFILES[profile])])
    n = 60
    rng = np.linspace(near_km, far_km, n)
    el = np.full(n, 40.0)
    res = b.evaluate(np.zeros(n, int), rng, el, np.ones(n, int))
    for c, mc in ((res.capacity_mbps, res.modcod), (res.capacity_down_mbps, res.modcod_down),
                  (res.capacity_up_mbps, res.modcod_up)):  # the series' value and each direction
        cap = np.where(mc >= 0, c, 0)
        assert np.all(np.diff(cap) <= 0) and cap[0] > cap[-1]
    rains = [0.0, 5.0, 20.0, 50.0, 100.0]
    caps = []
    for r in rains:
        res = b.evaluate(np.zeros(1, int), np.array([near_km * 2.0]), np.array([30.0]), np.ones(1, int),
                         rain=("rain_mm_h", r))
        caps.append([float(c[0]) if m[0] >= 0 else 0.0 for c, m in ((res.capacity_mbps, res.modcod),
                     (res.capacity_down_mbps, res.modcod_down), (res.capacity_up_mbps, res.modcod_up))])
    caps = np.array(caps)
    assert np.all(np.diff(caps, axis=0) <= 0) and np.all(caps[0] > caps[-1])


@pytest.mark.parametrize("profile", ["ka-isl", "optical-isl", "bds-ka-isl"])
def test_isl_capacity_falls_with_range(profile):
    b = _budget([("isl", lb.KindBudget(profile=profile), PROFILES[profile])])
    rng = np.geomspace(500, 60000, 200)
    res = b.evaluate(np.zeros(rng.size, int), rng, np.full(rng.size, np.nan), np.full(rng.size, -1))
    cap = np.where(res.up, res.capacity_mbps, 0)
    assert np.all(np.diff(cap) <= 0) and cap[0] > cap[-1]


def test_below_threshold_loss_rule_keeps_the_link_with_growing_loss():
    prof = PROFILES["ka-isl"]
    down = _budget([("isl", lb.KindBudget(profile="ka-isl"), prof)])
    lossy = _budget([("isl", lb.KindBudget(profile="ka-isl", below_threshold="loss"), prof)])
    rng = np.geomspace(1000, 200000, 300)
    args = (np.zeros(rng.size, int), rng, np.full(rng.size, np.nan), np.full(rng.size, -1))
    rd, rl = down.evaluate(*args), lossy.evaluate(*args)
    below = ~rd.up
    assert below.any() and (~below).any() and rl.up.all()
    assert np.isnan(rl.loss_pct[~below]).all()
    assert np.all(np.diff(rl.loss_pct[below]) >= 0) and rl.loss_pct[below][-1] == 100.0
    assert np.all(rl.capacity_mbps[below] == rl.capacity_mbps[below][0])  # the lowest MODCOD
    # 0.1 dB below the lowest threshold: 1e-5 grows one decade -> 1e-4 = 0.01 %
    assert lb.loss_below_pct(0.1) == pytest.approx(0.01)


# -- scenario and series ----------------------------------------------------------------------
def _scenario(budget=None, events=None, duration_s=600):
    raw = {
        "start": "2024-07-16T00:00:00Z", "duration_s": duration_s, "step_s": 10,
        "constellations": [{"name": "leo", "walker": {"planes": 6, "sats_per_plane": 8, "phasing": 1,
                                                      "inclination_deg": 53, "altitude_km": 1000}}],
        "stations": ["Beijing", "Kashi"],
        "links": [{"rule": "plus-grid", "group": "leo"},
                  {"rule": "ground", "group": "leo", "policy": "nearest", "sticky": True, "min_elevation_deg": 20}],
        "link_params": {"ground": {"capacity_mbps": 50}},
    }
    if budget is not None:
        raw["link_budget"] = budget
    if events is not None:
        raw["events"] = events
    return parse_scenario(raw)


def _series(scen):
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis, scen.grazing_km, scen.link_parameters(),
                        budget=scen.link_budget_for(scene))


BUDGET = {"ground": {"profile": "leo-ku-user"}, "isl": {"profile": "optical-isl"}}


@pytest.fixture(scope="module")
def budget_series():
    return _series(_scenario(BUDGET))


def test_series_carries_budgeted_capacity_per_step(budget_series):
    s = budget_series
    ground = s.link_kind[s.link_id] == 2
    caps = s.entry_capacity_mbps()
    assert ground.any() and np.isfinite(caps).all()
    assert not np.all(caps[ground] == caps[ground][0])  # varies with the geometry, unlike the constant 50
    # each ground capacity is what the budget gives for that entry's range and elevation
    budget = lb.LinkBudget.for_series(s)
    j = np.flatnonzero(ground)[:20]
    a, b = s.link_a[s.link_id[j]], s.link_b[s.link_id[j]]
    again = budget.evaluate(np.zeros(j.size, int), s.distance_km[j].astype(float),
                            s.step_elevation_deg[j].astype(float), np.maximum(a, b))
    assert np.allclose(again.capacity_mbps, s.step_capacity_mbps[j])
    # elevation above the mask, and the capacity_at accessor agrees with the entries
    assert (s.step_elevation_deg[ground] >= 20 - 1e-3).all()
    k = int(s.step_of_entry()[j[0]])
    assert np.array_equal(s.capacity_at(k), caps[s.indptr[k]:s.indptr[k + 1]])


def test_series_round_trip_with_capacity(budget_series, tmp_path):
    path = budget_series.save(tmp_path / "links.npz")
    back = LinkSeries.load(path)
    for name in LinkSeries.STEP_ARRAYS:
        a, b = getattr(budget_series, name), getattr(back, name)
        assert (a is None and b is None) or np.array_equal(a, b, equal_nan=True)
    assert back.budget == budget_series.budget
    for k in (0, back.n_steps // 2, back.n_steps - 1):
        assert np.array_equal(back.capacity_at(k), budget_series.capacity_at(k), equal_nan=True)
    assert "modcod_share" in back.summary()["kinds"]["ground"]


def test_old_series_files_without_capacity_still_load(tmp_path):
    s = _series(_scenario(duration_s=60))
    assert s.step_capacity_mbps is None and s.budget is None
    back = LinkSeries.load(s.save(tmp_path / "old.npz"))
    ids, _ = back.active(0)
    caps = back.capacity_at(0)
    assert np.all(caps[back.link_kind[ids] == 2] == 50) and np.isnan(caps[back.link_kind[ids] == 0]).all()


def test_rain_fade_lowers_the_stations_capacity_only_in_its_window(budget_series):
    ev = [{"type": "weather-fade", "stations": ["Beijing"], "rain_mm_h": 30, "at_s": 100, "until_s": 400}]
    faded = apply_events(budget_series, parse_events(budget_series, ev))
    bj = budget_series.index("Beijing")

    def per_step(s):
        out = {}
        for k in range(s.n_steps):
            ids, _ = s.active(k)
            m = (s.link_b[ids] == bj) | (s.link_a[ids] == bj)
            out[k] = dict(zip(ids[m].tolist(), s.capacity_at(k)[m].tolist()))
        return out

    before, after = per_step(budget_series), per_step(faded)
    in_window = [k for k in range(10, 40) if before[k]]
    assert in_window
    for k in range(budget_series.n_steps):
        for link, cap in before[k].items():
            if 10 <= k < 40:
                assert after[k].get(link, 0.0) < cap  # lower MODCOD, or down
            else:
                assert after[k][link] == cap
    assert budget_series.step_capacity_mbps is not faded.step_capacity_mbps  # the original is untouched


def test_circle_fade_picks_stations_inside_it(budget_series):
    ev = [{"type": "weather-fade", "circle": {"lat_deg": 39.5, "lon_deg": 76.0, "radius_km": 300},
           "exceedance_pct": 0.01, "at_s": 0}]
    (fade,) = parse_events(budget_series, ev)
    assert [budget_series.node_names[n] for n in fade.stations] == ["Kashi"]


@pytest.mark.parametrize("event, field", [
    ({"type": "weather-fade", "stations": ["Beijing"], "rain_mm_h": 30, "loss_pct": 5, "at_s": 0}, "loss_pct"),
    ({"type": "weather-fade", "stations": ["Beijing"], "rain_mm_h": -1, "at_s": 0}, "rain_mm_h"),
    ({"type": "weather-fade", "stations": ["Beijing"], "exceedance_pct": 20, "at_s": 0}, "exceedance_pct"),
    ({"type": "weather-fade", "circle": {"lat_deg": 0, "lon_deg": 0, "radius_km": 10}, "rain_mm_h": 5, "at_s": 0},
     "circle"),
    ({"type": "weather-fade", "circle": {"lat_deg": 0, "lon_deg": 0}, "rain_mm_h": 5, "at_s": 0}, "circle"),
])
def test_bad_physical_fades_name_the_field(budget_series, event, field):
    with pytest.raises(EventError, match=rf"events\[0\]\.{field}"):
        parse_events(budget_series, [event])


def test_rain_fade_without_a_budget_is_refused():
    s = _series(_scenario(duration_s=30))
    with pytest.raises(EventError, match=r"events\[0\]\.rain_mm_h: .*link_budget"):
        parse_events(s, [{"type": "weather-fade", "stations": ["Beijing"], "rain_mm_h": 10, "at_s": 0}])


@pytest.mark.parametrize("budget, field", [
    ({"laser": {"profile": "optical-isl"}}, "link_budget.laser"),
    ({"fiber": {"profile": "optical-isl"}}, "link_budget.fiber"),
    ({"ground": {"profile": "starlink"}}, "link_budget.ground.profile"),
    ({"ground": {"profile": "leo-ku-user", "eirp_dbm": 3}}, "link_budget.ground.eirp_dbm"),
    ({"ground": {"profile": "leo-ku-user", "eirp_dbw": "high"}}, "link_budget.ground.eirp_dbw"),
    ({"ground": {"profile": "leo-ku-user", "below_threshold": "drop"}}, "link_budget.ground.below_threshold"),
    ({"ground": {"profile": "leo-ku-user", "roll_off": 2}}, "link_budget.ground.roll_off"),
    ({"ground": {"frequency_ghz": 12}}, "link_budget.ground.bandwidth_mhz"),
    ({"ground/meo": {"profile": "leo-ku-user"}}, "link_budget.ground/meo"),
    ({"ground": "leo-ku-user"}, "link_budget.ground"),
    ({"isl": {"profile": "optical-isl", "rates_mbps": []}}, "link_budget.isl.rates_mbps"),
])
def test_bad_link_budget_names_the_field(budget, field):
    scen = _scenario(budget, duration_s=10)
    with pytest.raises(ScenarioError) as exc:
        scen.bind()
    assert exc.value.field == field
    assert "\n" not in str(exc.value)


def test_unknown_budget_key_suggests_the_nearest():
    with pytest.raises(ScenarioError, match="did you mean 'g_over_t_db_k'"):
        _scenario({"ground": {"profile": "leo-ku-user", "g_over_t_db": 9}}, duration_s=10).bind()


def test_group_keys_pick_the_most_specific_entry():
    names, shells, layers = ["a", "b", "GS"], ["leo", "bds3", "ground"], ["LEO", "MEO", "GROUND"]
    entries = [(k, lb.KindBudget(profile=p), PROFILES[p]) for k, p in
               (("ground", "leo-ku-user"), ("ground/meo", "bds-ka-ground"), ("ground/bds3", "leo-ka-gateway"))]
    b = lb.LinkBudget(entries, names, shells, layers, {"GS": (0.0, 0.0, 0.0)})
    assert b.spec_index("ground", 0, 2) == 0
    assert b.spec_index("ground", 1, 2) == 2  # the shell beats the layer
    assert b.spec_index("isl", 0, 1) == -1


def test_failures_keep_the_per_step_arrays_aligned(budget_series):
    s = budget_series
    victim = s.node_names[int(s.link_a[s.link_id[0]])]
    failed = apply_events(s, parse_events(s, [{"type": "node-down", "node": victim, "at_s": 0, "until_s": 300}]))
    assert failed.link_id.size < s.link_id.size
    for name in LinkSeries.STEP_ARRAYS:
        assert getattr(failed, name).size == failed.link_id.size
    # an entry that survived keeps its own capacity and elevation
    for k in (0, 35):
        ids, _ = s.active(k)
        ids_f, _ = failed.active(k)
        keep = np.isin(ids, ids_f)
        assert np.array_equal(s.capacity_at(k)[keep], failed.capacity_at(k))


# -- both directions of a ground link ----------------------------------------------------------------
def _by_hand_mbps(p, range_km, atm_db=0.0):
    """Capacity of one direction computed step by step from the module's documented formulas."""
    cn0 = p.eirp - lb.fspl_db(range_km, p.frequency_ghz) - atm_db - p.impl_loss_db + p.g_over_t_db_k + 228.6
    rs = p.bandwidth_mhz * 1e6 / (1 + p.roll_off)
    es = cn0 - 10 * np.log10(rs)
    return modcod.bits_per_symbol(modcod.select(es)) * rs * p.share / 1e6


def test_a_ku_terminals_uplink_is_budgeted_at_14_ghz_and_the_series_value_is_the_lower_direction():
    down, up = PROFILES["leo-ku-user"], PROFILES["leo-ku-user-up"]
    assert (down.frequency_ghz, up.frequency_ghz) == (11.7, 14.25)
    b = _budget([("ground", lb.KindBudget(profile="leo-ku-user", atmosphere=False), down)])
    rng = np.linspace(550, 2000, 40)
    res = b.evaluate(np.zeros(rng.size, int), rng, np.full(rng.size, 40.0), np.ones(rng.size, int))
    assert np.allclose(res.capacity_down_mbps, _by_hand_mbps(down, rng), rtol=1e-5)
    assert np.allclose(res.capacity_up_mbps, _by_hand_mbps(up, rng), rtol=1e-5)
    # the uplink (60 MHz from a small terminal) is the narrower direction, and the series carries it
    assert np.all(res.capacity_up_mbps < res.capacity_down_mbps)
    assert np.array_equal(res.capacity_mbps, np.minimum(res.capacity_down_mbps, res.capacity_up_mbps))
    assert np.array_equal(res.modcod, res.modcod_up) and not np.array_equal(res.modcod_up, res.modcod_down)


def test_rain_costs_the_14_ghz_uplink_more_than_the_12_ghz_downlink():
    b = _budget([("ground", lb.KindBudget(profile="leo-ku-user"), PROFILES["leo-ku-user"])])
    el, sta = np.array([30.0]), np.ones(1, int)
    a_down = b.atmosphere_db(0, sta, el, ("rain_mm_h", 25.0))
    a_up = b.atmosphere_db(0, sta, el, ("rain_mm_h", 25.0), frequency_ghz=14.25)
    assert a_up[0] > a_down[0] > 1.0
    dry = b.evaluate(np.zeros(1, int), np.array([1000.0]), el, sta)
    wet = b.evaluate(np.zeros(1, int), np.array([1000.0]), el, sta, rain=("rain_mm_h", 25.0))
    assert wet.capacity_up_mbps[0] < dry.capacity_up_mbps[0] and wet.capacity_down_mbps[0] <= dry.capacity_down_mbps[0]


def test_a_link_is_up_only_when_both_directions_close():
    weak_up = {"profile": "leo-ku-user-up", "eirp_dbw": 12.0}  # a terminal that cannot reach the satellite
    b = _budget([("ground", lb.KindBudget(profile="leo-ku-user", atmosphere=False, uplink=weak_up),
                  PROFILES["leo-ku-user"])])
    rng = np.linspace(550, 2000, 40)
    res = b.evaluate(np.zeros(rng.size, int), rng, np.full(rng.size, 40.0), np.ones(rng.size, int))
    assert (res.modcod_down >= 0).all()  # the downlink alone would close everywhere
    assert (~res.up).any() and np.array_equal(res.up, res.modcod_up >= 0)
    lossy = _budget([("ground", lb.KindBudget(profile="leo-ku-user", atmosphere=False, uplink=weak_up,
                                               below_threshold="loss"), PROFILES["leo-ku-user"])])
    lres = lossy.evaluate(np.zeros(rng.size, int), rng, np.full(rng.size, 40.0), np.ones(rng.size, int))
    assert lres.up.all() and np.array_equal(np.isfinite(lres.loss_pct), ~res.up)
    assert np.array_equal(lres.loss_pct, lres.loss_up_pct, equal_nan=True)


def test_uplink_none_and_old_files_carry_the_downlink_both_ways():
    prof = PROFILES["leo-ku-user"]
    b = _budget([("ground", lb.KindBudget(profile="leo-ku-user", uplink="none"), prof)])
    rng = np.array([600.0, 1200.0])
    res = b.evaluate(np.zeros(2, int), rng, np.array([80.0, 30.0]), np.ones(2, int))
    assert np.array_equal(res.capacity_mbps, res.capacity_down_mbps)
    assert np.array_equal(res.capacity_mbps, res.capacity_up_mbps)
    config = _budget([("ground", lb.KindBudget(profile="leo-ku-user"), prof)]).to_config()
    del config["entries"][0]["options"]["uplink"]  # as written before uplinks were budgeted
    old = lb.LinkBudget.from_config(config, ["sat", "GS"], ["leo", "ground"], ["LEO", "GROUND"])
    assert old.uplinks == [None]
    # a custom downlink profile has no built-in pair; ISLs never have an uplink
    from dataclasses import replace

    custom = lb.uplink_profile("ground", lb.KindBudget(), replace(prof, name="custom"))
    assert custom is None and lb.uplink_profile("isl", lb.KindBudget(profile="ka-isl"), PROFILES["ka-isl"]) is None


def test_series_ground_capacity_is_the_uplink_where_it_is_narrower(budget_series):
    s = budget_series
    ground = np.flatnonzero(s.link_kind[s.link_id] == 2)[:30]
    budget = lb.LinkBudget.for_series(s)
    a, b = s.link_a[s.link_id[ground]], s.link_b[s.link_id[ground]]
    res = budget.evaluate(np.zeros(ground.size, int), s.distance_km[ground].astype(float),
                          s.step_elevation_deg[ground].astype(float), np.maximum(a, b))
    assert np.allclose(s.step_capacity_mbps[ground], res.capacity_up_mbps)
    assert np.all(res.capacity_up_mbps < res.capacity_down_mbps)


@pytest.mark.parametrize("uplink, field", [
    ({"profile": "leo-ku-user-up", "eirp_dbm": 3}, "link_budget.ground.uplink.eirp_dbm"),
    ({"profile": "leo-ku-uplink"}, "link_budget.ground.uplink.profile"),
    ({"frequency_ghz": 14}, "link_budget.ground.uplink.bandwidth_mhz"),
    ({"profile": "leo-ku-user-up", "share": 2}, "link_budget.ground.uplink.share"),
    (42, "link_budget.ground.uplink"),
])
def test_bad_uplink_names_the_field(uplink, field):
    scen = _scenario({"ground": {"profile": "leo-ku-user", "uplink": uplink}}, duration_s=10)
    with pytest.raises(ScenarioError) as exc:
        scen.bind()
    assert exc.value.field == field and "\n" not in str(exc.value)


def test_an_isl_uplink_is_refused():
    with pytest.raises(ScenarioError) as exc:
        _scenario({"isl": {"profile": "optical-isl", "uplink": "leo-ku-user-up"}}, duration_s=10).bind()
    assert exc.value.field == "link_budget.isl.uplink" and "only ground links" in str(exc.value)


def test_sgemu_links_exports_the_per_step_capacity_and_loss_of_the_budget(tmp_path):
    import csv
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    raw = {"name": "budget-export", "start": "2024-07-16T00:00:00Z", "duration_s": 300, "step_s": 30,
           "constellations": [{"name": "leo", "walker": {"planes": 6, "sats_per_plane": 8, "phasing": 1,
                                                         "inclination_deg": 53, "altitude_km": 1000}}],
           "stations": ["Beijing", "Kashi"],
           "links": [{"rule": "ground", "group": "leo", "policy": "nearest", "sticky": True, "min_elevation_deg": 20}],
           "link_budget": {"ground": {"profile": "leo-ku-user", "below_threshold": "loss"}},
           "events": [{"type": "weather-fade", "stations": ["Kashi"], "rain_mm_h": 150, "at_s": 0}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "sgemu", "links", str(path), "--out", str(tmp_path / "out"),
                           "--format", "csv", "--per-step", "-q"], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    series = LinkSeries.load(tmp_path / "out" / "links.npz")
    with open(tmp_path / "out" / "links.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == series.link_id.size
    caps = np.array([float(r["capacity_mbps"]) for r in rows])
    loss = np.array([float(r["loss_pct"]) for r in rows])
    assert np.allclose(np.sort(caps), np.sort(series.entry_capacity_mbps()), rtol=1e-6)
    assert len(set(caps.round(3))) > 2  # per step, not one constant
    # Kashi's 150 mm/h pushes its links below the lowest MODCOD: exported as loss, not as a constant
    assert (loss > 0).any() and np.nanmax(series.step_loss_pct) == pytest.approx(loss.max(), rel=1e-6)


def test_each_end_of_a_ground_link_sends_in_its_own_direction():
    b = _budget([("ground", lb.KindBudget(profile="leo-ku-user", atmosphere=False), PROFILES["leo-ku-user"])])
    res = b.evaluate(np.zeros(2, int), np.array([700.0, 700.0]), np.full(2, 50.0), np.ones(2, int))
    # entry 0 lists the satellite first (a = satellite), entry 1 the station first (a = station)
    cap_a, cap_b, _, _ = lb.egress_by_end(res, np.array([False, True]))
    down, up = res.capacity_down_mbps[0], res.capacity_up_mbps[0]
    assert down > up
    assert (cap_a[0], cap_b[0]) == (down, up)  # the satellite's egress is the downlink
    assert (cap_a[1], cap_b[1]) == (up, down)
    isl = _budget([("isl", lb.KindBudget(profile="ka-isl"), PROFILES["ka-isl"])])
    r = isl.evaluate(np.zeros(1, int), np.array([3000.0]), np.full(1, np.nan), np.full(1, -1))
    ca, cb, la, lb_ = lb.egress_by_end(r, np.array([False]))
    assert ca[0] == cb[0] == r.capacity_mbps[0]
