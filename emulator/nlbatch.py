"""Many rtnetlink requests in one write: route and link-state changes in bulk.

pyroute2's request/response calls cost a round trip each (about 1 ms
here); a 1,700-node network has millions of routes.  Like ``ip -batch``,
:class:`NetlinkBatch` packs many requests into one buffer, hands it to the
kernel in one ``send`` and then reads all the acknowledgements, so the cost
is the kernel's own work.  Messages are packed with :mod:`struct` (their
layout is fixed and tiny) rather than pyroute2's general encoder.

The socket is opened inside the target namespace (``pyroute2.netns.pushns``)
and stays bound to it.
"""

from __future__ import annotations

import os
import socket
import struct

from pyroute2 import netns

NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x100, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE, RTM_NEWNEIGH = 16, 24, 25, 26, 28
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 7, 9, 15
IFF_UP = 0x1
NDA_DST, NDA_LLADDR, NUD_PERMANENT = 1, 2, 0x80
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1

_HDR = struct.Struct("=IHHII")        # nlmsghdr: len, type, flags, seq, pid
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_IFINFO = struct.Struct("=BxHiII")    # family, pad, type, index, flags, change
_RTA_U32 = struct.Struct("=HHI")
_NDMSG = struct.Struct("=BBHiHBB")    # family, pad, pad, ifindex, state, flags, type
_RTA = struct.Struct("=HH")           # rtattr: len, type
_RTNH = struct.Struct("=HBBi")        # rtnexthop: len, flags, hops, ifindex


class NetlinkError(OSError):
    pass


