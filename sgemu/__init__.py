"""sgemu: emulate integrated space-ground networks (BeiDou GEO/IGSO/MEO + LEO + ground).

The front door.  In Python::

    import sgemu
    scen = sgemu.Scenario.load()                  # the built-in default scenario
    scen.route("Beijing", "Kashi").to_frame()     # predicted RTT per step, no root
    with sgemu.Emulation(scen) as emu:            # the live network (root)
        print(emu.ping("Beijing", "Kashi"))

and on the command line ``sgemu`` (:mod:`sgemu.cli`).  The objects live in
:mod:`sgemu.api`; the scenario file is checked by :mod:`sgemu.scenario`.  The
work is done by the pipeline packages ``orbits`` -> ``topologies`` ->
``emulator`` -> ``experiments``.  Importing sgemu loads nothing heavy and
leaves matplotlib's backend alone.
"""

__version__ = "0.1.0"

_API = ("Scenario", "Emulation", "Ping", "Iperf3", "Command", "ScenarioError", "CapabilityError",
        "PingResult", "RunResult", "Links", "Route")
__all__ = list(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'sgemu' has no attribute {name!r}")
