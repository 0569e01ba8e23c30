"""The driver side of a cluster run: :class:`ClusterNetwork`, used like an EmulatedNetwork.

``ClusterNetwork(series, address, planes)`` connects to the Ray cluster at
``address``, finds the nodes offering ``sgemu_host``, places the network
on them (:mod:`.placement`, printed unless quiet), starts one
:class:`~.agent.HostAgent` per host, measures the underlay delay between
every pair of hosts, refuses (:class:`ClusterError`, with the numbers) a
run in which a cross-host link is shorter than the underlay under it, and
builds every host's share in parallel.  Then it behaves as
:class:`~emulator.network.EmulatedNetwork` does for the emulation loop:
``start(k, progress)``, ``apply_step(k) -> StepStats`` (every host applies
step k at the same due wall time and reports how late it began; the
per-host lateness is in ``stats.extra["hosts"]`` and :meth:`lateness`),
``stop()``, ``address(name)``, ``node_of_address(ip)``, and
``popen(node, argv, stdout=..., stderr=..., text=...)`` / ``cmd(node,
argv)`` which run the command on the host that owns the node.

If a host's agent dies (its process or machine), the call that noticed
raises :class:`ClusterError` with one line naming the host, after every
other host has torn down and, when the dead host's Ray node still lives,
a cleanup task there has removed what the agent left.
"""

from __future__ import annotations

from .connect import ray_init

import os
import subprocess
import time

import numpy as np

from .. import addressing as addr
from ..network import StepStats
from .agent import RESOURCE, HostAgent, clean_run
from .placement import evaluate, place


class ClusterError(RuntimeError):
    """A cluster run cannot start or continue (one line for the user)."""


def _ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise ClusterError("--cluster needs Ray: pip install 'sgemu[cluster]'") from None
    return ray


