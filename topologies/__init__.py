"""Who is linked to whom, at what delay, and which way packets go.

The second stage of the pipeline: from node positions (:mod:`orbits`) to a
:class:`topologies.series.LinkSeries` (links active at each step, with
distance and delay) and to predicted shortest paths
(:mod:`topologies.routing`).  Pure computation, no root needed.
"""
