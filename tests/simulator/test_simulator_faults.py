"""Fault injection: failures, fractions, latency, dropped connections, truncation, bad JSON."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import requests

from .conftest import AUTH

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sinch.simulator import SimulatorServer


def test_fail_next_with_shapes_and_filters(sim: SimulatorServer, http: requests.Session) -> None:
    faxes = f"{sim.api_base}/faxes"
    sim.faults.fail_next(2, status=503)
    first, second, third = (http.get(faxes) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.json() == {
        "code": 503, "status": "UNAVAILABLE", "message": "Injected fault: Service Unavailable", "details": []
    }  # fmt: skip
    sim.faults.fail_next(1, status=429, retry_after=2, body_shape="docs")
    throttled = http.get(faxes)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["code"] == "429"
    sim.faults.fail_next(1, status=502, body_shape="html")
    assert http.get(faxes).headers["content-type"].startswith("text/html")
    sim.faults.fail_next(1, status=500, body_shape="empty")
    assert http.get(faxes).content == b""
    # Narrowed rules leave other paths and methods alone.
    sim.faults.fail_next(1, status=503, path_prefix=f"/v3/projects/{sim.config.project_id}/services", method="GET")
    assert http.get(faxes).status_code == 200
    assert http.post(f"{sim.api_base}/services").status_code == 405
    assert http.get(f"{sim.api_base}/services").status_code == 503
    assert sim.request_count(path_prefix="/v3", method="GET") == 8
    assert [r.status for r in sim.requests][-3:] == [200, 405, 503]
    sim.faults.fail_next(3)
    sim.faults.clear()
    assert http.get(faxes).status_code == 200


def test_fail_fraction_is_seeded(start_sim: Callable[..., SimulatorServer]) -> None:
    def run() -> list[int]:
        sim = start_sim()
        sim.faults.fail_fraction(0.3, status=500, seed=11)
        with requests.Session() as session:
            session.auth = AUTH
            return [session.get(f"{sim.api_base}/services").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 4 <= first.count(500) <= 20


def test_latency(sim: SimulatorServer, http: requests.Session) -> None:
    sim.faults.latency(0.6, n=1)
    started = time.perf_counter()
    http.get(f"{sim.api_base}/services")
    assert time.perf_counter() - started >= 0.6
    started = time.perf_counter()
    http.get(f"{sim.api_base}/services")
    assert time.perf_counter() - started < 0.6


def test_reset_connection_mid_response(sim: SimulatorServer, http: requests.Session) -> None:
    sim.store.add_fax()
    sim.faults.reset_connection_next(1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(f"{sim.api_base}/faxes")
    assert http.get(f"{sim.api_base}/faxes").status_code == 200
    assert sim.faults.injected == 1


def test_truncated_download(sim: SimulatorServer, http: requests.Session) -> None:
    fax = sim.store.add_fax(file_size=3_000_000)
    sim.faults.truncate_download_next(1)
    # A JSON call in between is not a download and does not use up the rule.
    assert http.get(f"{sim.api_base}/faxes/{fax['id']}").status_code == 200
    received = 0

    def read_all(response: requests.Response) -> None:
        nonlocal received
        for chunk in response.iter_content(65536):
            received += len(chunk)

    with http.get(f"{sim.api_base}/faxes/{fax['id']}/file", stream=True) as response:
        assert response.headers["content-length"] == "3000000"
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            read_all(response)
    assert 0 < received < 3_000_000
    assert len(http.get(f"{sim.api_base}/faxes/{fax['id']}/file").content) == 3_000_000


def test_invalid_json(sim: SimulatorServer, http: requests.Session) -> None:
    sim.faults.invalid_json_next(1)
    response = http.get(f"{sim.api_base}/services")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert http.get(f"{sim.api_base}/services").json()["totalItems"] == 1
