"""The host agent: one Ray actor per cluster host, owning the namespaces of the nodes placed there.

:class:`HostNetwork` is an :class:`~emulator.network.EmulatedNetwork`
restricted to the nodes of one host (``local_nodes``): it creates their
namespaces, the links with at least one end among them and the routes of
their forwarding tables, over netlink as on one machine.  A link between a
local and a remote node becomes a VXLAN device (:mod:`.vxlan`) whose other
end the remote host's agent creates; it is shaped like a local link, its
delay reduced by the underlay's measured one-way delay.

:class:`HostAgent` wraps it for Ray: the driver (:mod:`.driver`) creates
one per node offering the ``sgemu_host`` resource, and calls it to build,
to apply step k at its due wall time (reporting how late it started and how
long it took), to run commands in its nodes, and to tear down.  Node
namespaces are named ``sgemu-<run>h<host>-<node>`` and claimed by the
agent's pid, so ``sgemu clean`` on that machine removes them if the agent
is killed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time

import numpy as np

from .. import addressing as addr
from ..network import EmulatedNetwork
from . import vxlan

RESOURCE = "sgemu_host"


class _Nothing:
    """Accepts any call and does nothing (the sockets and shaper of a node another host runs)."""

    def __getattr__(self, name):
        return self._noop

    @staticmethod
    def _noop(*args, **kwargs):
        return 0

    def __len__(self):
        return 0


class _AbsentNode:
    """Stand-in for a node another host runs: no namespace, no host, every call a no-op."""

    def __init__(self, index: int, name: str):
        self.index, self.name, self.host, self.ns = index, name, None, None
        self.ipr = self.batch = self.shaper = _Nothing()
        self.lo_index = None

    def close(self):
        pass


class _LocalRows:
    """A route planner whose plans hold only the local nodes' rows (others -1: not ours to install);
    everything else (``extra`` next hops, timings, ``close``) is the planner's."""

    def __init__(self, planner, absent: np.ndarray):
        self.planner, self.absent = planner, absent

    def __getattr__(self, name):
        return getattr(self.planner, name)

    def plan(self, k: int) -> np.ndarray:
        nh = self.planner.plan(k).copy()
        nh[self.absent] = -1
        return nh


class HostNetwork(EmulatedNetwork):
    """The nodes of one host (``host_of[i] == host``) and their links; see the module docstring.

    ``host_ip`` maps host index -> underlay IPv4 address, ``underlay_ms``
    host index -> one-way underlay delay from this host (subtracted from
    the delay of cross-host links), ``link_mtu`` the MTU of every link
    (underlay MTU - 50 over the cluster's smallest underlay MTU).
    """

    def __init__(self, series, host: int, host_of: np.ndarray, host_ip: dict, underlay_ms: dict,
                 link_mtu: int = 1500, vxlan_port: int = vxlan.DEFAULT_PORT, cluster_run: str = "", **kwargs):
        host_of = np.asarray(host_of)
        super().__init__(series, local_nodes=np.flatnonzero(host_of == host).tolist(), **kwargs)
        self.host_index, self.host_of = host, host_of
        self.host_ip, self.link_mtu, self.vxlan_port = host_ip, int(link_mtu), int(vxlan_port)
        self.cluster_run = cluster_run or self.run_tag  # the same on every host: VNIs derive from it
        ha, hb = host_of[series.link_a], host_of[series.link_b]
        self._mine = (ha == host) | (hb == host)              # (link,) a local end
        self.cross = self._mine & (ha != hb)                   # (link,) one end remote
        far = np.where(ha == host, hb, ha)
        self._comp_ms = np.where(self.cross, [underlay_ms.get(int(h), 0.0) for h in far], 0.0)
        self._absent = host_of != host
        self._host_ipr = None

    def _absent_node(self, index: int, name: str):
        return _AbsentNode(index, name)

    def start(self, k: int = 0, progress=None):
        from pyroute2 import IPRoute

        self._host_ipr = IPRoute()
        return super().start(k, progress)

    def stop(self) -> None:
        super().stop()
        if self._host_ipr is not None:
            self._host_ipr.close()
            self._host_ipr = None

    # only the links with a local end, only the local rows of the forwarding tables
    def _create_missing(self, links, st):
        return super()._create_missing([l for l in links if self._mine[l]], st)

    def _links(self, ids, st):
        return super()._links(ids[self._mine[ids]], st)

    def _shaping(self, ids, delay, loss, st, capacity=None):
        m = self._mine[ids]
        delay = np.maximum(delay - self._comp_ms[ids], 0.0)
        return super()._shaping(ids[m], delay[m], loss[m], st, None if capacity is None else capacity[..., m])

    @property
    def _planner(self):
        return self.__dict__.get("_local_planner")

    @_planner.setter
    def _planner(self, planner):
        # whatever planner EmulatedNetwork makes, its plans reach the routes with only our rows
        if planner is not None and not isinstance(planner, _LocalRows):
            planner = _LocalRows(planner, self._absent)
        self.__dict__["_local_planner"] = planner

    def _create_link(self, link: int) -> None:
        if not self.cross[link]:
            super()._create_link(link)
            if self.link_mtu != 1500:
                for end, node in enumerate((int(self.series.link_a[link]), int(self.series.link_b[link]))):
                    self.nodes[node].ipr.link("set", index=self.created[link][end], mtu=self.link_mtu)
            return
        self._create_vxlan(link)

    def _create_vxlan(self, link: int) -> None:
        """This host's end of a cross-host link: a VXLAN device to the far host, down, with the peer's
        MAC as a permanent neighbour (and a netem qdisc when shaping)."""
        s = self.series
        a, b = int(s.link_a[link]), int(s.link_b[link])
        end = 0 if self.host_of[a] == self.host_index else 1
        me, peer = (a, b) if end == 0 else (b, a)
        node = self.nodes[me]
        far_host = int(self.host_of[peer])
        index = vxlan.add_vxlan(self._host_ipr, node.ns, addr.ifname(link), vxlan.vni_for(self.cluster_run, link),
                                self.host_ip[self.host_index], self.host_ip[far_host], self.vxlan_port,
                                addr.mac_text(addr.link_mac(link, end)), self.link_mtu)
        peer_mac = addr.link_mac(link, 1 - end)
        node.batch.neighbour_permanent(index, addr.link_u32(link, 1 - end), peer_mac)
        if self.loopback_on_links:
            node.batch.neighbour_permanent(index, addr.loopback_u32(peer), peer_mac)
        self.created[link] = (index, None) if end == 0 else (None, index)
        self.rate_mbit[(link, 0)] = self.rate_mbit[(link, 1)] = None
        if self.shaping == "netem":
            loss = s.loss_pct[link]
            self.loss_pct[link] = 0.0 if np.isnan(loss) else float(loss)
            node.shaper.add(index, delay_ms=0.0, loss_pct=self.loss_pct[link], limit_pkts=self.queue_limit_pkts)


