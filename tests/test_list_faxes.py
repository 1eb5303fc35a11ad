"""list_faxes, latest_faxes and ListFaxesOperator against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_sinch.clients.fax.vocabulary import sort_newest_first
from airflow_provider_sinch.exceptions import SinchError
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.operators.fax import FaxSelectionError, ListFaxesOperator
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json
from tests.scripted_server import Reply, ScriptedServer

if TYPE_CHECKING:
    from collections.abc import Iterator

UTC = timezone.utc
NOW = datetime.now(tz=UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=11, seed_faxes=0)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def store(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    sim.store.clear()
    sim.faults.clear()
    sim.reset_requests()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    return sim.store


def newest(faxes: list[dict[str, Any]], n: int | None = None) -> list[str]:
    return [f["id"] for f in sort_newest_first(faxes)][:n]


def list_requests(sim: SimulatorServer) -> int:
    return sim.request_count(path_prefix=f"/v3/projects/{PROJECT_ID}/faxes", method="GET")


def test_latest_10_with_shuffled_server_order(sim: SimulatorServer, store: Any) -> None:
    store.seed_faxes(3000, seed=3)
    first_page = (hook := SinchHook()).request_json(
        "GET", hook.fax.url("faxes"), params={"createTime>": "2000-01-01", "pageSize": 50}
    )
    times = [f["createTime"] for f in first_page["faxes"]]
    assert times != sorted(times, reverse=True), "the simulator must not answer newest-first"
    sim.reset_requests()
    result = ListFaxesOperator(task_id="latest").execute({})
    assert [f["id"] for f in result] == newest(store.all_faxes(), 10)
    assert list_requests(sim) <= 3
    json.dumps(result)  # what lands in XCom is plain JSON


def test_latest_10_when_newest_are_months_old(sim: SimulatorServer, store: Any) -> None:
    for i in range(40):  # nothing in the last 4 months: Sinch's default one-week list would return nothing
        store.add_fax(create_time=NOW - timedelta(days=120 + i * 3, minutes=i))
    result = ListFaxesOperator(task_id="latest", limit=10).execute({})
    assert [f["id"] for f in result] == newest(store.all_faxes(), 10)
    assert list_requests(sim) <= 10, "a handful of growing windows, not a page walk"


def test_latest_ignores_faxes_beyond_retention(sim: SimulatorServer, store: Any) -> None:
    kept = store.add_fax(create_time=NOW - timedelta(days=300))
    store.add_fax(create_time=NOW - timedelta(days=500))
    result = ListFaxesOperator(task_id="latest", limit=5).execute({})
    assert [f["id"] for f in result] == [kept["id"]]


def test_crowded_window_is_halved_not_paged(sim: SimulatorServer, store: Any) -> None:
    # 2,500 faxes in the last 20 minutes: the first 1-hour window holds three pages.
    store.seed_faxes(2500, period_ms=20 * 60 * 1000, seed=5)
    result = SinchHook().fax.latest_faxes(10)
    assert [f["id"] for f in result] == newest(store.all_faxes(), 10)
    assert list_requests(sim) <= 12


def test_filters(sim: SimulatorServer, store: Any) -> None:
    store.seed_faxes(600, period_ms=30 * 24 * 3600 * 1000, seed=9)
    everything = store.all_faxes()
    inbound_done = [f for f in everything if f["direction"] == "INBOUND" and f["status"] == "COMPLETED"]
    result = ListFaxesOperator(task_id="f", direction="inbound", status="COMPLETED", limit=None).execute({})
    assert sorted(f["id"] for f in result) == sorted(f["id"] for f in inbound_done)
    prefix = everything[0]["from"][:5]
    by_from = ListFaxesOperator(task_id="f2", from_number=prefix, limit=None).execute({})
    assert sorted(f["id"] for f in by_from) == sorted(f["id"] for f in everything if f["from"].startswith(prefix))
    to_prefix = everything[0]["to"][:6]
    by_to = ListFaxesOperator(task_id="f3", to_number=to_prefix, limit=3).execute({})
    assert [f["id"] for f in by_to] == newest([f for f in everything if f["to"].startswith(to_prefix)], 3)


def test_list_faxes_pages_through_everything(sim: SimulatorServer, store: Any) -> None:
    store.seed_faxes(330, period_ms=10 * 24 * 3600 * 1000, seed=21)
    hook = SinchHook()
    # The seeded span ends at the time of seeding (a few recent faxes are minutes old), after NOW.
    later = datetime.now(tz=UTC) + timedelta(minutes=10)
    faxes = list(hook.fax.list_faxes(created_after=NOW - timedelta(days=11), created_before=later, page_size=50))
    assert len(faxes) == 330 == len({f["id"] for f in faxes})
    assert list_requests(sim) == math.ceil(330 / 50)
    for body in hook.fax.list_fax_pages({"createTime>": "2000-01-01"}, page_size=100):
        assert set(body) >= {"faxes", "page", "totalPages", "pageSize", "totalItems"}


def test_list_faxes_window_is_half_open(sim: SimulatorServer, store: Any) -> None:
    boundary = NOW - timedelta(hours=3)
    on_start = store.add_fax(create_time=boundary - timedelta(hours=1))
    on_end = store.add_fax(create_time=boundary)
    hook = SinchHook()
    first = [f["id"] for f in hook.fax.list_faxes(created_after=boundary - timedelta(hours=1), created_before=boundary)]
    second = [
        f["id"] for f in hook.fax.list_faxes(created_after=boundary, created_before=boundary + timedelta(hours=1))
    ]
    assert first == [on_start["id"]]
    assert second == [on_end["id"]]
    query = sim.requests[-1].query
    assert query["createTime>"] == boundary.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert query["createTime<"] == (boundary + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_range_filters_are_whole_seconds_floored_and_ceiled(sim: SimulatorServer, store: Any) -> None:
    """The server sees whole-second bounds covering the window; the hook keeps exactly ``[after, before)``."""
    after = NOW - timedelta(hours=2, microseconds=-250_000)  # x.250 s
    before = NOW - timedelta(hours=1, microseconds=-500_000)  # y.500 s
    at = {
        name: store.add_fax(create_time=moment)["id"]
        for name, moment in (
            ("before_after", after - timedelta(milliseconds=1)),  # same second as the floored bound: out
            ("on_after", after),
            ("just_before_before", before - timedelta(milliseconds=1)),
            ("on_before", before),  # same second as the ceiled bound: out
        )
    }
    got = {f["id"] for f in SinchHook().fax.list_faxes(created_after=after, created_before=before)}
    assert got == {at["on_after"], at["just_before_before"]}
    query = sim.requests[-1].query
    assert query["createTime>"] == (after - timedelta(microseconds=250_000)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert query["createTime<"] == (before + timedelta(microseconds=500_000)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # The server's window held all four: the two outside [after, before) were filtered out by the hook.
    everything = (hook := SinchHook()).request_json("GET", hook.fax.url("faxes"), params={**query, "pageSize": 100})[
        "faxes"
    ]
    assert {f["id"] for f in everything} == set(at.values())


def test_list_tolerates_missing_total_pages_and_empty_page(monkeypatch: pytest.MonkeyPatch) -> None:
    fax = {"id": "A1", "createTime": "2026-01-01T00:00:00Z"}
    with ScriptedServer() as server:
        faxes = f"/v3/projects/{PROJECT_ID}/faxes"
        # Page 1 full (no totalPages), page 2 repeats a fax (shifted page) and is short: stop there.
        server.script(faxes, Reply(200, {"faxes": [fax, {**fax, "id": "A2"}]}), Reply(200, {"faxes": [fax]}))
        monkeypatch.setenv("AIRFLOW_CONN_SCRIPTED", sinch_conn_json(server.url))
        hook = SinchHook(sinch_conn_id="scripted")
        assert [f["id"] for f in hook.fax.list_faxes(page_size=2)] == ["A1", "A2"]
        server.script(faxes, Reply(200, {"faxes": [], "totalPages": 5}))
        assert list(hook.fax.list_faxes()) == []
        assert len(server.requests_to(faxes)) == 3


def test_list_yields_an_id_repeated_within_a_page_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page whose IDs are not distinct takes the per-fax path: first occurrence in the window wins."""
    early, inside = "2026-01-01T00:00:00.000Z", "2026-01-01T02:00:00.000Z"
    page = [
        {"id": "B1", "createTime": early},  # outside the window: skipped, so not yet seen
        {"id": "B1", "createTime": inside},  # the same ID again, now inside: yielded
        {"id": "B2", "createTime": inside},
        {"id": "B2", "createTime": inside},  # repeated: once
        {"createTime": inside},  # no ID: never de-duplicated
        {"createTime": inside},
    ]
    with ScriptedServer() as server:
        faxes = f"/v3/projects/{PROJECT_ID}/faxes"
        server.script(faxes, Reply(200, {"faxes": page, "totalPages": 1}))
        monkeypatch.setenv("AIRFLOW_CONN_SCRIPTED", sinch_conn_json(server.url))
        got = list(SinchHook(sinch_conn_id="scripted").fax.list_faxes(created_after="2026-01-01T01:00:00Z"))
    assert [(f.get("id"), f["createTime"]) for f in got] == [
        ("B1", inside),
        ("B2", inside),
        (None, inside),
        (None, inside),
    ]


