"""SinchHook against a real HTTP server on 127.0.0.1: auth, OAuth2 tokens, retries, errors, safety."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import time
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_sinch.exceptions import (
    SinchAuthError,
    SinchConnectionConfigError,
    SinchConnectionError,
    SinchInsecureTransportError,
    SinchInvalidRequestError,
    SinchNotFoundError,
    SinchRateLimitError,
    SinchServerError,
)
from airflow_provider_sinch.hooks._http import TOKEN_CACHE
from airflow_provider_sinch.hooks.sinch import SinchHook
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json
from tests.scripted_server import Reply, ScriptedServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

API = f"/v3/projects/{PROJECT_ID}/"
FAXES = API + "faxes"
EMPTY_LIST = {"faxes": [], "page": 1, "totalPages": 1, "pageSize": 1, "totalItems": 0}
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    TOKEN_CACHE.clear()
    with ScriptedServer() as srv:
        srv.default(FAXES, Reply(200, EMPTY_LIST))
        yield srv
    TOKEN_CACHE.clear()


def make_hook(monkeypatch: pytest.MonkeyPatch, host: str, conn_id: str = "sinch_test", **extra: object) -> SinchHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", sinch_conn_json(host, **extra))
    return SinchHook(sinch_conn_id=conn_id)


def token_reply(token: str, expires_in: int = 3600) -> Reply:
    return Reply(200, {"access_token": token, "expires_in": expires_in, "scope": "", "token_type": "bearer"})


def test_basic_auth_header_on_every_call(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, server.url)
    for _ in range(3):
        assert hook.request_json("GET", hook.fax.url("faxes"), params={"pageSize": 1}) == EMPTY_LIST
    seen = server.requests_to(FAXES)
    assert len(seen) == 3
    assert all(s.headers.get("Authorization") == BASIC for s in seen)
    assert hook.get_conn() is hook.get_conn(), "one session per hook"


def test_oauth2_one_token_for_many_calls(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default("/oauth2/token", token_reply("tok-AAA-111"))
    hook = make_hook(monkeypatch, server.url, auth_type="oauth2", auth_url=server.url + "/oauth2/token")
    for _ in range(20):
        hook.request("GET", hook.fax.url("faxes"))
    token_calls = server.requests_to("/oauth2/token")
    assert len(token_calls) == 1
    assert token_calls[0].headers["Authorization"] == BASIC, "key ID/secret as Basic on the token call"
    assert b"grant_type=client_credentials" in token_calls[0].body
    api_calls = server.requests_to(FAXES)
    assert {s.headers["Authorization"] for s in api_calls} == {"Bearer tok-AAA-111"}


def test_oauth2_token_renewed_near_expiry(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # expires_in=2 s: renewed after half its life (margin is min(60 s, expires_in / 2)).
    server.script("/oauth2/token", token_reply("tok-1", expires_in=2), token_reply("tok-2", expires_in=2))
    hook = make_hook(monkeypatch, server.url, auth_type="oauth2", auth_url=server.url + "/oauth2/token")
    hook.request("GET", hook.fax.url("faxes"))
    hook.request("GET", hook.fax.url("faxes"))
    time.sleep(1.1)
    hook.request("GET", hook.fax.url("faxes"))
    assert [s.headers["Authorization"] for s in server.requests_to(FAXES)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_oauth2_401_expired_refreshes_and_retries_once(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.script("/oauth2/token", token_reply("tok-old"), token_reply("tok-new"))
    expired = Reply(401, None, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'})
    server.script(FAXES, expired)
    hook = make_hook(monkeypatch, server.url, auth_type="oauth2", auth_url=server.url + "/oauth2/token")
    assert hook.request_json("GET", hook.fax.url("faxes")) == EMPTY_LIST
    assert [s.headers["Authorization"] for s in server.requests_to(FAXES)] == ["Bearer tok-old", "Bearer tok-new"]
    assert len(server.requests_to("/oauth2/token")) == 2


def test_oauth2_401_expired_twice_is_an_auth_error(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default("/oauth2/token", lambda seen: token_reply(f"tok-{time.monotonic_ns()}"))
    expired = Reply(401, None, {"WWW-Authenticate": "Bearer expired"})
    server.script(FAXES, expired, expired, expired)
    hook = make_hook(monkeypatch, server.url, auth_type="oauth2", auth_url=server.url + "/oauth2/token")
    with pytest.raises(SinchAuthError, match="key ID and key secret"):
        hook.request("GET", hook.fax.url("faxes"))
    assert len(server.requests_to(FAXES)) == 2, "retried exactly once"


def test_oauth2_token_refused(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default("/oauth2/token", Reply(401, None))
    hook = make_hook(monkeypatch, server.url, auth_type="oauth2", auth_url=server.url + "/oauth2/token")
    with pytest.raises(SinchAuthError, match="OAuth2 token request"):
        hook.request("GET", hook.fax.url("faxes"))
    assert server.requests_to(FAXES) == []


def test_429_retry_after_seconds_then_success(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.script(FAXES, Reply(429, None, {"Retry-After": "1"}), Reply(429, None, {"Retry-After": "0"}))
    hook = make_hook(monkeypatch, server.url)
    started = time.monotonic()
    assert hook.request_json("GET", hook.fax.url("faxes")) == EMPTY_LIST
    assert time.monotonic() - started >= 0.9, "Retry-After: 1 was honoured"
    assert len(server.requests_to(FAXES)) == 3


def test_429_retry_after_http_date(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.script(FAXES, Reply(429, None, {"Retry-After": when}))
    hook = make_hook(monkeypatch, server.url)
    started = time.monotonic()
    hook.request("GET", hook.fax.url("faxes"))
    assert time.monotonic() - started >= 0.5
    assert len(server.requests_to(FAXES)) == 2


def test_429_without_retry_after_backs_off_then_typed_error(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server.default(FAXES, Reply(429, {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Too many"}))
    hook = make_hook(monkeypatch, server.url, max_retries=2)
    with caplog.at_level(logging.WARNING), pytest.raises(SinchRateLimitError) as err:
        hook.request("GET", hook.fax.url("faxes"))
    assert len(server.requests_to(FAXES)) == 3, "1 try + max_retries=2"
    assert err.value.status_code == 429
    assert err.value.waited > 0
    assert "rate limited after 2 retries" in str(err.value)
    assert "oauth2" in str(err.value)


def test_total_wait_cap_stops_retrying(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default(FAXES, Reply(429, None, {"Retry-After": "30"}))
    hook = make_hook(monkeypatch, server.url, max_retries=5, max_retry_wait=1)
    started = time.monotonic()
    with pytest.raises(SinchRateLimitError):
        hook.request("GET", hook.fax.url("faxes"))
    assert time.monotonic() - started < 5
    assert len(server.requests_to(FAXES)) == 1


def test_503_retried_for_get(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.script(FAXES, Reply(503, None), Reply(502, None))
    hook = make_hook(monkeypatch, server.url)
    assert hook.request_json("GET", hook.fax.url("faxes")) == EMPTY_LIST
    assert len(server.requests_to(FAXES)) == 3


def test_post_not_repeated_on_503(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.script(FAXES, Reply(503, {"code": 503, "status": "UNAVAILABLE", "message": "busy"}))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(SinchServerError, match="HTTP 503"):
        hook.fax.send_fax("+14155552671", content_urls="https://example.com/a.pdf")
    assert [s.method for s in server.requests_to(FAXES)] == ["POST"]


def test_post_repeated_on_429(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    created = {"id": "01HDF5S9P29WC29J578J8EKC1C", "to": "+14155552671", "status": "QUEUED"}
    server.script(FAXES, Reply(429, None, {"Retry-After": "0"}), Reply(200, created))
    hook = make_hook(monkeypatch, server.url)
    assert hook.fax.send_fax("+14155552671", content_urls="https://example.com/a.pdf") == [created]
    posts = server.requests_to(FAXES)
    assert [s.method for s in posts] == ["POST", "POST"]
    assert json.loads(posts[1].body) == {"to": "+14155552671", "contentUrl": "https://example.com/a.pdf"}


def test_timeout_is_honoured(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default(FAXES, Reply(200, EMPTY_LIST, delay=3))
    hook = make_hook(monkeypatch, server.url, timeout="0.3", max_retries=1)
    started = time.monotonic()
    with pytest.raises(SinchConnectionError, match="timed out after 0.3 s"):
        hook.request("GET", hook.fax.url("faxes"))
    assert time.monotonic() - started < 2.5
    assert len(server.requests_to(FAXES)) == 2, "a GET read timeout is retried"


def test_session_used_directly_still_has_a_timeout(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.default(FAXES, Reply(200, EMPTY_LIST, delay=3))
    hook = make_hook(monkeypatch, server.url, timeout=0.3, max_retries=0)
    with pytest.raises(requests.ConnectionError):
        hook.get_conn().get(server.url + FAXES)


@pytest.mark.parametrize(
    ("host", "extra"),
    [
        ("http://fax.example.com", {}),
        ("http://10.1.2.3:8080", {}),
        ("https://fax.api.sinch.com", {"auth_type": "oauth2", "auth_url": "http://auth.example.com/oauth2/token"}),
    ],
)
def test_plain_http_to_remote_host_refused(monkeypatch: pytest.MonkeyPatch, host: str, extra: dict[str, str]) -> None:
    hook = make_hook(monkeypatch, host, **extra)
    with pytest.raises(SinchInsecureTransportError, match="only https is allowed"):
        hook.request("GET", hook.fax.url("faxes"))


@pytest.mark.parametrize("host", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "127.0.0.2:1"])
def test_plain_http_to_loopback_allowed(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    hook = make_hook(monkeypatch, host, max_retries=0)
    assert hook.fax.base_url.startswith("http://")
    with pytest.raises(SinchConnectionError):  # nothing listens there, but the transport check passed
        hook.request("GET", hook.fax.url("faxes"))


def test_absolute_urls(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, server.url)
    assert hook.fax.url("faxes/ABC") == f"{server.url}{API}faxes/ABC"
    assert hook.url_for("/v1/projects/{project_id}/numbers") == f"{server.url}/v1/projects/{PROJECT_ID}/numbers"
    numbers = "https://numbers.api.sinch.com/v1/projects/{project_id}/activeNumbers"
    assert hook.url_for(numbers) == f"https://numbers.api.sinch.com/v1/projects/{PROJECT_ID}/activeNumbers"
    with pytest.raises(SinchConnectionConfigError, match="Refusing to send Sinch credentials"):
        hook.url_for("https://evil.example.com/steal")


def test_each_api_has_its_own_host_unless_the_connection_names_one(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, "", conversation_region="eu")
    assert hook.fax.base_url == f"https://fax.api.sinch.com/v3/projects/{PROJECT_ID}/"
    assert hook.conversation.base_url == f"https://eu.conversation.api.sinch.com/v1/projects/{PROJECT_ID}/"
    with pytest.raises(SinchConnectionConfigError, match="names no host"):
        hook.url_for("/v1/projects/{project_id}/numbers")
    local = make_hook(monkeypatch, "http://127.0.0.1:8080")
    assert local.fax.base_url == f"http://127.0.0.1:8080/v3/projects/{PROJECT_ID}/"
    assert local.conversation.base_url == f"http://127.0.0.1:8080/v1/projects/{PROJECT_ID}/"


def test_error_shapes_are_parsed(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    violation = {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": "Bad request.",
        "details": [
            {"type": "BadRequest", "fieldViolations": [{"field": "to", "description": "Phone number was bad."}]}
        ],
    }
    server.script(FAXES + "/", Reply(404, {"code": "404", "error": "Not Found", "message": "Fax not found"}))
    server.script(FAXES, Reply(400, violation), Reply(401, None), Reply(403, None))
    hook = make_hook(monkeypatch, server.url)
    with pytest.raises(SinchNotFoundError) as nf:
        hook.fax.get_fax("01HDF5S9P29WC29J578J8EKC1C")
    assert (nf.value.status_code, nf.value.sinch_code, nf.value.sinch_message) == (404, "404", "Fax not found")
    with pytest.raises(SinchInvalidRequestError) as bad:
        hook.request("GET", hook.fax.url("faxes"))
    assert bad.value.field_violations == [{"field": "to", "description": "Phone number was bad."}]
    assert "to: Phone number was bad." in str(bad.value)
    with pytest.raises(SinchAuthError, match=f"project ID '{PROJECT_ID}'") as unauthorized:
        hook.request("GET", hook.fax.url("faxes"))
    assert unauthorized.value.sinch_code is None
    with pytest.raises(SinchAuthError, match="no access"):
        hook.request("GET", hook.fax.url("faxes"))


def test_test_connection(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, server.url)
    ok, message = hook.test_connection()
    assert ok, message
    assert "pageSize=1" in server.requests_to(FAXES)[-1].path
    server.script(FAXES, Reply(401, None))
    ok, message = hook.test_connection()
    assert not ok
    assert "key ID and key secret" in message
    assert KEY_SECRET not in message


def test_secrets_never_in_logs_or_errors(
    server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token = "tok-SECRET-zz-9817"
    server.default("/oauth2/token", token_reply(token))
    server.script(FAXES, Reply(429, None, {"Retry-After": "0"}), Reply(503, None), Reply(500, {"message": "boom"}))
    hook = make_hook(monkeypatch, server.url, auth_type="oauth2", auth_url=server.url + "/oauth2/token")
    messages = []
    with caplog.at_level(logging.DEBUG):
        try:
            hook.request("GET", hook.fax.url("faxes"))
        except Exception as exc:
            messages.append(str(exc) + repr(exc))
        messages.append(repr(hook.settings) + repr(hook._auth))
    out, err = capfd.readouterr()
    blob = "\n".join([caplog.text, out, err, *messages])
    assert "Sinch GET" in blob, "the retries were logged"
    for secret in (KEY_SECRET, token, BASIC.split()[1]):
        assert secret not in blob


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        ({"login": ""}, "missing Key ID"),
        ({"password": ""}, "missing Key Secret"),
        ({"project_id": ""}, "Project ID"),
        ({"auth_type": "digest"}, "auth_type='digest' is not one of basic, oauth2"),
        ({"timeout": "abc"}, "'timeout'='abc' is not a number"),
        ({"timeout": "0"}, "must be > 0"),
        ({"max_retries": "many"}, "'max_retries'='many' is not a number"),
        ({"max_retries": "-1"}, "must be >= 0"),
    ],
)
def test_bad_connections_have_clear_errors(monkeypatch: pytest.MonkeyPatch, conn: dict[str, str], message: str) -> None:
    hook = make_hook(monkeypatch, "http://127.0.0.1:1", **conn)
    with pytest.raises(SinchConnectionConfigError, match=message) as err:
        hook.request("GET", hook.fax.url("faxes"))
    assert KEY_SECRET not in str(err.value)


def test_env_var_uri_connection_coerces_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SINCH_URI",
        f"sinch://{KEY_ID}:{KEY_SECRET}@127.0.0.1:8123/?project_id={PROJECT_ID}&timeout=12.5&max_retries=3"
        "&auth_type=oauth2",
    )
    settings = SinchHook(sinch_conn_id="sinch_uri").settings
    assert (settings.key_id, settings.key_secret, settings.project_id) == (KEY_ID, KEY_SECRET, PROJECT_ID)
    assert settings.timeout == 12.5
    assert settings.max_retries == 3
    assert settings.auth_type == "oauth2"
    assert settings.host == "http://127.0.0.1:8123"


def test_env_var_json_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, "", timeout=7, max_retries=0)
    settings = hook.settings
    assert settings.host is None, "no host: each API client uses its own"
    assert hook.fax.base_url == f"https://fax.api.sinch.com/v3/projects/{PROJECT_ID}/"
    assert (settings.timeout, settings.max_retries, settings.auth_type) == (7.0, 0, "basic")
    assert settings.token_url == "https://auth.sinch.com/oauth2/token"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"auth_url": "https://eu.auth.example/oauth2/token"}, "https://eu.auth.example/oauth2/token"),
        ({"extra__sinch__auth_url": "https://eu.auth.example/oauth2/token"}, "https://eu.auth.example/oauth2/token"),
        ({"token_url": "https://old.auth.example/oauth2/token"}, "https://old.auth.example/oauth2/token"),
        (
            {"auth_url": "https://new.auth.example/t", "token_url": "https://old.auth.example/t"},
            "https://new.auth.example/t",
        ),
    ],
    ids=["auth_url", "airflow2-prefixed", "older-name-token_url", "auth_url-wins"],
)
def test_token_url_extra(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], expected: str) -> None:
    assert make_hook(monkeypatch, "", auth_type="oauth2", **extra).settings.token_url == expected


def test_token_url_extra_is_not_masked_by_airflow() -> None:
    """Airflow shows extras whose name holds a sensitive word ("token", "secret", ...) as ***."""
    try:
        from airflow._shared.secrets_masker import should_hide_value_for_key  # what the API server uses
    except ImportError:  # Airflow 2.10
        from airflow.utils.log.secrets_masker import should_hide_value_for_key

    from airflow_provider_sinch.get_provider_info import CONN_FIELDS

    assert should_hide_value_for_key("token_url")  # why the extra is not called that
    assert [name for name in CONN_FIELDS if should_hide_value_for_key(name)] == []


def test_hook_arguments_override_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_OVR", sinch_conn_json("http://127.0.0.1:1", timeout=7))
    hook = SinchHook(sinch_conn_id="sinch_ovr", auth_type="oauth2", timeout=3, max_retries=1, project_id="p2")
    assert (hook.settings.auth_type, hook.settings.timeout, hook.settings.max_retries) == ("oauth2", 3.0, 1)
    assert hook.project_id == "p2"


def test_no_io_in_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_DOES_NOT_EXIST", raising=False)
    hook = SinchHook(sinch_conn_id="does_not_exist")  # the connection is read lazily
    assert hook.sinch_conn_id == "does_not_exist"


def test_https_simulator_with_ca_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A simulator on another host serves https; trusting its certificate keeps verification on."""
    from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer

    config = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed_faxes=3)
    with SimulatorServer(config, tls_dir=str(tmp_path / "tls")) as sim:
        assert sim.url.startswith("https://")
        assert sim.ca_bundle is not None
        hook = make_hook(monkeypatch, sim.url, conn_id="sinch_tls", ca_bundle=sim.ca_bundle)
        ok, message = hook.test_connection()
        assert ok, message
        untrusted = make_hook(monkeypatch, sim.url, conn_id="sinch_tls_untrusted", max_retries=0)
        with pytest.raises(SinchConnectionError, match="could not be verified.*'ca_bundle' extra"):
            untrusted.request("GET", untrusted.fax.url("faxes"))
    missing = make_hook(monkeypatch, sim.url, conn_id="sinch_tls_missing", ca_bundle=str(tmp_path / "nope.pem"))
    with pytest.raises(SinchConnectionConfigError, match="'ca_bundle'=.* is not a readable file"):
        missing.request("GET", missing.fax.url("faxes"))
