"""Shared set-up of the reliability suite: a simulator behind a recording wrapper, and hooks on it.

The wrapper sees every request before the simulator does. It counts attempts (so a test knows whether
the hook retried), keeps every credential that crossed the wire (so the secrets scan knows exactly what
to look for) and can answer a request with an arbitrary scripted error, for the error bodies the
simulator's fault injection does not produce (a 422 with field violations).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.hooks._http import TOKEN_CACHE
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.simulator import FaxStore, SimulatorApp, SimulatorConfig, SimulatorServer
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, MutableMapping

    Message = MutableMapping[str, Any]

API = f"/v3/projects/{PROJECT_ID}"


@dataclass
class Attempt:
    """One request as the wrapper saw it."""

    method: str
    path: str
    status: int | None = None


@dataclass
class ScriptedReply:
    """An answer the wrapper gives instead of the simulator, once, to the first matching request."""

    method: str
    path_prefix: str
    status: int
    body: dict[str, Any]


class RecordingApp:
    """ASGI wrapper around the simulator's app; every other attribute is the simulator app's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.credentials: set[str] = set()
        self.scripted: list[ScriptedReply] = []
        #: Serve at most this many faxes per list page, whatever ``pageSize`` asks (a server may cap it).
        self.max_page_size: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def count(self, path_prefix: str, method: str | None = None) -> int:
        """Attempts whose path starts with ``path_prefix`` (and method matches)."""
        with self.lock:
            return sum(
                1 for a in self.attempts if a.path.startswith(path_prefix) and (method is None or a.method == method)
            )

    def statuses(self, path_prefix: str, method: str | None = None) -> list[int | None]:
        with self.lock:
            return [
                a.status
                for a in self.attempts
                if a.path.startswith(path_prefix) and (method is None or a.method == method)
            ]

    def reset(self) -> None:
        with self.lock:
            self.attempts.clear()
            self.scripted.clear()
            self.max_page_size = None

    def script(self, method: str, path_prefix: str, status: int, body: dict[str, Any]) -> None:
        with self.lock:
            self.scripted.append(ScriptedReply(method, path_prefix, status, body))

    def _remember_credentials(self, scope: MutableMapping[str, Any]) -> None:
        for key, value in scope.get("headers", []):
            if key.lower() == b"authorization":
                text = bytes(value).decode("latin-1")
                with self.lock:
                    self.credentials.add(text)
                    self.credentials.add(text.split(" ", 1)[-1])

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        self._remember_credentials(scope)
        if self.max_page_size is not None and scope["path"].endswith("/faxes"):
            scope = dict(scope)
            cap = b"pageSize=%d" % self.max_page_size
            scope["query_string"] = re.sub(rb"pageSize=\d+", cap, scope.get("query_string", b""))
        attempt = Attempt(scope["method"], scope["path"])
        with self.lock:
            self.attempts.append(attempt)
            reply = next(
                (r for r in self.scripted if r.method == attempt.method and attempt.path.startswith(r.path_prefix)),
                None,
            )
            if reply is not None:
                self.scripted.remove(reply)
        if reply is not None:
            body = json.dumps(reply.body).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            attempt.status = reply.status
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        token_body = bytearray()
        is_token_call = attempt.path.endswith("/oauth2/token")

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                attempt.status = message["status"]
            elif is_token_call and message["type"] == "http.response.body":
                token_body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    self._remember_token(bytes(token_body))
            await send(message)

        await self.inner(scope, receive, watching_send)

    def _remember_token(self, body: bytes) -> None:
        try:
            token = json.loads(body).get("access_token")
        except (ValueError, AttributeError):
            return
        if token:
            with self.lock:
                self.credentials.add(str(token))


class RecordedSimulator:
    """A running simulator, the wrapper in front of it, and helpers to build hooks against it."""

    def __init__(self, server: SimulatorServer, recorder: RecordingApp) -> None:
        self.server = server
        self.recorder = recorder

    @property
    def url(self) -> str:
        return self.server.url

    def conn(self, monkeypatch: pytest.MonkeyPatch, conn_id: str, *, auth: str = "basic", **extra: Any) -> str:
        """Register a sinch connection for this simulator and return its ID."""
        if auth == "oauth2":
            extra = {"auth_type": "oauth2", "auth_url": self.server.token_url, **extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", sinch_conn_json(self.server.url, **extra))
        return conn_id

    def hook(self, monkeypatch: pytest.MonkeyPatch, *, auth: str = "basic", **extra: Any) -> SinchHook:
        return SinchHook(sinch_conn_id=self.conn(monkeypatch, f"rel_{auth}", auth=auth, **extra))

    def reset(self) -> None:
        self.server.faults.clear()
        self.server.store.clear()
        self.server.reset_requests()
        self.recorder.reset()


def basic_header(key_id: str = KEY_ID, secret: str = KEY_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def start_recorded_simulator(
    config: SimulatorConfig, *, access_log: bool = False, store: FaxStore | None = None
) -> RecordedSimulator:
    """Start a simulator (optionally serving ``store``) behind a :class:`RecordingApp`."""
    server = SimulatorServer(config, access_log=access_log)
    if store is not None:
        server.app = SimulatorApp(config, store=store, access_log=access_log)
    recorder = RecordingApp(server.app)
    server.app = recorder  # type: ignore[assignment]  # the server only hands it to uvicorn
    server.start()
    return RecordedSimulator(server, recorder)


@pytest.fixture(scope="session")
def rsim() -> Iterator[RecordedSimulator]:
    """One simulator for the reliability suite; tests reset its faults, faxes and records."""
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=9, seed_faxes=0, transition_seconds=0.2
    )
    recorded = start_recorded_simulator(config)
    yield recorded
    recorded.server.stop()


@pytest.fixture
def sim(rsim: RecordedSimulator) -> Iterator[RecordedSimulator]:
    """The shared simulator, emptied, with no faults, and a clean token cache."""
    rsim.reset()
    TOKEN_CACHE.clear()
    yield rsim
    rsim.server.faults.clear()
    TOKEN_CACHE.clear()
