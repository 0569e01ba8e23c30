"""A Ray cluster on one machine: N "host" network namespaces on a bridge underlay.

``up(n)`` makes a bridge ``sgcb-<tag>`` in the root namespace with the
address ``.1`` of a private /24, and per host a namespace
``sgc-<tag>-host<i>`` joined to the bridge by a veth (``ul0`` inside,
address ``.(i + 1)``, underlay MTU 1550 so a VXLAN link inside carries
1,500-byte packets).  A Ray head runs in the root namespace (its own port,
temp dir ``/tmp/ray-sgc-<tag>``, no dashboard, no CPUs: it schedules, it
does not compute) and one Ray worker per host namespace offers
``{"sgemu_host": 1}``.  Workers enter their namespace with ``nsenter
--net`` only (``ip netns exec`` would also give them a private mount
namespace, hiding the node namespaces the agents attach under
``/run/netns`` from ``sgemu clean``).

Every process started is recorded in the state file
``/run/sgemu-cluster/<tag>.json``; ``down`` kills those, plus whatever
still runs inside the host namespaces or under the cluster's temp dir (Ray
forks workers after ``up``), never anything else: ``ray stop`` would kill
every Ray process on the machine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyroute2 import IPRoute, NetNS, netns

STATE_DIR = Path("/run/sgemu-cluster")
NS_PREFIX = "sgc-"
UNDERLAY_MTU = 1550
RESOURCE = "sgemu_host"


class ClusterError(RuntimeError):
    """The local cluster cannot be made or found (one line for the user)."""


@dataclass
class LocalCluster:
    """What ``up`` made; saved as JSON so ``down`` (any process) can undo it."""

    tag: str
    subnet: str
    bridge: str
    head_ip: str
    port: int
    temp_dir: str
    hosts: list[dict] = field(default_factory=list)   # {"ns", "veth", "ip"}
    pids: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.head_ip}:{self.port}"

    @property
    def state_path(self) -> Path:
        return STATE_DIR / f"{self.tag}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, tag: str | None = None) -> "LocalCluster":
        tags = sorted(p.stem for p in STATE_DIR.glob("*.json")) if STATE_DIR.is_dir() else []
        if tag is None:
            if len(tags) != 1:
                raise ClusterError(f"--tag: give one of {', '.join(tags)}" if tags else "no local cluster is up")
            tag = tags[0]
        path = STATE_DIR / f"{tag}.json"
        if not path.is_file():
            raise ClusterError(f"--tag: no local cluster {tag!r} (up: {', '.join(tags) or 'none'})")
        return cls(**json.loads(path.read_text()))


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _pick_subnet(tag: str) -> ipaddress.IPv4Network:
    """A /24 in 172.30.0.0/16 that no address in the root namespace already uses."""
    with IPRoute() as ipr:
        used = [ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}").network
                for a in ipr.get_addr(family=socket.AF_INET)]
    start = int(tag, 16) % 250
    for off in range(250):
        net = ipaddress.ip_network(f"172.30.{(start + off) % 250 + 1}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise ClusterError("no free /24 in 172.30.0.0/16 for the underlay")


def _make_underlay(c: LocalCluster, n: int) -> None:
    """Bridge + one namespace per host with its veth; records names in ``c`` as it goes."""
    net = ipaddress.ip_network(c.subnet)
    with IPRoute() as ipr:
        ipr.link("add", ifname=c.bridge, kind="bridge", mtu=UNDERLAY_MTU)
        br = ipr.link_lookup(ifname=c.bridge)[0]
        ipr.addr("add", index=br, address=c.head_ip, prefixlen=net.prefixlen)
        ipr.link("set", index=br, state="up")
        for i in range(n):
            ns, veth, ip = f"{NS_PREFIX}{c.tag}-host{i}", f"sgc{c.tag}h{i}", str(net.network_address + i + 2)
            c.hosts.append({"ns": ns, "veth": veth, "ip": ip})  # recorded first: down() removes it
            c.save()
            _create_ns(ns)
            ipr.link("add", ifname=veth, kind="veth", mtu=UNDERLAY_MTU,
                     peer={"ifname": "ul0", "net_ns_fd": ns, "mtu": UNDERLAY_MTU})
            v = ipr.link_lookup(ifname=veth)[0]
            ipr.link("set", index=v, master=br, state="up")
            with NetNS(ns) as nsr:
                ul, lo = nsr.link_lookup(ifname="ul0")[0], nsr.link_lookup(ifname="lo")[0]
                nsr.addr("add", index=ul, address=ip, prefixlen=net.prefixlen)
                nsr.link("set", index=ul, state="up")
                nsr.link("set", index=lo, state="up")


def _create_ns(ns: str, attempts: int = 3) -> None:
    """``netns.create`` that survives a loaded machine: pyroute2 gives its helper process 2 s, and the
    namespace may exist although the answer came too late."""
    for attempt in range(attempts):
        try:
            netns.create(ns)
            return
        except TimeoutError:
            if ns in netns.listnetns():
                return
            if attempt == attempts - 1:
                raise


def _ray_start(argv: list[str], ns: str | None, log) -> None:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    if ns:
        argv = ["nsenter", f"--net=/run/netns/{ns}"] + argv
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    log.write(r.stdout)
    if r.returncode:
        last = [l for l in r.stdout.splitlines() if l.strip()][-3:]
        raise ClusterError(f"ray start failed (exit {r.returncode}) for {ns or 'the head'}: {' / '.join(last)}")


def _with_retries(start, started_pids, attempts: int = 3) -> None:
    """Ray gives a node 30 s to register (hard-coded); on a loaded machine that can pass.  Then kill
    what that attempt started (``started_pids()``) and try again."""
    for attempt in range(attempts):
        try:
            return start()
        except ClusterError as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise
            pids = set(started_pids())
            _kill(pids, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_alive(p) for p in pids):
                time.sleep(0.1)


def _pids_in_ns(ns: str) -> list[int]:
    try:
        target = os.stat(f"/run/netns/{ns}").st_ino
    except FileNotFoundError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == target:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _start_ray(c: LocalCluster, progress=None) -> None:
    ray = _ray_bin()
    os.makedirs(c.temp_dir, exist_ok=True)
    with open(Path(c.temp_dir) / "start.log", "a") as log:
        head = [ray, "start", "--head", "--node-ip-address", c.head_ip, "--port", str(c.port),
                "--temp-dir", c.temp_dir, "--include-dashboard=false", "--num-cpus", "0",
                "--disable-usage-stats", "--object-store-memory", str(80 << 20)]
        for opt in ("--dashboard-port", "--node-manager-port", "--object-manager-port",
                    "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                    "--runtime-env-agent-port", "--metrics-export-port"):
            head += [opt, str(_free_port())]
        _with_retries(lambda: _ray_start(head, None, log), lambda: _our_pids(c))
        c.pids = sorted(set(c.pids) | set(_our_pids(c)))
        c.save()
        if progress:
            progress(1)
        for h in c.hosts:
            argv = [ray, "start", "--address", c.address, "--node-ip-address", h["ip"],
                    "--resources", json.dumps({RESOURCE: 1}), "--num-cpus", "1",
                    "--disable-usage-stats", "--object-store-memory", str(80 << 20)]
            _with_retries(lambda: _ray_start(argv, h["ns"], log), lambda: _pids_in_ns(h["ns"]))
            c.pids = sorted(set(c.pids) | set(_our_pids(c)))
            c.save()
            if progress:
                progress(1)


def up(n: int, tag: str | None = None, progress=None) -> LocalCluster:
    """Make an n-host cluster (see the module docstring); undone by :func:`down` on any failure."""
    if os.geteuid() != 0:
        raise PermissionError("a local cluster needs root (network namespaces)")
    if not 1 <= n <= 32:
        raise ValueError(f"N: {n} hosts; accepted 1..32")
    tag = tag or secrets.token_hex(3)
    if not (len(tag) == 6 and all(ch in "0123456789abcdef" for ch in tag)):
        raise ValueError(f"--tag: {tag!r}; accepted six lower-case hex digits")
    if (STATE_DIR / f"{tag}.json").exists():
        raise ValueError(f"--tag: a local cluster {tag!r} is already up")
    net = _pick_subnet(tag)
    c = LocalCluster(tag=tag, subnet=str(net), bridge=f"sgcb-{tag}", head_ip=str(net.network_address + 1),
                     port=_free_port(), temp_dir=f"/tmp/ray-sgc-{tag}")
    c.save()
    try:
        _make_underlay(c, n)
        _start_ray(c, progress)
        _wait_for_nodes(c, n)
    except BaseException:
        down(c)
        raise
    return c


def _wait_for_nodes(c: LocalCluster, n: int, timeout_s: float = 60) -> None:
    """Block until the head knows n alive nodes offering ``sgemu_host`` (asked from a subprocess,
    so this process does not stay connected to the cluster)."""
    code = ("import ray,sys;ray.init(address=sys.argv[1],logging_level='ERROR');"
            f"print(sum(1 for x in ray.nodes() if x['Alive'] and x['Resources'].get('{RESOURCE}')))")
    deadline = time.monotonic() + timeout_s
    while True:
        r = subprocess.run([sys.executable, "-c", code, c.address], capture_output=True, text=True,
                           env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"), timeout=120)
        if r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"the head at {c.address} did not see {n} hosts within {timeout_s:g} s: "
                               f"{(r.stdout + r.stderr).strip()[-300:]}")
        time.sleep(1)


def _ns_inodes(c: LocalCluster) -> set[int]:
    out = set()
    for h in c.hosts:
        try:
            out.add(os.stat(f"/run/netns/{h['ns']}").st_ino)
        except FileNotFoundError:
            pass
    return out


def _our_pids(c: LocalCluster) -> list[int]:
    """Processes of this cluster: inside its host namespaces, or using its temp dir (:func:`_uses_dir`)."""
    inodes, me = _ns_inodes(c), os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes or _uses_dir(int(entry), c.temp_dir):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _uses_dir(pid: int, temp_dir: str) -> bool:
    """Whether process pid belongs to the cluster whose temp dir is ``temp_dir``: ``temp_dir`` on its
    command line (Ray's processes started with ``--temp-dir``; also anything else naming it there,
    such as a ``tail -f`` of its logs, which goes with the cluster), or a renamed ``ray::...`` process
    (the head's ``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent``) with a file under it open.  A
    driver -- the user's script or notebook that called ``ray.init`` -- holds logs there too, but is
    never the cluster's to stop."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        if temp_dir.encode() in cmdline:
            return True
        if not cmdline.startswith(b"ray::"):
            return False
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(temp_dir + "/"):
                return True
        except OSError:
            continue
    return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _runs_owned_by(pids: set[int]) -> list[str]:
    """Run tags (``/run/sgemu/<tag>``) claimed by one of these processes."""
    from ..namespaces import OWNERS_DIR

    runs = []
    for f in Path(OWNERS_DIR).glob("*") if Path(OWNERS_DIR).is_dir() else []:
        try:
            if int(f.read_text().strip()) in pids:
                runs.append(f.name)
        except (OSError, ValueError):
            continue
    return runs


def down(c: LocalCluster | str | None = None) -> dict:
    """Stop this cluster's processes (recorded pids and those found in its namespaces / temp dir),
    remove its namespaces, veths, bridge, state file and temp dir.  Idempotent."""
    from ..cleanup import clean

    if not isinstance(c, LocalCluster):
        c = LocalCluster.load(c)
    pids = {p for p in set(c.pids) | set(_our_pids(c)) if _alive(p)}
    runs = _runs_owned_by(pids)
    _kill(pids, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    _kill({p for p in set(_our_pids(c)) | pids if _alive(p)}, signal.SIGKILL)
    time.sleep(0.2)
    # node namespaces of runs whose owner (an agent of this cluster) died with it
    left = sum(clean(prefix=f"sgemu-{run}-", force=True)["namespaces"] for run in runs)
    with IPRoute() as ipr:
        for name in [h["veth"] for h in c.hosts] + [c.bridge]:
            for idx in ipr.link_lookup(ifname=name):
                ipr.link("del", index=idx)
    for h in c.hosts:
        try:
            netns.remove(h["ns"])
        except OSError:
            pass
    shutil.rmtree(c.temp_dir, ignore_errors=True)
    c.state_path.unlink(missing_ok=True)
    return {"processes": len(pids), "hosts": len(c.hosts), "node_namespaces": left}


def leftovers(tag: str) -> list[str]:
    """What of cluster ``tag`` still exists (namespaces, links, processes, files): [] after ``down``."""
    out = [n for n in netns.listnetns() if n.startswith(f"{NS_PREFIX}{tag}-")]
    with IPRoute() as ipr:
        out += [l.get_attr("IFLA_IFNAME") for l in ipr.get_links()
                if l.get_attr("IFLA_IFNAME", "").startswith((f"sgcb-{tag}", f"sgc{tag}h"))]
    out += [f"pid {e}" for e in os.listdir("/proc") if e.isdigit() and _uses_dir(int(e), f"/tmp/ray-sgc-{tag}")]
    for p in (Path(f"/tmp/ray-sgc-{tag}"), STATE_DIR / f"{tag}.json"):
        if p.exists():
            out.append(str(p))
    return out
