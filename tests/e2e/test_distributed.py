"""The example DAGs on a distributed Airflow 3 deployment: CeleryExecutor with two workers.

One deployment per module, all on 127.0.0.1: PostgreSQL (metadata), Redis (broker), scheduler,
dag-processor, triggerer, api-server and two Celery workers with hostnames of their own, plus the Fax
API simulator in this process. The example DAGs are copied into the deployment's dags folder, started
through the REST API, all at once, and each test then waits for its DAG's run and checks its results
against the simulator's store.

Adding an example DAG: add its file to ``EXAMPLES`` and write a test that calls ``deployment.run_of``.
A test whose example file does not exist (yet) is skipped.

The last tests run a DAG of their own (``tests/e2e/dags/e2e_sinch_fax_waits.py``), once the examples are
done: 200 deferrable ``FaxSensor`` waits held by the triggerer at once, sharing their polls, then resumed.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.deployment import (
    EXAMPLE_DAGS,
    REPO_ROOT,
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
#: The download example's mapped task, dealt over both workers' own queues (tests/e2e/worker_queues.py).
SPREAD_DOWNLOADS = "example_sinch_fax_download.download_fax"

#: The many-waits DAG (tests/e2e/dags, not an example): a deferrable FaxSensor mapped over WAITS outbound
#: faxes that stay IN_PROGRESS until the test completes them; the triggerer polls them every WAIT_POLL s.
WAITS_DAG = "e2e_sinch_fax_waits"
WAITS_DAG_FILE = REPO_ROOT / "tests" / "e2e" / "dags" / f"{WAITS_DAG}.py"
WAITS = 200
WAIT_POLL = 5.0


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
    #: fax ID -> creation time (ms) of the faxes the many-waits DAG waits for; added to the store by its test.
    wait_faxes: dict[str, int]
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
    wait_faxes = write_waits_dag(dags_folder)

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
            dag_ids=[*dag_ids, WAITS_DAG],
            extra_env={
                "AIRFLOW_CONN_SINCH_DEFAULT": json.dumps(connection),
                "AIRFLOW_VAR_SINCH_FAX_ARCHIVE": archive.as_uri(),
            },
            spread_tasks=[SPREAD_DOWNLOADS],
        )
        # The examples' runs only: the many-waits test watches its 200 task instances itself, more cheaply.
        with RunMonitor(api, dag_ids=dag_ids) as monitor:
            deployment = Deployment(
                procs,
                api,
                monitor,
                sim,
                archive,
                recent_completed,
                e2e_workdir / "airflow" / "logs",
                dag_ids,
                wait_faxes,
            )
            start_runs(deployment)
            yield deployment


def write_waits_dag(dags_folder: Path) -> dict[str, int]:
    """Put the many-waits DAG into the dags folder with the IDs of its faxes; return ID -> creation time (ms).

    The IDs are ULIDs, as Sinch's are, encoding their creation times (the last minute, 0.25 s apart); the
    faxes themselves are added to the simulator by the test, so the other tests never see them.
    """
    from airflow_provider_sinch.simulator.store import make_ulid

    rng = random.Random(11)
    first = int(time.time() * 1000) - 60_000
    faxes = {make_ulid(first + i * 250, rng.getrandbits(80)): first + i * 250 for i in range(WAITS)}
    shutil.copy(WAITS_DAG_FILE, dags_folder / WAITS_DAG_FILE.name)
    settings = {"fax_ids": list(faxes), "poll_interval": WAIT_POLL}
    (dags_folder / f"{WAITS_DAG}.json").write_text(json.dumps(settings))
    return faxes


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
    """The download example's scheduled run: one mapped task per COMPLETED fax of its window, run by both
    Celery workers, every stored file byte-identical to what the simulator serves.

    Celery alone may give every one of a handful of short tasks to one worker, so the deployment deals
    the mapped downloads over the workers' own queues in turn (tests/e2e/worker_queues.py): what this
    checks is that tasks run by different workers share the archive and XComs, and add up."""
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
    for ti in downloads:  # each on the worker whose queue it was dealt to
        expected_worker = WORKERS[ti["map_index"] % len(WORKERS)]
        assert (ti["queue"], ti["hostname"]) == (expected_worker, expected_worker), ti["map_index"]

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


# ------------------------------------------------------------------------------- many deferred waits


@dataclass
class FaxRequests:
    """The simulator's fax requests of a time window that concern the waited-for faxes."""

    listings: int  # list-faxes calls without a direction filter (the poller's; the examples filter INBOUND)
    lookups: int  # GET faxes/{id} of a waited-for fax
    everything: int  # every request to the simulator in the window


