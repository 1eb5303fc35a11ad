"""Test set-up shared by the whole suite.

Airflow reads its configuration when first imported, so the environment is prepared here, at import
time, before any test module imports Airflow: a temporary AIRFLOW_HOME (unless the caller set one),
no example DAGs, and a dags folder the ``dag.test()`` tests write their DAG files into.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(os.environ.get("SINCH_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="sinch-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_HOME / "dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
(_HOME / "dags").mkdir(parents=True, exist_ok=True)

KEY_ID = "test-key-id"
KEY_SECRET = "s3cr3t-KEY-zq81-never-log-me"
PROJECT_ID = "test-project"


def sinch_conn_json(host: str, **extra: object) -> str:
    """An ``AIRFLOW_CONN_*`` value in JSON form for a sinch connection."""
    return json.dumps(
        {
            "conn_type": "sinch",
            "host": host,
            "login": extra.pop("login", KEY_ID),
            "password": extra.pop("password", KEY_SECRET),
            "extra": {"project_id": PROJECT_ID, **extra},
        }
    )


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Run ``airflow db migrate`` once into the temporary AIRFLOW_HOME (needed by dag.test())."""
    marker = _HOME / ".migrated"
    if not marker.exists():
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
        marker.touch()
    return _HOME


@pytest.fixture
def dags_folder() -> Path:
    """The dags folder Airflow parses for dag.test() (AIRFLOW__CORE__DAGS_FOLDER)."""
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
