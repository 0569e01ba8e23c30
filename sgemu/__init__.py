"""sgemu: emulate integrated space-ground networks (BeiDou GEO/IGSO/MEO + LEO + ground).

This package is the front door: the scenario file (:mod:`sgemu.scenario`)
and the ``sgemu`` command (:mod:`sgemu.cli`).  The work is done by the
pipeline packages ``orbits`` -> ``topologies`` -> ``emulator`` -> ``experiments``.
"""

__version__ = "0.1.0"