def wait_requests(sim: SimulatorServer, fax_ids: set[str], since: float, until: float) -> FaxRequests:
    faxes_path = f"/v3/projects/{PROJECT_ID}/faxes"
    window = [r for r in sim.requests if since <= r.time < until]
    listings = [r for r in window if r.path == faxes_path and "direction" not in r.query]
    lookups = [r for r in window if r.path.startswith(f"{faxes_path}/") and r.path.rsplit("/", 1)[-1] in fax_ids]
    return FaxRequests(len(listings), len(lookups), len(window))


def count_states(tis: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ti in tis:
        counts[str(ti["state"])] = counts.get(str(ti["state"]), 0) + 1
    return counts


#: States in which a wait is over (or failed): none of its task instances may reach one before the faxes are final.
ENDED = ("success", "failed", "upstream_failed", "up_for_retry", "skipped", "removed")
#: Poll intervals over which the waits' requests are counted while all 200 wait.
COUNTED_INTERVALS = 2
#: What Airflow's triggerer logs when its event loop did not come round for ``[triggerer]
#: blocked_main_thread_warning_threshold`` (0.2 s): something ran in the loop without awaiting.
BLOCKED = "Triggerer's async thread was blocked"


@dataclass
class WaitsOutcome:
    """What the many-waits run went through (see :func:`many_waits`)."""

    run_id: str
    #: The wait_for_fax task instances when all of them were deferred, and when the run was over.
    deferred: list[dict[str, Any]]
    finished: list[dict[str, Any]]
    #: The waits' requests to the simulator over COUNTED_INTERVALS poll intervals while all waited.
    requests: FaxRequests
    #: The folder of the mapped task's logs (``map_index=N/attempt=1.log`` and the triggers' logs).
    run_logs: Path
    #: What the triggerer logged from the run's start to its end.
    triggerer_log: str
    #: Seconds from the run's start (or from the faxes' completion) to each milestone.
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def many_waits(deployment: Deployment) -> WaitsOutcome:
    """Run the many-waits DAG: its 200 faxes are added IN_PROGRESS, the run is started and, once all 200
    waits are deferred and their triggers running, their polls are counted for two poll intervals; then
    the faxes are marked COMPLETED and the run is awaited. Fails as soon as a wait ends early or fails.

    Runs after the examples (this module's last tests use it), so that it has the deployment to itself.
    The run is watched through task-instance counts (the API counts; listing 200 task instances twice a
    second would keep the API server busy), its task instances listed only at the milestones.
    """
    api, sim, procs = deployment.api, deployment.simulator, deployment.procs
    fax_ids = set(deployment.wait_faxes)
    for fax_id, created_ms in deployment.wait_faxes.items():
        create_time = datetime.fromtimestamp(created_ms / 1000, tz=timezone.utc)
        sim.store.add_fax(direction="OUTBOUND", status="IN_PROGRESS", create_time=create_time, id=fax_id)
    triggerer_log_start = len(procs.log_text("triggerer"))
    timings: dict[str, float] = {}
    started = time.monotonic()
    run_id = api.trigger(WAITS_DAG)
    api.unpause(WAITS_DAG)
    run_logs = deployment.task_logs / f"dag_id={WAITS_DAG}" / f"run_id={run_id}" / "task_id=wait_for_fax"

    def waits_now() -> list[dict[str, Any]]:
        return [ti for ti in api.task_instances(WAITS_DAG, run_id) if ti["task_id"] == "wait_for_fax"]

    def fail(what: str) -> None:
        tis = waits_now()
        parts = [what, f"wait_for_fax states: {count_states(tis)}"]
        for ti in [ti for ti in tis if ti["state"] in ("failed", "upstream_failed", "up_for_retry")][:3]:
            parts.append(f"----- log of wait_for_fax[{ti['map_index']}] ({ti['state']}) -----")
            log = api.task_log(WAITS_DAG, run_id, "wait_for_fax", map_index=ti["map_index"])
            parts.append(procs.redact(log)[-4000:])
        parts.append(procs.all_log_tails())
        pytest.fail("\n".join(parts), pytrace=False)

    # Every mapped task instance pokes once and defers, until all 200 are deferred at the same time.
    def all_deferred() -> bool:
        if api.count_tis(WAITS_DAG, run_id, *ENDED):
            fail("a wait ended before its fax was final")
        return api.count_tis(WAITS_DAG, run_id, "deferred") == WAITS

    procs.wait_until(f"all {WAITS} waits to defer", all_deferred, timeout=RUN_TIMEOUT, interval=2)
    timings["all deferred"] = time.monotonic() - started
    deferred = waits_now()

    # The triggerer starts each trigger with a log file of its own next to its task's log.
    def triggers_started() -> bool:
        return len(list(run_logs.glob("map_index=*/attempt=1.log.trigger.*.log"))) == WAITS

    procs.wait_until(f"the triggerer to start all {WAITS} triggers", triggers_started, timeout=60)
    timings["all triggers running"] = time.monotonic() - started

    since = time.time()
    time.sleep(COUNTED_INTERVALS * WAIT_POLL + 0.5)
    requests = wait_requests(sim, fax_ids, since, time.time())
    if api.count_tis(WAITS_DAG, run_id, "deferred") != WAITS:
        fail("a wait ended before its fax was final")

    completed_at = time.monotonic()
    for fax_id in deployment.wait_faxes:
        sim.store.update_fax(fax_id, status="COMPLETED")

    def run_over() -> bool:
        state = api.dag_run(WAITS_DAG, run_id)["state"]
        if state == "failed" or api.count_tis(WAITS_DAG, run_id, "failed", "upstream_failed", "up_for_retry"):
            fail(f"{WAITS_DAG} run {run_id} failed")
        return bool(state == "success")

    procs.wait_until(f"all {WAITS} waits to resume and succeed", run_over, timeout=RUN_TIMEOUT, interval=2)
    timings["all resumed and succeeded"] = time.monotonic() - completed_at
    timings["total"] = time.monotonic() - started
    outcome = WaitsOutcome(
        run_id, deferred, waits_now(), requests, run_logs, procs.log_text("triggerer")[triggerer_log_start:], timings
    )
    workers = {name: sum(ti["hostname"] == name for ti in outcome.finished) for name in WORKERS}
    print(
        f"\n{WAITS} deferred waits: {', '.join(f'{k} after {v:.1f} s' for k, v in timings.items())}; "
        f"requests over {COUNTED_INTERVALS} poll intervals while all waited: {requests}; resumed on {workers}"
    )
    return outcome


def test_200_deferred_waits_share_polls_and_all_resume(deployment: Deployment, many_waits: WaitsOutcome) -> None:
    """A real triggerer holding 200 waits at once: ``FaxSensor(deferrable=True)`` mapped over 200 outbound
    faxes IN_PROGRESS. Every task instance defers after one poke; all 200 are ``deferred`` at the same
    time, their triggers run in the triggerer and share their polls (a listing or two per poll interval,
    not 200 lookups); once the faxes are COMPLETED every task resumes on a worker, in the same try, and
    returns its fax."""
    outcome = many_waits
    assert count_states(outcome.deferred) == {"deferred": WAITS}
    assert all(ti["try_number"] == 1 and ti["trigger"] for ti in outcome.deferred)
    assert len({ti["trigger"]["id"] for ti in outcome.deferred}) == WAITS, "one trigger per task instance"

    requests = outcome.requests
    assert requests.listings >= COUNTED_INTERVALS - 1, f"the waits were not polled: {requests}"
    per_interval = (requests.listings + requests.lookups) / COUNTED_INTERVALS
    assert per_interval < 20, f"the waits' polls were not shared: {requests}"

    waits = outcome.finished
    assert len(waits) == WAITS
    assert count_states(waits) == {"success": WAITS}
    assert {ti["id"] for ti in waits} == {ti["id"] for ti in outcome.deferred}
    assert all(ti["try_number"] == 1 for ti in waits), "resuming after the trigger must not be a retry"
    assert {ti["hostname"] for ti in waits} <= set(WORKERS)
    collected = deployment.api.xcom(WAITS_DAG, outcome.run_id, "collect")
    assert collected == dict.fromkeys(deployment.wait_faxes, "COMPLETED")

    # Each trigger fired its event in the triggerer, and each task resumed where it had deferred.
    trigger_logs = list(outcome.run_logs.glob("map_index=*/attempt=1.log.trigger.*.log"))
    assert len(trigger_logs) == WAITS
    for log in trigger_logs:
        # The task can resume on a worker before the triggerer's log handler has written the fired line.
        deadline = time.monotonic() + 30
        while "Trigger fired event" not in (text := log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "Trigger fired event" in text, f"{log}: {text[-2000:]}"
        assert KEY_SECRET not in text
    for ti in waits:
        task_log = (outcome.run_logs / f"map_index={ti['map_index']}" / "attempt=1.log").read_text()
        assert task_log.index("Pausing task as DEFERRED") < task_log.index("1 matching faxes"), ti["map_index"]


def test_200_waits_never_block_the_triggerer_loop(many_waits: WaitsOutcome) -> None:
    """While 200 FaxTriggers start, wait, fire and finish, the triggerer's event loop always comes round
    within Airflow's warning threshold (0.2 s): no trigger code runs without awaiting for longer."""
    blocked = [line for line in many_waits.triggerer_log.splitlines() if BLOCKED in line]
    assert not blocked, f"{len(blocked)} blocked-loop warnings in the triggerer's log:\n" + "\n".join(blocked[:10])
