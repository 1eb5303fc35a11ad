"""Scheduled polling of inbound faxes with ``ListFaxesOperator``.

Two ways to pull faxes into XCom for downstream tasks:

- ``new_inbound_faxes`` (``incremental=True``) delivers every fax exactly once across scheduled runs:
  each run lists the faxes created in its data interval, shifted back by ``settle_lag`` so faxes still
  being received have time to finish (the operator also waits for any still in progress). Windows are
  half-open, so consecutive runs, catch-up runs and backfills tile time with no gap and no overlap.
  A manual run has an empty data interval on Airflow 3 and delivers nothing.
- ``latest_inbound_faxes`` pulls the 10 newest inbound faxes, however old they are: a dashboard view.

The connection ``sinch_default`` holds the key ID, key secret and project ID.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_sinch.operators.fax import ListFaxesOperator

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10 and 2.11
    from airflow import DAG
    from airflow.decorators import task

FIELDS = ["id", "direction", "from", "to", "numberOfPages", "status", "createTime", "hasFile"]

with DAG(
    dag_id="example_sinch_fax_polling",
    description="Poll Sinch for new inbound faxes every 15 minutes",
    # Data intervals, not just trigger times: on Airflow 3 a plain cron string gives runs that cover no time.
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["sinch", "fax", "example"],
) as dag:
    new_faxes = ListFaxesOperator(
        task_id="new_inbound_faxes",
        direction="INBOUND",
        incremental=True,
        settle_lag=timedelta(minutes=5),
        settle_timeout=timedelta(minutes=10),
        fields=FIELDS,
    )
    latest_faxes = ListFaxesOperator(
        task_id="latest_inbound_faxes",
        direction="INBOUND",
        limit=10,
        fields=FIELDS,
    )

    @task
    def summarise(new: list[dict[str, Any]], latest: list[dict[str, Any]]) -> dict[str, Any]:
        """Count the new faxes by status; a real DAG would store or route them here."""
        by_status: dict[str, int] = {}
        for fax in new:
            by_status[fax["status"]] = by_status.get(fax["status"], 0) + 1
        newest = latest[0]["createTime"] if latest else None
        print(f"{len(new)} new inbound faxes in this interval {by_status}; newest fax overall: {newest}")
        return {"new": len(new), "by_status": by_status, "newest": newest}

    summarise(new_faxes.output, latest_faxes.output)