def check_address(address: str, timeout_s: float = 3.0) -> None:
    """Raise ValueError (one line) unless ``address`` is HOST:PORT and something listens there
    (``ray.init`` would otherwise retry for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--cluster: {address!r} is not HOST:PORT (the Ray head's GCS address)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ValueError(f"--cluster: nothing answers at {address} ({exc.strerror or exc})") from None


def min_delay_ms(series) -> np.ndarray:
    """Smallest one-way delay of each link over the run (inf for a link never up), shape (link,)."""
    out = np.full(series.n_links, np.inf)
    d = series.distance_km.astype(np.float64) * series.ms_per_km[series.link_id]
    np.minimum.at(out, series.link_id, d)
    return out


def check_underlay(series, host_of: np.ndarray, underlay_ms: np.ndarray, host_names: list[str]) -> None:
    """Refuse when a cross-host link's delay is ever below the underlay's one-way delay under it."""
    ha, hb = host_of[series.link_a], host_of[series.link_b]
    cross = np.flatnonzero(ha != hb)
    if not cross.size:
        return
    need = underlay_ms[ha[cross], hb[cross]]
    have = min_delay_ms(series)[cross]
    bad = np.flatnonzero(have < need)
    if bad.size:
        i = bad[np.argmin(have[bad] - need[bad])]
        link = int(cross[i])
        raise ClusterError(
            f"underlay too slow: cross-host link {series.link_name(link)} is {have[i]:.3f} ms one way at its "
            f"shortest, but the underlay {host_names[ha[link]]} <-> {host_names[hb[link]]} alone takes "
            f"{need[i]:.3f} ms ({bad.size} such link(s)); use a faster underlay or fewer hosts")


class ClusterNetwork:
    """The series' network spread over the hosts of a Ray cluster; see the module docstring.

    ``planes[i]``: node i's orbital plane number (None for stations and
    satellites without one), e.g. :func:`~.placement.node_planes`.  Other
    keywords are those of EmulatedNetwork (``shaping``, ``routing``
    ("static", or "none" for OSPF: :class:`.ospf.ClusterFrr` then runs FRR
    in the nodes), ``ground_transit``, ``delay_offset_ms``, ``create_ahead``,
    ``loopback_on_links``) plus ``vxlan_port``.  ``host_of`` (host index per
    node) replaces the computed placement.
    """

    def __init__(self, series, address: str, planes: list | None = None, shaping=False, routing: str = "static",
                 ground_transit: bool = False, run_tag: str | None = None, delay_offset_ms: float = 0.0,
                 create_ahead: bool = True, vxlan_port: int = 4789, quiet: bool = True, timeout_s: float = 300,
                 host_of=None, loopback_on_links: bool = False):
        import uuid

        if routing not in ("static", "none"):
            raise ClusterError(f"routing: {routing!r} across hosts is not supported; accepted: static, "
                               "none (OSPF: emulator.cluster.ospf.ClusterFrr)")
        self.series, self.address_ = series, address
        self.planes = planes if planes is not None else [None] * series.n_nodes
        self.host_of_ = None if host_of is None else np.asarray(host_of, dtype=np.int64)
        self.run_tag = run_tag or uuid.uuid4().hex[:6]
        self.options = {"shaping": shaping, "routing": routing, "ground_transit": ground_transit,
                        "delay_offset_ms": delay_offset_ms, "create_ahead": create_ahead,
                        "vxlan_port": int(vxlan_port), "loopback_on_links": bool(loopback_on_links)}
        self.quiet, self.timeout_s = quiet, timeout_s
        self.agents: list = []
        self.hosts: list[dict] = []      # per host: node_id, ip, mtu, pid, hostname, name
        self.placement = None
        self.underlay_ms = None          # (host, host) one-way ms
        self.records: list[list[dict]] = []   # per host: {"k", "late_ms", "apply_ms"}
        self.step = None
        self._ray_owned = False
        self._lost: set[int] = set()

    # -- build ----------------------------------------------------------------
    def _connect(self) -> list[dict]:
        ray = _ray()
        if not ray.is_initialized():
            try:
                check_address(self.address_)
            except ValueError as exc:
                raise ClusterError(str(exc)) from None
            try:
                ray_init(self.address_, logging_level="ERROR", log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ClusterError(f"--cluster: cannot reach a Ray cluster at {self.address_} ({exc})") from None
            self._ray_owned = True
        nodes = sorted((n for n in ray.nodes() if n["Alive"] and n["Resources"].get(RESOURCE)),
                       key=lambda n: (n["NodeManagerAddress"], n["NodeID"]))
        if not nodes:
            raise ClusterError(f"--cluster: no Ray node at {self.address_} offers the resource {RESOURCE} "
                               f"(start each host's Ray as root with --resources '{{\"{RESOURCE}\": 1}}')")
        return nodes

    def _spawn_agents(self, nodes: list[dict]) -> None:
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        head_ip = self.address_.rsplit(":", 1)[0]
        cls = ray.remote(HostAgent)
        for n in nodes:
            strategy = NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)
            self.agents.append(cls.options(resources={RESOURCE: 1}, num_cpus=0, scheduling_strategy=strategy,
                                           max_restarts=0, max_task_retries=0).remote(head_ip))
            self.hosts.append({"node_id": n["NodeID"], "name": f"host{len(self.hosts)}"})
        for h, info in zip(self.hosts, self._gather([a.info.remote() for a in self.agents], "start")):
            h.update(info)
            h["name"] = f"host{self.hosts.index(h)} ({info['hostname']} {info['ip']})"
        self.records = [[] for _ in self.hosts]

    def _measure_underlay(self) -> np.ndarray:
        n = len(self.hosts)
        refs = [a.measure.remote({j: self.hosts[j]["ip"] for j in range(n) if j != i})
                for i, a in enumerate(self.agents)]
        u = np.zeros((n, n))
        for i, row in enumerate(self._gather(refs, "the underlay measurement")):
            for j, ms in row.items():
                u[i, j] = ms
        return (u + u.T) / 2  # one-way: the mean of both directions' half round trips

    def start(self, k: int = 0, progress=None) -> StepStats:
        """Connect, place, measure, check, then build every host's nodes and links at step k."""
        ray = _ray()
        try:
            nodes = self._connect()
            self.placement = place(self.series, len(nodes), self.planes)
            if self.host_of_ is not None:
                if self.host_of_.shape != (self.series.n_nodes,) or not 0 <= self.host_of_.min() <= \
                        self.host_of_.max() < len(nodes):
                    raise ClusterError(f"host_of: one host index in 0..{len(nodes) - 1} per node "
                                       f"({self.series.n_nodes} nodes)")
                self.placement = evaluate(self.series, self.host_of_, len(nodes))
            if not self.quiet:
                print(self.placement.describe(self.series))
            self._spawn_agents(nodes)
            self.underlay_ms = self._measure_underlay()
            check_underlay(self.series, self.placement.host, self.underlay_ms, [h["name"] for h in self.hosts])
            mtu = min(min(h["mtu"] for h in self.hosts) - 50, 1500)
            if mtu < 1280:
                raise ClusterError(f"underlay MTU {mtu + 50} leaves {mtu} bytes inside VXLAN; need at least 1330")
            series_ref = ray.put(self.series)
            host_ip = {j: h["ip"] for j, h in enumerate(self.hosts)}
            refs = []
            for j, a in enumerate(self.agents):
                opts = dict(self.options, run_tag=f"{self.run_tag}h{j}", cluster_run=self.run_tag, link_mtu=mtu)
                under = {i: float(self.underlay_ms[j, i]) for i in range(len(self.hosts)) if i != j}
                refs.append(a.build.remote(series_ref, k, j, self.placement.host, host_ip, under, opts))
            built = self._gather(refs, "the build", progress=progress)
            failed = [(self.hosts[j]["name"], b["error"]) for j, b in enumerate(built) if "error" in b]
            if failed:
                raise ClusterError(f"cluster host {failed[0][0]}: {failed[0][1]}")
        except BaseException:
            self.stop()
            raise
        self.build_info = [{k_: v for k_, v in b.items() if k_ != "stats"} for b in built]
        self.step = k
        return _merge(k, [b["stats"] for b in built])

    # -- run ------------------------------------------------------------------
    def apply_step(self, k: int, due_s: float | None = None) -> StepStats:
        """Every host applies step k at wall time ``due_s`` (default: now; a host early waits for it), as
        :meth:`EmulatedNetwork.apply_step <emulator.network.EmulatedNetwork.apply_step>` takes it;
        per-host lateness recorded."""
        due = time.time() if due_s is None else due_s
        res = self._gather([a.apply.remote(k, due) for a in self.agents], f"step {k}")
        hosts = []
        for j, r in enumerate(res):
            rec = {"k": k, "late_ms": r["late_ms"], "apply_ms": r["apply_ms"]}
            self.records[j].append(rec)
            hosts.append(dict(rec, host=self.hosts[j]["name"]))
        st = _merge(k, [r["stats"] for r in res])
        st.extra["hosts"] = hosts
        self.step = k
        return st

    def lateness(self) -> list[dict]:
        """Per host: steps applied, mean/max lateness and apply time (ms)."""
        out = []
        for h, recs in zip(self.hosts, self.records):
            late = [r["late_ms"] for r in recs] or [0.0]
            took = [r["apply_ms"] for r in recs] or [0.0]
            out.append({"host": h["name"], "nodes": int((self.placement.host == self.hosts.index(h)).sum()),
                        "steps": len(recs), "late_ms_mean": float(np.mean(late)), "late_ms_max": float(max(late)),
                        "apply_ms_mean": float(np.mean(took)), "apply_ms_max": float(max(took))})
        return out

    def _gather(self, refs: list, what: str, progress=None) -> list:
        """ray.get of one call per host; a dead agent stops the run (see the module docstring)."""
        ray = _ray()
        from ray.exceptions import GetTimeoutError, RayActorError

        out, deadline = [None] * len(refs), time.monotonic() + self.timeout_s
        pending = dict(zip(refs, range(len(refs))))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                j = min(pending.values())
                self._host_lost(j, f"no answer to {what} within {self.timeout_s:g} s")
            j = pending.pop(done[0])
            try:
                out[j] = ray.get(done[0])
            except (RayActorError, GetTimeoutError) as exc:
                self._host_lost(j, f"its agent died during {what} ({type(exc).__name__})")
            if progress and isinstance(out[j], dict) and "nodes" in out[j]:
                progress(out[j]["nodes"])
        return out

    def _host_lost(self, j: int, why: str):
        self._lost.add(j)
        name = self.hosts[j]["name"] if j < len(self.hosts) else f"host{j}"
        self.stop()
        raise ClusterError(f"cluster host {name} lost: {why}; the other hosts were torn down")

    # -- teardown -------------------------------------------------------------
    def stop(self) -> None:
        """Every live agent tears down; a lost host gets a cleanup task if its Ray node lives.  Idempotent."""
        if not self.agents:
            return
        ray = _ray()
        agents, self.agents = self.agents, []
        refs = {j: a.stop.remote() for j, a in enumerate(agents) if j not in self._lost}
        for j, ref in refs.items():
            try:
                ray.get(ref, timeout=120)
            except Exception:
                self._lost.add(j)
        for a in agents:
            try:
                ray.kill(a)
            except Exception:
                pass
        self._clean_lost_hosts()
        if self._ray_owned:
            ray.shutdown()
            self._ray_owned = False

    def _clean_lost_hosts(self) -> None:
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        task = ray.remote(clean_run)
        refs = []
        for j in sorted(self._lost):
            if j < len(self.hosts) and self.hosts[j]["node_id"] in alive:
                strategy = NodeAffinitySchedulingStrategy(node_id=self.hosts[j]["node_id"], soft=False)
                refs.append(task.options(num_cpus=0, scheduling_strategy=strategy, max_retries=0)
                            .remote(f"sgemu-{self.run_tag}h{j}-", self.hosts[j].get("pid")))
        try:
            ray.get(refs, timeout=60)
        except Exception:
            pass  # the host is gone too: `sgemu clean` there

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- access ---------------------------------------------------------------
    def address(self, name: str) -> str:
        return addr.loopback_ip(self.series.index(name))

    def node_of_address(self, ip: str) -> str | None:
        i = addr.node_of_address(ip, self.series.link_a, self.series.link_b)
        return None if i is None or not 0 <= i < self.series.n_nodes else self.series.node_names[i]

    def host_of(self, name: str) -> int:
        """Index of the host that runs node ``name``."""
        return int(self.placement.host[self.series.index(name)])

    def _agent_of(self, name: str):
        return self.agents[self.host_of(name)]

    def cmd(self, node: str, argv: list[str], timeout_s: float = 60) -> str:
        """Run argv (a list) in a node's namespace on its host; its stdout and stderr."""
        name = self.series.node_names[self.series.index(node)]
        return self._gather([self._agent_of(node).cmd.remote(name, list(argv), timeout_s)], f"a command in {node}")[0]

    def popen(self, node: str, argv: list[str], stdout=None, stderr=None, text: bool = False, **_):
        """Start argv in a node on its host; a Popen-like whose output arrives in ``stdout``
        (a file, ``subprocess.PIPE`` for :meth:`RemoteProcess.communicate`, or None)."""
        name = self.series.node_names[self.series.index(node)]
        agent = self._agent_of(node)
        pid = self._gather([agent.popen.remote(name, list(argv))], f"a command in {node}")[0]
        return RemoteProcess(agent, pid, stdout, text)


