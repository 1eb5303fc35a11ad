"""Download every new inbound fax to object storage, one mapped ``DownloadFaxOperator`` task per fax.

Every 15 minutes ``new_inbound_faxes`` lists the faxes received in the run's data interval (shifted back
5 minutes so faxes still being received can finish; each fax is delivered to exactly one run, see
``example_sinch_fax_polling``). ``downloadable`` keeps the COMPLETED faxes whose PDF Sinch still holds,
and ``download_fax`` is mapped over them: one task per fax, each streaming the PDF to
``<archive>/<date>/<fax id>.pdf`` with a ``.sha256`` file next to it. A re-run skips faxes already
stored with a matching checksum, so clearing the DAG run is safe.

The archive is the Airflow Variable ``sinch_fax_archive`` (default ``file:///tmp/sinch-faxes``): any
URL Airflow's ``ObjectStoragePath`` or fsspec understands, e.g. ``s3://my-bucket/faxes`` with
``destination_conn_id="aws_default"``. The connection ``sinch_default`` holds the Sinch access key.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_sinch.operators.fax import DownloadFaxOperator, ListFaxesOperator

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10 and 2.11
    from airflow import DAG
    from airflow.decorators import task

ARCHIVE = "{{ var.value.get('sinch_fax_archive', 'file:///tmp/sinch-faxes') }}/{{ ds }}/"

with DAG(
    dag_id="example_sinch_fax_download",
    description="Store every new inbound fax's PDF in object storage",
    # A timetable with real data intervals: on Airflow 3 a cron string gives zero-length intervals,
    # and the incremental list would then cover no time at all.
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
        fields=["id", "status", "createTime", "hasFile"],
    )

    @task
    def downloadable(faxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Faxes received in full whose PDF Sinch still holds (a FAILURE has no complete document)."""
        return [fax for fax in faxes if fax["status"] == "COMPLETED" and fax.get("hasFile", True)]

    # fax_id takes the fax dicts as they are; with plain IDs, map first: new_faxes.output.map(lambda f: f["id"])
    stored = DownloadFaxOperator.partial(
        task_id="download_fax",
        destination=ARCHIVE,
        retries=2,
        retry_delay=timedelta(minutes=1),
    ).expand(fax_id=downloadable(new_faxes.output))

    @task
    def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
        """Count what this run stored; a real DAG would index the PDFs or notify someone here."""
        results = list(results)
        summary = {
            "stored": sum(not r["skipped"] for r in results),
            "already_stored": sum(r["skipped"] for r in results),
            "bytes": sum(r["bytes"] for r in results),
        }
        print(f"Fax archive: {summary}")
        return summary

    summarise(stored.output)
