# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all venv controlplane tools kind-prereqs kind-image kind-up kind-down demo-kind image test lint typecheck unit pytest demo crds bench bench-transport clean cluster-up cluster-down

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./testkit
	touch $(STAMP)

venv: $(STAMP)

controlplane: $(STAMP)
	$(PY) -m ccupgrade.testbed build

# helm (built from hack/helm/go.mod), promtool (Debian's prometheus package), the Prometheus
# Operator's CRDs: found or fetched once into ~/.cache/ccupgrade, like the control plane.
tools: $(STAMP)
	$(PY) -m ccupgrade.testbed.tools

# The kind tests' prerequisites (root only): Debian's packages, kind and the node image built from
# pinned sources, the operator's and simulator's images; cached in ~/.cache/ccupgrade by a digest of
# their inputs. Elsewhere tests/kind skips with one line saying why (CI sets CCUPGRADE_REQUIRE_KIND=1).
kind-prereqs: $(STAMP) controlplane tools
	@if [ "$$(id -u)" = 0 ]; then \
	  hack/kind/install-packages.sh && $(MAKE) kind-image; \
	else echo "kind-prereqs: not root; tests/kind will skip"; fi

# Prints the node image's tag (for `KIND_NODE_IMAGE`, see docs/install/kind.md) and the images built.
kind-image: $(STAMP) controlplane tools
	$(PY) -m ccupgrade.testbed kind image

# A kind cluster with the operator and the simulator installed from docs/install/kind.md, until Ctrl-C.
kind-up: kind-prereqs
	$(PY) -m ccupgrade.testbed kind up --install

# After a crash: deletes a cluster left running and puts the machine back as it was.
kind-down: $(STAMP)
	$(PY) -m ccupgrade.testbed kind down

# The demo with the operator and the simulator as Pods on kind (root); `make demo` stays the quick one.
demo-kind: kind-prereqs
	$(PY) -m ccupgrade.testbed.demo --kind $(DEMO_ARGS)

image: $(STAMP)
	$(PY) -m ccupgrade.testbed image

lint: $(STAMP)
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench/*.py

pytest: $(STAMP) controlplane tools kind-prereqs
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