class NetlinkBatch:
    """A NETLINK_ROUTE socket in one namespace that sends requests in bulk."""

    def __init__(self, ns_name: str | None = None):
        if ns_name:
            netns.pushns(ns_name)
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        finally:
            if ns_name:
                netns.popns()
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._seq = 0
        self._pending: list[bytes] = []

    def close(self) -> None:
        self.sock.close()

    def __len__(self) -> int:
        return len(self._pending)

    def _msg(self, mtype: int, flags: int, body: bytes) -> None:
        self._seq += 1
        self._pending.append(_HDR.pack(16 + len(body), mtype, flags | NLM_F_REQUEST | NLM_F_ACK, self._seq, 0) + body)

    def route_replace(self, dst_u32: int, gateway_u32: int, oif: int, src_u32: int | None = None) -> None:
        """Add or replace the /32 route to dst via gateway on interface oif (main table).

        ``src_u32`` is the preferred source address of packets the node itself sends on this
        route (its loopback), so a plain ``ping DST`` from a node needs no ``-I``."""
        body = (_RTMSG.pack(socket.AF_INET, 32, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                + _RTA_U32.pack(8, RTA_DST, socket.htonl(dst_u32))
                + _RTA_U32.pack(8, RTA_GATEWAY, socket.htonl(gateway_u32))
                + _RTA_U32.pack(8, RTA_OIF, oif))
        if src_u32 is not None:
            body += _RTA_U32.pack(8, RTA_PREFSRC, socket.htonl(src_u32))
        self._msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)

    def route_replace_multipath(self, dst_u32: int, nexthops, src_u32: int | None = None) -> None:
        """Add or replace the /32 route to dst over several ``(gateway, oif)`` next hops of equal
        weight (one RTA_MULTIPATH attribute; the kernel hashes each flow onto one of them)."""
        hops = b"".join(_RTNH.pack(_RTNH.size + 8, 0, 0, oif) + _RTA_U32.pack(8, RTA_GATEWAY, socket.htonl(gw))
                        for gw, oif in nexthops)
        body = (_RTMSG.pack(socket.AF_INET, 32, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                + _RTA_U32.pack(8, RTA_DST, socket.htonl(dst_u32))
                + _RTA.pack(4 + len(hops), RTA_MULTIPATH) + hops)
        if src_u32 is not None:
            body += _RTA_U32.pack(8, RTA_PREFSRC, socket.htonl(src_u32))
        self._msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)

    def route_delete(self, dst_u32: int) -> None:
        body = (_RTMSG.pack(socket.AF_INET, 32, 0, 0, RT_TABLE_MAIN, 0, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                + _RTA_U32.pack(8, RTA_DST, socket.htonl(dst_u32)))
        self._msg(RTM_DELROUTE, 0, body)

    def neighbour_permanent(self, index: int, ip_u32: int, mac: bytes) -> None:
        """A permanent ARP entry: the peer of a point-to-point link never needs ARP.

        Without it the first packets over each new link wait for ARP, and the
        ARP exchange itself crosses the link's netem delay.
        """
        body = (_NDMSG.pack(socket.AF_INET, 0, 0, index, NUD_PERMANENT, 0, 0)
                + _RTA_U32.pack(8, NDA_DST, socket.htonl(ip_u32))
                + struct.pack("=HH6sxx", 10, NDA_LLADDR, mac))
        self._msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body)

    def link_state(self, index: int, up: bool) -> None:
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP)
        self._msg(RTM_NEWLINK, 0, body)

    def raw(self, mtype: int, flags: int, body: bytes) -> None:
        """Queue a request with a body encoded elsewhere (e.g. a tc message)."""
        self._msg(mtype, flags, body)

    def host_routes(self, table: int = RT_TABLE_MAIN) -> dict[int, tuple[int, ...]]:
        """The IPv4 /32 routes of one table with a gateway: ``{dst: (gateway, ...)}`` as integers.

        One dump request, parsed with :mod:`struct` (pyroute2's parser costs
        ~50x more, which matters when every namespace is read many times a
        second to time a routing protocol's convergence).  Equal-cost
        (multipath) routes list every gateway.  Sends nothing queued.
        """
        self._seq += 1
        seq = self._seq
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        self.sock.send(_HDR.pack(16 + len(body), RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
        out: dict[int, tuple[int, ...]] = {}
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off < len(data):
                length, mtype, _, mseq, _ = _HDR.unpack_from(data, off)
                if mseq == seq and mtype == NLMSG_DONE:
                    return out
                if mseq == seq and mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", data, off + 16)[0]
                    raise NetlinkError(err, os.strerror(err))
                if mseq == seq and mtype == RTM_NEWROUTE:
                    route = _host_route(data, off + 16, off + length, table)
                    if route:
                        out[route[0]] = route[1]
                off += (length + 3) & ~3

    def flush(self, ignore_errno: tuple[int, ...] = ()) -> int:
        """Send everything queued; return how many requests failed with an ignored errno.

        Raises :class:`NetlinkError` on the first other error.
        """
        pending, self._pending = self._pending, []
        ignored, first_error = 0, None
        chunk = 512
        for c in range(0, len(pending), chunk):
            part = pending[c:c + chunk]
            self.sock.send(b"".join(part))
            need = len(part)
            while need:
                data = self.sock.recv(1 << 20)
                off = 0
                while off < len(data):
                    length, mtype = struct.unpack_from("=IH", data, off)
                    if mtype == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", data, off + 16)[0]
                        need -= 1
                        if err in ignore_errno:
                            ignored += 1
                        elif err and first_error is None:
                            first_error = err
                    off += (length + 3) & ~3
        if first_error:
            raise NetlinkError(first_error, os.strerror(first_error))
        return ignored


def _host_route(data: bytes, start: int, end: int, table: int):
    """(dst, gateways) of one RTM_NEWROUTE body if it is a /32 in ``table`` with a gateway, else None."""
    family, dst_len, _, _, rtm_table = struct.unpack_from("=BBBBB", data, start)
    if family != socket.AF_INET or dst_len != 32:
        return None
    dst, gateways, off = None, [], start + _RTMSG.size
    while off + 4 <= end:
        alen, atype = _RTA.unpack_from(data, off)
        if alen < 4:
            break
        if atype == RTA_DST:
            dst = socket.ntohl(struct.unpack_from("=I", data, off + 4)[0])
        elif atype == RTA_TABLE:
            rtm_table = struct.unpack_from("=I", data, off + 4)[0]
        elif atype == RTA_GATEWAY:
            gateways.append(socket.ntohl(struct.unpack_from("=I", data, off + 4)[0]))
        elif atype == RTA_MULTIPATH:
            nh, nh_end = off + 4, off + alen
            while nh + _RTNH.size <= nh_end:
                nlen = _RTNH.unpack_from(data, nh)[0]
                if nlen < _RTNH.size:
                    break
                a = nh + _RTNH.size
                while a + 4 <= nh + nlen:
                    sub_len, sub_type = _RTA.unpack_from(data, a)
                    if sub_len < 4:
                        break
                    if sub_type == RTA_GATEWAY:
                        gateways.append(socket.ntohl(struct.unpack_from("=I", data, a + 4)[0]))
                    a += (sub_len + 3) & ~3
                nh += (nlen + 3) & ~3
        off += (alen + 3) & ~3
    if dst is None or rtm_table != table or not gateways:
        return None
    return dst, tuple(gateways)
