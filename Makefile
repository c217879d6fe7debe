# `make` lists the targets. A newcomer needs two: `make demo` and `make test`; the rest are their steps
# and the test tiers that run alone. Each target's `## ` comment is its line in that list.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest

.DEFAULT_GOAL := help
.PHONY: help all venv controlplane tools kind-prereqs kind-image kind-up kind-down demo-kind image test lint \
	typecheck pytest test-unit test-cce test-artifacts test-cluster test-e2e test-kind demo crds reference docs \
	bench bench-transport clean cluster-up cluster-down

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./testkit
	touch $(STAMP)

venv: $(STAMP) ## the virtualenv .venv with the operator, the testkit and the test tools

controlplane: $(STAMP) ## build or find etcd, kube-apiserver and kubectl (pinned; cached in ~/.cache/ccupgrade)
	$(PY) -m ccupgrade.testbed build

# helm (built from hack/helm/go.mod), kstatus (hack/kstatus: cli-utils' library), promtool (Debian's
# prometheus package), the Prometheus Operator's CRDs: found or fetched once into ~/.cache/ccupgrade.
tools: $(STAMP) ## build or find helm, kstatus, promtool and the Prometheus Operator's CRDs for the tests
	$(PY) -m ccupgrade.testbed.tools

# The kind tests' prerequisites (root only): Debian's packages, kind and the node image built from
# pinned sources, the operator's and simulator's images; cached in ~/.cache/ccupgrade by a digest of
# their inputs. Elsewhere tests/kind skips with one line saying why (CI sets CCUPGRADE_REQUIRE_KIND=1).
kind-prereqs: $(STAMP) controlplane tools ## as root: the packages, kind, the node image and the images the kind tests need
	@if [ "$$(id -u)" = 0 ]; then \
	  hack/kind/install-packages.sh && $(MAKE) kind-image; \
	else echo "kind-prereqs: not root; tests/kind will skip"; fi

# Prints the node image's tag (for `KIND_NODE_IMAGE`, see docs/install/kind.md) and the images built.
kind-image: $(STAMP) controlplane tools ## build (or find, by digest) kind's node image and the operator's and simulator's images
	$(PY) -m ccupgrade.testbed kind image

# A kind cluster with the operator and the simulator installed from docs/install/kind.md, until Ctrl-C.
kind-up: kind-prereqs ## as root: a kind cluster with the operator and simulator from docs/install/kind.md, until Ctrl-C
	$(PY) -m ccupgrade.testbed kind up --install

# After a crash: deletes a cluster left running and puts the machine back as it was.
kind-down: $(STAMP) ## after a crash: delete a kind cluster left running and restore the host
	$(PY) -m ccupgrade.testbed kind down

# The demo with the operator and the simulator as Pods on kind (root); `make demo` stays the quick one.
demo-kind: kind-prereqs ## as root: the demo with the operator and the simulator as Pods on kind
	$(PY) -m ccupgrade.testbed.demo --kind $(DEMO_ARGS)

image: $(STAMP) ## build the operator's image (no registry needed)
	$(PY) -m ccupgrade.testbed image

lint: $(STAMP) ## ruff, ruff format --check, import-linter
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP) ## mypy strict on the operator, the tests and the benchmark
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench/*.py

pytest: $(STAMP) controlplane tools kind-prereqs ## every test tier (PYTEST_ARGS passes options)
	$(PYTEST) $(PYTEST_ARGS)

test: lint typecheck pytest ## everything CI runs: lint, typecheck and every test tier

test-unit: $(STAMP) ## unit tests: offline, in-process, seconds (property tests draw a tenth of their examples)
	CCUPGRADE_QUICK_PROPERTIES=1 $(PYTEST) tests/unit $(PYTEST_ARGS)

test-cce: $(STAMP) ## the CCE client and the official SDKs against the simulator on loopback
	$(PYTEST) tests/cce $(PYTEST_ARGS)

test-artifacts: $(STAMP) tools ## shipped files with their real tools: promtool, pip wheel, mkdocs
	$(PYTEST) tests/artifacts $(PYTEST_ARGS)

test-cluster: $(STAMP) controlplane tools ## against a real kube-apiserver (the local control plane)
	$(PYTEST) tests/cluster $(PYTEST_ARGS)

test-e2e: $(STAMP) controlplane tools ## the operator as a process against the API server and the simulator
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

test-kind: $(STAMP) controlplane tools kind-prereqs ## as root: the operator's image as Pods on a kind cluster
	$(PYTEST) tests/kind $(PYTEST_ARGS)

bench: $(STAMP) controlplane ## the benchmark against a naive operator (BENCH_ARGS, e.g. --quick)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

# Our aiohttp transport (kube/api.py) against kubernetes.aio (docs/design.md, "Kubernetes transport").
bench-transport: $(STAMP) controlplane ## our Kubernetes transport against kubernetes.aio
	$(PY) bench/transport.py $(BENCH_ARGS)

crds: $(STAMP) ## write the CRD generated from the models (crds/ and the chart)
	$(PY) -m ccupgrade.crd > crds/ccupgrade.dev_cceclusterupgrades.yaml
	cp crds/ccupgrade.dev_cceclusterupgrades.yaml charts/cce-upgrade-operator/crds/

reference: $(STAMP) ## write docs/reference/resource.md, generated from the models
	$(PY) -m ccupgrade.reference > docs/reference/resource.md

docs: $(STAMP) ## build the documentation site into site/ (mkdocs --strict)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

demo: $(STAMP) controlplane ## control plane + simulator + operator: watch an upgrade go by
	$(PY) -m ccupgrade.testbed.demo $(DEMO_ARGS)

cluster-up: $(STAMP) controlplane ## a local control plane until Ctrl-C (prints its KUBECONFIG)
	$(PY) -m ccupgrade.testbed up

cluster-down: $(STAMP) ## stop a local control plane left behind
	$(PY) -m ccupgrade.testbed down

clean: ## remove the virtualenv, the caches and the built site
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site
