"""BGP at the space-ground border: ground autonomous systems over eBGP, the space segment as a transit AS.

Stations are grouped into autonomous systems (ASes); every satellite
belongs to one more, the *space AS*.  Inside each AS an IGP finds the
paths (OSPF or IS-IS: :mod:`emulator.frr`, run only on the links whose
both ends are in that AS); across ASes only BGP speaks:

- **eBGP on every inter-AS link**: each ground link (station - satellite)
  and each fibre between stations of different ASes.  Sessions run between
  the two ends' link addresses (the /31), one hop, so they come up when a
  satellite rises over a station and reset the moment the link goes down
  (the emulator sets both veth ends down; bgpd's *fast external failover*
  drops the session at once instead of waiting for the hold time).
- **iBGP inside an AS** between loopbacks, over the IGP: inside a ground
  AS a full mesh; inside the space AS every satellite is a client of a few
  *route reflectors* (a full mesh of hundreds of satellites would be
  n(n-1)/2 sessions).  A border router sets itself as next hop
  (``next-hop-self``), so every router resolves an external route to the
  border's loopback through its IGP.
- Each station originates its own loopback /32 (``network``).  The space
  AS carries transit and also answers for its satellites: every satellite
  that ever borders a ground AS originates the fewest prefixes that cover
  all satellites' loopbacks (:meth:`BgpPlan.space_prefixes`), so a station
  can ping and trace to any satellite; inside the space AS the IGP's /32s
  are more specific and carry the packet on.  (A satellite's own /32 in
  BGP would reach the ground only from satellites above a station: FRR
  refuses an iBGP route whose next hop, the originator's loopback, lies
  inside the prefix itself, so no border would pass the others' on.)

Route choice is plain BGP (RFC 4271 9.1): shortest AS path first, then
eBGP over iBGP, then the IGP cost to the next hop, then the lowest router
ID.  Two ground ASes joined by a fibre therefore talk over it (AS path of
one) and fall back to the space segment (``space_as ground_as``) when it
fails: ``docs/examples/bgp-failover.yaml`` and docs/bgp.md.

Timers follow a moving network: keepalive 1 s / hold 3 s, a failed
connection retried after 1 s (FRR's default: 120 s, which would keep a
fresh ground link without a session for two minutes), updates sent at once
(``advertisement-interval 0``).  FRR 8.4 refuses every eBGP route without
an explicit policy (RFC 8212); ``no bgp ebgp-requires-policy`` lifts that,
since every AS here is the experimenter's own.

The pieces: :class:`BgpPlan` (pure: who is in which AS, which links carry
eBGP, which satellites reflect, every node's ``bgpd.conf``) and
:func:`bgp_config` (one node's text).  :class:`emulator.frr.FrrNetwork`
runs bgpd beside zebra and the IGP daemon when given a plan.  Routes
bgpd installs are kernel protocol 186.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from . import addressing as addr

__all__ = ["BgpPlan", "BgpPeer", "RTPROT_BGP", "SPACE_ASN", "bgp_config"]

RTPROT_BGP = 186          # the kernel's protocol number for routes zebra installs for bgpd
SPACE_ASN = 65000         # the space segment's AS number unless the scenario names one
ASN_RANGE = (1, 4294967294)  # 4-byte AS numbers (4294967295 is reserved)
KEEPALIVE_S, HOLD_S = 1, 3
ROUTE_REFLECTORS = 2      # how many satellites reflect the space AS's routes unless named


@dataclass(frozen=True)
class BgpPeer:
    """One BGP neighbour of a node: its address, its AS, and what the session is."""

    address: str
    asn: int
    internal: bool = False       # iBGP (loopback to loopback over the IGP)
    rr_client: bool = False      # this node reflects routes to it


def bgp_config(node_name: str, router_id: str, asn: int, peers: Sequence[BgpPeer], networks: Sequence[str] = (),
               keepalive_s: int = KEEPALIVE_S, hold_s: int = HOLD_S, next_hop_self: bool = False) -> str:
    """``bgpd.conf`` text for one node: ``router bgp asn`` with ``peers`` and the prefixes in ``networks``.

    eBGP peers go in peer group ``ebgp`` (``remote-as`` per neighbour),
    iBGP peers in ``ibgp`` (``update-source lo``; ``next-hop-self`` when
    ``next_hop_self``, for border routers); reflector clients in
    ``rr-clients``.  Every session: keepalive/hold ``keepalive_s``/``hold_s``,
    connect retry 1 s, advertisement interval 0.
    """
    if not 1 <= keepalive_s < hold_s <= 65535 or hold_s < 3:
        raise ValueError(f"BGP timers keepalive {keepalive_s} s / hold {hold_s} s: hold at least 3 s and "
                         "above the keepalive")
    _check_asn(asn)
    ipaddress.IPv4Address(router_id)
    groups = {"ebgp": [p for p in peers if not p.internal],
              "ibgp": [p for p in peers if p.internal and not p.rr_client],
              "rr-clients": [p for p in peers if p.internal and p.rr_client]}
    lines = [f"! {node_name}: BGP AS {asn} (written by sgemu's emulator.bgp)", f"hostname {node_name}",
             "log timestamp precision 3", "!", f"router bgp {asn}", f" bgp router-id {router_id}",
             " no bgp ebgp-requires-policy", " no bgp network import-check", " bgp log-neighbor-changes",
             " no bgp default ipv4-unicast", f" timers bgp {keepalive_s} {hold_s}"]
    for group, members in groups.items():
        if members:
            lines += _group_lines(group, members, internal=group != "ebgp")
    lines += [" !", " address-family ipv4 unicast"]
    lines += [f"  network {net}" for net in networks]
    for group, members in groups.items():
        if members:
            lines.append(f"  neighbor {group} activate")
            if group != "ebgp" and next_hop_self:
                lines.append(f"  neighbor {group} next-hop-self")
            if group == "rr-clients":
                lines.append(f"  neighbor {group} route-reflector-client")
    return "\n".join(lines + [" exit-address-family", "exit", "!", ""])


def _group_lines(group: str, members: Sequence[BgpPeer], internal: bool) -> list[str]:
    lines = [f" neighbor {group} peer-group", f" neighbor {group} timers connect 1",
             f" neighbor {group} advertisement-interval 0"]
    if internal:
        lines += [f" neighbor {group} remote-as internal", f" neighbor {group} update-source lo"]
    for p in members:
        lines.append(f" neighbor {p.address} peer-group {group}")
        if not internal:
            lines.append(f" neighbor {p.address} remote-as {int(p.asn)}")
    return lines


def _check_asn(asn) -> int:
    if not (isinstance(asn, (int, np.integer)) and not isinstance(asn, bool) and ASN_RANGE[0] <= asn <= ASN_RANGE[1]):
        raise ValueError(f"AS number {asn!r}; accepted: 1 to {ASN_RANGE[1]}")
    return int(asn)


class BgpPlan:
    """Who is in which AS and what every node tells bgpd, for a link series (pure, no processes).

    ``ases`` maps an AS number to station names; stations named nowhere
    get an AS of their own each (numbered upwards from the largest given,
    or from 65001).  Satellites form AS ``space_asn``.
    ``route_reflectors`` names the space AS's reflectors, or gives how
    many to pick: the satellites with the most satellite-to-satellite link
    steps over the series (the best connected inside the IGP; with BeiDou,
    GEO and IGSO satellites).  Every other satellite is a client of all
    of them; the reflectors peer with each other as ordinary iBGP peers.

    Arrays: ``node_asn`` shape (node,), ``igp_link`` shape (link,) (both
    ends in one AS: the IGP runs there; elsewhere eBGP).
    """

    def __init__(self, series, ases: Mapping[int, Sequence[str]] | None = None, space_asn: int = SPACE_ASN,
                 route_reflectors: int | Sequence[str] = ROUTE_REFLECTORS, keepalive_s: int = KEEPALIVE_S,
                 hold_s: int = HOLD_S):
        self.series = series
        self.space_asn = _check_asn(space_asn)
        self.keepalive_s, self.hold_s = int(keepalive_s), int(hold_s)
        self.node_asn = self._assign(ases or {})
        self.igp_link = self.node_asn[series.link_a] == self.node_asn[series.link_b]
        self.route_reflectors = self._reflectors(route_reflectors)
        self._space_prefixes: list[str] | None = None  # space_prefixes(), once asked
        bgp_config("check", addr.loopback_ip(0), self.space_asn, [], (), self.keepalive_s, self.hold_s)

    # -- membership -------------------------------------------------------------------------------
    def _assign(self, ases: Mapping[int, Sequence[str]]) -> np.ndarray:
        s = self.series
        is_ground = np.array([layer == "GROUND" for layer in s.node_layer])
        asn = np.where(is_ground, 0, self.space_asn).astype(np.int64)
        for number, names in ases.items():
            number = _check_asn(number)
            if number == self.space_asn:
                raise ValueError(f"AS {number} is the space AS; ground ASes need other numbers")
            for name in names:
                i = s.index(name)
                if not is_ground[i]:
                    raise ValueError(f"{name} is a satellite; ground ASes hold stations")
                if asn[i]:
                    raise ValueError(f"{name} is in AS {asn[i]} and AS {number}")
                asn[i] = number
        nxt = max([65000, self.space_asn, *map(int, ases)]) + 1
        for i in np.nonzero(asn == 0)[0]:
            while nxt == self.space_asn:
                nxt += 1
            asn[i], nxt = nxt, nxt + 1
        return asn

    def _reflectors(self, wanted) -> list[int]:
        s = self.series
        sats = np.nonzero(self.node_asn == self.space_asn)[0]
        if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool):
            if not 0 <= wanted <= len(sats):
                raise ValueError(f"route_reflectors {wanted}: 0 to {len(sats)} satellites")
            steps = np.bincount(s.link_id, minlength=s.n_links)  # steps each link is up, shape (link,)
            inner = self.igp_link & (self.node_asn[s.link_a] == self.space_asn)
            per_node = np.bincount(np.concatenate([s.link_a[inner], s.link_b[inner]]),
                                   weights=np.concatenate([steps[inner], steps[inner]]), minlength=s.n_nodes)
            return sorted(sats[np.argsort(-per_node[sats], kind="stable")[:int(wanted)]].tolist())
        out = []
        for name in wanted:
            i = s.index(name)
            if self.node_asn[i] != self.space_asn:
                raise ValueError(f"route reflector {name} is not a satellite")
            out.append(i)
        return sorted(set(out))

    def ases(self) -> dict[int, list[str]]:
        """AS number -> node names of the ground ASes (the space AS left out)."""
        out: dict[int, list[str]] = {}
        for i, asn in enumerate(self.node_asn.tolist()):
            if asn != self.space_asn:
                out.setdefault(asn, []).append(self.series.node_names[i])
        return out

    # -- per node -------------------------------------------------------------------------------------
    def peers(self, i: int) -> list[BgpPeer]:
        """Node i's neighbours: one eBGP peer per inter-AS link it ever has, its iBGP peers."""
        s = self.series
        out = []
        for link in np.nonzero(((s.link_a == i) | (s.link_b == i)) & ~self.igp_link)[0].tolist():
            far_end = 1 if int(s.link_a[link]) == i else 0
            far = int((s.link_a, s.link_b)[far_end][link])
            out.append(BgpPeer(addr.link_ip(link, far_end), int(self.node_asn[far])))
        return out + self._internal_peers(i)

    def _internal_peers(self, i: int) -> list[BgpPeer]:
        asn = int(self.node_asn[i])
        mine = [j for j in np.nonzero(self.node_asn == asn)[0].tolist() if j != i]
        if asn == self.space_asn and self.route_reflectors:
            rrs = self.route_reflectors
            if i not in rrs:
                return [BgpPeer(addr.loopback_ip(r), asn, internal=True) for r in rrs]
            return [BgpPeer(addr.loopback_ip(j), asn, internal=True, rr_client=j not in rrs) for j in mine]
        return [BgpPeer(addr.loopback_ip(j), asn, internal=True) for j in mine]

    def config(self, i: int) -> str:
        """bgpd.conf of node i."""
        s = self.series
        peers = self.peers(i)
        border = any(not p.internal for p in peers)  # it ever has an inter-AS link
        if int(self.node_asn[i]) != self.space_asn:
            networks = [f"{addr.loopback_ip(i)}/32"]
        else:
            networks = self.space_prefixes() if border else []
        return bgp_config(s.node_names[i], addr.loopback_ip(i), int(self.node_asn[i]), peers, networks,
                          self.keepalive_s, self.hold_s, next_hop_self=border)

    def space_prefixes(self) -> list[str]:
        """The fewest prefixes covering every satellite's loopback and no station's (the node order
        puts satellites in one run of addresses, so this is a handful); worked out once per plan."""
        if self._space_prefixes is None:
            sats = np.nonzero(self.node_asn == self.space_asn)[0].tolist()
            nets = ipaddress.collapse_addresses(ipaddress.ip_network(f"{addr.loopback_ip(i)}/32") for i in sats)
            self._space_prefixes = [str(n) for n in nets]
        return list(self._space_prefixes)

    def deliverable(self, k: int, rows) -> np.ndarray:
        """(row, row) bool: node pairs BGP can carry packets between at step k, as far as waiting for
        routes goes -- the same AS joined by its own IGP links, or different ASes joined directly
        by an inter-AS link or through one other AS joined by its IGP.  ``rows`` (m,) node indices.

        BGP drops a path that enters an AS twice (AS-path loop check), so two stations of one AS
        joined only through another AS never reach each other, and neither do two ASes whose only
        way passes both halves of a space AS split at step k.  Paths through two or more transit
        ASes are deliverable too, but not counted here: a wait does not hang on them."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        s, n = self.series, self.series.n_nodes
        ids, _ = s.active(k)
        a, b = s.link_a[ids].astype(np.int64), s.link_b[ids].astype(np.int64)
        igp = self.igp_link[ids]
        _, comp = connected_components(csr_matrix((np.ones(int(igp.sum())), (a[igp], b[igp])), shape=(n, n)),
                                       directed=False)
        m = int(comp.max()) + 1
        ends = np.concatenate([comp[a[~igp]], comp[b[~igp]]]), np.concatenate([comp[b[~igp]], comp[a[~igp]]])
        joined = csr_matrix((np.ones(ends[0].size), ends), shape=(m, m))  # IGP islands joined by a link up
        rows = np.asarray(rows, dtype=np.int64)
        cr, asn = comp[rows], self.node_asn[rows]
        same_as = asn[:, None] == asn[None, :]
        via = (joined + joined @ joined)[cr][:, cr].toarray() > 0
        out = np.where(same_as, cr[:, None] == cr[None, :], via)
        np.fill_diagonal(out, False)
        return out

    def spec(self) -> dict:
        """The keywords that rebuild this plan from the same series (a cluster host makes its own)."""
        names = self.series.node_names
        return {"ases": self.ases(), "space_asn": self.space_asn,
                "route_reflectors": [names[i] for i in self.route_reflectors],
                "keepalive_s": self.keepalive_s, "hold_s": self.hold_s}

    def zebra_config(self, i: int) -> str:
        """zebra's lines for node i: BGP's routes leave from the node's loopback (``set src``).

        An eBGP route's next hop is the peer's end of the link, in the
        link's /31, so without this the kernel would pick the link address
        as the source of the node's own packets, and no other AS has a route
        back to a link /31.  OSPF's and IS-IS's routes on unnumbered links
        point at the neighbour's loopback, which leaves the loopback the
        interface's first address and the source already."""
        return "\n".join(["! BGP's routes from the loopback (written by sgemu's emulator.bgp)",
                          "route-map sgemu-bgp-src permit 10", f" set src {addr.loopback_ip(i)}", "exit",
                          "ip protocol bgp route-map sgemu-bgp-src", ""])

    def summary(self) -> dict:
        """What a run records: the ASes, the reflectors, the session counts."""
        names = self.series.node_names
        ebgp = int((~self.igp_link).sum())
        return {"space_as": self.space_asn, "ground_ases": {str(k): v for k, v in self.ases().items()},
                "route_reflectors": [names[i] for i in self.route_reflectors], "inter_as_links": ebgp,
                "keepalive_s": self.keepalive_s, "hold_s": self.hold_s}
