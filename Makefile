# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all venv controlplane tools test lint typecheck unit pytest demo crds bench clean cluster-up cluster-down

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

controlplane: $(STAMP)
	$(PY) -m ccupgrade.testbed build

# helm (built from hack/helm/go.mod), promtool (Debian's prometheus package), the Prometheus
# Operator's CRDs: found or fetched once into ~/.cache/ccupgrade, like the control plane.
tools: $(STAMP)
	$(PY) -m ccupgrade.testbed.tools

lint: $(STAMP)
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench/run.py bench/naive_operator.py

pytest: $(STAMP) controlplane tools
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP) controlplane
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

crds: $(STAMP)
	$(PY) -m ccupgrade.crd > crds/ccupgrade.dev_cceclusterupgrades.yaml
	cp crds/ccupgrade.dev_cceclusterupgrades.yaml charts/cce-upgrade-operator/crds/

demo: $(STAMP) controlplane
	$(PY) -m ccupgrade.demo $(DEMO_ARGS)

cluster-up: $(STAMP) controlplane
	$(PY) -m ccupgrade.testbed up

cluster-down: $(STAMP)
	$(PY) -m ccupgrade.testbed down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