def test_fields_keep_xcom_small(sim: SimulatorServer, store: Any) -> None:
    store.add_fax(create_time=NOW - timedelta(minutes=30), pages=3)
    result = ListFaxesOperator(task_id="f", fields=["status", "numberOfPages"]).execute({})
    assert result == [{"id": result[0]["id"], "status": "COMPLETED", "numberOfPages": 3}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "SIDEWAYS"}, "direction='SIDEWAYS' is not one of INBOUND, OUTBOUND"),
        ({"status": "DONE"}, "status='DONE' is not one of"),
        ({"limit": -1}, "limit=-1 must be a whole number >= 1"),
        ({"limit": "ten"}, "limit='ten' is not a whole number"),
        ({"created_after": "2026-02-01", "created_before": "2026-01-01"}, "must be earlier than created_before"),
        ({"created_after": "yesterday"}, "created_after='yesterday' is not an ISO 8601"),
        ({"fields": "id"}, "fields='id' must be a list"),
        ({"incremental": True, "limit": 5}, "cannot be used with incremental=True"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FaxSelectionError, match=message):
        ListFaxesOperator(task_id="bad", **kwargs)


def test_templated_bad_arguments_fail_at_run_time_with_the_same_message(store: Any) -> None:
    op = ListFaxesOperator(task_id="t", direction="{{ params.direction }}", limit="{{ params.limit }}")
    op.direction, op.limit = "SIDEWAYS", "5"  # as rendered
    with pytest.raises(FaxSelectionError, match="direction='SIDEWAYS' is not one of INBOUND, OUTBOUND"):
        op.execute({})
    op.direction, op.limit = "INBOUND", "-3"
    with pytest.raises(FaxSelectionError, match="limit='-3' must be a whole number >= 1"):
        op.execute({})


