"""Fault matrix: list, get, download and send against every fault the simulator can inject.

Each cell runs one hook call with one fault on the request it makes (for list, on page 2 of 2, after
page 1 was already yielded), then records: how many attempts the faulted request took, the final outcome
(success, or the typed error and its message), what was delivered (every fax once, the file complete, the
fax created once) and whether a partial file was left behind. The assertions are the contract; the table
in ``docs/reliability.md`` is rendered from what was observed (see ``make_report.py``).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.exceptions import (
    SinchAuthError,
    SinchConnectionError,
    SinchError,
    SinchInvalidRequestError,
    SinchNotFoundError,
    SinchResponseError,
    SinchServerError,
)
from tests.conftest import PROJECT_ID
from tests.reliability.conftest import API
from tests.reliability.report import MatrixRow, check_or_write_section, render_fault_matrix

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_sinch.hooks.sinch import SinchHook
    from tests.reliability.conftest import RecordedSimulator

UTC = timezone.utc
WINDOW_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(hours=1)
FAX_ID = "01KFAXRELIABILITY0000000001"
FILE_SIZE = 300 * 1024  # several chunks, so a cut lands mid-body
RECIPIENT = "+14155550199"
TIMEOUT = 1.0
SLOW = 1.6  # injected latency for the read-timeout fault, above TIMEOUT
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF\n"
FIELD_VIOLATIONS = {
    "code": 422,
    "status": "INVALID_ARGUMENT",
    "message": "Request contains invalid fields.",
    "details": [
        {
            "type": "BadRequest",
            "fieldViolations": [{"field": "to", "description": "Phone number is not reachable by fax."}],
        }
    ],
}

OPS = ("list", "get", "download", "send", "message")
OP_LABELS = {
    "list": "list (`list_faxes`, page 2 of 2)",
    "get": "get (`get_fax`)",
    "download": "download (`download_fax`)",
    "send": "send (`send_fax`, POST)",
    "message": "message (`conversation.send_text`, POST through Sinch's SDK)",
}
#: The Conversation API's send path on the simulator.
MESSAGES = f"/v1/projects/{PROJECT_ID}/messages:send"


@dataclass(frozen=True)
class Target:
    """The request of an operation that the fault hits."""

    method: str
    path_prefix: str


@dataclass(frozen=True)
class Fault:
    name: str
    label: str
    inject: Callable[[RecordedSimulator, Target], None]
    ops: tuple[str, ...] = OPS
    auth: str = "basic"


def _fail(status: int, **kwargs: Any) -> Callable[[RecordedSimulator, Target], None]:
    def inject(sim: RecordedSimulator, target: Target) -> None:
        sim.server.faults.fail_next(1, status=status, path_prefix=target.path_prefix, method=target.method, **kwargs)

    return inject


def _reset(sim: RecordedSimulator, target: Target) -> None:
    sim.server.faults.reset_connection_next(1, path_prefix=target.path_prefix, method=target.method)


def _slow(sim: RecordedSimulator, target: Target) -> None:
    sim.server.faults.latency(SLOW, path_prefix=target.path_prefix, method=target.method, n=1)


def _truncate(sim: RecordedSimulator, target: Target) -> None:
    sim.server.faults.truncate_download_next(1, path_prefix=target.path_prefix)


def _bad_json(sim: RecordedSimulator, target: Target) -> None:
    sim.server.faults.invalid_json_next(1, path_prefix=target.path_prefix, method=target.method)


def _expire(sim: RecordedSimulator, target: Target) -> None:
    sim.server.expire_tokens()


def _violations(sim: RecordedSimulator, target: Target) -> None:
    sim.recorder.script(target.method, target.path_prefix, 422, FIELD_VIOLATIONS)


FAULTS = (
    Fault("429+retry-after", "429 with `Retry-After: 1`", _fail(429, retry_after=1)),
    Fault("429", "429 without `Retry-After`", _fail(429)),
    Fault("500", "500", _fail(500)),
    Fault("502", "502", _fail(502, body_shape="html")),
    Fault("503", "503", _fail(503)),
    Fault("504", "504", _fail(504, body_shape="empty")),
    Fault("reset", "connection reset mid-response", _reset),
    Fault("read-timeout", f"read timeout ({SLOW:g} s answer, {TIMEOUT:g} s timeout)", _slow),
    Fault("truncated", "truncated download (`Content-Length` not reached)", _truncate, ops=("download",)),
    Fault("invalid-json", "invalid JSON in a 200", _bad_json, ops=("list", "get", "send", "message")),
    Fault("401-empty", "401 with an empty body", _fail(401, body_shape="empty")),
    Fault("401-expired", "401 expired token (OAuth2)", _expire, auth="oauth2"),
    Fault("403", "403", _fail(403)),
    Fault("404", "404 (docs-shaped body)", _fail(404, body_shape="docs")),
    Fault("422", "422 with field violations", _violations),
)
FAULT_BY_NAME = {f.name: f for f in FAULTS}


@dataclass(frozen=True)
class Expect:
    """What a cell must show: attempts of the faulted request, and the outcome."""

    attempts: int
    error: type[SinchError] | None = None
    message: tuple[str, ...] = ()


def expected(op: str, fault: str) -> Expect:
    """The contract of each cell."""
    get_like = op not in ("send", "message")
    if fault in ("429+retry-after", "429"):
        return Expect(2)  # a 429 was refused before any work: safe to repeat, even a POST
    if fault == "500":
        return Expect(1, SinchServerError, ("HTTP 500", "server error", "Try again later" if get_like else "may have"))
    if fault in ("502", "503", "504"):
        if get_like:
            return Expect(2)
        return Expect(1, SinchServerError, (f"HTTP {fault}", "may have"))
    if fault == "reset":
        if get_like:
            return Expect(2)
        return Expect(1, SinchConnectionError, ("connection", "may have"))
    if fault == "read-timeout":
        if get_like:
            return Expect(2)
        return Expect(1, SinchConnectionError, ("timed out", "may have"))
    if fault == "truncated":
        return Expect(2)
    if fault == "invalid-json":
        if get_like:
            return Expect(1, SinchResponseError, ("not JSON",))
        return Expect(1, SinchResponseError, ("not JSON", "may have"))
    if fault == "401-empty":
        return Expect(1, SinchAuthError, ("HTTP 401", "key ID and key secret"))
    if fault == "401-expired":
        return Expect(2)  # one renewal of the token, one retry
    if fault == "403":
        return Expect(1, SinchAuthError, ("HTTP 403", "permissions"))
    if fault == "404":
        return Expect(1, SinchNotFoundError, ("HTTP 404", "does not exist"))
    if fault == "422":
        return Expect(1, SinchInvalidRequestError, ("HTTP 422", "to: Phone number is not reachable by fax"))
    raise AssertionError(fault)


@dataclass
class Observed:
    attempts: int = 0
    error: BaseException | None = None
    delivered: str = ""
    files: str = "n/a"
    fault: str = ""


# -- the four operations ----------------------------------------------------------------------------------


def _run_list(hook: SinchHook, sim: RecordedSimulator, inject: Callable[[Target], None], obs: Observed) -> None:
    stored = [
        sim.server.store.add_fax(create_time=WINDOW_START + timedelta(minutes=7 * i), pages=1)["id"] for i in range(4)
    ]
    got: list[str] = []
    faxes = hook.fax.list_faxes(created_after=WINDOW_START, created_before=WINDOW_END, page_size=2)
    try:
        got += [next(faxes)["id"], next(faxes)["id"]]  # page 1
        sim.recorder.reset()
        inject(Target("GET", f"{API}/faxes"))
        got += [f["id"] for f in faxes]
    finally:
        obs.attempts = sim.recorder.count(f"{API}/faxes", "GET")
        obs.delivered = _once(got, stored, raised=obs.error is not None)


def _run_get(hook: SinchHook, sim: RecordedSimulator, inject: Callable[[Target], None], obs: Observed) -> None:
    stored = sim.server.store.add_fax(id=FAX_ID, create_time=WINDOW_START)
    inject(Target("GET", f"{API}/faxes/{FAX_ID}"))
    got = None
    try:
        got = hook.fax.get_fax(FAX_ID)
    finally:
        obs.attempts = sim.recorder.count(f"{API}/faxes/{FAX_ID}", "GET")
        obs.delivered = "the fax" if got is not None and got["id"] == stored["id"] else "nothing"


def _run_download(
    hook: SinchHook, sim: RecordedSimulator, inject: Callable[[Target], None], obs: Observed, folder: Path
) -> None:
    sim.server.store.add_fax(id=FAX_ID, create_time=WINDOW_START, file_size=FILE_SIZE)
    content = sim.server.store.file_bytes(FAX_ID)
    assert content is not None
    target = folder / "fax.pdf"
    inject(Target("GET", f"{API}/faxes/{FAX_ID}/file"))
    result = None
    try:
        result = hook.fax.download_fax(FAX_ID, target)
    finally:
        obs.attempts = sim.recorder.count(f"{API}/faxes/{FAX_ID}/file", "GET")
        left = sorted(p.name for p in folder.iterdir())
        if left == ["fax.pdf"] and target.read_bytes() == content:
            obs.files = "complete file"
            obs.delivered = "the file"
            assert result is not None
            assert result["sha256"] == hashlib.sha256(content).hexdigest()
        elif not left:
            obs.files = "no file"
            obs.delivered = "nothing"
        else:
            obs.files = "PARTIAL: " + ", ".join(left)
            obs.delivered = "PARTIAL"


def _run_send(hook: SinchHook, sim: RecordedSimulator, inject: Callable[[Target], None], obs: Observed) -> None:
    inject(Target("POST", f"{API}/faxes"))
    sent: list[dict[str, Any]] = []
    try:
        sent = hook.fax.send_fax(RECIPIENT, files=[("letter.pdf", PDF)])
    finally:
        obs.attempts = sim.recorder.count(f"{API}/faxes", "POST")
        if obs.fault == "read-timeout":
            time.sleep(SLOW - TIMEOUT + 0.3)  # let the delayed request reach the simulator's handler
        created = [f["id"] for f in sim.server.store.all_faxes() if f["to"] == RECIPIENT]
        returned = [f["id"] for f in sent]
        if len(created) > 1:
            obs.delivered = f"TWICE: {len(created)} faxes created"
        elif created and returned == created:
            obs.delivered = "1 fax created, its ID returned"
        elif created:
            obs.delivered = "1 fax created, the error says it may have been"
        else:
            obs.delivered = "no fax created"


def _run_message(hook: SinchHook, sim: RecordedSimulator, inject: Callable[[Target], None], obs: Observed) -> None:
    before = len(sim.server.app.conversation.messages)
    inject(Target("POST", MESSAGES))
    sent: dict[str, Any] = {}
    try:
        sent = hook.conversation.send_text("Fax archive job failed", to=RECIPIENT, app_id="test-app")
    finally:
        obs.attempts = sim.recorder.count(MESSAGES, "POST")
        if obs.fault == "read-timeout":
            time.sleep(SLOW - TIMEOUT + 0.3)
        accepted = [m.id for m in sim.server.app.conversation.messages[before:]]
        if len(accepted) > 1:
            obs.delivered = f"TWICE: {len(accepted)} messages accepted"
        elif accepted and sent.get("message_id") == accepted[0]:
            obs.delivered = "1 message accepted, its ID returned"
        elif accepted:
            obs.delivered = "1 message accepted, the error says it may have been"
        else:
            obs.delivered = "no message accepted"


def _once(got: list[str], stored: list[str], *, raised: bool) -> str:
    if len(got) != len(set(got)):
        return "TWICE: " + ", ".join(sorted({i for i in got if got.count(i) > 1}))
    if raised:
        return "nothing (the listing raised)"
    if sorted(got) != sorted(stored):
        return f"LOST: {len(set(stored) - set(got))} of {len(stored)}"
    return f"all {len(stored)} faxes, each once"


CELLS = [(op, fault.name) for fault in FAULTS for op in OPS if op in fault.ops]
ROWS: dict[tuple[str, str], MatrixRow] = {}


def _useful(message: str, op: str) -> list[str]:
    """What a message lacks to be useful: the method, the path, no credentials."""
    problems = []
    method = "POST" if op in ("send", "message") else "GET"
    if method not in message and "Download" not in message:
        problems.append(f"no {method}")
    if f"{API}/faxes" not in message and FAX_ID not in message and MESSAGES not in message:
        problems.append("no path or fax ID")
    return problems


@pytest.mark.parametrize(("op", "fault_name"), CELLS, ids=[f"{op}-{fault}" for op, fault in CELLS])
def test_fault_cell(
    sim: RecordedSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, op: str, fault_name: str
) -> None:
    fault = FAULT_BY_NAME[fault_name]
    hook = sim.hook(monkeypatch, auth=fault.auth, timeout=TIMEOUT, max_retries=3, max_retry_wait=10)
    if fault.auth == "oauth2":
        hook.request(
            "GET", hook.fax.url("faxes"), params={"pageSize": 1}
        )  # a cached token, which the fault then expires
        sim.recorder.reset()
    obs = Observed(fault=fault_name)

    def inject(target: Target) -> None:
        fault.inject(sim, target)

    started = time.monotonic()
    try:
        if op == "list":
            _run_list(hook, sim, inject, obs)
        elif op == "get":
            _run_get(hook, sim, inject, obs)
        elif op == "download":
            folder = tmp_path / "out"
            folder.mkdir()
            _run_download(hook, sim, inject, obs, folder)
        elif op == "send":
            _run_send(hook, sim, inject, obs)
        else:
            _run_message(hook, sim, inject, obs)
    except SinchError as exc:
        obs.error = exc
    elapsed = time.monotonic() - started
    if obs.error is not None and op == "list":
        obs.delivered = "nothing (the listing raised)"
    message = _normalise(str(obs.error)) if obs.error is not None else ""
    ROWS[(op, fault_name)] = MatrixRow(
        op=OP_LABELS[op],
        fault=fault.label,
        attempts=obs.attempts,
        outcome="success" if obs.error is None else type(obs.error).__name__,
        message=message,
        delivered=obs.delivered,
        files=obs.files,
    )

    expect = expected(op, fault_name)
    assert "TWICE" not in obs.delivered, obs
    assert "LOST" not in obs.delivered, obs
    assert "PARTIAL" not in obs.files, obs
    if expect.error is None:
        assert obs.error is None, f"expected success, got {obs.error!r}"
    else:
        assert isinstance(obs.error, expect.error), f"expected {expect.error.__name__}, got {obs.error!r}"
        for part in expect.message:
            assert part in message, f"{part!r} missing from the message: {message}"
        assert not _useful(message, op), (_useful(message, op), message)
    assert obs.attempts == expect.attempts, f"attempts {obs.attempts} != {expect.attempts}"
    if fault_name == "429+retry-after":
        assert elapsed >= 1.0, "Retry-After: 1 was honoured"


def _normalise(text: str) -> str:
    """Make messages comparable across runs: the simulator's port changes."""
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def test_fault_matrix_table_is_current(request: pytest.FixtureRequest) -> None:
    """``docs/reliability.md`` shows what this run observed (rewritten with SINCH_RELIABILITY_WRITE=1)."""
    if set(ROWS) != set(CELLS):
        pytest.skip("the whole matrix did not run in this session")
    check_or_write_section("fault-matrix", render_fault_matrix([ROWS[cell] for cell in CELLS]))


