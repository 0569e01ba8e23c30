"""A small topology tested with sgemu's pytest plugin -- run it with plain ``pytest`` as root.

Five nodes: three geostationary satellites in a ring and two ground stations
joined by a fibre that fails for ten seconds.  The fixture ``sgemu_emulation``
(from ``pip install sgemu``, no import needed) builds the live network and
removes it after each test; without root the tests are skipped, saying why.
"""

SCENARIO = {
    "name": "small",
    "start": "2024-07-16T00:00:00Z",
    "duration_s": 30,
    "step_s": 1,
    "constellations": [
        {"name": "ring", "walker": {"planes": 1, "sats_per_plane": 3, "inclination_deg": 0,
                                    "altitude_km": 35786, "phasing": 0, "raan_offset_deg": 110}},
    ],
    "stations": ["Beijing", "Sanya"],
    "links": [
        {"rule": "ring", "group": "ring"},
        {"rule": "ground", "group": "ring", "policy": "highest-elevation", "min_elevation_deg": 10},
        {"rule": "fiber", "pairs": [["Beijing", "Sanya"]]},
    ],
    "events": [{"type": "link-down", "a": "Beijing", "b": "Sanya", "at_s": 10, "until_s": 20}],
}


def test_ping_crosses_the_network(sgemu_emulation):
    emu = sgemu_emulation(SCENARIO)
    result = emu.ping("Beijing", "Sanya", count=3, interval_s=0.2)
    assert result.loss_pct == 0, result


def test_traceroute_takes_the_predicted_path(sgemu_emulation):
    emu = sgemu_emulation(SCENARIO)
    assert emu.traceroute("Beijing", "Sanya") == emu.predicted_path("Beijing", "Sanya") == ["Beijing", "Sanya"]


def test_a_failed_fibre_reroutes_through_space_and_back(sgemu_emulation):
    emu = sgemu_emulation(SCENARIO)
    emu.advance(12)                       # the fibre is down from 10 s to 20 s
    path = emu.traceroute("Beijing", "Sanya")
    assert path == emu.predicted_path("Beijing", "Sanya")
    assert len(path) >= 3 and all(hop.startswith("ring-") for hop in path[1:-1]), path
    assert emu.ping("Beijing", "Sanya", count=2).loss_pct == 0
    emu.advance(21)
    assert emu.traceroute("Beijing", "Sanya") == ["Beijing", "Sanya"]
