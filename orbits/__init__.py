"""Where things are: constellations, ground stations and their propagation.

The first stage of sgemu's pipeline (scenario -> orbits -> topologies ->
emulator -> experiments).  Everything here is pure computation over numpy
arrays: no root, no namespaces, no files written.

- :mod:`orbits.tle` reads and writes CelesTrak-style two-line element sets.
- :mod:`orbits.walker` builds Walker delta/star shells through ``sgp4init``.
- :mod:`orbits.presets` names well-known shells and the nominal BeiDou-3.
- :mod:`orbits.satellite` is the :class:`Satellite` record and its layer.
- :mod:`orbits.planes` groups a TLE set into orbital planes and slots.
- :mod:`orbits.stations` holds ground stations and the built-in city list.
- :mod:`orbits.propagation` turns all of them into ITRS positions at once.
"""
