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

# The main job on the built-in default scenario.
demo: venv system
	$(PY) -m sgemu route --src Beijing --dst Kashi --out out/demo

# Unit and physics tests on the host, then the kernel tests (netem) on the host
# when its kernel has netem, else inside a throwaway VM with Debian's kernel.
test: venv system
	$(PY) -m pytest tests -q --ignore=tests/kernel
	$(MAKE) --no-print-directory test-kernel

test-kernel: venv system
	$(PY) -m emulator.lane -- $(abspath $(PY)) -m pytest -q -m kernel $(abspath tests/kernel)

bench: venv system
	$(PY) -m benchmarks.bench_topology

clean:
	rm -rf out .pytest_cache
