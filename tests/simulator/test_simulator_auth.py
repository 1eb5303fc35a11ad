"""Basic and OAuth2 auth, token expiry, empty-body 401s and the separate rate limits."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import requests

from .conftest import AUTH

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sinch.simulator import SimulatorServer


def get_token(sim: SimulatorServer, auth: tuple[str, str] = AUTH) -> requests.Response:
    return requests.post(sim.token_url, data={"grant_type": "client_credentials"}, auth=auth)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_oauth_token_and_expiry(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(token_ttl=1.5)
    response = get_token(sim)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    assert sim.token_requests == 1
    ok = requests.get(f"{sim.api_base}/faxes", headers=bearer(body["access_token"]))
    assert ok.status_code == 200
    assert sim.requests[-1].auth == "bearer"
    time.sleep(1.6)
    expired = requests.get(f"{sim.api_base}/faxes", headers=bearer(body["access_token"]))
    assert expired.status_code == 401
    assert expired.content == b""
    assert "expired" in expired.headers["WWW-Authenticate"]
    fresh = get_token(sim).json()["access_token"]
    assert requests.get(f"{sim.api_base}/services", headers=bearer(fresh)).status_code == 200
    sim.expire_tokens()
    again = requests.get(f"{sim.api_base}/services", headers=bearer(fresh))
    assert again.status_code == 401
    assert "expired" in again.headers["WWW-Authenticate"]
    assert sim.token_requests == 2


def test_token_endpoint_rejects_bad_requests(sim: SimulatorServer) -> None:
    assert get_token(sim, ("test-key-id", "wrong")).status_code == 401
    wrong_grant = requests.post(sim.token_url, data={"grant_type": "password"}, auth=AUTH)
    assert wrong_grant.status_code == 400
    by_form = requests.post(
        sim.token_url,
        data={"grant_type": "client_credentials", "client_id": AUTH[0], "client_secret": AUTH[1]},
    )
    assert by_form.status_code == 200
    assert sim.token_requests == 1


def test_auth_failures_are_empty_401s(sim: SimulatorServer) -> None:
    cases = [
        {"auth": ("test-key-id", "wrong-secret")},
        {"auth": ("other-key", "test-key-secret")},
        {},
        {"headers": {"Authorization": "Bearer never-issued"}},
        {"headers": {"Authorization": "Basic !!!"}},
        {"headers": {"Authorization": "Digest abc"}},
    ]
    for kwargs in cases:
        response = requests.get(f"{sim.api_base}/faxes", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 401, kwargs
        assert response.content == b"", kwargs
    unknown = requests.get(f"{sim.api_base}/faxes", headers={"Authorization": "Bearer never-issued"})
    assert "expired" not in unknown.headers.get("WWW-Authenticate", "")
    wrong_project = requests.get(f"{sim.url}/v3/projects/other-project/faxes", auth=AUTH)
    assert wrong_project.status_code == 401
    assert wrong_project.content == b""
    assert [r.status for r in sim.requests] == [401] * 8
    assert sim.requests[1].auth == "basic"
    assert sim.requests[2].auth is None


def test_rate_limits_are_separate_for_basic_and_oauth(start_sim: Callable[..., SimulatorServer]) -> None:
    # One request per 10 s: nothing refills while the test runs, however slow the machine.
    sim = start_sim(basic_rate_limit=0.1, oauth_rate_limit=0.1)
    token = get_token(sim).json()["access_token"]
    with requests.Session() as basic, requests.Session() as oauth:
        basic.auth = AUTH
        oauth.headers.update(bearer(token))
        basic_codes = [basic.get(f"{sim.api_base}/services").status_code for _ in range(3)]
        oauth_codes = [oauth.get(f"{sim.api_base}/services").status_code for _ in range(3)]
        assert basic_codes == [200, 429, 429]
        assert oauth_codes == [200, 429, 429], "Basic use must not drain the OAuth bucket"
        limited = basic.get(f"{sim.api_base}/services")
        assert limited.status_code == 429
        assert "Retry-After" not in limited.headers
        assert limited.json()["status"] == "RESOURCE_EXHAUSTED"
    assert sim.token_requests == 1, "the token endpoint is not rate limited"


def test_rate_limit_bucket_refills(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(basic_rate_limit=1)
    with requests.Session() as basic:
        basic.auth = AUTH
        assert basic.get(f"{sim.api_base}/services").status_code == 200
        assert basic.get(f"{sim.api_base}/services").status_code == 429
        time.sleep(1.1)
        assert basic.get(f"{sim.api_base}/services").status_code == 200


def test_rate_limit_retry_after_when_configured(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(basic_rate_limit=1, retry_after_on_429=True)
    codes = [requests.get(f"{sim.api_base}/services", auth=AUTH) for _ in range(2)]
    assert codes[0].status_code == 200
    assert codes[1].status_code == 429
    assert int(codes[1].headers["Retry-After"]) >= 1
