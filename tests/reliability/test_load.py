"""Load: 20 concurrent polling and downloading tasks (threads) against a rate-limited simulator.

Each task is what a mapped DAG would run: ``ListFaxesOperator(incremental=True)`` for its own interval,
then ``DownloadFaxOperator`` for every fax it delivered. The same workload first runs against an
unlimited simulator, which gives the minimum number of requests; then against a simulator allowing
``RATE`` requests per second per key (a token bucket, 429 without ``Retry-After`` beyond it), with the
connection's ``rate_limit`` set to the same rate. Every task must succeed, every fax be stored once with
the right bytes, the whole run make at most 10% more requests than the minimum, and the 20 tasks share
one OAuth2 token.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.hooks._http import TOKEN_CACHE
from airflow_provider_sinch.operators.fax import DownloadFaxOperator, ListFaxesOperator
from airflow_provider_sinch.simulator import SimulatorConfig
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json
from tests.reliability.conftest import start_recorded_simulator
from tests.reliability.report import check_or_write_section, table

if TYPE_CHECKING:
    from pathlib import Path

    from tests.reliability.conftest import RecordedSimulator

UTC = timezone.utc
TASKS = 20
FAXES_PER_TASK = 4
RATE = 25.0
BASE = datetime.now(tz=UTC).replace(second=0, microsecond=0) - timedelta(days=1)
RESULTS: dict[str, Any] = {}


def run_workload(sim: RecordedSimulator, folder: Path, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> dict[str, Any]:
    """Seed the faxes, run the 20 tasks at once, and return what happened."""
    TOKEN_CACHE.clear()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SINCH_DEFAULT",
        sinch_conn_json(sim.url, auth_type="oauth2", auth_url=sim.server.token_url, max_retries=8, **extra),
    )
    contents: dict[str, bytes] = {}
    for index in range(TASKS):
        for k in range(FAXES_PER_TASK):
            content = b"%PDF-1.4\n" + f"task {index} fax {k}\n".encode() * 200
            created = BASE + timedelta(minutes=index, seconds=7 * k)
            fax = sim.server.store.add_fax(create_time=created, file_bytes=content)
            contents[fax["id"]] = content
    errors: list[str] = []
    stored: list[str] = []
    lock = threading.Lock()

    def task(index: int) -> None:
        start = BASE + timedelta(minutes=index)
        if not AIRFLOW_V_3:  # Airflow 2's execute() guard keeps a thread-local set up in the main thread only
            from airflow.models.baseoperator import ExecutorSafeguard

            ExecutorSafeguard._sentinel.callers = {}
        try:
            context: Any = {"data_interval_start": start, "data_interval_end": start + timedelta(minutes=1)}
            poll = ListFaxesOperator(task_id=f"poll_{index}", incremental=True, settle_lag=timedelta(0))
            listed = poll.execute(context)
            for fax in listed:
                DownloadFaxOperator(task_id=f"download_{index}", fax_id=fax["id"], destination=str(folder)).execute({})
                with lock:
                    stored.append(fax["id"])
        except Exception as exc:
            with lock:
                errors.append(f"task {index}: {exc!r}")

    sim.recorder.reset()
    threads = [threading.Thread(target=task, args=(i,)) for i in range(TASKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = Counter(sim.recorder.statuses("/v3/"))
    return {
        "errors": errors,
        "stored": stored,
        "contents": contents,
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "tokens": sim.server.token_requests,
    }


def test_twenty_concurrent_tasks_on_a_rate_limited_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=4)
    unlimited = start_recorded_simulator(base)
    try:
        minimum = run_workload(unlimited, tmp_path / "unlimited", monkeypatch)
    finally:
        unlimited.server.stop()
    assert not minimum["errors"], minimum["errors"]
    assert set(minimum["statuses"]) == {200}

    limited_config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=4, oauth_rate_limit=RATE
    )
    limited = start_recorded_simulator(limited_config)
    try:
        loaded = run_workload(limited, tmp_path / "limited", monkeypatch, rate_limit=RATE)
    finally:
        limited.server.stop()

    assert not loaded["errors"], loaded["errors"]
    assert Counter(loaded["stored"]) == Counter(set(loaded["contents"])), "every fax stored exactly once"
    for fax_id, content in loaded["contents"].items():
        assert (tmp_path / "limited" / f"{fax_id}.pdf").read_bytes() == content
    assert set(loaded["statuses"]) <= {200, 429}
    assert loaded["tokens"] == 1, "the 20 tasks share one OAuth2 token"
    assert loaded["requests"] <= 1.1 * minimum["requests"], (loaded["requests"], minimum["requests"])
    RESULTS.update(minimum=minimum["requests"], loaded=loaded)


def test_load_table_is_current() -> None:
    if not RESULTS:
        pytest.skip("the load test did not run in this session")
    rows = [
        ["concurrent tasks (threads), each polling its interval then downloading its faxes", str(TASKS)],
        ["faxes stored (each exactly once, bytes checked)", str(len(RESULTS["loaded"]["stored"]))],
        ["minimum requests (the same workload, no rate limit)", str(RESULTS["minimum"])],
        ["simulator's rate limit, and the connection's `rate_limit`", f"{RATE:g} requests/s per key"],
        ["allowed requests under the limit (minimum + 10%)", str(int(1.1 * RESULTS["minimum"]))],
        ["failed tasks, unhandled 429s", "0"],
        ["OAuth2 token requests", "1"],
    ]
    check_or_write_section("load", table(["load", "value"], rows))
