"""FaxTrigger and NewFaxEventTrigger: serialisation, events against the simulator, de-duplication."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_sinch.triggers.fax import FaxTrigger, NewFaxEventTrigger
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

UTC = timezone.utc
FAXES = f"/v3/projects/{PROJECT_ID}/faxes"
needs_af3 = pytest.mark.skipif(not AIRFLOW_V_3, reason="event triggers (AssetWatcher) need Airflow 3")


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


def round_trip(trigger: Any) -> Any:
    """Rebuild a trigger from its serialised form, through JSON, as the triggerer does."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    return rebuilt


async def collect(events: AsyncIterator[Any], count: int, timeout: float) -> list[dict[str, Any]]:
    """The payloads of the first ``count`` events, or of those fired within ``timeout`` seconds."""
    payloads: list[dict[str, Any]] = []

    async def take() -> None:
        async for event in events:
            payloads.append(event.payload)
            if len(payloads) >= count:
                return

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(take(), timeout)
    return payloads


# -- FaxTrigger ----------------------------------------------------------------------------------------


def test_fax_trigger_serialises_to_json_and_back() -> None:
    trigger = FaxTrigger(
        criteria={"direction": "INBOUND", "status": None, "created_after": datetime(2026, 3, 1, 12, tzinfo=UTC)},
        sinch_conn_id="sinch_other",
        poll_interval=15,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_sinch.triggers.fax.FaxTrigger"
    assert kwargs == {
        "criteria": {"direction": "INBOUND", "created_after": "2026-03-01T12:00:00.000Z"},
        "sinch_conn_id": "sinch_other",
        "poll_interval": 15.0,
    }
    round_trip(trigger)
    assert round_trip(FaxTrigger(criteria={"fax_ids": ("A1", "B2"), "limit": None})).criteria == {
        "fax_ids": ["A1", "B2"],
        "limit": None,
    }


def test_fax_trigger_fires_once_a_matching_fax_arrives(sim: SimulatorServer, store: Any) -> None:
    since = datetime.now(tz=UTC) - timedelta(seconds=1)
    trigger = round_trip(
        FaxTrigger(criteria={"direction": "INBOUND", "from_number": "+4420", "created_after": since}, poll_interval=0.2)
    )
    store.add_fax(from_number="+14155550000")  # does not match the prefix

    async def arrive_after_the_first_poll() -> None:
        while sim.request_count(FAXES, "GET") < 1:
            await asyncio.sleep(0.01)
        store.add_fax(from_number="+442071234567", id="01WANTED")

    async def scenario() -> list[dict[str, Any]]:
        arriving = asyncio.create_task(arrive_after_the_first_poll())
        payloads = await collect(trigger.run(), 1, timeout=10)
        await arriving
        return payloads

    assert asyncio.run(scenario()) == [{"status": "success", "fax_ids": ["01WANTED"]}]
    assert sim.request_count(FAXES, "GET") >= 2, "it polled until the fax arrived"


def test_fax_trigger_event_is_the_same_after_a_restart(sim: SimulatorServer, store: Any) -> None:
    sent = [store.add_fax(direction="OUTBOUND", status=status) for status in ("COMPLETED", "FAILURE")]
    trigger = FaxTrigger(criteria={"fax_ids": [f["id"] for f in sent]}, poll_interval=0.1)
    first = asyncio.run(collect(trigger.run(), 1, timeout=10))
    again = asyncio.run(collect(round_trip(trigger).run(), 1, timeout=10))
    assert first == again == [{"status": "success", "fax_ids": [f["id"] for f in sent]}]


def test_fax_trigger_polls_without_blocking_the_event_loop(sim: SimulatorServer, store: Any) -> None:
    sim.faults.latency(0.4, path_prefix=FAXES)  # every Sinch call takes 0.4 s
    trigger = FaxTrigger(criteria={"direction": "INBOUND", "limit": 5}, poll_interval=0.05)

    async def scenario() -> float:
        lag = 0.0

        async def ticker() -> None:
            nonlocal lag
            while True:
                started = time.monotonic()
                await asyncio.sleep(0.02)
                lag = max(lag, time.monotonic() - started - 0.02)

        ticking = asyncio.create_task(ticker())
        await collect(trigger.run(), 1, timeout=2.0)  # never matches: the store is empty
        ticking.cancel()
        return lag

    assert asyncio.run(scenario()) < 0.3, "a 0.4 s Sinch call must not stall the triggerer's loop"
    assert sim.request_count(FAXES, "GET") >= 2


def test_fax_trigger_reports_sinch_errors_as_an_event(
    sim: SimulatorServer, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_BAD", sinch_conn_json(sim.url, password="wrong-secret-value"))
    trigger = FaxTrigger(criteria={"direction": "INBOUND"}, sinch_conn_id="sinch_bad", poll_interval=0.1)
    [event] = asyncio.run(collect(trigger.run(), 1, timeout=10))
    assert event["status"] == "error"
    assert "HTTP 401" in event["message"]
    assert "wrong-secret-value" not in event["message"]


# -- NewFaxEventTrigger --------------------------------------------------------------------------------


class MemoryStateStore:
    """Stands in for the triggerer's asset state store (``aget``/``aset`` of JSON values)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values.get(key, default)))

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


@needs_af3
def test_event_trigger_serialises_and_is_an_asset_watcher_trigger() -> None:
    from airflow.sdk import Asset, AssetWatcher
    from airflow.triggers.base import BaseEventTrigger

    trigger = NewFaxEventTrigger(to_number="+1415", poll_interval=30, lookback=600)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_sinch.triggers.fax.NewFaxEventTrigger"
    assert kwargs == {
        "sinch_conn_id": "sinch_default",
        "direction": "INBOUND",
        "status": "COMPLETED",
        "from_number": None,
        "to_number": "+1415",
        "service_id": None,
        "poll_interval": 30.0,
        "lookback": 600.0,
    }
    rebuilt = round_trip(trigger)
    assert isinstance(rebuilt, BaseEventTrigger)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*rebuilt.serialize())
    Asset("faxes", watchers=[AssetWatcher(name="new_fax", trigger=trigger)])
    with pytest.raises(ValueError, match="status='DONE' is not one of"):
        NewFaxEventTrigger(status="DONE")


@needs_af3
def test_event_trigger_fires_once_per_new_fax_across_polls(sim: SimulatorServer, store: Any) -> None:
    now = datetime.now(tz=UTC)
    old = store.add_fax(create_time=now - timedelta(minutes=20), from_number="+442071234567")
    newer = store.add_fax(create_time=now - timedelta(minutes=5))
    store.add_fax(create_time=now - timedelta(minutes=2), status="IN_PROGRESS", id="01RECEIVING")
    store.add_fax(create_time=now - timedelta(minutes=1), direction="OUTBOUND")
    store.add_fax(create_time=now - timedelta(hours=3))  # older than the lookback
    trigger = NewFaxEventTrigger(poll_interval=0.1, lookback=3600)

    async def scenario() -> list[dict[str, Any]]:
        events = trigger.run()
        first = await collect(events, 1, timeout=10)
        store.update_fax("01RECEIVING", status="COMPLETED")  # reception finished: it matches now
        second = await collect(events, 1, timeout=10)
        quiet = await collect(events, 1, timeout=0.6)  # several more polls: nothing is repeated
        await events.aclose()
        return first + second + quiet

    payloads = asyncio.run(scenario())
    assert [p["fax_ids"] for p in payloads] == [[old["id"], newer["id"]], ["01RECEIVING"]], "a poll's faxes, once"
    assert [f["id"] for f in payloads[0]["faxes"]] == payloads[0]["fax_ids"], "oldest first"
    assert payloads[0]["faxes"][0]["status"] == "COMPLETED"
    assert "+442071234567" not in json.dumps(payloads), "no phone numbers in events (the triggerer logs them)"


@needs_af3
def test_event_trigger_splits_a_large_burst_into_events_of_bounded_size(
    sim: SimulatorServer, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NewFaxEventTrigger, "MAX_FAXES_PER_EVENT", 4)
    now = datetime.now(tz=UTC)
    added = [store.add_fax(create_time=now - timedelta(minutes=30 - i))["id"] for i in range(10)]
    payloads = asyncio.run(collect(NewFaxEventTrigger(poll_interval=0.1).run(), 4, timeout=5))
    assert [len(p["fax_ids"]) for p in payloads] == [4, 4, 2], "10 faxes: 3 events, then nothing"
    assert [fax_id for p in payloads for fax_id in p["fax_ids"]] == added


@needs_af3
def test_event_trigger_saves_what_it_fired_one_poll_later(sim: SimulatorServer, store: Any) -> None:
    """The triggerer resumes the generator before it stores the event: saving at once could skip a fax."""
    state = MemoryStateStore()
    fax = store.add_fax(create_time=datetime.now(tz=UTC) - timedelta(minutes=3))
    trigger = NewFaxEventTrigger(poll_interval=0.2)
    trigger.asset_state_store = state

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        events = trigger.run()
        await events.__anext__()
        at_once = dict(state.values)
        await collect(events, 1, timeout=0.5)  # the next polls
        await events.aclose()
        return at_once, dict(state.values)

    at_once, later = asyncio.run(scenario())
    assert at_once == {}
    assert later == {trigger.state_key: {"seen": {fax["id"]: fax["createTime"]}}}


@needs_af3
def test_event_trigger_remembers_fired_faxes_in_the_asset_state_store(sim: SimulatorServer, store: Any) -> None:
    state = MemoryStateStore()
    first = store.add_fax(create_time=datetime.now(tz=UTC) - timedelta(minutes=3))

    async def one_poll(trigger: NewFaxEventTrigger) -> list[str]:
        trigger.asset_state_store = state  # what the triggerer injects for a watched asset (Airflow 3.3)
        await trigger.load_seen()
        fresh = [fax["id"] for fax in await trigger.poll_once(SinchAsyncHook())]
        await trigger.save_seen()
        return fresh

    before_restart = NewFaxEventTrigger(lookback=3600)
    assert asyncio.run(one_poll(before_restart)) == [first["id"]]
    assert list(state.values) == [before_restart.state_key]

    second = store.add_fax()
    after_restart = round_trip(before_restart)
    assert asyncio.run(one_poll(after_restart)) == [second["id"]], "a restarted triggerer does not repeat"

    without_store = round_trip(before_restart)
    fresh = asyncio.run(without_store.poll_once(SinchAsyncHook()))
    assert sorted(f["id"] for f in fresh) == sorted([first["id"], second["id"]]), "no store: at least once"


@needs_af3
def test_event_trigger_forgets_ids_older_than_the_lookback() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    trigger = NewFaxEventTrigger(lookback=600)
    recent = {"id": "01RECENT", "createTime": "2026-05-01T11:55:00.000Z"}
    stale = {"id": "01STALE", "createTime": "2026-05-01T11:40:00.000Z"}
    assert [f["id"] for f in trigger.new_faxes([recent, stale], now)] == ["01STALE", "01RECENT"]
    assert trigger.seen == {"01RECENT": "2026-05-01T11:55:00.000Z"}
    assert trigger.new_faxes([recent], now) == []


@needs_af3
def test_event_trigger_rides_out_sinch_outages(
    sim: SimulatorServer, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url, max_retries=0))
    fax = store.add_fax()
    sim.faults.fail_next(2, status=503, path_prefix=FAXES)
    trigger = NewFaxEventTrigger(poll_interval=0.1)
    payloads = asyncio.run(collect(trigger.run(), 1, timeout=10))
    assert [p["fax_ids"] for p in payloads] == [[fax["id"]]]


@pytest.mark.skipif(AIRFLOW_V_3, reason="checks the Airflow 2 behaviour")
def test_event_trigger_says_it_needs_airflow_3_on_airflow_2() -> None:
    with pytest.raises(RuntimeError, match="needs Airflow 3"):
        NewFaxEventTrigger()
