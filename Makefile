# The README's two commands: `make demo` and `make test`. Everything else here is what they need.
# Only python3 is assumed; each Airflow version gets its own venv, pinned by a committed constraints file.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW_OLDEST ?= 2.10.5
# The other release lines, at their newest patch: the built wheel's compatibility suite (tests/compat).
AIRFLOW_COMPAT ?= 2.11.2 3.0.6 3.1.8 3.2.2
PACKAGE_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' airflow_provider_sinch/__init__.py)
WHEEL := dist/airflow_provider_sinch-$(PACKAGE_VERSION)-py3-none-any.whl
VENV ?= $(if $(filter 3.3.2,$(AIRFLOW_VERSION)),.venv,.venv-$(AIRFLOW_VERSION))
CONSTRAINTS := constraints/airflow-$(AIRFLOW_VERSION).txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=

.PHONY: help venv demo test test-newest test-oldest test-compat release-check lint e2e bench clean

help:
	@echo "make demo   - run the fax-polling example DAG in a real Airflow 3.3.2 against the local simulator"
	@echo "make test   - lint, release-check, the full suite on Airflow 3.3.2, the core suite on $(AIRFLOW_OLDEST), and"
	@echo "              the built wheel's compatibility suite on Airflow $(AIRFLOW_COMPAT)"
	@echo "make release-check - build the sdist and wheel, twine check, and check what they ship"
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

test: lint release-check test-newest test-oldest test-compat

test-newest:
	@$(MAKE) --no-print-directory _pytest AIRFLOW_VERSION=3.3.2

test-oldest:
	@$(MAKE) --no-print-directory _pytest AIRFLOW_VERSION=$(AIRFLOW_OLDEST) PYTEST_ARGS="-m 'not e2e' $(PYTEST_ARGS)"

_pytest: $(STAMP)
	@echo ">>> pytest on Airflow $(AIRFLOW_VERSION) ($(VENV))"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The wheel and sdist a release would upload, checked (scripts/release_check.py); test-compat installs the wheel.
release-check: $(STAMP)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[release]"
	$(BIN)/python scripts/release_check.py

# Each line in a venv of its own, pinned by its constraints file, with the wheel installed non-editable. The
# suite runs from a temporary folder, so nothing of the source tree can shadow the installed package.
test-compat: release-check
	@for version in $(AIRFLOW_COMPAT); do $(MAKE) --no-print-directory _compat AIRFLOW_VERSION=$$version || exit 1; done

COMPAT_STAMP := $(VENV)/.compat-$(AIRFLOW_VERSION)

$(COMPAT_STAMP): pyproject.toml $(CONSTRAINTS)
	@echo ">>> Creating $(VENV) with Airflow $(AIRFLOW_VERSION) and the built wheel"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) "apache-airflow==$(AIRFLOW_VERSION)" "$(WHEEL)[simulator]" pytest pytest-timeout
	touch $(COMPAT_STAMP)

_compat: $(COMPAT_STAMP)
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(WHEEL)
	@echo ">>> compatibility suite on Airflow $(AIRFLOW_VERSION) ($(VENV), the installed wheel)"
	cd "$$(mktemp -d)" && $(CURDIR)/$(BIN)/pytest -p no:cacheprovider --confcutdir=$(CURDIR)/tests/compat $(CURDIR)/tests/compat $(PYTEST_ARGS)

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
