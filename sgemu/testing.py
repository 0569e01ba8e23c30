"""A pytest plugin for testing networks with sgemu (loaded by pytest through the ``pytest11`` entry point).

It gives the fixture ``sgemu_emulation``: a factory that builds small
emulations and tears them all down after the test, whatever happens::

    def test_ping_crosses_the_network(sgemu_emulation):
        emu = sgemu_emulation("my-scenario.yaml", duration_s=30)   # or a mapping, or a sgemu.Scenario
        assert emu.ping("Beijing", "Kashi", count=3).loss_pct == 0
        assert emu.traceroute("Beijing", "Kashi") == emu.predicted_path("Beijing", "Kashi")

The fixture skips the test, saying why, when it cannot run here (not
root); it picks link shaping the kernel supports (``shaping="auto"``:
netem where present, otherwise topology and routes without delays --
``emu.network.shaping`` tells which).  ``--sgemu-shaping netem`` makes a
missing netem a failure instead.  Scenario overrides (``duration_s``,
``step_s``, ``start``, ...) are keyword arguments; other keywords go to
:class:`sgemu.Emulation`.
"""

from __future__ import annotations

import os

import pytest

_EMULATION_KEYS = {"shaping", "routing", "out", "quiet", "start_s", "run_tag", "progress", "log", "view"}


def pytest_addoption(parser):
    group = parser.getgroup("sgemu")
    group.addoption("--sgemu-shaping", default="auto", choices=("auto", "netem", "none"),
                    help="link shaping for sgemu_emulation (default auto: netem where the kernel has it)")


@pytest.fixture
def sgemu_emulation(request, tmp_path):
    """Factory ``(scenario=None, **kw) -> sgemu.Emulation`` (started); all are torn down after the test."""
    if os.geteuid() != 0:
        pytest.skip("sgemu_emulation needs root to create network namespaces (run pytest as root)")
    from sgemu.api import Emulation, Scenario

    made: list[Emulation] = []

    def factory(scenario=None, **kw):
        emu_kw = {k: kw.pop(k) for k in list(kw) if k in _EMULATION_KEYS}
        emu_kw.setdefault("shaping", request.config.getoption("--sgemu-shaping"))
        emu_kw.setdefault("out", tmp_path / f"emulation-{len(made)}")
        if isinstance(scenario, dict):
            scen = Scenario.from_dict({**scenario, **kw}, base_dir=request.path.parent)
        elif isinstance(scenario, Scenario):
            scen = Scenario(scenario.spec) if not kw else Scenario.from_dict({**scenario.spec.raw, **kw},
                                                                             scenario.spec._base_dir)
        else:
            scen = Scenario.load(scenario, **kw)
        emu = Emulation(scen, **emu_kw)
        made.append(emu)
        return emu.start()

    yield factory
    for emu in reversed(made):
        emu.stop()
