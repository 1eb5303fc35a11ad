"""Regression tests of the wire defects: range filters the real API ignored, and multi-recipient sends.

Each runs against the strict simulator (a query key it does not know filters nothing, as on the real API)
on data whose newest faxes are months old and whose list order is shuffled, so the default week that an
ignored range filter falls back to holds no fax at all: a filter the server did not understand shows up
as missing faxes, and the autouse check in ``tests/conftest.py`` also fails on the ignored parameter itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.clients.fax.client import sent_faxes
from airflow_provider_sinch.clients.fax.vocabulary import sort_newest_first
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.operators.fax import ListFaxesOperator
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_sinch.simulator.filters import to_ms
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json

if TYPE_CHECKING:
    from collections.abc import Iterator

UTC = timezone.utc
NOW = datetime.now(tz=UTC)
#: The newest fax of the store is this old: nothing in the default week.
NEWEST_AGE = timedelta(days=90)
#: The faxes span 300 days: the oldest is 390 days old, inside Sinch's 13-month retention.
SPAN_MS = 300 * 86_400_000


@pytest.fixture(scope="module")
def old_sim() -> Iterator[SimulatorServer]:
    """5,000 faxes over 300 days ending 90 days ago, listed in a shuffled order."""
    config = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=5, shuffle=True)
    with SimulatorServer(config) as server:
        server.store.seed_faxes(5000, period_ms=SPAN_MS, end=NOW - NEWEST_AGE, seed=5)
        yield server


@pytest.fixture
def hook(old_sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> SinchHook:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(old_sim.url))
    old_sim.reset_requests()
    return SinchHook()


def test_the_default_week_is_empty(old_sim: SimulatorServer, hook: SinchHook) -> None:
    """The premise: a listing without a range filter the server understands returns nothing here."""
    assert hook.request_json("GET", hook.fax.url("faxes"))["totalItems"] == 0


def test_latest_10_is_exact(old_sim: SimulatorServer, hook: SinchHook) -> None:
    expected = [fax["id"] for fax in sort_newest_first(old_sim.store.all_faxes())[:10]]
    result = ListFaxesOperator(task_id="latest").execute({})
    assert [fax["id"] for fax in result] == expected
    requests = old_sim.request_count(f"/v3/projects/{PROJECT_ID}/faxes", "GET")
    assert requests <= 25, f"latest 10 took {requests} requests"


def test_list_faxes_over_13_months_yields_every_fax(old_sim: SimulatorServer, hook: SinchHook) -> None:
    everything = old_sim.store.all_faxes()
    listed = list(hook.fax.list_faxes(created_after=NOW - timedelta(days=396)))
    assert len(listed) == len(everything) == 5000
    assert {fax["id"] for fax in listed} == {fax["id"] for fax in everything}


def test_incremental_backfill_of_an_interval_30_days_old_delivers_each_fax_once(
    old_sim: SimulatorServer, hook: SinchHook
) -> None:
    lag = timedelta(minutes=10)
    first_start = NOW - NEWEST_AGE - timedelta(days=30, hours=7, microseconds=123_457)
    intervals = [(first_start + timedelta(hours=12) * i, first_start + timedelta(hours=12) * (i + 1)) for i in range(4)]
    delivered: list[str] = []
    for start, end in intervals:
        context: Any = {
            "data_interval_start": start,
            "data_interval_end": end,
            "dag_run": SimpleNamespace(run_type="backfill"),
        }
        delivered += [fax["id"] for fax in ListFaxesOperator(task_id="poll", incremental=True).execute(context)]
    low, high = to_ms(intervals[0][0] - lag), to_ms(intervals[-1][1] - lag)
    expected = [f["id"] for f in old_sim.store.all_faxes() if low <= to_ms(_created(f)) < high]
    assert len(expected) >= 20, "the seeded store has faxes in those 48 hours"
    assert sorted(delivered) == sorted(expected)
    assert len(delivered) == len(set(delivered))


def _created(fax: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(fax["createTime"].replace("Z", "+00:00"))


def test_send_to_two_numbers_returns_two_faxes_with_ids(old_sim: SimulatorServer, hook: SinchHook) -> None:
    faxes = hook.fax.send_fax(["+14155552671", "+14155552672"], content_urls="https://example.com/a.pdf")
    assert [fax["to"] for fax in faxes] == ["+14155552671", "+14155552672"]
    assert all(fax["id"] for fax in faxes)
    assert len({fax["id"] for fax in faxes}) == 2
    one = hook.fax.send_fax("+14155552673", content_urls="https://example.com/a.pdf")
    assert len(one) == 1
    assert one[0]["id"]


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        ({"faxes": [{"id": "A"}, {"id": "B"}]}, ["A", "B"]),
        ({"id": "A", "to": "+14155552671"}, ["A"]),
        ([{"id": "A"}, {"id": "B"}], ["A", "B"]),
    ],
)
def test_sent_faxes_reads_every_shape_sinch_answers(body: Any, ids: list[str]) -> None:
    assert [fax["id"] for fax in sent_faxes(body)] == ids


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (None, "a JSON null"),
        ("+14155552671", "a JSON string"),
        ({"faxes": {"id": "A"}}, "'faxes' is a JSON object"),
        ({"faxes": []}, "an empty list"),
        ({"to": "+14155552671"}, "not a fax with an id"),
        ({"faxes": [{"id": "A"}, "B"]}, "1 (at [1])"),
    ],
)
def test_sent_faxes_names_the_shape_not_the_content(body: Any, named: str) -> None:
    from airflow_provider_sinch.exceptions import SinchResponseError

    with pytest.raises(SinchResponseError) as info:
        sent_faxes(body)
    assert named in str(info.value)
    assert "+14155552671" not in str(info.value)
