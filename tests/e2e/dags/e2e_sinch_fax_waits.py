"""Many deferred fax waits at once, for ``tests/e2e/test_distributed.py``. This is not an example DAG.

The test copies this file into the deployment's dags folder and writes ``e2e_sinch_fax_waits.json`` next
to it: ``{"fax_ids": [...], "poll_interval": seconds}``, the outbound faxes it creates IN_PROGRESS in
the simulator. ``wait_for_fax`` is a deferrable ``FaxSensor`` mapped over them, one task instance per fax.
Each one pokes once on a worker, finds its fax not yet final and defers. The triggerer then holds every
wait at once, and they share their polls (``FaxWaitPoller``). When the test marks the faxes COMPLETED,
each task resumes on a worker and returns its fax. ``collect`` reads every mapped result back.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_sinch.sensors.fax import FaxSensor

SETTINGS = json.loads(Path(__file__).with_suffix(".json").read_text())

with DAG(
    dag_id="e2e_sinch_fax_waits",
    description="e2e: many deferrable FaxSensors waiting at once",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    tags=["sinch", "e2e"],
) as dag:
    waits = FaxSensor.partial(
        task_id="wait_for_fax",
        deferrable=True,
        poke_interval=SETTINGS["poll_interval"],
        timeout=600,
        fields=["id", "status"],
    ).expand(fax_id=SETTINGS["fax_ids"])

    @task
    def collect(results: list[list[dict[str, Any]]]) -> dict[str, str]:
        """Fax ID -> status, from every mapped sensor's return value."""
        return {fax["id"]: fax["status"] for faxes in results for fax in faxes}

    collect(waits.output)
