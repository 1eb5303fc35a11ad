"""The example DAGs on a distributed Airflow 3 deployment: CeleryExecutor with two workers.

One deployment per module, all on 127.0.0.1: PostgreSQL (metadata), Redis (broker), scheduler,
dag-processor, triggerer, api-server and two Celery workers with hostnames of their own, plus the Fax
API simulator in this process. The example DAGs are copied into the deployment's dags folder, started
through the REST API, all at once, and each test then waits for its DAG's run and checks its results
against the simulator's store.

Adding an example DAG: add its file to ``EXAMPLES`` and write a test that calls ``deployment.run_of``.
A test whose example file does not exist (yet) is skipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.deployment import (
    EXAMPLE_DAGS,
    WORKERS,
    AirflowAPI,
    RunMonitor,
    RunObservation,
    start_celery_deployment,
)
from tests.e2e.processes import ProcessSupervisor

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_sinch.simulator import SimulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

KEY_ID = "e2e-celery-key"
KEY_SECRET = "e2e-Celery-S3cret-5Hd8-never-shown"
PROJECT_ID = "e2e-celery-project"

#: dag_id -> (file in example_dags/, how it is started: "manual", "scheduled", "both", or "event" for a
#: DAG that only needs unpausing: its asset watcher in the triggerer starts its runs).
EXAMPLES = {
    "example_sinch_fax_polling": ("example_sinch_fax_polling.py", "both"),
    "example_sinch_fax_download": ("example_sinch_fax_download.py", "scheduled"),
    "example_sinch_fax_send": ("example_sinch_fax_send.py", "manual"),
    "example_sinch_fax_asset": ("example_sinch_fax_asset.py", "event"),
}
#: Recent inbound faxes added to the simulator: one every 2 minutes over the last 40 minutes, so that
#: the window of any scheduled 15-minute run holds several of them (each becomes one mapped download).
RECENT_FAXES = 20
RECENT_SPACING = timedelta(seconds=120)
RUN_TIMEOUT = 240


@dataclass
class Deployment:
    procs: ProcessSupervisor
    api: AirflowAPI
    monitor: RunMonitor
    simulator: SimulatorServer
    archive: Path
    #: IDs of the COMPLETED inbound faxes of the last 40 minutes (see RECENT_FAXES).
    recent_completed: list[str]
    #: The deployment's task log folder, shared by both workers and the triggerer.
    task_logs: Path
    dag_ids: list[str]
    #: dag_id -> run IDs started for it (manual first), filled by start_runs().
    runs: dict[str, list[str]] = field(default_factory=dict)

    def run_of(self, dag_id: str, kind: str) -> RunObservation:
        """Wait for the DAG's ``manual`` or ``scheduled`` run to finish and return what was observed."""
        if dag_id not in self.dag_ids:
            pytest.skip(f"{EXAMPLES[dag_id][0]} does not exist (yet)")
        prefix = f"{kind}__"
        run_ids = [r for r in self.runs.get(dag_id, []) if r.startswith(prefix)]
        assert run_ids, f"no {kind} run of {dag_id} was started; runs: {self.runs.get(dag_id)}"
        observation = self.monitor.wait(dag_id, run_ids[0], timeout=RUN_TIMEOUT, check=self.procs.check_alive)
        if observation.state != "success":
            pytest.fail(self.explain(observation), pytrace=False)
        return observation

    def explain(self, observation: RunObservation) -> str:
        """Why a run failed: each failed task's log, then the components' log tails (secrets redacted)."""
        parts = [f"{observation.dag_id} run {observation.run_id} ended {observation.state}: {observation.ti_states}"]
        for ti in observation.task_instances:
            if ti["state"] not in ("success", "skipped"):
                log = self.api.task_log(
                    observation.dag_id, observation.run_id, ti["task_id"], map_index=ti["map_index"]
                )
                parts.append(f"----- log of {ti['task_id']}[{ti['map_index']}] ({ti['state']}) -----")
                parts.append(self.procs.redact(log)[-6000:])
        parts.append(self.procs.all_log_tails())
        return "\n".join(parts)

    def xcom(self, observation: RunObservation, task_id: str, map_index: int = -1) -> Any:
        return self.api.xcom(observation.dag_id, observation.run_id, task_id, map_index=map_index)


# ------------------------------------------------------------------------------------------ fixtures


def _seed_recent_faxes(sim: SimulatorServer) -> list[str]:
    """Add the recent inbound faxes; return the IDs of the COMPLETED ones."""
    newest = datetime.now(tz=timezone.utc) - timedelta(seconds=30)
    completed = []
    for i in range(RECENT_FAXES):
        # Every tenth one FAILED: the download examples must leave those out.
        status = "FAILURE" if i % 10 == 3 else "COMPLETED"
        fax = sim.store.add_fax(
            direction="INBOUND", status=status, create_time=newest - i * RECENT_SPACING, pages=1 + i % 3
        )
        if status == "COMPLETED":
            completed.append(fax["id"])
    return completed


