# The README's two commands: `make demo` and `make test`. Everything else here is what they need.
# Only python3 is assumed; each Airflow version gets its own venv, pinned by a committed constraints file.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW_OLDEST ?= 2.10.5
VENV ?= $(if $(filter 3.3.2,$(AIRFLOW_VERSION)),.venv,.venv-$(AIRFLOW_VERSION))
CONSTRAINTS := constraints/airflow-$(AIRFLOW_VERSION).txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=

.PHONY: help venv demo test test-newest test-oldest lint e2e bench clean

help:
	@echo "make demo   - run the fax-polling example DAG in a real Airflow 3.3.2 against the local simulator"
	@echo "make test   - the full test suite on Airflow 3.3.2, then the core suite on Airflow $(AIRFLOW_OLDEST)"
	@echo "make lint   - ruff (lint + format check) and mypy"
	@echo "make e2e    - browser and distributed (Celery) end-to-end tests"
	@echo "make bench  - benchmarks, written to docs/benchmarks.md"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo ">>> Creating $(VENV) with Airflow $(AIRFLOW_VERSION) (first run only: about a minute)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# The demo always runs on the pinned Airflow 3.3.2 (.venv), whatever AIRFLOW_VERSION the caller set.
# DEMO_ARGS: e.g. --keep (keep the temporary AIRFLOW_HOME) or --faxes 1000.
demo:
	@$(MAKE) --no-print-directory _demo AIRFLOW_VERSION=3.3.2

_demo: $(STAMP)
	@$(BIN)/python scripts/demo.py $(DEMO_ARGS)

test: lint test-newest test-oldest

test-newest:
	@$(MAKE) --no-print-directory _pytest AIRFLOW_VERSION=3.3.2

test-oldest:
	@$(MAKE) --no-print-directory _pytest AIRFLOW_VERSION=$(AIRFLOW_OLDEST) PYTEST_ARGS="-m 'not e2e' $(PYTEST_ARGS)"

_pytest: $(STAMP)
	@echo ">>> pytest on Airflow $(AIRFLOW_VERSION) ($(VENV))"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

e2e: $(STAMP)
	scripts/e2e/install.sh $(VENV)
	SINCH_E2E_REQUIRE=1 $(BIN)/python -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf .venv .venv-* .pytest_cache .mypy_cache .ruff_cache *.egg-info
