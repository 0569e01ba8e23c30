# sgemu: make demo | make test | make bench
# Every target sets up what it needs: the venv (.venv) and, when run as root,
# the Debian packages (scripts/system-packages.sh installs only what is missing).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sgemu-installed

.PHONY: demo test test-unit test-kernel test-hardening soak bench system venv clean viewer-assets

venv: $(STAMP)

$(STAMP): pyproject.toml
	scripts/system-packages.sh python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,vm,cluster,view]'
	touch $(STAMP)

system:
	scripts/system-packages.sh all

# CesiumJS for `sgemu view`, from the npm registry at the versions of viewer/web/package-lock.json
# (installed once; nothing is fetched at run time).
VIEWER_WEB := viewer/web
viewer-assets: $(VIEWER_WEB)/node_modules/.package-lock.json

$(VIEWER_WEB)/node_modules/.package-lock.json: $(VIEWER_WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: run scripts/system-packages.sh web as root"; exit 3; }
	npm ci --prefix $(VIEWER_WEB) --ignore-scripts --no-audit --no-fund --loglevel=error

# The main job on the built-in default scenario: predicted route, then about a
# minute of live emulation (inside a VM with Debian's kernel when this kernel
# has no netem), ending with the measured-vs-predicted table and the plot.
demo: venv system viewer-assets
	$(PY) -m sgemu route --src Beijing --dst Kashi --out out/demo
	$(PY) -m emulator.lane -- $(abspath $(PY)) -m sgemu run --duration 60 --ping Beijing:Kashi --out $(abspath out/demo-run)

# Unit, physics and (as root) namespace tests on the host, then the netem
# kernel tests: on the host when its kernel has netem, else in a throwaway VM.
# `make test-kernel` adds the long run (default scenario, 60 s at 1x).
test: venv system viewer-assets
	$(PY) -m pytest tests docs/examples -q --ignore=tests/kernel -m "not slow"
	$(PY) -m emulator.lane -- $(abspath $(PY)) -m pytest -q -m "kernel and not long" $(abspath tests/kernel)

test-kernel: venv system
	$(PY) -m emulator.lane -- $(abspath $(PY)) -m pytest -q -s -m kernel $(abspath tests/kernel)

# The fault battery too long for `make test` (root): Ctrl-C, a second Ctrl-C, SIGTERM and SIGKILL + clean
# at every phase of a run (build, routing start, mid-run, teardown), with and without OSPF.
test-hardening: venv system
	$(PY) -m pytest -q -m slow tests/test_hardening_live.py

# One hour at 1x on the default scenario without shaping (root): lateness and memory over time,
# nothing left after.  SOAK_S=120 for a short one.
SOAK_S ?= 3600
soak: venv system
	$(PY) -m benchmarks.soak --duration $(SOAK_S)

bench: venv system
	$(PY) -m benchmarks.bench_topology
	$(PY) -m benchmarks.bench_budget
	$(PY) -m benchmarks.bench_coverage
	$(PY) -m benchmarks.bench_strategies --scenario large --steps 5
	$(PY) -m benchmarks.bench_viewer --duration 300
	$(PY) -m benchmarks.bench_routes
	@if [ "$$(id -u)" = 0 ]; then $(PY) -m benchmarks.bench_emulator --scenario default && \
	  $(PY) -m benchmarks.bench_emulator --scenario large --steps 10 && \
	  $(PY) -m emulator.lane -- $(abspath $(PY)) -m benchmarks.bench_emulator --scenario default --netem && \
	  $(PY) -m benchmarks.bench_ospf --scenario default && \
	  $(PY) -m benchmarks.bench_ospf --scenario 250 && \
	  $(PY) -m benchmarks.bench_ospf --scenario 500 --protocol ospf && \
	  $(PY) -m benchmarks.bench_cluster --steps 10; \
	  else echo "bench_emulator, bench_ospf, bench_cluster: need root (skipped)"; fi

clean:
	rm -rf out .pytest_cache
