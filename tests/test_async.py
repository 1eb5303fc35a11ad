"""The async transport and the triggers on it: parity with the sync client, faults, cancellation, coalescing."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_sinch.clients.fax import core
from airflow_provider_sinch.clients.fax.aio import AsyncFaxClient
from airflow_provider_sinch.clients.fax.client import FaxClient
from airflow_provider_sinch.clients.fax.vocabulary import fax_id_time, sort_newest_first
from airflow_provider_sinch.exceptions import (
    SinchAuthError,
    SinchConnectionConfigError,
    SinchConnectionError,
    SinchNotFoundError,
    SinchResponseError,
    SinchServerError,
)
from airflow_provider_sinch.hooks._credentials import TOKEN_CACHE
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_sinch.simulator.filters import create_time_bounds, format_ms, to_ms
from airflow_provider_sinch.triggers.fax import FaxTrigger, FaxWaitPoller
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json
from tests.scripted_server import Reply, ScriptedServer

if TYPE_CHECKING:
    from collections.abc import Iterator

UTC = timezone.utc
NOW = datetime.now(tz=UTC).replace(microsecond=0)
API = f"/v3/projects/{PROJECT_ID}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=3, transition_seconds=3600
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def conn(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> SimulatorServer:
    sim.store.clear()
    sim.faults.clear()
    sim.reset_requests()
    TOKEN_CACHE.clear()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url, max_retries=3, timeout=1))
    return sim


# -- parity: one core, two runners ----------------------------------------------------------------------


class FakeServer:
    """Answers the core's calls from a list of faxes as Sinch does (whole-second inclusive bounds, paging)."""

    def __init__(self, faxes: list[dict[str, Any]]) -> None:
        self.faxes = faxes
        self.calls = 0

    def answer(self, call: core.Call) -> Any:
        self.calls += 1
        if call.path.startswith("faxes/"):
            fax_id = call.path.split("/", 1)[1]
            match = next((fax for fax in self.faxes if fax["id"] == fax_id), None)
            if match is None:
                raise SinchNotFoundError(f"Sinch GET /faxes/{fax_id} answered HTTP 404", status_code=404)
            return match
        params = {k: str(v) for k, v in (call.params or {}).items()}
        lower, upper = create_time_bounds(params, to_ms(NOW))
        matching = [
            fax
            for fax in self.faxes
            if (lower is None or to_ms(_created(fax)) >= lower)
            and (upper is None or to_ms(_created(fax)) <= upper)
            and all(fax[key] == params[key] for key in ("direction", "status") if key in params)
        ]
        size, page = int(params["pageSize"]), int(params["page"])
        return {
            "faxes": matching[(page - 1) * size : page * size],
            "page": page,
            "pageSize": size,
            "totalItems": len(matching),
            "totalPages": -(-len(matching) // size),
        }


def _created(fax: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(fax["createTime"].replace("Z", "+00:00"))


class _SyncRunner(FaxClient):
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def execute(self, call: core.Call) -> Any:
        return self.server.answer(call)


class _AsyncRunner(AsyncFaxClient):
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self._concurrency = asyncio.Semaphore(4)

    async def execute(self, call: core.Call) -> Any:
        await asyncio.sleep(0)
        return self.server.answer(call)


FAXES = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 86_400_000),  # ms before NOW
        st.sampled_from(["INBOUND", "OUTBOUND"]),
        st.sampled_from(["QUEUED", "IN_PROGRESS", "COMPLETED", "FAILURE"]),
    ),
    max_size=60,
)


def _store(rows: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    faxes = []
    for index, (ago, direction, status) in enumerate(rows):
        created = format_ms(to_ms(NOW) - ago)
        faxes.append({"id": f"F{index:04d}", "createTime": created, "direction": direction, "status": status})
    return faxes[::-1]  # not newest first


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=FAXES, limit=st.integers(min_value=1, max_value=15), direction=st.sampled_from([None, "INBOUND"]))
def test_sync_and_async_runners_give_the_same_faxes(
    rows: list[tuple[int, str, str]], limit: int, direction: str | None
) -> None:
    server = FakeServer(_store(rows))
    sync, aio = _SyncRunner(server), _AsyncRunner(server)
    after = NOW - timedelta(days=2, microseconds=333)
    operations = [
        lambda: core.latest_faxes(
            limit, direction=direction, created_before=NOW + timedelta(seconds=1), first_span=timedelta(hours=6)
        ),
        lambda: core.find_matching_faxes(direction=direction, created_after=after, limit=None),
        lambda: core.find_matching_faxes(fax_ids=[f["id"] for f in server.faxes[:3]]),
        lambda: core.poll_faxes([f["id"] for f in server.faxes[:20]]),
    ]
    for make in operations:
        expected = sync.complete(make())
        got = asyncio.run(aio.run(make()))
        assert got == expected
    listed_sync = list(sync.run(core.list_faxes(created_after=after, page_size=7)))
    listed_async: list[dict[str, Any]] = []
    asyncio.run(aio.run(core.list_faxes(created_after=after, page_size=7), listed_async.extend))
    assert listed_async == listed_sync
    window = [f for f in server.faxes if _created(f) >= after]
    assert sorted(f["id"] for f in listed_sync) == sorted(f["id"] for f in window)


