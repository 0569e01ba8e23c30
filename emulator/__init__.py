"""The live network: namespaces, links and netem shaping driven by the topology time series."""