def test_no_network_in_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json("http://127.0.0.1:1"))
    op = ListFaxesOperator(task_id="quiet")
    assert "hook" not in op.__dict__


# -- incremental polling: exactly once --------------------------------------------------------------------


def run_window(start: datetime, end: datetime, **kwargs: Any) -> list[dict[str, Any]]:
    op = ListFaxesOperator(task_id="poll", incremental=True, settle_lag=timedelta(0), **kwargs)
    return op.execute({"data_interval_start": start, "data_interval_end": end})


def test_incremental_waits_for_in_progress_faxes(sim: SimulatorServer, store: Any) -> None:
    start = NOW - timedelta(hours=2)
    late = store.add_fax(create_time=start + timedelta(minutes=5), status="IN_PROGRESS")
    store.add_fax(create_time=start + timedelta(minutes=6))
    with pytest.raises(SinchError, match="1 of 2 faxes .* still QUEUED or IN_PROGRESS"):
        run_window(start, start + timedelta(hours=1), settle_timeout=timedelta(0))
    store.update_fax(late["id"], status="COMPLETED")
    delivered = run_window(start, start + timedelta(hours=1), settle_timeout=timedelta(0))
    assert len(delivered) == 2


def test_incremental_status_filter_applies_after_settling(sim: SimulatorServer, store: Any) -> None:
    start = NOW - timedelta(hours=2)
    late = store.add_fax(create_time=start + timedelta(minutes=5), status="IN_PROGRESS")
    store.update_fax(late["id"], status="COMPLETED")
    assert [f["id"] for f in run_window(start, start + timedelta(hours=1), status="COMPLETED")] == [late["id"]]


