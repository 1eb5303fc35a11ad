"""Send a fax to Sinch's free test number and wait, deferred, until it is delivered.

``write_document`` writes a one-page text document to the outbox, ``<archive>/outbox/`` (the Variable
``sinch_fax_archive``, default ``file:///tmp/sinch-faxes``): storage every worker can read, since
``send_fax`` may run on another worker; use e.g. ``s3://bucket/faxes`` in a distributed deployment.
``send_fax`` sends it to ``+19898989898`` (Sinch's test number: it always answers and costs nothing) and,
with ``deferrable=True``, hands the wait to the triggerer instead of holding a worker slot. The task fails
with Sinch's ``errorType``, ``errorCode`` and ``errorMessage`` if the fax ends in FAILURE, and returns the
fax IDs otherwise.

Documents can be local paths, ``ObjectStoragePath`` objects or URLs (with ``files_conn_id`` for
credentials), or ``content_urls`` that Sinch downloads itself. ``retries=0``: a retry would look for the
fax an earlier try sent before sending again (``dedupe_retries``), but not sending twice is simplest.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from airflow_provider_sinch.operators.fax import SendFaxOperator

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10 and 2.11
    from airflow import DAG
    from airflow.decorators import task

SINCH_TEST_NUMBER = "+19898989898"
OUTBOX = "{{ var.value.get('sinch_fax_archive', 'file:///tmp/sinch-faxes') }}/outbox"

with DAG(
    dag_id="example_sinch_fax_send",
    description="Send a fax to Sinch's test number and wait for delivery",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["sinch", "fax", "example"],
) as dag:

    @task
    def write_document(outbox: str, run_id: str | None = None) -> str:
        """Write the document to fax and return its URL; a real DAG would render an invoice here."""
        import fsspec

        url = f"{outbox}/{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id or 'manual')}.txt"
        with fsspec.open(url, "w", auto_mkdir=True) as fh:
            fh.write(f"Hello from Apache Airflow.\n\nThis test fax was sent by the DAG run {run_id}.\n")
        return url

    send_fax = SendFaxOperator(
        task_id="send_fax",
        to=SINCH_TEST_NUMBER,
        files=[write_document(OUTBOX)],
        header_text="Airflow example",
        labels={"source": "airflow-example"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=30,
        retries=0,
    )

    @task
    def report(fax_ids: list[str]) -> list[str]:
        """Runs only when every fax was delivered."""
        print(f"Delivered: {', '.join(fax_ids)}")
        return fax_ids

    report(send_fax.output)
