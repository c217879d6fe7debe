# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all venv controlplane tools node-prereqs image cluster test lint typecheck unit pytest demo crds bench bench-transport clean cluster-up cluster-down

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./testkit
	touch $(STAMP)

venv: $(STAMP)

controlplane: $(STAMP)
	$(PY) -m ccupgrade.testbed build

# helm (built from hack/helm/go.mod), kstatus (hack/kstatus: cli-utils' library), promtool (Debian's
# prometheus package), the Prometheus Operator's CRDs: found or fetched once into ~/.cache/ccupgrade.
tools: $(STAMP)
	$(PY) -m ccupgrade.testbed.tools

# The node tests' prerequisites (root only): Debian's packages, the node's binaries, the image.
# Elsewhere tests/node skips with one line saying why (CI sets CCUPGRADE_REQUIRE_NODE=1: a failure).
node-prereqs: $(STAMP) controlplane
	@if [ "$$(id -u)" = 0 ]; then \
	  hack/node/install-packages.sh && $(PY) -m ccupgrade.testbed build --node && $(PY) -m ccupgrade.testbed image; \
	else echo "node-prereqs: not root; tests/node will skip"; fi

image: $(STAMP)
	$(PY) -m ccupgrade.testbed image

# A real single-node cluster running until Ctrl-C (root): then `kubectl apply -k tests/node/overlay`.
cluster: node-prereqs
	$(PY) -m ccupgrade.testbed node up --build-image

lint: $(STAMP)
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench/*.py

pytest: $(STAMP) controlplane tools node-prereqs
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP) controlplane
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

# Our aiohttp transport (kube/api.py) against kubernetes.aio: writes/s, CPU, RSS (README, "Kubernetes transport").
bench-transport: $(STAMP) controlplane
	$(PY) bench/transport.py $(BENCH_ARGS)

crds: $(STAMP)
	$(PY) -m ccupgrade.crd > crds/ccupgrade.dev_cceclusterupgrades.yaml
	cp crds/ccupgrade.dev_cceclusterupgrades.yaml charts/cce-upgrade-operator/crds/

demo: $(STAMP) controlplane
	$(PY) -m ccupgrade.testbed.demo $(DEMO_ARGS)

cluster-up: $(STAMP) controlplane
	$(PY) -m ccupgrade.testbed up

cluster-down: $(STAMP)
	$(PY) -m ccupgrade.testbed down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
