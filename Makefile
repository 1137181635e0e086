# The two quick-start commands: `make run` and `make test`. Both install into .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint bench-decisions bench-audit bench-vs-cerbos

$(BIN)/policy-service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/policy-service

## Serve the API on the embedded SQLite database, with the demo accounts and their tokens
## (`make run PORT=8080 HOST=0.0.0.0` to choose where).
run: install
	$(BIN)/policy-service serve --demo --host $(HOST) --port $(PORT)

## Lint, type-check, then run every test (unit, integration on SQLite and PostgreSQL, end to end).
test: install lint
	$(BIN)/pytest

## The inner loop: SQLite only, no server processes, no PostgreSQL (CI runs `make test`).
## Only the plugins it uses are loaded, and the modules of tests it never runs (end to end,
## fuzzing, the browser) are not collected: that is 2 s of each worker's start.
FAST_PLUGINS := -p xdist.plugin -p pytest_timeout -p _hypothesis_pytestplugin
FAST_SKIPPED := --ignore tests/e2e --ignore tests/contract/test_fuzz.py \
	--ignore tests/console/test_browser.py
test-fast: install
	PYTHONDONTWRITEBYTECODE= PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 \
		POLICY_SERVICE_PROPERTY_EXAMPLES=40 POLICY_SERVICE_FUZZ_EXAMPLES=5 \
		$(BIN)/pytest -q $(FAST_PLUGINS) -n 2 --dist worksteal $(FAST_SKIPPED) \
		-m "not postgres and not e2e and not slow and not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench-decisions: install
	$(BIN)/python bench/bench_decisions.py

bench-audit: install
	$(BIN)/python bench/bench_audit.py

## This service against Cerbos (fetched from npm, telemetry off) on the same PostgreSQL data,
## driven by wrk; `make bench-vs-cerbos BENCH_ARGS="--repeat 1 --seconds 5"` for a quick run.
bench-vs-cerbos: install
	$(BIN)/python bench/bench_vs_cerbos.py $(BENCH_ARGS)
