"""Fixtures of the end-to-end tests: prerequisites, work directories, the process supervisor.

The e2e tests need Debian's chromium, redis-server and PostgreSQL and a few PyPI packages
(``scripts/e2e/install.sh`` installs them; ``make e2e`` runs it first). Where they are missing the
tests are skipped with the command to run, unless ``SINCH_E2E_REQUIRE=1`` (set by ``make e2e``) turns the
skip into a failure, so that CI cannot go green by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest

from tests.e2e.deployment import new_workdir, postgres_bindir, remove_workdir

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "run scripts/e2e/install.sh (make e2e does)"


def require(condition: bool, what: str) -> None:
    """Skip (or, with ``SINCH_E2E_REQUIRE=1``, fail) when a prerequisite is missing."""
    if condition:
        return
    message = f"{what} is missing: {INSTALL_HINT}"
    if os.environ.get("SINCH_E2E_REQUIRE") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_airflow_3() -> None:
    if int(version("apache-airflow").split(".", 1)[0]) < 3:
        pytest.skip("the e2e deployment targets Airflow 3 (api-server, dag-processor, task SDK)")


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def browser_prerequisites() -> None:
    require_airflow_3()
    require(os.access(CHROMIUM, os.X_OK), f"Debian's chromium ({CHROMIUM})")
    require(has_module("playwright"), "the Python package playwright")


@pytest.fixture(scope="module")
def celery_prerequisites() -> None:
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