class HostAgent:
    """The Ray actor on one host (created by :class:`~emulator.cluster.driver.ClusterNetwork`)."""

    def __init__(self, head_ip: str):
        import signal

        # pyroute2 (some requests in a namespace) and the route planner fork this worker; a forked
        # child must not run Ray's SIGTERM handler, which shuts down the *parent's* Ray connection
        os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        import atexit

        self.head_ip = head_ip
        self.net: HostNetwork | None = None
        self.frr = None  # .ospf.HostFrr once ospf_start ran
        atexit.register(self.stop)  # a worker told to exit (its driver gone) still tears down
        self.procs: dict[int, tuple[subprocess.Popen, str]] = {}
        self.outdir = tempfile.mkdtemp(prefix=f"sgemu-agent-{os.getpid()}-")

    def info(self) -> dict:
        """Underlay address (the source towards the Ray head), its MTU, pid and hostname."""
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            r = ipr.route("get", dst=self.head_ip)[0]
            ip, oif = r.get_attr("RTA_PREFSRC"), r.get_attr("RTA_OIF")
            mtu = ipr.get_links(oif)[0].get_attr("IFLA_MTU")
        return {"ip": ip, "mtu": int(mtu), "pid": os.getpid(), "hostname": socket.gethostname()}

    def measure(self, peer_ips: dict) -> dict:
        """One-way underlay delay (half the mean ping RTT) to each peer host, ms."""
        return {h: vxlan.ping_rtt_ms(ip) / 2 for h, ip in peer_ips.items()}

    def build(self, series, k: int, host: int, host_of, host_ip: dict, underlay_ms: dict, options: dict) -> dict:
        """Build this host's nodes and links at step k; ``{"error": ...}`` instead when mnexec cannot start
        node shells here (Mininet would wait for them for ever)."""
        from ..kernel import mnexec_problem

        problem = mnexec_problem()
        if problem:
            return {"error": f"nodes cannot be started: {problem}"}
        t0 = time.perf_counter()
        self.net = HostNetwork(series, host, host_of, host_ip, underlay_ms, **options)
        st = self.net.start(k)
        return {"build_s": time.perf_counter() - t0, "stats": st, "nodes": len(self.net.local_nodes),
                "cross_links": int(self.net.cross.sum())}

    def apply(self, k: int, due_wall: float) -> dict:
        """Apply step k once its due wall time has come; how late it started and how long it took."""
        wait = due_wall - time.time()
        if wait > 0:
            time.sleep(wait)
        start = time.time()
        st = self.net.apply_step(k)
        return {"k": k, "late_ms": (start - due_wall) * 1e3, "apply_ms": (time.time() - start) * 1e3, "stats": st}

    # -- OSPF / IS-IS (driven by .ospf.ClusterFrr) --------------------------------
    def ospf_start(self, log_dir: str, k: int, options: dict) -> dict:
        """Start FRR in this host's nodes at step k's costs (:class:`.ospf.HostFrr`)."""
        from .ospf import HostFrr

        options = dict(options)
        spec = options.pop("bgp", None)
        if spec:
            from ..bgp import BgpPlan

            options["bgp"] = BgpPlan(self.net.series, **spec)
        self.frr = HostFrr(self.net, log_dir, **options)
        self.frr.start(k)
        return {"nodes": len(self.net.local_nodes), "timings": self.frr.timings_s}

    def ospf_costs(self, k: int, min_change: int) -> int:
        return self.frr.update_costs(k, min_change)

    def ospf_repair(self, grace_s) -> list:
        return self.frr.repair_new_links(grace_s)

    def bgp_sessions(self) -> dict:
        """This host's nodes' BGP sessions (:meth:`emulator.frr.FrrNetwork.bgp_sessions`)."""
        return self.frr.bgp_sessions() if self.frr is not None else {}

    def ospf_cpu_s(self) -> float:
        """CPU seconds this host's daemons have used."""
        return self.frr.cpu_s() if self.frr is not None else 0.0

    def ospf_expiries(self) -> int:
        return self.frr.dead_interval_expiries() if self.frr is not None else 0

    def ospf_stop(self, timeout_s: float = 5.0) -> int:
        """Stop this host's daemons; how many adjacencies they lost to the dead interval."""
        if self.frr is None:
            return 0
        lost = self.frr.dead_interval_expiries()
        self.frr.stop(timeout_s)
        self.frr = None
        return lost

    def fib_rows(self, rows: list) -> dict:
        """Kernel routes of the local nodes among ``rows``: {node: {destination: [next hop, ...]}}."""
        from ..fib import node_routes

        return {i: node_routes(self.net, i) for i in rows if i in self.net.local_nodes}

    def cmd(self, node: str, argv: list, timeout_s: float = 60) -> str:
        """Run argv (a list) in a local node's namespace; its stdout."""
        p = self.net.host(node).popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        return out.decode(errors="replace")

    def popen(self, node: str, argv: list) -> int:
        """Start argv in a local node; an id for :meth:`poll` and :meth:`kill`."""
        path = os.path.join(self.outdir, f"{len(self.procs)}.out")
        with open(path, "wb") as f:
            p = self.net.host(node).popen(list(argv), stdout=f, stderr=subprocess.STDOUT)
        self.procs[p.pid] = (p, path)
        return p.pid

    def poll(self, pid: int, offset: int = 0) -> tuple:
        """(return code or None, output from byte ``offset`` on)."""
        p, path = self.procs[pid]
        rc = p.poll()
        with open(path, "rb") as f:
            f.seek(offset)
            return rc, f.read()

    def signal(self, pid: int, sig: int) -> None:
        p, _ = self.procs[pid]
        if p.poll() is None:
            p.send_signal(sig)

    def pid(self) -> int:
        return os.getpid()

    def stop(self) -> None:
        import shutil

        for p, _ in self.procs.values():
            if p.poll() is None:
                p.kill()
        self.procs.clear()
        if self.frr is not None:
            self.frr.stop()
            self.frr = None
        if self.net is not None:
            self.net.stop()
            self.net = None
        shutil.rmtree(self.outdir, ignore_errors=True)


def clean_run(prefix: str, agent_pid: int | None = None) -> dict:
    """A Ray task run on a host whose agent was lost: kill the agent if it still runs (hung, or cut
    off from Ray), then remove what it left (``sgemu clean`` for one run)."""
    import signal

    from ..cleanup import _runs_agent, clean

    if agent_pid:
        if _runs_agent(agent_pid):
            try:
                os.kill(agent_pid, signal.SIGKILL)
                time.sleep(0.2)
            except OSError:
                pass
        import glob
        import shutil

        for d in glob.glob(os.path.join(tempfile.gettempdir(), f"sgemu-agent-{int(agent_pid)}-*")):
            shutil.rmtree(d, ignore_errors=True)
    return clean(prefix=prefix)
