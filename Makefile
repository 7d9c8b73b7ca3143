# Photo feed backend: every target does its own set-up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= $(REGION)

.DEFAULT_GOAL := help
.PHONY: help setup local test unit lint validate build deploy bench openapi fuzz clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt requirements/constraints.txt layers/shared/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11+ is needed (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP) ## Create the virtual environment and install everything (incl. a Redis-protocol server)

local: $(STAMP) ## Run the whole stack on this machine (API on http://127.0.0.1:3000); RESET=1 starts empty
	$(BIN)/python -m devstack $(if $(RESET),--reset,)

test: $(STAMP) lint validate build ## Lint, validate and build the template, then run the whole test suite
	$(BIN)/python -m pytest

unit: $(STAMP) ## Only the fast tests (no local stack)
	$(BIN)/python -m pytest -m "not e2e"

lint: $(STAMP) ## ruff + mypy + cfn-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared/photofeed functions devstack tools
	$(BIN)/cfn-lint template.yaml

validate: $(STAMP) ## sam validate --lint
	$(BIN)/sam validate --lint --region $(REGION)

build: $(STAMP) ## sam build (no container needed)
	PATH="$(dir $(PYTHON)):$$PATH" $(BIN)/sam build --cached --parallel

fuzz: $(STAMP) ## schemathesis against a fresh local stack for 10 minutes (MINUTES=n to change)
	$(BIN)/python -m tests.fuzz $(if $(MINUTES),--minutes $(MINUTES),)

openapi: $(STAMP) ## Regenerate openapi.json from the routes (checked against template.yaml)
	$(BIN)/python -m tools.openapi

# The stack ([prod] of samconfig.toml; GUIDED=1 asks and saves to [default]; STACK=name for another),
# then the web app to its bucket and CloudFront (tools/deploy_web.py). An unchanged stack is no error,
# so a deploy of the app alone goes through.
deploy: build ## sam deploy, then build and publish the web app (first time: make deploy GUIDED=1; STACK=name)
	$(BIN)/sam deploy $(if $(GUIDED),--guided,--config-env prod) $(if $(STACK),--stack-name $(STACK),) --no-fail-on-empty-changeset
	$(MAKE) web
	$(BIN)/python -m tools.deploy_web --config-env $(if $(GUIDED),default,prod) $(if $(STACK),--stack-name $(STACK),)

bench: $(STAMP) ## Measure the figures: a table beside their targets (ONLY=feed,… for some parts; logs in .bench/)
	$(BIN)/python -m tests.bench $(if $(ONLY),--only $(ONLY),)

clean: ## Remove build output and local state
	rm -rf .aws-sam .devstack .bench .pytest_cache .mypy_cache .ruff_cache
