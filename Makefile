# sgemu: make demo | make test | make bench
# Every target sets up what it needs: the venv (.venv) and, when run as root,
# the Debian packages (scripts/system-packages.sh installs only what is missing).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sgemu-installed

.PHONY: demo test test-unit test-kernel bench system venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,vm]'
	touch $(STAMP)

system:
	scripts/system-packages.sh all

# The main job on the built-in default scenario: predicted route, then about a
# minute of live emulation (inside a VM with Debian's kernel when this kernel
# has no netem), ending with the measured-vs-predicted table and the plot.
demo: venv system
	$(PY) -m sgemu route --src Beijing --dst Kashi --out out/demo
	$(PY) -m emulator.lane -- $(abspath $(PY)) -m sgemu run --duration 60 --ping Beijing:Kashi --out $(abspath out/demo-run)

# Unit, physics and (as root) namespace tests on the host.  The netem kernel
# tests run with `make test-kernel` (on the host when its kernel has netem,
# else in a throwaway VM); they are not yet part of `make test`: inside a
# software-emulated VM the measured RTT still exceeds the 1 ms + 5 % bound.
test: venv system
	$(PY) -m pytest tests -q --ignore=tests/kernel

test-kernel: venv system
	$(PY) -m emulator.lane -- $(abspath $(PY)) -m pytest -q -m kernel $(abspath tests/kernel)

bench: venv system
	$(PY) -m benchmarks.bench_topology

clean:
	rm -rf out .pytest_cache
