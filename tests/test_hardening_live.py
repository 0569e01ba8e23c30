"""Faults during live runs: signals at each phase, a killed run and `sgemu clean`, two runs side by side.

Every run here is a real ``python -m sgemu run`` (root, no delay shaping) on a small scenario with its
own run tag.  Ctrl-C is sent to the run's whole process group, as a terminal does; SIGTERM and SIGKILL to
the sgemu process only, as ``kill`` does.  After each run the test asserts that nothing of that tag is
left: namespaces, processes (found by the tag in their environment, which every child inherits), the
owner file ``/run/sgemu/<tag>``, FRR run directories ``/var/run/frr/sgemu-<tag>-*`` and veths in the root
namespace that were not there before.  Phases are recognised from outside: the build (the first
namespace exists), the routing start (the first FRR run directory exists), mid-run (every namespace
exists and a step or two passed) and the teardown (the number of namespaces falls).

The slow ones (``-m slow``, run by ``make test-hardening``) cover each phase with and without OSPF;
``make test`` runs a Ctrl-C mid-run, a SIGKILL followed by `sgemu clean`, and two concurrent runs with
`sgemu clean` in between.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")

#: 12 LEO satellites and 3 stations: a build of a second or two, OSPF up in a few seconds.
SMALL = {
    "name": "hardening",
    "start": "2024-07-16T00:00:00Z",
    "duration_s": 60,
    "step_s": 1,
    "constellations": [{"name": "leo", "walker": {"planes": 3, "sats_per_plane": 4, "phasing": 1,
                                                  "inclination_deg": 53, "altitude_km": 1000}}],
    "stations": ["Beijing", "Kashi", "Sanya"],
    "links": [{"rule": "plus-grid", "group": "leo"},
              {"rule": "ground", "group": "leo", "policy": "nearest", "min_elevation_deg": 0}],
    "emulation": {"ospf": {"timers": "fast"}},
}
NODES = 15


def _frr_missing() -> str | None:
    from emulator.frr import frr_missing

    return frr_missing()


@pytest.fixture
def tag():
    return "hl" + secrets.token_hex(4)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scen") / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def root_veths():
    """Veths in the root namespace before the test; none may be added by it."""
    before = _root_veths()
    yield before


# -- what a run leaves -------------------------------------------------------------------------------------
def _root_veths() -> set[str]:
    """Veths in the root namespace that a run could have left: named like its links (``sl<n>``).
    (Other tools on this machine, e.g. a local Ray cluster, keep veths of their own there.)"""
    import re

    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}
    return {n for n in names if re.fullmatch(r"sl\d+", n)}


def _namespaces(tag: str) -> list[str]:
    from emulator.namespaces import our_namespaces

    return [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")]


def _processes(tag: str) -> list[int]:
    """Processes carrying the run's tag in their environment (the run and every child it started)."""
    needle = f"SGEMU_RUN_TAG={tag}\0".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read() + b"\0":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _frr_dirs(tag: str) -> list[str]:
    return [p.name for p in Path("/var/run/frr").glob(f"sgemu-{tag}-*")]


def leftovers(tag: str, veths_before: set[str]) -> dict:
    found = {"namespaces": _namespaces(tag), "processes": _processes(tag),
             "owner file": [str(p) for p in [Path("/run/sgemu") / tag] if p.exists()],
             "FRR run dirs": _frr_dirs(tag), "root veths": sorted(_root_veths() - veths_before)}
    return {k: v for k, v in found.items() if v}