@pytest.fixture(scope="module")
def deployment(celery_prerequisites: None, e2e_workdir: Path) -> Iterator[Deployment]:
    from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer

    dags_folder = e2e_workdir / "dags"
    dags_folder.mkdir()
    dag_ids = []
    for dag_id, (filename, _) in EXAMPLES.items():
        if (EXAMPLE_DAGS / filename).exists():
            shutil.copy(EXAMPLE_DAGS / filename, dags_folder / filename)
            dag_ids.append(dag_id)
    archive = e2e_workdir / "archive"

    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed_faxes=200, seed=7, transition_seconds=1.0
    )
    with SimulatorServer(config) as sim, ProcessSupervisor(e2e_workdir / "logs", secrets=[KEY_SECRET]) as procs:
        recent_completed = _seed_recent_faxes(sim)
        connection = {
            "conn_type": "sinch",
            "host": sim.url,
            "login": KEY_ID,
            "password": KEY_SECRET,
            "extra": {"project_id": PROJECT_ID},
        }
        api = start_celery_deployment(
            procs,
            e2e_workdir,
            dags_folder=dags_folder,
            dag_ids=dag_ids,
            extra_env={
                "AIRFLOW_CONN_SINCH_DEFAULT": json.dumps(connection),
                "AIRFLOW_VAR_SINCH_FAX_ARCHIVE": archive.as_uri(),
            },
        )
        with RunMonitor(api) as monitor:
            deployment = Deployment(
                procs, api, monitor, sim, archive, recent_completed, e2e_workdir / "airflow" / "logs", dag_ids
            )
            start_runs(deployment)
            yield deployment


def start_runs(deployment: Deployment) -> None:
    """Start every example's runs at once, so they run side by side while the tests check them in turn.

    A manual run is triggered before the DAG is unpaused, so it is queued before any scheduled run; unpausing
    a DAG with ``catchup=False`` makes the scheduler create the run of the latest complete interval.
    """
    api = deployment.api
    for dag_id in deployment.dag_ids:
        if EXAMPLES[dag_id][1] in ("manual", "both"):
            deployment.runs.setdefault(dag_id, []).append(api.trigger(dag_id))
        api.unpause(dag_id)
    scheduled = [d for d in deployment.dag_ids if EXAMPLES[d][1] in ("scheduled", "both")]

    def scheduled_runs_exist() -> bool:
        for dag_id in scheduled:
            for run in api.dag_runs(dag_id):
                if run["run_type"] == "scheduled" and run["dag_run_id"] not in deployment.runs.get(dag_id, []):
                    deployment.runs.setdefault(dag_id, []).append(run["dag_run_id"])
        return all(any(r.startswith("scheduled__") for r in deployment.runs.get(d, [])) for d in scheduled)

    deployment.procs.wait_until("the scheduler to create the scheduled runs", scheduled_runs_exist, timeout=60)


# ---------------------------------------------------------------------------------------------- helpers


def inbound_faxes(sim: SimulatorServer) -> list[dict[str, Any]]:
    return [fax for fax in sim.store.all_faxes() if fax["direction"] == "INBOUND"]


