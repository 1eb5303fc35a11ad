"""Event-driven: run a DAG for every new inbound fax, through an ``AssetWatcher`` (Airflow 3 only).

``NewFaxEventTrigger`` polls Sinch in the triggerer (no worker slot, no schedule) and fires an asset
event for the newly COMPLETED inbound faxes of each poll, de-duplicated by fax ID. Each event queues a run
of this DAG; ``fax_ids`` reads the IDs from the triggering asset events (``extra["payload"]["fax_ids"]``)
and ``download_fax`` stores each PDF in the archive (the Variable ``sinch_fax_archive``, default
``file:///tmp/sinch-faxes``). Events that arrive close together may be handled by one run.

To re-process particular faxes, trigger the DAG by hand with the config ``{"fax_ids": ["ID", ...]}``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

try:
    from airflow.sdk import DAG, Asset, AssetWatcher, task
except ImportError:  # pragma: no cover - Airflow 2
    raise ImportError(
        "example_sinch_fax_asset needs Airflow 3: it schedules on new faxes with an AssetWatcher, which Airflow 2 "
        "does not have. On Airflow 2, use example_sinch_fax_download (scheduled, incremental) instead."
    ) from None

from airflow_provider_sinch.operators.fax import DownloadFaxOperator
from airflow_provider_sinch.triggers.fax import NewFaxEventTrigger

ARCHIVE = "{{ var.value.get('sinch_fax_archive', 'file:///tmp/sinch-faxes') }}/inbound/"

inbound_fax = Asset(
    "sinch_inbound_fax",
    watchers=[
        AssetWatcher(
            name="sinch_new_inbound_fax",
            trigger=NewFaxEventTrigger(direction="INBOUND", status="COMPLETED", poll_interval=60, lookback=3600),
        )
    ],
)

with DAG(
    dag_id="example_sinch_fax_asset",
    description="Store each inbound fax as soon as Sinch has received it",
    schedule=[inbound_fax],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["sinch", "fax", "example"],
) as dag:

    @task
    def fax_ids(triggering_asset_events: Any = None, dag_run: Any = None) -> list[str]:
        """The IDs of the faxes this run was triggered for (or given in the run's config)."""
        ids = list((dag_run.conf or {}).get("fax_ids", [])) if dag_run is not None else []
        # Not `(triggering_asset_events or {}).get(...)`: an Asset cannot be a plain dict's key on Airflow 3.0
        # and 3.1; the accessor Airflow passes can look it up, and is empty (falsy) on a manual run.
        events = triggering_asset_events.get(inbound_fax, []) if triggering_asset_events else []
        for event in events:
            payload = (event.extra or {}).get("payload") or {}
            ids.extend(payload.get("fax_ids") or [])
        return list(dict.fromkeys(ids))

    DownloadFaxOperator.partial(task_id="download_fax", destination=ARCHIVE).expand(fax_id=fax_ids())