def test_both_clients_agree_over_http(conn: SimulatorServer) -> None:
    conn.store.seed_faxes(1500, period_ms=20 * 86_400_000, end=NOW - timedelta(days=30), seed=9)
    after = NOW - timedelta(days=60)

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        hook = SinchAsyncHook()
        try:
            return await hook.fax.list_faxes(created_after=after), await hook.fax.find_matching_faxes(limit=10)
        finally:
            await hook.aclose()

    listed, latest = asyncio.run(both())
    sync = SinchHook().fax
    assert sorted(f["id"] for f in listed) == sorted(f["id"] for f in sync.list_faxes(created_after=after))
    assert [f["id"] for f in latest] == [f["id"] for f in sync.latest_faxes(10)]
    assert [f["id"] for f in latest] == [f["id"] for f in sort_newest_first(conn.store.all_faxes())[:10]]


# -- faults on the async client: the same contract as the sync fault matrix -------------------------------


FAX_ID = "01KASYNC00000000000000000A"


@pytest.mark.parametrize(
    ("fault", "attempts", "error"),
    [
        ("429", 2, None),
        ("503", 2, None),
        ("500", 1, SinchServerError),
        ("reset", 2, None),
        ("read-timeout", 2, None),
        ("invalid-json", 1, SinchResponseError),
        ("401-empty", 1, SinchAuthError),
        ("401-expired", 2, None),
        ("403", 1, SinchAuthError),
        ("404", 1, SinchNotFoundError),
    ],
)
def test_async_fault_matrix(
    conn: SimulatorServer, monkeypatch: pytest.MonkeyPatch, fault: str, attempts: int, error: type[Exception] | None
) -> None:
    if fault == "401-expired":
        monkeypatch.setenv(
            "AIRFLOW_CONN_SINCH_DEFAULT",
            sinch_conn_json(conn.url, max_retries=3, timeout=1, auth_type="oauth2", auth_url=conn.token_url),
        )
    conn.store.add_fax(id=FAX_ID, create_time=NOW - timedelta(hours=1))
    path = f"{API}/faxes/{FAX_ID}"

    async def get() -> dict[str, Any]:
        hook = SinchAsyncHook()
        try:
            if fault == "401-expired":
                await hook.fax.get_fax(FAX_ID)  # a token, which the fault then expires
                conn.reset_requests()
                conn.expire_tokens()
            elif fault in ("429", "503", "500", "403", "404"):
                conn.faults.fail_next(1, status=int(fault), path_prefix=path, retry_after=1 if fault == "429" else None)
            elif fault == "401-empty":
                conn.faults.fail_next(1, status=401, path_prefix=path, body_shape="empty")
            elif fault == "reset":
                conn.faults.reset_connection_next(1, path_prefix=path)
            elif fault == "read-timeout":
                conn.faults.latency(1.6, path_prefix=path, n=1)
            elif fault == "invalid-json":
                conn.faults.invalid_json_next(1, path_prefix=path)
            return await hook.fax.get_fax(FAX_ID)
        finally:
            await hook.aclose()

    if error is None:
        assert asyncio.run(get())["id"] == FAX_ID
    else:
        with pytest.raises(error) as raised:
            asyncio.run(get())
        assert KEY_SECRET not in str(raised.value)
        assert f"GET {path}" in str(raised.value)
    assert conn.request_count(path, "GET") == attempts
    if fault == "read-timeout":
        time.sleep(1.0)  # the timed-out request is still answered late: let it finish before the next test


def test_async_post_is_not_repeated_on_a_timeout(conn: SimulatorServer) -> None:
    conn.faults.latency(1.6, path_prefix=f"{API}/faxes", method="POST", n=1)

    async def post() -> Any:
        hook = SinchAsyncHook()
        try:
            await hook.connect()
            return await hook.request(
                "POST", hook.fax.url("faxes"), json={"to": "+14155552671", "contentUrl": "https://example.com/a.pdf"}
            )
        finally:
            await hook.aclose()

    with pytest.raises(SinchConnectionError, match="timed out after 1.0 s.*may have acted"):
        asyncio.run(post())
    assert conn.request_count(f"{API}/faxes", "POST") == 1


