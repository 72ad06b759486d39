# MarginLens: `make run` (local stack with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
ENV    ?= dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: install tools dashboard run test lint format typecheck unit integration e2e infra synth build-lambda deploy openapi bench fuzz screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# The dashboard (dashboard/, TypeScript): npm ci when its lock file changes, then the bundler, into
# shared/marginlens/dashboard/static/ (what the api function serves and the Lambda bundle carries).
DASHBOARD_STAMP := dashboard/node_modules/.installed-$(shell cat dashboard/package-lock.json 2>/dev/null | sha1sum | cut -c1-12)

$(DASHBOARD_STAMP): dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error
	rm -f dashboard/node_modules/.installed-* && touch $@

dashboard: $(DASHBOARD_STAMP) ## build the dashboard's files
	cd dashboard && npm run --silent build

run: install dashboard ## the local stack on 127.0.0.1:$${MARGINLENS_PORT:-8787}, with demo data
	$(BIN)/marginlens dev

test: install tools dashboard lint typecheck ## everything CI runs
	cd dashboard && npm run --silent typecheck && npm test --silent
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

screenshots: install dashboard ## docs/screenshots/*.png: each dashboard view at 1280 px, on the demo data
	$(BIN)/python scripts/screenshots.py --out docs/screenshots

tools: ## test-only tools: stripe-mock (built with Go from the Go module proxy)
	scripts/install-stripe-mock.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy --config-file sdk/python/pyproject.toml sdk/python/src/marginlens_sdk

unit: install
	$(BIN)/python -m pytest -q tests/unit

integration: install
	$(BIN)/python -m pytest -q tests/integration

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

infra: install
	$(BIN)/python -m pytest -q tests/infra

build-lambda: install dashboard ## fill build/lambda with the functions and their arm64 dependencies
	$(BIN)/python infra/build_lambda.py

synth: build-lambda ## CloudFormation template, no Docker and no AWS credentials needed
	$(BIN)/python infra/app.py -c env=$(ENV)
	@cat cdk.out/MarginLens-$(ENV).template.json

deploy: build-lambda ## needs AWS credentials: cdk deploy of the MarginLens-$(ENV) stack
	PATH="$(CURDIR)/$(BIN):$$PATH" npx --yes aws-cdk@2 deploy MarginLens-$(ENV) -c env=$(ENV) $(CDK_ARGS)

openapi: install ## regenerate the committed OpenAPI spec
	$(BIN)/python -m marginlens.api.openapi > docs/openapi.json

fuzz: install tools ## schemathesis over every operation, 500 examples each (make test runs 15)
	MARGINLENS_FUZZ_EXAMPLES=$${MARGINLENS_FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -q tests/e2e/test_contract_fuzz.py

bench: install
	$(BIN)/python bench/ingest.py --out docs/BENCHMARKS.md
	$(BIN)/python bench/scale.py --out docs/BENCHMARKS.md
	$(BIN)/python bench/simulator.py --out docs/BENCHMARKS-simulator.md
	$(BIN)/python bench/coldstart.py --out docs/BENCHMARKS-coldstart.md
	$(BIN)/python bench/sdk_track.py
	cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build
	node bench/sdk_track.mjs

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache shared/marginlens/dashboard/static
