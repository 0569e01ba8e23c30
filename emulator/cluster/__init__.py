"""One emulation across several machines, on Ray: the cluster layer.

A Ray cluster whose nodes offer the custom resource ``sgemu_host`` (Ray
started as root on each machine) runs one host agent per machine
(:mod:`.agent`, a Ray actor) that owns the namespaces of the nodes placed
on it (:mod:`.placement`: whole orbital planes per host, ground stations
and the BDS layer where they cut the fewest links) and applies each step's
link, delay and route changes there over netlink, as the one-machine
emulator does.  Links between nodes on different hosts are point-to-point
VXLAN devices over the hosts' underlay, their delay reduced by the
underlay's own measured delay.  :mod:`.driver` is the driver side
(:class:`~.driver.ClusterNetwork`, the same methods as
:class:`~emulator.network.EmulatedNetwork`); :mod:`.ospf` runs FRR in every
node across the hosts (each agent its own nodes' daemons, OSPF adjacencies
over the VXLAN links); :mod:`.precompute` spreads the
link-series computation over Ray tasks; :mod:`.local` makes a cluster of
network namespaces on one machine for tests and trying it out.
"""
