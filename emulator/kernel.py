"""What the running kernel can do for the emulator.

sgemu shapes every link with netem, the kernel's network emulator qdisc
(``sch_netem``): a per-interface queue that holds each packet back by a
delay, drops a share of them and paces the rest to a rate.  Stock
distribution kernels ship it as a module; some minimal kernels (containers,
microVMs) leave it out, and then ``tc qdisc add ... netem`` fails with
"Specified qdisc kind is unknown" (``ENOENT`` over netlink).

:func:`netem_available` answers the question the only reliable way: it
tries.  It makes a scratch network namespace named ``sgemu-probe-...``,
creates a veth pair inside it, asks for a netem root qdisc over netlink and
then deletes the namespace again (which also deletes the veth pair), so the
host is left exactly as it was found.  Creating namespaces needs root, so
the probe answers ``False`` for other users without trying.

:func:`modprobe_netem` loads the module ahead of time.  The kernel would
normally load it on demand when the first netem qdisc is requested, but an
explicit ``modprobe`` also works where on-demand loading is switched off.
"""

from __future__ import annotations

import os
import secrets
import subprocess

__all__ = ["is_root", "modprobe_netem", "netem_available"]

PROBE_PREFIX = "sgemu-probe-"


def is_root() -> bool:
    """Whether this process runs with effective uid 0 (needed for namespaces and tc)."""
    return os.geteuid() == 0


def modprobe_netem() -> bool:
    """Best-effort ``modprobe sch_netem``; True when modprobe reported success.

    Failure is not an error here (no modprobe binary, no module directory,
    netem built into the kernel, not root): :func:`netem_available` is the
    authority on whether netem can actually be used.
    """
    try:
        done = subprocess.run(
            ["modprobe", "sch_netem"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def mnexec_problem(mnexec: str = "mnexec", timeout_s: float = 10.0) -> str | None:
    """Why Mininet's ``mnexec`` cannot start a node shell here (None: it can).

    Every node's shell is ``mnexec -cdn`` (new network and mount
    namespaces).  When that fails -- not installed, no mount namespaces, a
    chroot whose root is no mount point ("remount: Invalid argument") --
    Mininet waits for the dead shell's prompt for ever, so the emulation
    asks first: ``mnexec -cdn true`` must exit 0.
    """
    try:
        done = subprocess.run([mnexec, "-cdn", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return f"{mnexec} is not installed (Debian: apt install mininet, or scripts/system-packages.sh core)"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{mnexec} -cdn true failed: {exc}"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return (f"{mnexec} cannot start a shell in new network and mount namespaces "
                f"(exit {done.returncode}{': ' + said[-1] if said else ''}); run on the machine itself or in a "
                "full VM, not in a chroot or a container without CAP_SYS_ADMIN, or use `sgemu run --vm`")
    return None


def netem_available() -> bool:
    """Whether a netem qdisc can be attached to an interface on this kernel.

    Runs the scratch-namespace probe described in the module docstring.
    Any failure (no root, no veth, no netem, no namespaces) means False.
    """
    if not is_root():
        return False
    from pyroute2 import IPRoute, netns
    from pyroute2.netlink.exceptions import NetlinkError

    name = f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    try:
        with IPRoute(netns=name) as ipr:  # creates the namespace
            ipr.link("add", ifname="probe0", kind="veth", peer="probe1")
            (index,) = ipr.link_lookup(ifname="probe0")
            ipr.tc("add", "netem", index, delay=1000)  # 1 ms, in microseconds
        return True
    except (NetlinkError, OSError, ValueError):
        return False
    finally:
        try:
            netns.remove(name)
        except OSError:
            pass
