"""Claims about scenarios: what a valid file builds, and which field a mistake is blamed on.

The command-line behaviour for bad files (exit 2, one line, no traceback)
is in ``test_cli.py``; here the checks run in process.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from orbits.timebase import parse_utc
from sgemu.scenario import load_scenario, parse_scenario
from sgemu.schema import ScenarioError
from topologies.fiber_links import Fiber
from topologies.ground_links import GroundAccess
from topologies.relay_links import InterLayer
from topologies.shell_links import NearestK, PlusGrid


def scenario(**changes) -> dict:
    """A small valid scenario mapping, with top-level keys replaced."""
    raw = {
        "start": "2024-07-16T00:00:00Z",
        "duration_s": 60,
        "step_s": 10,
        "constellations": [{"name": "leo", "walker": {"planes": 3, "sats_per_plane": 4,
                                                      "inclination_deg": 53, "altitude_km": 550}}],
        "stations": ["Beijing", "Kashi"],
        "links": [{"rule": "ground", "group": "leo"}],
    }
    raw.update(changes)
    return raw


def blamed_field(raw: dict, base_dir=".") -> str:
    """The field a ScenarioError names when the scenario is parsed, built and bound."""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(raw, base_dir).bind()
    assert str(exc.value).startswith(exc.value.field + ": ")
    return exc.value.field


# -- the built-in default ---------------------------------------------------------------------------

def test_the_default_scenario_is_bds3_over_a_small_leo_shell_with_86_nodes():
    scen = load_scenario()
    scene, rules = scen.bind()
    assert scene.n_nodes == 86 and scene.n_sats == 78 and len(scene.stations) == 8
    assert [s.name for s in scene.stations][:4] == ["Beijing", "Kashi", "Sanya", "Harbin"]
    layers = [s.layer for s in scene.satellites]
    assert (layers.count("GEO"), layers.count("IGSO"), layers.count("MEO"), layers.count("LEO")) == (3, 3, 24, 48)
    assert [type(r) for r in rules] == [PlusGrid, NearestK, InterLayer, GroundAccess, GroundAccess, Fiber]
    assert scen.axis.start == parse_utc("2024-07-16T00:00:00Z")
    assert scen.axis.n_steps == 601 and scen.axis.step_s == 1
    assert scen.link_parameters()["fiber"].capacity_mbps == 10000


def test_overriding_the_time_axis_keeps_everything_else():
    scen = load_scenario().with_overrides(start="2024-07-17T06:00:00Z", duration_s=60, step_s=5)
    assert scen.axis.n_steps == 13 and scen.axis.start.hour == 6 and scen.axis.start.day == 17
    assert scen.raw["duration_s"] == 60 and scen.raw["stations"] == load_scenario().raw["stations"]
    assert len(scen.build_rules()) == 6


def test_a_yaml_date_or_timestamp_is_accepted_as_the_start():
    import datetime as dt

    assert parse_scenario(scenario(start=dt.date(2024, 7, 16))).axis.start == parse_utc("2024-07-16T00:00:00Z")
    scen = parse_scenario(yaml.safe_load("start: 2024-07-16 12:30:00\nduration_s: 0\nstep_s: 1\n"
                                         "constellations: [{name: x, preset: iridium}]\n"))
    assert scen.axis.start == parse_utc("2024-07-16T12:30:00Z") and scen.axis.n_steps == 1


def test_a_station_can_be_placed_anywhere_with_its_own_mask_and_antennas():
    raw = scenario(stations=["Beijing", {"name": "Zhongshan", "lat_deg": -69.37, "lon_deg": 76.38, "alt_m": 20,
                                         "min_elevation_deg": 5, "antennas": 2},
                             {"name": "Kashi", "antennas": 3}])
    stations = parse_scenario(raw).build_stations()
    assert stations[1].lat_deg == -69.37 and stations[1].min_elevation_deg == 5 and stations[1].antennas == 2
    assert stations[2].lat_deg == pytest.approx(39.47) and stations[2].antennas == 3


# -- TLE constellations -----------------------------------------------------------------------------

def test_a_tle_path_is_found_next_to_the_scenario_file(tle_dir, tmp_path):
    shutil.copy(tle_dir / "beidou.txt", tmp_path / "beidou.txt")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario(
        constellations=[{"name": "beidou", "tle": "beidou.txt", "select": "BEIDOU-3 *"}], links=[])))
    scene = load_scenario(path).build_scene()
    names = [ln.strip() for ln in (tle_dir / "beidou.txt").read_text().splitlines() if ln.startswith("BEIDOU-3 ")]
    assert [s.name for s in scene.satellites] == names
    # one readable name per satellite: the PRN the published name ends with (BEIDOU-3 M1 (C19) -> beidou-C19),
    # else the catalogue number (BEIDOU-3 G4 has no PRN in the file)
    by_name = {s.name: s.node for s in scene.satellites}
    assert by_name["BEIDOU-3 M1 (C19)"] == "beidou-C19"
    g4 = next(s for s in scene.satellites if s.name == "BEIDOU-3 G4")
    assert g4.node == f"beidou-{g4.satrec.satnum}"
    assert len(set(by_name.values())) == len(scene.satellites)


def test_beidou_3_star_also_selects_the_experimental_3s_satellites_and_the_space_does_not(tle_dir):
    def selected(pattern):
        raw = scenario(constellations=[{"name": "bd", "tle": str(tle_dir / "beidou.txt"), "select": pattern}],
                       links=[])
        return [s.name for s in parse_scenario(raw).build_scene().satellites]

    wide, narrow = selected("BEIDOU-3*"), selected("BEIDOU-3 *")
    assert sorted(set(wide) - set(narrow)) == sorted(n for n in wide if n.startswith("BEIDOU-3S"))
    assert len(set(wide) - set(narrow)) == 4 and all(n.startswith("BEIDOU-3 ") for n in narrow)


def test_a_prn_shared_by_two_sets_names_neither():
    from orbits.satellite import tle_node_names

    names = ["GPS BIIR-2 (PRN 13)", "GPS BIIF-1 (PRN 25)", "GPS OLD (PRN 13)", "NO PRN HERE"]
    assert tle_node_names("gps", names, [1, 2, 3, 4]) == ["gps-1", "gps-25", "gps-3", "gps-4"]


def test_planes_auto_numbers_a_tle_shell_so_plane_rules_apply(tle_dir):
    raw = scenario(constellations=[{"name": "iridium", "tle": str(tle_dir / "iridium-next.txt"), "planes": "auto"}],
                   links=[{"rule": "ring", "group": "iridium"}])
    scene, _ = parse_scenario(raw).bind()
    assert all(s.plane is not None and s.slot is not None for s in scene.satellites)
    assert len({s.plane for s in scene.satellites}) >= 6


def test_the_same_object_twice_in_a_tle_file_is_kept_once(tle_dir, tmp_path):
    text = (tle_dir / "beidou.txt").read_text()
    (tmp_path / "twice.txt").write_text(text + text)
    raw = scenario(constellations=[{"name": "bd", "tle": str(tmp_path / "twice.txt")}], links=[])
    assert parse_scenario(raw).build_scene().n_sats == 52


# -- which field is blamed ---------------------------------------------------------------------------

WALKER = {"planes": 3, "sats_per_plane": 4, "inclination_deg": 53, "altitude_km": 550}


@pytest.mark.parametrize("changes, field", [
    ({"colour": "blue"}, "scenario.colour"),
    ({"duration_s": "ten minutes"}, "scenario.duration_s"),
    ({"step_s": 0}, "scenario.step_s"),
    ({"duration_s": -1}, "scenario.duration_s"),
    ({"start": "16/07/2024"}, "scenario.start"),
    ({"constellations": []}, "scenario.constellations"),
    ({"constellations": [{"name": "leo", "preset": "starlink"}]}, "constellations[0].preset"),
    ({"constellations": [{"name": "leo", "preset": "iridium", "walker": WALKER}]}, "constellations[0]"),
    ({"constellations": [{"name": "leo", "walker": {**WALKER, "altitude": 500}}]}, "constellations[0].walker.altitude"),
    ({"constellations": [{"name": "leo", "walker": {**WALKER, "phasing": 3}}]}, "constellations[0].walker"),
    ({"constellations": [{"name": "leo", "walker": {**WALKER, "altitude_km": -10}}]},
     "constellations[0].walker.altitude_km"),
    ({"constellations": [{"name": "leo", "walker": {**WALKER, "planes": 200, "sats_per_plane": 2000}}]},
     "constellations[0].walker.sats_per_plane"),
    ({"constellations": [{"name": "leo", "walker": {**WALKER, "inclination_deg": 200}}]},
     "constellations[0].walker.inclination_deg"),
    ({"constellations": [{"name": "leo", "preset": "iridium"}, {"name": "leo", "preset": "oneweb"}]},
     "constellations[1].name"),
    ({"constellations": [{"name": "le o", "preset": "iridium"}]}, "constellations[0].name"),
    ({"stations": ["Atlantis"]}, "stations[0].name"),
    ({"stations": [{"name": "X", "lat_deg": 91, "lon_deg": 0}]}, "stations[0].lat_deg"),
    ({"stations": [{"name": "X", "lat_deg": 10}]}, "stations[0]"),
    ({"stations": ["Kashi", {"name": "Y", "lat_deg": 1, "lon_deg": 2, "antennas": 0}]}, "stations[1].antennas"),
    ({"stations": ["Beijing", "beijing"]}, "stations"),
    ({"links": [{"rule": "mesh"}]}, "links[0].rule"),
    ({"links": [{"rule": "ground", "group": "leo", "policy": "random"}]}, "links[0]"),
    ({"links": [{"rule": "ground", "group": "geo"}]}, "links[0].group"),
    ({"links": [{"rule": "ground", "group": "leo", "stations": ["Kashi", "Lhasa"]}]}, "links[0].stations"),
    ({"links": [{"rule": "inter-layer", "lower": "leo", "upper": "bds"}]}, "links[0].upper"),
    ({"links": [{"rule": "nearest-k", "group": "leo", "k": "three"}]}, "links[0].k"),
    ({"links": [{"rule": "nearest-k", "group": "leo", "range_km": 5000}]}, "links[0].range_km"),
    ({"links": [{"rule": "plus-grid", "group": "leo"}, {"rule": "fiber", "pairs": [["Beijing", "Paris"]]}]},
     "links[1].pairs"),
    ({"links": [{"rule": "fiber", "pairs": [["Beijing"]]}]}, "links[0]"),
    ({"links": [{"rule": "ground", "group": "leo", "min_elevation_deg": {"LEO": "low"}}]}, "links[0]"),
    ({"links": ["plus-grid"]}, "links[0]"),
    ({"link_params": {"laser": {"capacity_mbps": 10}}}, "link_params.laser"),
    ({"link_params": {"isl": {"capacity": 10}}}, "link_params.isl.capacity"),
])
def test_a_mistake_is_blamed_on_its_field(changes, field):
    assert blamed_field(scenario(**changes)) == field


def test_a_ground_rule_without_stations_is_a_mistake_not_a_crash():
    assert blamed_field(scenario(stations=[])) == "links[0]"


def test_a_scenario_without_links_is_valid():
    scene, rules = parse_scenario(scenario(links=[{"rule": "none"}])).bind()
    assert rules == [] and scene.n_nodes == 14


@pytest.mark.parametrize("text, where", [
    ("start: [2024\n", "not valid YAML at line"),
    ("- just\n- a list\n", "must hold a YAML mapping"),
])
def test_a_file_that_is_not_a_scenario_mapping_is_rejected(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=where):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "missing.yaml")


def test_tle_mistakes_are_blamed_on_the_tle_field(tle_dir, tmp_path):
    lines = (tle_dir / "beidou.txt").read_text().splitlines()
    lines[2] = lines[2][:68] + str((int(lines[2][68]) + 1) % 10)
    (tmp_path / "bad.txt").write_text("\n".join(lines) + "\n")
    for path, message in ((tmp_path / "bad.txt", "bad.txt:3: checksum of line 2"),
                          (tmp_path / "gone.txt", "no such TLE file")):
        with pytest.raises(ScenarioError, match=message) as exc:
            parse_scenario(scenario(constellations=[{"name": "bd", "tle": str(path)}])).build_scene()
        assert exc.value.field == "constellations[0].tle"
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(scenario(constellations=[{"name": "bd", "tle": str(tle_dir / "beidou.txt"),
                                                 "select": "GPS*"}])).build_scene()
    assert exc.value.field == "constellations[0].select"
