"""Claims about the ``sgemu`` command, run as a user runs it: a separate process.

A bad scenario must end in exit status 2 with one line on stderr naming the
field, never a traceback.  The bad-scenario runs start together (one process
each) so the whole file takes a few seconds.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from topologies.series import LinkSeries

REPO_ROOT = Path(__file__).resolve().parent.parent


def sgemu(*args: str, cwd: Path = REPO_ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sgemu", *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_one_line_error(returncode: int, stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def small_scenario(**changes) -> dict:
    raw = {
        "start": "2024-07-16T00:00:00Z",
        "duration_s": 20,
        "step_s": 10,
        "constellations": [{"name": "leo", "walker": {"planes": 3, "sats_per_plane": 4,
                                                      "inclination_deg": 53, "altitude_km": 550}}],
        "stations": ["Beijing", "Kashi"],
        "links": [{"rule": "plus-grid", "group": "leo"}, {"rule": "ground", "group": "leo"}],
    }
    raw.update(changes)
    return raw


def bad_tle_file(folder: Path) -> Path:
    """A valid element set whose line 2 has its checksum digit changed."""
    from orbits.walker import WalkerShell
    import datetime as dt

    tle = WalkerShell(planes=1, sats_per_plane=1, inclination_deg=55, altitude_km=21528, phasing=0).satellites(
        "m", dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc))[0].tle()
    line2 = tle.line2[:68] + str((int(tle.line2[68]) + 1) % 10)
    path = folder / "bad.txt"
    path.write_text(f"{tle.name}\n{tle.line1}\n{line2}\n")
    return path


BAD_SCENARIOS = {
    "unknown key": ({"colour": "blue"}, ["scenario.colour", "unknown key"]),
    "wrong type": ({"duration_s": "ten minutes"}, ["scenario.duration_s", "expected number"]),
    "unknown preset": ({"constellations": [{"name": "leo", "preset": "starlink"}]},
                       ["constellations[0].preset", "starlink-550"]),
    "unknown station": ({"stations": ["Beijing", "Atlantis"]}, ["stations[1].name", "Atlantis"]),
    "negative step": ({"step_s": -10}, ["scenario.step_s"]),
    "unparsable start": ({"start": "next tuesday"}, ["scenario.start", "ISO 8601"]),
    "missing TLE file": ({"constellations": [{"name": "gps", "tle": "no-such-file.txt"}]},
                         ["constellations[0].tle", "no-such-file.txt"]),
    "malformed TLE file": ({"constellations": [{"name": "meo", "tle": "bad.txt"}]},
                           ["constellations[0].tle", "bad.txt:3", "checksum of line 2"]),
    "unknown link rule": ({"links": [{"rule": "laser-mesh", "group": "leo"}]}, ["links[0].rule", "laser-mesh"]),
    "unknown group in a rule": ({"links": [{"rule": "plus-grid", "group": "leo"},
                                           {"rule": "nearest-k", "group": "meo", "k": 2}]},
                                ["links[1].group", "'meo'"]),
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """Run ``sgemu links`` on every bad scenario at once; {label: (returncode, stdout, stderr)}."""
    folder = tmp_path_factory.mktemp("bad-scenarios")
    bad_tle_file(folder)
    procs = {}
    for i, (label, (changes, _)) in enumerate(BAD_SCENARIOS.items()):
        path = folder / f"bad{i}.yaml"
        path.write_text(yaml.safe_dump(small_scenario(**changes)))
        procs[label] = sgemu("links", path, "--out", folder / f"out{i}", cwd=folder)
    return {label: finish(p) for label, p in procs.items()}


@pytest.mark.parametrize("label", list(BAD_SCENARIOS))
def test_a_bad_scenario_exits_2_with_one_line_naming_the_field(bad_runs, label):
    returncode, _, stderr = bad_runs[label]
    assert_one_line_error(returncode, stderr, "sgemu: error: ", *BAD_SCENARIOS[label][1])


@pytest.fixture(scope="module")
def default_route(tmp_path_factory):
    out = tmp_path_factory.mktemp("route")
    returncode, stdout, stderr = finish(sgemu("route", "--src", "Beijing", "--dst", "Kashi", "--duration", 60,
                                              "--out", out))
    assert returncode == 0, stderr
    return out, stdout


def test_route_on_the_default_scenario_prints_a_summary_and_writes_a_csv(default_route):
    out, stdout = default_route
    assert "predicted route Beijing -> Kashi over 61 steps" in stdout
    assert "path at first reachable step: Beijing -> " in stdout
    with open(out / "route-Beijing-Kashi.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["t_s", "utc", "rtt_ms", "hops", "path_changed", "path"]
    assert len(rows) == 61
    assert [float(r["t_s"]) for r in rows] == list(range(61))
    assert rows[0]["utc"] == "2024-07-16T00:00:00+00:00"
    for r in rows:
        path = r["path"].split()
        assert path[0] == "Beijing" and path[-1] == "Kashi" and int(r["hops"]) == len(path) - 1
        assert 20.0 < float(r["rtt_ms"]) < 1000.0
    summary = json.loads((out / "route-Beijing-Kashi.json").read_text())
    assert summary["steps"] == 61 and summary["path_changes"] == sum(int(r["path_changed"]) for r in rows)


def test_route_csv_rtt_is_twice_the_delay_of_the_listed_links(default_route):
    out, _ = default_route
    series = LinkSeries.load(out / "links.npz")
    with open(out / "route-Beijing-Kashi.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for k, r in enumerate(rows):
        delay = {}
        ids, d = series.active(k)
        for i, di in zip(ids, d):
            a, b = series.node_names[series.link_a[i]], series.node_names[series.link_b[i]]
            delay[a, b] = delay[b, a] = di
        path = r["path"].split()
        total = sum(delay[a, b] for a, b in zip(path[:-1], path[1:]))
        assert float(r["rtt_ms"]) == pytest.approx(2 * total, abs=0.002)  # the CSV keeps 3 decimals


def test_route_to_an_unknown_station_exits_2_before_computing():
    procs = [sgemu("route", "--src", "Atlantis", "--dst", "Kashi", "--duration", 60, "--out", "/nonexistent/x"),
             sgemu("route", "--src", "Beijing", "--dst", "bds3-G1", "--duration", 60, "--out", "/nonexistent/x")]
    (rc1, _, err1), (rc2, _, err2) = (finish(p) for p in procs)
    assert_one_line_error(rc1, err1, "--src", "Atlantis", "Beijing")
    assert_one_line_error(rc2, err2, "--dst", "bds3-G1")


def test_links_writes_a_series_events_and_a_summary_that_agree(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small_scenario(duration_s=600, step_s=30,
                                                  link_params={"isl": {"capacity_mbps": 100}})))
    returncode, stdout, stderr = finish(sgemu("links", path, "--out", tmp_path / "out", "-q"))
    assert returncode == 0, stderr
    assert stdout.strip().splitlines()[-1].startswith("wrote ")
    series = LinkSeries.load(tmp_path / "out" / "links.npz")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_steps"] == series.n_steps == 21 and summary["nodes"] == 14
    for code, kind in enumerate(("isl", "inter-layer", "ground", "fiber")):
        if kind in summary["kinds"]:
            assert summary["kinds"][kind]["distinct_links"] == np.sum(series.link_kind == code) > 0
    assert set(summary["kinds"]) == {"isl", "ground"}
    isl = series.link_kind == 0
    assert np.all(series.capacity_mbps[isl] == 100) and np.isnan(series.capacity_mbps[~isl]).all()
    with open(tmp_path / "out" / "events.csv", newline="") as f:
        events = list(csv.DictReader(f))
    assert len(events) == len(series.events())
    assert summary["events"]["handover"] == sum(e["event"] == "handover" for e in events)
    assert yaml.safe_load((tmp_path / "out" / "scenario.yaml").read_text())["step_s"] == 30


def test_presets_and_stations_are_listed():
    (rc1, presets, _), (rc2, stations, _) = finish(sgemu("presets")), finish(sgemu("stations", "--match", "bei"))
    assert rc1 == rc2 == 0
    assert [ln.split()[0] for ln in presets.strip().splitlines()] == [
        "starlink-550", "kuiper-630", "oneweb", "iridium", "telesat-1015", "bds3"]
    assert [ln.split()[0] for ln in stations.strip().splitlines()] == ["Beijing"]