class RemoteProcess:
    """A process an agent runs; the subset of ``subprocess.Popen`` the experiments use."""

    def __init__(self, agent, pid: int, stdout, text: bool):
        self.agent, self.pid, self.stdout_target, self.text = agent, pid, stdout, text
        self.returncode, self._offset, self._buf = None, 0, b""
        # a file given as stdout is usually closed by the caller once the process has started (a local
        # process keeps its own descriptor): the output arriving later is appended to it by name
        name = getattr(stdout, "name", None)
        self._path = name if isinstance(name, (str, bytes, os.PathLike)) else None

    def _fetch(self):
        ray = _ray()
        rc, data = ray.get(self.agent.poll.remote(self.pid, self._offset), timeout=60)
        self._offset += len(data)
        if data:
            if self.stdout_target == subprocess.PIPE:
                self._buf += data
            elif self._path is not None:
                with open(self._path, "ab") as f:
                    f.write(data)
            elif self.stdout_target is not None and hasattr(self.stdout_target, "write"):
                f = self.stdout_target
                f.write(data if "b" in getattr(f, "mode", "w") else data.decode(errors="replace"))
                f.flush()
        self.returncode = rc
        return rc

    def poll(self):
        if self.returncode is None:
            self._fetch()
        return self.returncode

    def wait(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"remote pid {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def communicate(self, timeout: float | None = None):
        self.wait(timeout)
        out = self._buf.decode(errors="replace") if self.text else self._buf
        return (out if self.stdout_target == subprocess.PIPE else None), None

    def send_signal(self, sig: int) -> None:
        _ray().get(self.agent.signal.remote(self.pid, sig), timeout=60)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)


def _merge(k: int, stats: list[StepStats]) -> StepStats:
    """Counts summed over hosts (a cross-host link counts at both ends), times the slowest host's."""
    out = StepStats(k)
    for f in ("links_created", "links_up", "links_down", "delays_set", "losses_set", "rates_set", "routes_changed"):
        if hasattr(out, f):
            setattr(out, f, sum(getattr(s, f, 0) for s in stats))
    for f in ("t_links_s", "t_delays_s", "t_routes_s"):
        setattr(out, f, max(getattr(s, f) for s in stats))
    return out
