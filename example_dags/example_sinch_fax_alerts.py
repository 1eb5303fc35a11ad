"""An SMS when a fax task fails: ``send_sinch_notification`` as ``on_failure_callback``.

The DAG lists the faxes of the last hour and checks that none FAILED. When a task fails (a fax
failed, or Sinch could not be reached after the hook's retries), ``SinchNotifier`` sends a text message
through the Conversation API app of the ``sinch_default`` connection (its extra ``conversation_app_id``)
to the number in the Airflow Variable ``sinch_alert_number``. The same connection, and access key, serves
the Fax API and the Conversation API.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_sinch.notifications.sinch import send_sinch_notification
from airflow_provider_sinch.operators.fax import ListFaxesOperator

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10 and 2.11
    from airflow import DAG
    from airflow.decorators import task

ALERT = send_sinch_notification(
    text="Airflow: {{ ti.dag_id }}.{{ ti.task_id }} failed (try {{ ti.try_number }}, run {{ run_id }}).",
    to="{{ var.value.get('sinch_alert_number', '+14155550100') }}",
)

with DAG(
    dag_id="example_sinch_fax_alerts",
    description="Text the on-call number when a fax task fails",
    schedule=timedelta(hours=1),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"on_failure_callback": ALERT, "retries": 0},
    tags=["sinch", "fax", "conversation", "example"],
) as dag:
    recent = ListFaxesOperator(
        task_id="recent_faxes",
        created_after="{{ (dag_run.start_date - macros.timedelta(hours=1)).isoformat() }}",
        limit=None,
        fields=["id", "status", "errorType", "errorMessage"],
    )

    @task
    def no_failed_faxes(faxes: list[dict[str, Any]]) -> int:
        """Fail the task (and text the on-call number) if a fax of the last hour FAILED."""
        failed = [fax["id"] for fax in faxes if fax["status"] == "FAILURE"]
        if failed:
            raise RuntimeError(f"{len(failed)} faxes failed in the last hour: {', '.join(failed)}")
        return len(faxes)

    no_failed_faxes(recent.output)
