"""FaxSensor against the simulator: poke, deferral, the same answer both ways, reschedule mode."""

from __future__ import annotations

import asyncio
import inspect
import json
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from airflow.configuration import conf

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.exceptions import SinchError
from airflow_provider_sinch.operators.fax import FaxSelectionError
from airflow_provider_sinch.sensors.fax import FaxSensor
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_sinch.triggers.fax import FaxTrigger
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json, xcom_return_value

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2.10
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

UTC = timezone.utc


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, transition_seconds=0.3)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def store(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    sim.store.clear()
    sim.faults.clear()
    sim.reset_requests()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    return sim.store


async def first_event(trigger: FaxTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def deferred_answer(sensor: FaxSensor) -> Any:
    """Run the sensor the deferred way: execute, the trigger until its event, then execute_complete."""
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, FaxTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=sensor.timeout)
    return sensor.execute_complete({}, asyncio.run(first_event(rebuilt(trigger))))


def rebuilt(trigger: FaxTrigger) -> FaxTrigger:
    """The trigger as the triggerer builds it: from its serialised kwargs, through JSON."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_sinch.triggers.fax.FaxTrigger"
    return FaxTrigger(**json.loads(json.dumps(kwargs)))


def test_poke_waits_for_a_matching_fax_and_returns_it(sim: SimulatorServer, store: Any) -> None:
    since = datetime.now(tz=UTC) - timedelta(minutes=1)
    store.add_fax(create_time=since - timedelta(minutes=5), from_number="+442071234567")  # too old
    store.add_fax(from_number="+14155550000")  # another sender
    sensor = FaxSensor(
        task_id="wait", direction="INBOUND", from_number="+4420", created_after=since, fields=["status", "from"]
    )
    assert sensor.poke({}).is_done is False
    fax = store.add_fax(from_number="+442079876543")
    result = sensor.poke({})
    assert result.is_done is True
    assert result.xcom_value == [{"id": fax["id"], "status": "COMPLETED", "from": "+442079876543"}]


def test_fax_id_waits_for_a_final_status(sim: SimulatorServer, store: Any) -> None:
    from airflow_provider_sinch.hooks.sinch import SinchHook

    [sent] = SinchHook().fax.send_fax("+15005550001", content_urls="https://example.com/a.pdf")
    sensor = FaxSensor(task_id="wait", fax_id=sent, poke_interval=0.1)  # a fax dict works too
    assert sensor.poke({}).is_done is False, "QUEUED is not final"
    time.sleep(0.4)
    result = sensor.poke({})
    assert result.is_done is True
    [fax] = result.xcom_value
    assert (fax["id"], fax["status"], fax["errorCode"]) == (sent["id"], "FAILURE", 17)


@pytest.mark.parametrize(
    "arguments",
    [
        {"direction": "INBOUND", "status": "COMPLETED", "limit": 3},
        {"direction": "OUTBOUND", "to_number": "+1"},
        {"created_after": "2026-01-01T00:00:00Z", "fields": ["status"]},
    ],
)
def test_deferred_and_poked_sensors_give_the_same_answer(sim: SimulatorServer, store: Any, arguments: dict) -> None:
    store.seed_faxes(300, seed=4)
    poked = FaxSensor(task_id="wait", **arguments).poke({})
    assert poked.is_done
    # What the deferred path runs: the trigger the sensor would defer to, then execute_complete.
    sensor = FaxSensor(task_id="wait", deferrable=True, **arguments)
    trigger = rebuilt(FaxTrigger(criteria=sensor._criteria(), poll_interval=0.1))
    assert sensor.execute_complete({}, asyncio.run(first_event(trigger))) == poked.xcom_value


def test_deferred_sensor_defers_only_when_nothing_matches_yet(sim: SimulatorServer, store: Any) -> None:
    fax = store.add_fax()
    sensor = FaxSensor(task_id="wait", direction="INBOUND", deferrable=True)
    assert [f["id"] for f in sensor.execute({})] == [fax["id"]], "already there: no trip to the triggerer"

    since = datetime.now(tz=UTC) + timedelta(seconds=1)
    waiting = FaxSensor(task_id="wait", created_after=since, deferrable=True, poke_interval=0.1, timeout=60)

    def arrive() -> None:
        time.sleep(1.5)
        store.add_fax(id="01LATECOMER")

    threading.Thread(target=arrive, daemon=True).start()
    assert [f["id"] for f in deferred_answer(waiting)] == ["01LATECOMER"]


def test_failed_trigger_event_fails_the_task() -> None:
    sensor = FaxSensor(task_id="wait", direction="INBOUND", deferrable=True)
    with pytest.raises(SinchError, match="Waiting for faxes failed: Sinch GET .* HTTP 401"):
        sensor.execute_complete({}, {"status": "error", "message": "Sinch GET /v3/projects/p/faxes answered HTTP 401"})


def test_arguments_are_checked_at_parse_time() -> None:
    with pytest.raises(FaxSelectionError, match="fax_id cannot be combined"):
        FaxSensor(task_id="bad", fax_id="01ABC", direction="INBOUND")
    with pytest.raises(FaxSelectionError, match="status='DONE' is not one of"):
        FaxSensor(task_id="bad", status="DONE")
    with pytest.raises(FaxSelectionError, match="is not a Sinch fax ID"):
        FaxSensor(task_id="bad", fax_id="not an id")
    with pytest.raises(FaxSelectionError, match="created_after='yesterday' is not an ISO 8601"):
        FaxSensor(task_id="bad", created_after="yesterday")
    FaxSensor(task_id="ok", fax_id="{{ ti.xcom_pull('send')[0] }}", created_after=None)
    FaxSensor(task_id="ok", created_after="{{ data_interval_start }}", status="{{ params.status }}")


def test_deferrable_defaults_to_the_airflow_setting() -> None:
    default = inspect.signature(FaxSensor.__init__).parameters["deferrable"].default
    assert default == conf.getboolean("operators", "default_deferrable", fallback=False)


RESCHEDULE_DAG = """
from datetime import datetime, timezone

from airflow_provider_sinch.sensors.fax import FaxSensor
from airflow_provider_sinch._compat import AIRFLOW_V_3

if AIRFLOW_V_3:
    from airflow.sdk import DAG
else:
    from airflow import DAG

with DAG("test_fax_sensor_reschedule", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    FaxSensor(
        task_id="wait_for_fax",
        direction="INBOUND",
        from_number="+4420",
        fields=["from"],
        mode="reschedule",
        poke_interval=1,
        timeout=120,
    )
"""


def test_reschedule_mode_in_a_real_dag_run(
    airflow_db: Path, dags_folder: Path, sim: SimulatorServer, store: Any
) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag

    path = dags_folder / "test_fax_sensor_reschedule.py"
    path.write_text(textwrap.dedent(RESCHEDULE_DAG))
    dag = DagBag(dag_folder=str(path)).get_dag("test_fax_sensor_reschedule")
    arrived: list[dict[str, Any]] = []

    def arrive_after_a_reschedule() -> None:
        deadline = time.monotonic() + 60
        while reschedules("test_fax_sensor_reschedule") < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        arrived.append(store.add_fax(from_number="+442071234567"))

    threading.Thread(target=arrive_after_a_reschedule, daemon=True).start()
    dag_run = dag.test()
    assert dag_run.state == "success"
    assert reschedules("test_fax_sensor_reschedule") >= 1, "the sensor gave its slot back between pokes"
    assert xcom_return_value("test_fax_sensor_reschedule", dag_run.run_id, "wait_for_fax") == [
        {"id": arrived[0]["id"], "from": "+442071234567"}
    ]


def reschedules(dag_id: str) -> int:
    """How many times tasks of ``dag_id`` were rescheduled (rows of the task_reschedule table)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskReschedule)
        if AIRFLOW_V_3:
            query = query.join(TaskInstance, TaskInstance.id == TaskReschedule.ti_id).filter(
                TaskInstance.dag_id == dag_id
            )
        else:
            query = query.filter(TaskReschedule.dag_id == dag_id)
        return int(query.count())
