"""Addresses and interface names of the emulated network, derived from indices.

Every node ``i`` owns the stable address ``10.128.0.0 + i + 1`` on its
loopback (a /32), so routes and experiments name nodes, not links.  Link
``l`` (its number in the :class:`~topologies.series.LinkSeries`) is a
point-to-point /31: ``10.0.0.0 + 2 l`` on its ``a`` end, ``+ 1`` on its
``b`` end, and both ends are the interface ``sl<l>`` in their node's
namespace, which stays within the kernel's 15-character limit for up to
10^13 links.  Nothing here depends on the run, so addresses are the same
in every run of a scenario and any address maps back to its node.
"""

from __future__ import annotations

from ipaddress import IPv4Address

LOOPBACK_BASE = int(IPv4Address("10.128.0.0"))
LINK_BASE = int(IPv4Address("10.0.0.0"))
MAX_NODES = (1 << 23) - 2
MAX_LINKS = 1 << 22


def loopback_u32(node: int) -> int:
    return LOOPBACK_BASE + node + 1


def loopback_ip(node: int) -> str:
    """The node's /32 loopback address."""
    if not 0 <= node < MAX_NODES:
        raise ValueError(f"node index {node} out of range")
    return str(IPv4Address(loopback_u32(node)))


def link_u32(link: int, end: int) -> int:
    """Address of a link end as an integer (end 0 = the link's a node, 1 = b)."""
    if not 0 <= link < MAX_LINKS:
        raise ValueError(f"link index {link} out of range")
    return LINK_BASE + 2 * link + end


def link_ip(link: int, end: int) -> str:
    return str(IPv4Address(link_u32(link, end)))


def ifname(link: int) -> str:
    """Interface name of link ``link`` in either end's namespace."""
    return f"sl{link}"


def link_mac(link: int, end: int) -> bytes:
    """A locally administered MAC for a link end (so peers need no ARP lookup)."""
    v = 2 * link + end
    return bytes([0x02, 0x5E]) + v.to_bytes(4, "big")


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def node_of_address(address: str, link_a, link_b) -> int | None:
    """The node that owns an address (loopback or link end), else None."""
    v = int(IPv4Address(address))
    if v > LOOPBACK_BASE:
        return v - LOOPBACK_BASE - 1
    off = v - LINK_BASE
    if 0 <= off < 2 * len(link_a):
        return int(link_b[off // 2] if off % 2 else link_a[off // 2])
    return None