class AppendOnly:
    """A binary writer that cannot seek, like an object store's upload stream."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)


@pytest.mark.parametrize(
    ("destination", "keep_bytes"), [("path", 70 * 1024), ("append-only stream", 70 * 1024), ("path", FILE_SIZE - 1)]
)
def test_broken_download_resumes_into_the_same_bytes(
    sim: RecordedSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keep_bytes: int, destination: str
) -> None:
    """A download cut after some chunks were written is fetched again; the bytes already written are skipped."""
    hook = sim.hook(monkeypatch, timeout=TIMEOUT, max_retries=3)
    sim.server.store.add_fax(id=FAX_ID, create_time=WINDOW_START, file_size=FILE_SIZE)
    content = sim.server.store.file_bytes(FAX_ID)
    assert content is not None
    sim.server.faults.truncate_download_next(2, keep_bytes=keep_bytes)
    sink = AppendOnly()
    target = tmp_path / "fax.pdf"
    result = hook.fax.download_fax(FAX_ID, target if destination == "path" else sink, chunk_size=16 * 1024)  # type: ignore[arg-type]
    written = target.read_bytes() if destination == "path" else bytes(sink.data)
    assert written == content
    assert result["bytes"] == FILE_SIZE
    assert result["sha256"] == hashlib.sha256(content).hexdigest()
    assert sim.recorder.count(f"{API}/faxes/{FAX_ID}/file") == 3
