"""Point-to-point VXLAN links between hosts, and the underlay's own delay.

A link whose two nodes run on different hosts is, at each end, a VXLAN
device (one VNI per link) created in the *host's* namespace, where the
underlay address lives, with the far host as its only remote, then moved
into the node's namespace under the link's usual name (``sl<link>``).  The
device keeps sending and receiving through the host namespace's UDP socket,
so the node sees an ordinary point-to-point Ethernet link.

VXLAN over IPv4 adds 50 bytes (outer IPv4 20 + UDP 8 + VXLAN 8 + inner
Ethernet 14), so the device MTU is the underlay MTU minus 50 (1,500 over a
1,550-byte underlay; 1,450 over a plain 1,500-byte one, and then every
link of the run gets that MTU so paths do not change MTU when they cross a
host boundary).

The underlay adds its own delay to every packet of a cross-host link;
:func:`ping_rtt_ms` measures it per host pair at start and the agents
shape such links ``one_way_ms`` shorter than configured.
"""

from __future__ import annotations

import hashlib
import re
import subprocess

VXLAN_OVERHEAD = 50
DEFAULT_PORT = 4789
_VNI_SPACE = (1 << 24) - 2


def vni_for(run_tag: str, link: int) -> int:
    """The VNI of a link in a run: distinct per link, spread per run so concurrent runs rarely meet."""
    base = int.from_bytes(hashlib.sha256(run_tag.encode()).digest()[:3], "big")
    return (base + link) % _VNI_SPACE + 1


def add_vxlan(host_ipr, node_ns: str, ifname: str, vni: int, local_ip: str, remote_ip: str,
              port: int, mac: str, mtu: int) -> int:
    """Create the VXLAN device in the host namespace (``host_ipr``), move it into ``node_ns`` as
    ``ifname`` (down); return its index there.  Nothing is left in the host namespace on failure."""
    tmp = f"sgx{vni:06x}"
    host_ipr.link("add", ifname=tmp, kind="vxlan", vxlan_id=vni, vxlan_local=local_ip,
                  vxlan_group=remote_ip, vxlan_port=port, vxlan_learning=0, address=mac, mtu=mtu)
    index = host_ipr.link_lookup(ifname=tmp)[0]
    try:
        host_ipr.link("set", index=index, net_ns_fd=node_ns, ifname=ifname)
    except Exception:
        host_ipr.link("del", index=index)
        raise
    from pyroute2 import NetNS

    with NetNS(node_ns) as nsr:
        return nsr.link_lookup(ifname=ifname)[0]


_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


def ping_rtt_ms(ip: str, count: int = 10, interval_s: float = 0.05) -> float:
    """Mean round-trip time to ``ip`` from this namespace (ICMP echo); raises when unreachable."""
    out = subprocess.run(["ping", "-n", "-q", "-c", str(count), "-i", f"{interval_s:g}", "-W", "1", ip],
                         capture_output=True, text=True, timeout=30 + count * interval_s)
    m = _RTT.search(out.stdout)
    if not m:
        raise OSError(f"underlay: no answer from {ip} ({(out.stdout + out.stderr).strip().splitlines()[-1:]})")
    return float(m.group(2))