def created(fax: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(fax["createTime"].replace("Z", "+00:00"))


def shifted_window(
    deployment: Deployment, run: RunObservation, lag: timedelta = timedelta(minutes=5)
) -> tuple[datetime, datetime]:
    """The run's data interval shifted back by the examples' ``settle_lag``: the faxes it must deliver."""
    info = deployment.api.dag_run(run.dag_id, run.run_id)
    start, end = (
        datetime.fromisoformat(info[k].replace("Z", "+00:00")) for k in ("data_interval_start", "data_interval_end")
    )
    return start - lag, end - lag


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------ tests


POLLING_FIELDS = ["id", "direction", "from", "to", "numberOfPages", "status", "createTime", "hasFile"]


def check_latest_faxes(deployment: Deployment, run: RunObservation) -> None:
    """``latest_inbound_faxes`` holds exactly the simulator's 10 newest inbound faxes, newest first."""
    newest = sorted(inbound_faxes(deployment.simulator), key=created, reverse=True)[:10]
    latest = deployment.xcom(run, "latest_inbound_faxes")
    assert [fax["id"] for fax in latest] == [fax["id"] for fax in newest]
    assert latest == [{k: fax[k] for k in POLLING_FIELDS if k in fax} for fax in newest]
    assert deployment.xcom(run, "summarise")["newest"] == newest[0]["createTime"]


def test_polling_dag_scheduled_run(deployment: Deployment) -> None:
    """The scheduled run the unpause created, on Celery: the latest faxes, and every fax of its window."""
    dag_id = "example_sinch_fax_polling"
    run = deployment.run_of(dag_id, "scheduled")
    check_latest_faxes(deployment, run)

    # Exactly the inbound faxes created in its 15-minute interval shifted back by the settle lag.
    start, end = shifted_window(deployment, run)
    assert end - start == timedelta(minutes=15)
    expected = [fax["id"] for fax in inbound_faxes(deployment.simulator) if start <= created(fax) < end]
    assert len(expected) >= 4, "the recent faxes (one every 2 minutes) should fill the window"
    new = deployment.xcom(run, "new_inbound_faxes")
    assert sorted(fax["id"] for fax in new) == sorted(expected)
    assert deployment.xcom(run, "summarise")["new"] == len(expected)


def test_polling_dag_manual_run(deployment: Deployment) -> None:
    """Triggered through the REST API like the UI's Trigger button: succeeds, nothing new, latest faxes."""
    run = deployment.run_of("example_sinch_fax_polling", "manual")
    check_latest_faxes(deployment, run)
    assert deployment.xcom(run, "new_inbound_faxes") == []


def test_mapped_downloads_run_on_both_workers_and_match_checksums(deployment: Deployment) -> None:
    """The download example's scheduled run: one mapped task per COMPLETED fax of its window, spread over
    both Celery workers, every stored file byte-identical to what the simulator serves."""
    dag_id = "example_sinch_fax_download"
    run = deployment.run_of(dag_id, "scheduled")
    sim = deployment.simulator

    start, end = shifted_window(deployment, run)
    in_window = [fax for fax in inbound_faxes(sim) if start <= created(fax) < end]
    expected = {fax["id"] for fax in in_window if fax["status"] == "COMPLETED" and fax.get("hasFile", True)}
    assert len(expected) >= 4, f"too few faxes in the window [{start}, {end}) to spread over two workers"
    assert any(fax["status"] == "FAILURE" for fax in in_window) or len(in_window) == len(expected)

    downloads = run.tis("download_fax")
    assert len(downloads) == len(expected)
    assert all(ti["state"] == "success" for ti in downloads)
    hostnames = {ti["hostname"] for ti in downloads}
    assert hostnames == set(WORKERS), f"mapped downloads ran on {hostnames}, expected both workers"

    stored = {}
    for ti in downloads:
        result = deployment.xcom(run, "download_fax", map_index=ti["map_index"])
        stored[result["fax_id"]] = result
    assert set(stored) == expected

    day_folder = deployment.archive / deployment.api.dag_run(dag_id, run.run_id)["logical_date"][:10]
    for fax_id, result in stored.items():
        content = sim.store.file_bytes(fax_id)
        assert content is not None
        pdf = day_folder / f"{fax_id}.pdf"
        assert pdf.read_bytes() == content
        assert result["sha256"] == sha256(content)
        assert result["bytes"] == len(content)
        assert result["skipped"] is False
        assert (day_folder / f"{fax_id}.pdf.sha256").read_text().split()[0] == sha256(content)
    assert not list(day_folder.glob(".*.part")), "a temporary download file was left behind"

    summary = deployment.xcom(run, "summarise")
    assert summary == {"stored": len(expected), "already_stored": 0, "bytes": sum(r["bytes"] for r in stored.values())}


def test_send_defers_to_the_triggerer_and_resumes(deployment: Deployment) -> None:
    """The send example: send_fax is seen ``deferred`` (its wait runs in the triggerer), then resumes and
    succeeds on a worker with the fax the simulator delivered."""
    dag_id = "example_sinch_fax_send"
    run = deployment.run_of(dag_id, "manual")

    states = run.states_of("send_fax")
    assert "deferred" in states, f"send_fax was never seen deferred: {states}"
    assert states[-1] == "success"
    assert states.index("deferred") < len(states) - 1

    fax_ids = deployment.xcom(run, "send_fax")
    assert len(fax_ids) == 1
    fax = deployment.simulator.store.get(fax_ids[0])
    assert fax is not None
    assert fax["status"] == "COMPLETED"
    assert fax["direction"] == "OUTBOUND"
    assert deployment.xcom(run, "report") == fax_ids

    (send_ti,) = run.tis("send_fax")
    assert send_ti["hostname"] in WORKERS
    assert send_ti["try_number"] == 1, "resuming after the trigger must not be a retry"

    # The trigger ran in the triggerer (its own log next to the task's), then the task resumed on a worker.
    task_dir = deployment.task_logs / f"dag_id={dag_id}" / f"run_id={run.run_id}" / "task_id=send_fax"
    trigger_logs = list(task_dir.glob("attempt=1.log.trigger.*.log"))
    assert len(trigger_logs) == 1, f"no trigger log in {task_dir}"
    trigger_log = trigger_logs[0].read_text()
    assert "FaxTrigger" in trigger_log
    assert "Trigger fired event" in trigger_log
    task_log = (task_dir / "attempt=1.log").read_text()
    assert task_log.index("Pausing task as DEFERRED") < task_log.index("All 1 faxes COMPLETED")
    for log in (trigger_log, task_log):
        assert KEY_SECRET not in log


ASSET_DAG = "example_sinch_fax_asset"


@pytest.fixture(scope="module")
def asset_runs(deployment: Deployment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Wait until the asset watcher fired for every recent fax and the runs it caused are over.

    Returns ``(asset events, asset-triggered runs)``. "Over" means: all runs finished and no new run
    appeared for ``quiet`` seconds after the last one finished.
    """
    if ASSET_DAG not in deployment.dag_ids:
        pytest.skip(f"{EXAMPLES[ASSET_DAG][0]} does not exist (yet)")
    api = deployment.api
    expected = set(deployment.recent_completed)
    quiet = 15.0
    state: dict[str, Any] = {"events": [], "runs": [], "settled_since": None}

    def settled() -> bool:
        events = api.get("/api/v2/assets/events", limit=1000)["asset_events"]
        runs = [r for r in api.dag_runs(ASSET_DAG) if r["run_type"] == "asset_triggered"]
        fired = {fax_id for e in events for fax_id in (e.get("extra") or {}).get("payload", {}).get("fax_ids", [])}
        done = expected <= fired and bool(runs) and all(r["state"] in ("success", "failed") for r in runs)
        if not done:
            state["settled_since"] = None
        elif state["settled_since"] is None or len(runs) != len(state["runs"]):
            state["settled_since"] = time.monotonic()
        state["events"], state["runs"] = events, runs
        return done and time.monotonic() - state["settled_since"] >= quiet

    deployment.procs.wait_until(
        f"the asset watcher to fire for the {len(expected)} recent faxes and its runs to finish",
        settled,
        timeout=RUN_TIMEOUT,
        interval=2,
    )
    return state["events"], state["runs"]


def test_asset_watcher_fires_each_new_fax_once(
    deployment: Deployment, asset_runs: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    """The event-driven example, never triggered, only unpaused: its ``NewFaxEventTrigger`` watcher runs in
    the triggerer and records asset events for the COMPLETED inbound faxes of the last hour, each fax once;
    the scheduler starts runs for them, which succeed and store byte-identical PDFs."""
    events, runs = asset_runs
    fired = [fax_id for e in events for fax_id in e["extra"]["payload"]["fax_ids"]]
    assert len(fired) == len(set(fired)), "the watcher fired a fax twice"
    assert set(deployment.recent_completed) <= set(fired)
    hour_ago = datetime.now(tz=timezone.utc) - timedelta(hours=1, minutes=5)
    allowed = {
        f["id"] for f in inbound_faxes(deployment.simulator) if f["status"] == "COMPLETED" and created(f) > hour_ago
    }
    assert set(fired) <= allowed, "a fax outside the watcher's filters (INBOUND, COMPLETED, last hour) was fired"
    for event in events:
        for fax in event["extra"]["payload"]["faxes"]:
            assert set(fax) >= {"id", "direction", "status", "createTime"}
            assert "from" not in fax, "the event payload must carry no phone numbers"
            assert "to" not in fax, "the event payload must carry no phone numbers"

    assert runs, "no asset-triggered run was created"
    for run in runs:
        observation = deployment.monitor.wait(ASSET_DAG, run["dag_run_id"], timeout=10)
        if observation.state != "success":
            pytest.fail(deployment.explain(observation), pytrace=False)
        for fax_id in deployment.xcom(observation, "fax_ids"):
            content = deployment.simulator.store.file_bytes(fax_id)
            assert content is not None
            assert (deployment.archive / "inbound" / f"{fax_id}.pdf").read_bytes() == content


def test_asset_triggered_runs_handle_every_fax(
    deployment: Deployment, asset_runs: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    """No fax waits for a later event: the watcher fires one event per poll, not one per fax (the scheduler
    of 3.3.2 could start a run on the first event of a per-fax burst and leave the rest waiting)."""
    _, runs = asset_runs
    handled = {fax_id for run in runs for fax_id in deployment.api.xcom(ASSET_DAG, run["dag_run_id"], "fax_ids")}
    missing = set(deployment.recent_completed) - handled
    assert not missing, f"{len(missing)} of {len(deployment.recent_completed)} faxes were not handled by any run"