def test_async_credentials_stay_with_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer() as origin, ScriptedServer("127.0.0.2") as capture:
        origin.script(f"{API}/faxes/{FAX_ID}", Reply(302, b"", {"Location": f"{capture.url}/steal"}))
        monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(origin.url))

        async def go() -> None:
            hook = SinchAsyncHook()
            try:
                with pytest.raises(SinchResponseError, match="another host"):
                    await hook.fax.get_fax(FAX_ID)
                await hook.connect()
                with pytest.raises(SinchConnectionConfigError, match="backslash"):
                    await hook.request("GET", f"http://127.0.0.2:{capture.port}\\@{origin.url.split('//')[1]}/x")
            finally:
                await hook.aclose()

        asyncio.run(go())
        assert capture.seen == [], "nothing, let alone a credential, reached the other host"


# -- the coalescing poller in one event loop ------------------------------------------------------------


def test_waits_share_their_polls_and_fire_when_final(conn: SimulatorServer) -> None:
    sent = [
        conn.store.add_fax(direction="OUTBOUND", status="IN_PROGRESS", create_time=NOW - timedelta(seconds=90 - i))[
            "id"
        ]
        for i in range(60)
    ]
    assert all(fax_id_time(fax_id) is not None for fax_id in sent), "the simulator's IDs are ULIDs, as Sinch's"

    async def scenario() -> tuple[list[Any], int, int]:
        triggers = [FaxTrigger(criteria={"fax_ids": [fax_id]}, poll_interval=0.5) for fax_id in sent]
        tasks = [asyncio.create_task(_first(trigger)) for trigger in triggers]
        await asyncio.sleep(1.3)  # about three rounds with nothing final
        poller = FaxWaitPoller.of("sinch_default")
        rounds_before, requests_before = poller.rounds, conn.request_count(f"{API}/faxes", "GET")
        for fax_id in sent:
            conn.store.update_fax(fax_id, status="COMPLETED")
        events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        await asyncio.sleep(0)
        alive = "sinch_default" in FaxWaitPoller._pollers.get(asyncio.get_running_loop(), {})
        return events, (requests_before / max(rounds_before, 1)), alive

    events, per_round, alive = asyncio.run(scenario())
    assert [e["fax_ids"] for e in events] == [[fax_id] for fax_id in sent]
    assert all(e["status"] == "success" for e in events)
    assert per_round <= 2, f"{per_round} requests per round for 60 waits"
    assert not alive, "the poller stopped when nobody waited"


def test_a_cancelled_wait_leaves_and_the_poller_stops(conn: SimulatorServer) -> None:
    ids = [conn.store.add_fax(direction="OUTBOUND", status="IN_PROGRESS", create_time=NOW)["id"] for _ in range(3)]

    async def scenario() -> tuple[int, int]:
        tasks = [asyncio.create_task(_first(FaxTrigger(criteria={"fax_ids": [i]}, poll_interval=0.2))) for i in ids]
        await asyncio.sleep(0.5)
        poller = FaxWaitPoller.of("sinch_default")
        tasks[0].cancel()
        await asyncio.sleep(0.3)
        waiting = len(poller.waits)
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.1)
        before = conn.request_count()
        await asyncio.sleep(0.6)
        return waiting, conn.request_count() - before

    waiting, after_cancel = asyncio.run(scenario())
    assert waiting == 2
    assert after_cancel == 0, "no poll after the last wait was cancelled"


def test_a_missing_fax_fails_only_its_own_wait(conn: SimulatorServer) -> None:
    done = conn.store.add_fax(direction="OUTBOUND", status="COMPLETED", create_time=NOW)["id"]

    async def scenario() -> list[Any]:
        good = FaxTrigger(criteria={"fax_ids": [done]}, poll_interval=0.2)
        missing = FaxTrigger(criteria={"fax_ids": ["01KZZZZZZZZZZZZZZZZZZZZZZZ"]}, poll_interval=0.2)
        return await asyncio.wait_for(asyncio.gather(_first(good), _first(missing)), timeout=10)

    good, missing = asyncio.run(scenario())
    assert good == {"status": "success", "fax_ids": [done]}
    assert missing["status"] == "error"
    assert "404" in missing["message"]


def test_triggers_start_no_thread_per_wait(conn: SimulatorServer) -> None:
    """No thread per wait: the only threads are the loop's default executor, where Airflow 3's async log
    methods write (so a full log pipe cannot block the loop), bounded whatever the number of waits."""
    ids = [conn.store.add_fax(direction="OUTBOUND", status="COMPLETED", create_time=NOW)["id"] for _ in range(60)]

    async def scenario() -> int:
        before = threading.active_count()
        peak = before
        tasks = [asyncio.create_task(_first(FaxTrigger(criteria={"fax_ids": [i]}, poll_interval=0.2))) for i in ids]
        while not all(task.done() for task in tasks):
            peak = max(peak, threading.active_count())
            await asyncio.sleep(0.01)
        return peak - before

    assert asyncio.run(scenario()) <= min(32, (os.cpu_count() or 1) + 4)


async def _first(trigger: FaxTrigger) -> Any:
    async for event in trigger.run():
        return event.payload
    return None
