"""Test set-up shared by the whole suite.

Airflow reads its configuration when first imported, so the environment is prepared here, at import
time, before any test module imports Airflow: a temporary AIRFLOW_HOME (unless the caller set one),
no example DAGs, and a dags folder the ``dag.test()`` tests write their DAG files into.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.simulator.app import SimulatorApp

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("SINCH_TEST_AIRFLOW_HOME"):
    _HOME = Path(os.environ["SINCH_TEST_AIRFLOW_HOME"])
else:
    _HOME = Path(tempfile.mkdtemp(prefix="sinch-airflow-home-"))
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_HOME / "dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
(_HOME / "dags").mkdir(parents=True, exist_ok=True)

#: tests/compat runs against the built wheel in venvs of its own (make test-compat), never in this suite.
collect_ignore = ["compat"]

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


#: Every simulator app the tests start in this process: no request to any of them may carry a query
#: parameter the simulator (as the real API) ignores, or a filter the provider sent was silently dropped.
_SIMULATOR_APPS: weakref.WeakSet[SimulatorApp] = weakref.WeakSet()
_original_app_init = SimulatorApp.__init__


def _tracked_app_init(self: SimulatorApp, *args: Any, **kwargs: Any) -> None:
    _original_app_init(self, *args, **kwargs)
    _SIMULATOR_APPS.add(self)


SimulatorApp.__init__ = _tracked_app_init  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_ignored_query_params(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test after which a simulator saw a query parameter it ignores (unless the test means it)."""
    for app in list(_SIMULATOR_APPS):
        app.pop_ignored_requests()
    yield
    ignored = [record for app in list(_SIMULATOR_APPS) for record in app.pop_ignored_requests()]
    if ignored and request.node.get_closest_marker("ignores_query_params") is None:
        sent = sorted({f"{r.method} {r.path}: {', '.join(r.ignored)}" for r in ignored})
        pytest.fail(f"Requests sent query parameters the Sinch API ignores (they filter nothing): {sent}")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Run ``airflow db migrate`` once into the temporary AIRFLOW_HOME (needed by dag.test())."""
    marker = _HOME / ".migrated"
    if not marker.exists():
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
        marker.touch()
    from airflow_provider_sinch._compat import AIRFLOW_V_3

    if not AIRFLOW_V_3:
        # Airflow 2.10's DagRunNote has a foreign key to FAB's ab_user table, which only the FAB auth
        # manager's models put into the metadata; every airflow process loads them, pytest does not. Without
        # them, dag.test() of a DAG that already has a run at that date fails to delete the old run.
        import airflow.providers.fab.auth_manager.models
    return _HOME


@pytest.fixture
def dags_folder() -> Path:
    """The dags folder Airflow parses for dag.test() (AIRFLOW__CORE__DAGS_FOLDER)."""
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def run_example_dag(dag_id: str, dags_folder: Path, *extra_files: str) -> Any:
    """Copy ``example_dags/<dag_id>.py`` into the dags folder, run ``dag.test()`` and return the DagRun.

    On Airflow 3.3 ``dag.test()`` only runs DAGs the dags-folder bundle parsed, hence the copy.
    Needs the ``airflow_db`` fixture.
    """
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag

    for name in (f"{dag_id}.py", *extra_files):
        shutil.copy(ROOT / "example_dags" / name, dags_folder / name)
    dag_bag = DagBag(dag_folder=str(dags_folder / f"{dag_id}.py"))
    assert not dag_bag.import_errors, dag_bag.import_errors
    dag = dag_bag.get_dag(dag_id)
    assert dag is not None
    return dag.test()


def xcom_return_value(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    """The ``return_value`` XCom of a task, read from the metadata DB (Airflow 2.10 and 3.x)."""
    from airflow.utils.session import create_session

    from airflow_provider_sinch._compat import AIRFLOW_V_3

    if not AIRFLOW_V_3:
        from airflow.models.xcom import XCom

        return XCom.get_one(run_id=run_id, dag_id=dag_id, task_id=task_id, key="return_value", map_index=map_index)
    from airflow.models.xcom import XComModel

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key="return_value", map_index=map_index)
            .one()
        )
        return XComModel.deserialize_value(row)


@pytest.fixture(scope="module")
def wire(sim: Any) -> Iterator[Any]:
    """A ``WireCapture`` of the requesting module's own ``sim`` fixture: every exchange, headers and bodies included."""
    from tests.simulator.test_conversation_conformance import WireCapture

    capture = WireCapture(sim)
    yield capture
    capture.uninstall()
