"""The polling example DAG, run for real with ``dag.test()`` against the simulator."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from airflow_provider_sinch.clients.fax.vocabulary import sort_newest_first
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, run_example_dag, sinch_conn_json, xcom_return_value

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

DAG_ID = "example_sinch_fax_polling"


def test_polling_dag_puts_the_latest_inbound_faxes_in_xcom(
    airflow_db: Path, dags_folder: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    config = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=5, seed_faxes=2000)
    with SimulatorServer(config) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
        dag_run = run_example_dag(DAG_ID, dags_folder)
        expected = sort_newest_first(f for f in sim.store.all_faxes() if f["direction"] == "INBOUND")[:10]
    assert dag_run.state == "success"
    latest = xcom_return_value(DAG_ID, dag_run.run_id, "latest_inbound_faxes")
    assert [f["id"] for f in latest] == [f["id"] for f in expected]
    assert set(latest[0]) <= {"id", "direction", "from", "to", "numberOfPages", "status", "createTime", "hasFile"}
    json.dumps(latest)
    summary = xcom_return_value(DAG_ID, dag_run.run_id, "summarise")
    assert summary["newest"] == expected[0]["createTime"]
    out, err = capfd.readouterr()
    assert KEY_SECRET not in out + err