def assert_nothing_left(tag: str, veths_before: set[str], timeout_s: float = 20.0) -> None:
    """Nothing of the run is left (processes get a moment to be reaped by init)."""
    deadline = time.monotonic() + timeout_s
    while leftovers(tag, veths_before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(tag, veths_before) == {}


# -- driving a run -----------------------------------------------------------------------------------------
class Run:
    """``sgemu run`` in its own process group, its output collected in files (no pipe can fill up)."""

    def __init__(self, scenario: Path, tag: str, out: Path, *extra: str, duration_s: float = 60):
        self.tag, self.out = tag, out
        self.log = out.parent / f"{tag}.stderr"
        self.stdout = out.parent / f"{tag}.stdout"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sgemu", "run", str(scenario), "--no-netem", "--duration", str(duration_s),
             "--out", str(out), "-q", *extra],
            stdout=open(self.stdout, "w"), stderr=open(self.log, "w"), start_new_session=True,
            env={**os.environ, "SGEMU_RUN_TAG": tag}, cwd=out.parent)

    def wait_for(self, what, timeout_s: float = 120.0, poll_s: float = 0.01) -> None:
        deadline = time.monotonic() + timeout_s
        while not what():
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended ({self.proc.returncode}) before the phase: {self.stderr()[-1500:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"phase not reached in {timeout_s:g} s: {self.stderr()[-1500:]}")
            time.sleep(poll_s)

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def kill(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def finish(self, timeout_s: float = 120.0) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the run did not end {timeout_s:g} s after the signal: {self.stderr()[-1500:]}")

    def stderr(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _phase(run: Run, phase: str) -> None:
    """Wait until ``run`` is in ``phase``."""
    if phase == "build":
        run.wait_for(lambda: len(_namespaces(run.tag)) >= 1)
    elif phase == "routing":
        run.wait_for(lambda: len(_frr_dirs(run.tag)) >= 1)
    elif phase == "mid-run":  # the tools start with the real-time loop: their output files appear in raw/
        raw = run.out / "raw"
        run.wait_for(lambda: len(_namespaces(run.tag)) == NODES and raw.is_dir() and any(raw.iterdir()),
                     timeout_s=240, poll_s=0.1)
        time.sleep(3.0)
    elif phase == "teardown":
        run.wait_for(lambda: len(_namespaces(run.tag)) == NODES, poll_s=0.05)
        run.wait_for(lambda: len(_namespaces(run.tag)) < NODES, timeout_s=300, poll_s=0.002)


def _assert_clean_exit(run: Run, codes=(130,)) -> None:
    """No traceback and an expected exit status.  130 is an interrupted run; -2 (killed by SIGINT, which a
    shell also shows as 130) is what Python does with a Ctrl-C that arrives after sgemu's handlers were
    restored, i.e. once the teardown is over."""
    err = run.stderr()
    assert "Traceback" not in err, err[-3000:]
    codes = tuple(codes) + ((-signal.SIGINT,) if 130 in codes else ())
    assert run.proc.returncode in codes, (run.proc.returncode, err[-2000:])


def _assert_measurements_kept(out: Path) -> None:
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert (out / "steps.csv").read_text().count("\n") >= 2, "steps applied before the signal are kept"
    assert (out / "results.csv").exists()


# -- the fast ones (make test) -----------------------------------------------------------------------------
def test_ctrl_c_mid_run_keeps_the_measurements_and_leaves_nothing(small, tag, tmp_path, root_veths):
    run = Run(small, tag, tmp_path / "run")
    _phase(run, "mid-run")
    run.ctrl_c()
    run.finish()
    _assert_clean_exit(run)
    _assert_measurements_kept(tmp_path / "run")
    assert_nothing_left(tag, root_veths)


def test_sigkill_leaves_state_that_clean_removes_and_a_second_clean_finds_nothing(small, tag, tmp_path, root_veths):
    run = Run(small, tag, tmp_path / "run")
    _phase(run, "mid-run")
    run.kill(signal.SIGKILL)
    run.finish()
    assert len(_namespaces(tag)) == NODES and (Path("/run/sgemu") / tag).exists(), "a killed run cannot clean up"
    r = subprocess.run([sys.executable, "-m", "sgemu", "clean"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert_nothing_left(tag, root_veths)
    again = subprocess.run([sys.executable, "-m", "sgemu", "clean"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and tag not in again.stdout


def test_clean_between_two_concurrent_runs_removes_the_dead_one_and_spares_the_live_one(small, tmp_path, root_veths):
    dead, live = "hl" + secrets.token_hex(4), "hl" + secrets.token_hex(4)
    a = Run(small, dead, tmp_path / "a", duration_s=60)
    b = Run(small, live, tmp_path / "b", duration_s=25)
    _phase(a, "mid-run")
    _phase(b, "mid-run")
    a.kill(signal.SIGKILL)
    a.finish()
    r = subprocess.run([sys.executable, "-m", "sgemu", "clean"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert live in r.stdout, "clean names the live run it leaves alone"
    assert leftovers(dead, root_veths) == {}
    assert len(_namespaces(live)) == NODES and b.proc.poll() is None, "the live run was touched"
    assert b.finish(timeout_s=180) == 0, b.stderr()[-2000:]
    assert (tmp_path / "b" / "summary.json").exists()
    assert_nothing_left(live, root_veths)


def test_clean_recognises_a_live_run_by_its_owner_file_even_with_a_hyphen_in_its_tag():
    """Runs of older versions could take tags with hyphens (``my-run``); clean must still see them live."""
    from pyroute2 import netns

    from emulator.cleanup import clean
    from emulator.namespaces import OWNERS_DIR, our_namespaces

    tag = f"old-{secrets.token_hex(3)}"
    name = f"sgemu-{tag}-Beijing"
    os.makedirs(OWNERS_DIR, exist_ok=True)
    owner = Path(OWNERS_DIR) / tag
    owner.write_text(str(os.getpid()))  # this process, alive: the run is live
    netns.create(name)
    try:
        counts = clean(prefix=f"sgemu-{tag.split('-')[0]}-")
        assert tag in counts["live"] and name in our_namespaces() and owner.exists()
    finally:
        netns.remove(name)
        owner.unlink()


def test_an_owner_file_whose_pid_was_reused_does_not_keep_a_dead_run_alive():
    from emulator.namespaces import OWNERS_DIR, run_owner_alive

    tag = "hl" + secrets.token_hex(4)
    os.makedirs(OWNERS_DIR, exist_ok=True)
    owner = Path(OWNERS_DIR) / tag
    owner.write_text(f"{os.getpid()} 1")  # our pid, but a start time that is not ours
    try:
        assert not run_owner_alive(tag)
        owner.write_text(f"{os.getpid()}")  # the old format (pid only) still counts as alive
        assert run_owner_alive(tag)
    finally:
        owner.unlink()


def test_an_owner_file_planted_as_a_symlink_is_not_followed(tmp_path):
    from emulator.namespaces import OWNERS_DIR, claim_run

    tag = "hl" + secrets.token_hex(4)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.makedirs(OWNERS_DIR, exist_ok=True)
    link = Path(OWNERS_DIR) / tag
    link.symlink_to(victim)
    try:
        with pytest.raises(OSError):
            claim_run(tag)
        assert victim.read_text() == "keep"
    finally:
        link.unlink()


# -- the slow ones (make test-hardening) -------------------------------------------------------------------
PHASES = [("build", "static"), ("build", "ospf"), ("routing", "ospf"), ("mid-run", "ospf"),
          ("teardown", "static"), ("teardown", "ospf")]


@pytest.mark.slow
@pytest.mark.parametrize("phase,routing", PHASES, ids=[f"{p}-{r}" for p, r in PHASES])
def test_ctrl_c_at_each_phase_leaves_nothing(small, tag, tmp_path, root_veths, phase, routing):
    if routing == "ospf" and _frr_missing():
        pytest.skip(f"FRR missing: {_frr_missing()}")
    duration = 4 if phase == "teardown" else 60
    run = Run(small, tag, tmp_path / "run", "--routing", routing, duration_s=duration)
    _phase(run, phase)
    run.ctrl_c()
    run.finish()
    assert_nothing_left(tag, root_veths)
    _assert_clean_exit(run, (0, 130) if phase == "teardown" else (130,))
    if phase == "mid-run":
        _assert_measurements_kept(tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["build", "mid-run", "teardown"])
def test_ctrl_c_twice_does_not_abort_the_teardown_of_an_ospf_run(small, tag, tmp_path, root_veths, phase):
    if _frr_missing():
        pytest.skip(f"FRR missing: {_frr_missing()}")
    run = Run(small, tag, tmp_path / "run", "--routing", "ospf", duration_s=4 if phase == "teardown" else 60)
    _phase(run, phase)
    run.ctrl_c()
    time.sleep(0.3)
    if run.proc.poll() is None:
        run.ctrl_c()
    time.sleep(0.3)
    if run.proc.poll() is None:
        run.ctrl_c()  # a third may say "still tearing down"
    run.finish()
    assert_nothing_left(tag, root_veths)
    _assert_clean_exit(run, (0, 130) if phase == "teardown" else (130,))


@pytest.mark.slow
@pytest.mark.parametrize("routing", ["static", "ospf"])
def test_sigterm_mid_run_tears_down_and_keeps_the_measurements(small, tag, tmp_path, root_veths, routing):
    if routing == "ospf" and _frr_missing():
        pytest.skip(f"FRR missing: {_frr_missing()}")
    run = Run(small, tag, tmp_path / "run", "--routing", routing)
    _phase(run, "mid-run")
    run.kill(signal.SIGTERM)
    run.finish()
    assert_nothing_left(tag, root_veths)
    _assert_clean_exit(run, (130, 143))
    _assert_measurements_kept(tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["build", "routing"])
def test_sigkill_during_the_build_or_the_ospf_start_then_clean_leaves_nothing(small, tag, tmp_path, root_veths,
                                                                             phase):
    if _frr_missing():
        pytest.skip(f"FRR missing: {_frr_missing()}")
    run = Run(small, tag, tmp_path / "run", "--routing", "ospf")
    _phase(run, phase)
    run.kill(signal.SIGKILL)
    run.finish()
    time.sleep(1.0)  # FRR daemons forked before the kill may still be starting
    r = subprocess.run([sys.executable, "-m", "sgemu", "clean"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert_nothing_left(tag, root_veths)


@pytest.mark.slow
def test_clean_during_a_live_ospf_run_leaves_it_running(small, tag, tmp_path, root_veths):
    if _frr_missing():
        pytest.skip(f"FRR missing: {_frr_missing()}")
    run = Run(small, tag, tmp_path / "run", "--routing", "ospf", duration_s=20)
    _phase(run, "mid-run")
    dirs = len(_frr_dirs(tag))
    r = subprocess.run([sys.executable, "-m", "sgemu", "clean"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and tag in r.stdout
    assert len(_namespaces(tag)) == NODES and len(_frr_dirs(tag)) == dirs
    assert run.finish(timeout_s=240) == 0, run.stderr()[-2000:]
    assert_nothing_left(tag, root_veths)


@pytest.mark.slow
def test_a_vm_run_writes_its_results_to_the_host_out_directory_outside_the_working_directory(small, tag, tmp_path):
    """`sgemu run --vm --out /tmp/...`: the guest's /tmp is its own; the directory is shared so results land
    on the host (before: "run directory: /tmp/x/run" printed, nothing there)."""
    from emulator.vm import VMError, find_kernel

    try:
        find_kernel()
    except VMError as exc:
        pytest.skip(f"no VM kernel: {exc}")
    out = tmp_path / "x" / "run"
    work = tmp_path / "cwd"
    work.mkdir()
    r = subprocess.run([sys.executable, "-m", "sgemu", "run", str(small), "--vm", "--no-netem", "--duration", "3",
                        "--out", str(out), "-q"], capture_output=True, text=True, timeout=1200, cwd=work,
                       env={**os.environ, "SGEMU_RUN_TAG": tag})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert (out / "summary.json").exists() and (out / "steps.csv").exists(), sorted(p.name for p in out.iterdir())
