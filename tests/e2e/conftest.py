"""Fixtures of the end-to-end tests: prerequisites and work directories.

The e2e tests need Debian's chromium, redis-server and PostgreSQL and a few PyPI packages
(``scripts/e2e/install.sh`` installs them; ``make e2e`` runs it first). Where they are missing the
tests are skipped with the command to run, unless ``SINCH_E2E_REQUIRE=1`` (set by ``make e2e``) or
``CI=true`` turns the skip into a failure, so that CI cannot go green by skipping them.

Under CI (``CI=true``, as ``.ci/run`` sets) or with ``SINCH_E2E_INSTALL=1`` the tests run the install
script themselves when something is missing, so a fresh machine needs no extra step.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest

from tests.e2e.deployment import REPO_ROOT, new_workdir, postgres_bindir, remove_workdir

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "e2e" / "install.sh"
INSTALL_HINT = "run scripts/e2e/install.sh (make e2e does)"


def strict() -> bool:
    """Whether a missing prerequisite fails the test instead of skipping it (``make e2e`` and CI)."""
    return os.environ.get("SINCH_E2E_REQUIRE") == "1" or os.environ.get("CI", "").lower() == "true"


def require(condition: bool, what: str) -> None:
    """Skip (or, when :func:`strict`, fail) when a prerequisite is missing."""
    if condition:
        return
    message = f"{what} is missing: {INSTALL_HINT}"
    if strict():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_airflow_3() -> None:
    if int(version("apache-airflow").split(".", 1)[0]) < 3:
        pytest.skip("the e2e deployment targets Airflow 3 (api-server, dag-processor, task SDK)")


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def missing_prerequisites() -> list[str]:
    """What the e2e tests need and this machine lacks."""
    missing = [] if os.access(CHROMIUM, os.X_OK) else ["chromium"]
    missing += [] if shutil.which("redis-server") else ["redis-server"]
    try:
        postgres_bindir()
    except FileNotFoundError:
        missing.append("postgresql")
    modules = ("playwright", "airflow.providers.celery", "psycopg2", "asyncpg")
    return missing + [name for name in modules if not has_module(name)]


@pytest.fixture(scope="session")
def e2e_installed() -> None:
    """Run ``scripts/e2e/install.sh`` once if something is missing and CI (or the user) allows it."""
    require_airflow_3()  # never install the Celery provider into an Airflow 2 venv
    missing = missing_prerequisites()
    if not missing or not (os.environ.get("CI", "").lower() == "true" or os.environ.get("SINCH_E2E_INSTALL") == "1"):
        return
    print(f"e2e prerequisites missing ({', '.join(missing)}): running scripts/e2e/install.sh")
    subprocess.run(["bash", str(INSTALL_SCRIPT), sys.prefix], check=True, timeout=600)
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def browser_prerequisites(e2e_installed: None) -> None:
    require_airflow_3()
    require(os.access(CHROMIUM, os.X_OK), f"Debian's chromium ({CHROMIUM})")
    require(has_module("playwright"), "the Python package playwright")


@pytest.fixture(scope="module")
def celery_prerequisites(e2e_installed: None) -> None:
    require_airflow_3()
    require(shutil.which("redis-server") is not None, "Debian's redis-server")
    try:
        postgres_bindir()
    except FileNotFoundError:
        require(False, "Debian's postgresql")
    require(shutil.which("setpriv") is not None or os.geteuid() != 0, "setpriv (util-linux)")
    require(has_module("airflow.providers.celery"), "the Python package apache-airflow-providers-celery")
    require(has_module("psycopg2"), "the Python package psycopg2-binary")
    require(has_module("asyncpg"), "the Python package asyncpg")


@pytest.fixture(scope="module")
def e2e_workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A temporary directory per test module: AIRFLOW_HOME, databases, logs, screenshots."""
    path = new_workdir(f"sinch-e2e-{request.module.__name__.rsplit('.', 1)[-1]}-")
    yield path
    remove_workdir(path)