def test_incremental_refuses_a_window_in_the_future(store: Any) -> None:
    with pytest.raises(FaxSelectionError, match="ends in the future"):
        run_window(NOW, NOW + timedelta(hours=1))


def test_incremental_empty_interval_delivers_nothing(sim: SimulatorServer, store: Any) -> None:
    store.add_fax(create_time=NOW - timedelta(minutes=1))
    assert run_window(NOW, NOW) == []
    manual = ListFaxesOperator(task_id="poll", incremental=True)
    assert manual.execute({"data_interval_start": None, "data_interval_end": None}) == []
    assert list_requests(sim) == 0


def test_incremental_scheduled_run_without_interval_fails_clearly(store: Any) -> None:
    """Airflow 3's CronTriggerTimetable gives scheduled runs no interval: say so instead of delivering nothing."""

    class ScheduledRun:
        run_type = "scheduled"

    op = ListFaxesOperator(task_id="poll", incremental=True, settle_lag=timedelta(0))
    context = {"data_interval_start": NOW, "data_interval_end": NOW, "dag_run": ScheduledRun()}
    with pytest.raises(
        FaxSelectionError, match="no data interval .or a zero-length one. on a scheduled run.*CronDataIntervalTimetable"
    ):
        op.execute(context)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=6 * 3600 * 1000), min_size=1, max_size=40),
    ties=st.lists(st.integers(min_value=0, max_value=5), max_size=8),
    late=st.lists(st.booleans(), max_size=40),
    interval_minutes=st.sampled_from([7, 15, 60]),
)
def test_incremental_delivers_every_fax_exactly_once(
    sim: SimulatorServer,
    store: Any,
    offsets: list[int],
    ties: list[int],
    late: list[bool],
    interval_minutes: int,
) -> None:
    """Consecutive runs (with retries of runs that met unfinished faxes) deliver each fax once."""
    store.clear()
    base = NOW - timedelta(hours=8)
    interval = timedelta(minutes=interval_minutes)
    # Faxes exactly on run boundaries, faxes sharing a createTime, and faxes that finish late.
    boundary_ms = [int(interval.total_seconds() * 1000) * t for t in ties]
    created = [base + timedelta(milliseconds=ms) for ms in offsets + boundary_ms + offsets[:3]]
    ids = []
    pending = []
    for i, when in enumerate(created):
        is_late = i < len(late) and late[i]
        fax = store.add_fax(create_time=when, status="IN_PROGRESS" if is_late else "COMPLETED")
        ids.append(fax["id"])
        if is_late:
            pending.append(fax["id"])
    delivered: list[str] = []
    start = base
    while start < base + timedelta(hours=7):
        end = start + interval
        try:
            delivered += [f["id"] for f in run_window(start, end, settle_timeout=timedelta(0))]
        except SinchError:
            # The run met faxes still in progress and delivered nothing; they finish, the task is retried.
            for fax_id in pending:
                store.update_fax(fax_id, status="COMPLETED")
            delivered += [f["id"] for f in run_window(start, end, settle_timeout=timedelta(0))]
        start = end
    assert sorted(delivered) == sorted(ids)
