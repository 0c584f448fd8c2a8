# The two everyday commands:  make plan STACK=prod   and   make test
# (with the Pulumi CLI: `pulumi up --stack prod`, see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= prod
CHECKOV_VENV ?= .venv-checkov

.PHONY: setup venv plan policy diff test lint bench validate system-deps docs clean

setup: $(VENV)/.installed $(CHECKOV_VENV)/.installed

## The program's venv only (what the plan and the diff need).
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

# checkov pins old packaging/boto3 and conflicts with pulumi: it gets a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $@

## The offline plan: the real program under Pulumi's mock runtime with Pulumi.$(STACK).yaml.
plan: $(VENV)/.installed
	$(PY) -m stacks.plan --stack $(STACK) --json build/plan-$(STACK).json

## The CrossGuard pack over the offline plan, as `pulumi preview --policy-pack` runs it.
policy: $(VENV)/.installed
	$(PY) -m stacks.policy_check --stack $(STACK)

## The offline plan diff of the working tree against BASE (a git ref), as a PR review:
## flows, Vault, hardening, exposure, protection, policies (base pack), cost, diagram.
BASE ?= origin/main
diff: $(VENV)/.installed
	$(PY) -m stacks.diff --stack $(STACK) --base $(BASE)

## Every test: config, catalog, whole stacks, policies, validators, images, services.
## Stops first, in one line, when a system package the tests use is missing
## (ALLOW_SKIPS=1 runs anyway and reports those tests as skipped; never under CI=true).
test: setup
	$(PY) scripts/check_test_deps.py $(if $(ALLOW_SKIPS),--allow-skips)
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright -p pyproject.toml

bench: $(VENV)/.installed
	$(PY) scripts/bench_plan.py --stack prod
	$(PY) scripts/bench_policy.py
	$(PY) scripts/bench_diff.py --stack prod
	$(PY) scripts/bench_edge.py

## The constraint check on every stack file (names, lengths, enums, references the cloud
## APIs enforce), then the Kubernetes schemas and checkov on the prod manifests.
validate: setup
	$(PY) -m stacks.constraints --all-stacks
	$(PY) scripts/validate_manifests.py --stack prod

## Regenerate Pulumi.yaml's config block, README's generated tables, docs/architecture.md.
docs: $(VENV)/.installed
	$(PY) -m stacks.generated_docs --write

## Debian packages the image, service and validator tests need (run as root).
system-deps:
	scripts/install-system-deps.sh

clean:
	rm -rf build .pytest_cache
