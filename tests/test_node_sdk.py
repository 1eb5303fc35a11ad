"""The simulator driven by Sinch's own Node SDK (``@sinch/fax`` 1.4.0), a client nobody on this project wrote.

``tests/node/fax_client.js`` wraps the pinned SDK (``tests/node/package-lock.json``) in a JSON CLI; each test runs
it against one simulator on 127.0.0.1 and checks what the SDK got against the simulator's store and, where the
provider has the same call, against the provider's hook. The store's newest seeded fax is months old and its list
order is shuffled, so a range filter the simulator did not read (it would answer the empty default week) or a
paging mistake (duplicates, a lost page) shows up as a wrong set of faxes. The autouse check of
``tests/conftest.py`` also fails a test after which the simulator saw a query parameter it ignores.

Node and the SDK come from ``scripts/node-sdk/install.sh``, run when ``tests/node/node_modules`` is missing. Without
Node the module is skipped, except under CI (``CI`` set), where that fails. A known bug of the SDK the tests stay
clear of: its retry of a *multipart* send after an expired token never completes (the form-data stream was already
read), so the token-renewal test uses GET and JSON calls, and every SDK call has a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_sinch.simulator.filters import to_ms
from airflow_provider_sinch.simulator.pdf import count_pdf_pages, fax_pdf
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json
from tests.node_harness import NODE_DIR, require_node_sdk

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from airflow_provider_sinch.simulator.app import RecordedRequest

UTC = timezone.utc
FAX_CLIENT = NODE_DIR / "fax_client.js"
#: Seconds one ``node fax_client.js`` run may take (the script bounds each SDK call by ``SDK_CALL_TIMEOUT_MS``).
NODE_RUN_TIMEOUT = 30.0
SDK_CALL_TIMEOUT_MS = 10_000

NOW = datetime.now(tz=UTC).replace(microsecond=0)
#: 1,500 faxes over the 40 days ending 120 days ago: nothing in the default week, about 37 a day.
SEED_END = NOW - timedelta(days=120)
SEED_SPAN = timedelta(days=40)
#: The listing window, on whole seconds inside the seeded span: about 150 faxes, 8 pages of 20.
WINDOW_START = SEED_END - timedelta(days=20, hours=5, minutes=17, seconds=9)
WINDOW_END = WINDOW_START + timedelta(days=4)
PAGE_SIZE = 20
MS = timedelta(milliseconds=1)
#: The fax with known content for the download test.
DOWNLOAD_PDF = fax_pdf("node-sdk-download", 3)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def node() -> str:
    """Path of ``node``, with the pinned SDK in ``tests/node/node_modules``; in CI its absence fails, else skips."""
    return require_node_sdk("fax", "1.4.0")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    """1,500 shuffled faxes ending 120 days ago, faxes on and next to both window bounds, one with known content."""
    config = SimulatorConfig(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        project_id=PROJECT_ID,
        seed=23,
        seed_faxes=1500,
        seed_period=SEED_SPAN,
        seed_end=SEED_END,
        shuffle=True,
    )
    with SimulatorServer(config) as server:
        store = server.store
        for moment, label in (
            (WINDOW_START - MS, "before-start"),
            (WINDOW_START, "on-start"),
            (WINDOW_END, "on-end"),
            (WINDOW_END + MS, "after-end"),
        ):
            store.add_fax(create_time=moment, id=f"BOUND-{label}")
        store.add_fax(
            "OUTBOUND", create_time=WINDOW_START + timedelta(hours=3), pages=3, file_bytes=DOWNLOAD_PDF, id="DOWNLOAD1"
        )
        yield server


@pytest.fixture
def hook(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> SinchHook:
    """The provider's hook on the same simulator (``sinch_default`` from the environment)."""
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    return SinchHook()


# ------------------------------------------------------------------ running the Node SDK


class NodeRun:
    """Runs ``node tests/node/fax_client.js '<json>'`` with the simulator's settings and reads its one JSON line."""

    def __init__(self, node: str, sim: SimulatorServer) -> None:
        self.node = node
        self.settings = {
            "faxHostname": sim.url,
            "authHostname": sim.url,
            "projectId": PROJECT_ID,
            "keyId": KEY_ID,
            "keySecret": KEY_SECRET,
            "timeoutMs": SDK_CALL_TIMEOUT_MS,
        }

    def outcome(self, payload: dict[str, Any], on_pause: Callable[[int], None] | None = None) -> dict[str, Any]:
        """The script's ``{"ok": ..., ...}`` answer; ``on_pause(n)`` runs at each ``{"op": "pause"}`` step."""
        args = [self.node, str(FAX_CLIENT), json.dumps({**self.settings, **payload})]
        with subprocess.Popen(
            args, cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as proc:
            deadline = time.monotonic() + NODE_RUN_TIMEOUT
            early_stderr = b""
            pauses = sum(1 for step in payload.get("steps", []) if step.get("op") == "pause")
            try:
                for number in range(1, pauses + 1):
                    wanted = f"fax_client: paused {number}".encode()
                    seen, early_stderr = _wait_for_line(proc, wanted, deadline, early_stderr)
                    if not seen:
                        break  # the script ended (or failed) before this pause: its answer tells why
                    assert on_pause is not None, "a pause step needs on_pause"
                    on_pause(number)
                    assert proc.stdin is not None
                    proc.stdin.write(b"\n")
                    proc.stdin.flush()
                stdout, stderr = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
                pytest.fail(f"node fax_client.js {payload['op']} ran over {NODE_RUN_TIMEOUT} s: {stderr[-2000:]!r}")
        stderr = early_stderr + stderr
        lines = stdout.decode().strip().splitlines()
        assert len(lines) == 1, f"fax_client.js must print one JSON line, got {stdout[-2000:]!r}; stderr {stderr!r}"
        answer: dict[str, Any] = json.loads(lines[0])
        answer["stderr"] = stderr.decode(errors="replace")
        return answer

    def __call__(self, payload: dict[str, Any], on_pause: Callable[[int], None] | None = None) -> Any:
        """The result of a call the SDK must complete; fails the test with the SDK's error otherwise."""
        answer = self.outcome(payload, on_pause)
        assert answer["ok"], f"the Node SDK failed ({answer.get('status')}): {answer['error']}\n{answer['stderr']}"
        return answer["result"]


def _wait_for_line(proc: subprocess.Popen[bytes], wanted: bytes, deadline: float, buffer: bytes) -> tuple[bool, bytes]:
    """Read the process's stderr onto ``buffer`` until a line equals ``wanted``: ``(seen, buffer)``; EOF: not seen."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    while True:
        if wanted in buffer.split(b"\n")[:-1]:
            return True, buffer
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, NODE_RUN_TIMEOUT)
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return False, buffer
            buffer += chunk


@pytest.fixture
def run_node(node: str, sim: SimulatorServer) -> NodeRun:
    """Run the Node SDK against the module's simulator."""
    return NodeRun(node, sim)


def new_requests(sim: SimulatorServer, before: int) -> list[RecordedRequest]:
    """The requests the simulator recorded after the first ``before`` (never reset: that would hide ignored ones)."""
    return sim.requests[before:]


def iso(moment: datetime) -> str:
    """An ISO 8601 UTC timestamp with milliseconds, as the SDK's JSON (``Date.toJSON``) and Sinch write them."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def whole_second(moment: datetime) -> str:
    """A range-filter value as Sinch's SDKs send it: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_window(sim: SimulatorServer, low: datetime, high: datetime, *, closed: bool) -> dict[str, dict[str, Any]]:
    """The store's faxes from ``low`` to ``high`` (both included if ``closed``, else ``high`` excluded), by id."""
    lo, hi = to_ms(low), to_ms(high)

    def inside(ms: int) -> bool:
        return lo <= ms <= hi if closed else lo <= ms < hi

    return {fax["id"]: fax for fax in sim.store.all_faxes() if inside(to_ms(_created(fax)))}


def _created(fax: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(fax["createTime"].replace("Z", "+00:00"))


def by_id(faxes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Faxes keyed by id; fails on a duplicate."""
    ids = [fax["id"] for fax in faxes]
    duplicates = sorted({fax_id for fax_id in ids if ids.count(fax_id) > 1})
    assert not duplicates, f"listed more than once: {duplicates}"
    return {fax["id"]: fax for fax in faxes}


# ------------------------------------------------------------------ tests


def test_list_by_create_time_range_over_pages_matches_the_store_and_the_hook(
    sim: SimulatorServer, run_node: NodeRun, hook: SinchHook
) -> None:
    """The SDK pages a months-old window (both paginations) and gets exactly the store's faxes; so does the hook.

    The Node SDK sends both bounds inclusive and truncated to whole seconds: from ``…:00.400`` it asks from
    ``…:00``, so the fax on the whole-second start is listed although it is before the requested start, and up to
    ``…:00.600`` it asks up to ``…:00``, so the fax 1 ms after the whole-second end is not listed. The hook's window
    is half-open, ``[after, before)``: for the same whole-second bounds it leaves out only the fax on the end.
    """
    expected = store_window(sim, WINDOW_START, WINDOW_END, closed=True)
    assert len(expected) > 6 * PAGE_SIZE, "the window spans several pages"
    assert {"BOUND-on-start", "BOUND-on-end"} <= expected.keys()
    assert not {"BOUND-before-start", "BOUND-after-end"} & expected.keys()

    before = len(sim.requests)
    window = {"from": iso(WINDOW_START), "to": iso(WINDOW_END)}
    sub_second = {"from": iso(WINDOW_START + 400 * MS), "to": iso(WINDOW_END + 600 * MS)}
    iterated, paged = run_node(
        {
            "op": "token_roundtrip",
            "steps": [
                {"op": "list", "createTimeRange": window, "pageSize": PAGE_SIZE, "paginate": "iterator"},
                {"op": "list", "createTimeRange": sub_second, "pageSize": PAGE_SIZE, "paginate": "nextPage"},
            ],
        }
    )["steps"]

    assert by_id(iterated["faxes"]) == expected
    assert by_id(paged["faxes"]) == expected
    pages = -(-len(expected) // PAGE_SIZE)
    assert paged["pages"] == pages
    listings = [r for r in new_requests(sim, before) if r.path == f"/v3/projects/{PROJECT_ID}/faxes"]
    assert len(listings) == 2 * pages
    for request in listings:
        assert request.status == 200
        assert request.query["createTime>"] == whole_second(WINDOW_START)
        assert request.query["createTime<"] == whole_second(WINDOW_END)
        assert request.query["pageSize"] == str(PAGE_SIZE)
    for first in (0, pages):  # each pagination: no page on the first request, then 2, 3, ...
        sent = [r.query.get("page") for r in listings[first : first + pages]]
        assert sent == [None, *(str(n) for n in range(2, pages + 1))]

    half_open = by_id(list(hook.fax.list_faxes(created_after=WINDOW_START, created_before=WINDOW_END)))
    assert half_open.keys() == expected.keys() - store_window(sim, WINDOW_END, WINDOW_END, closed=True).keys()
    assert "BOUND-on-end" not in half_open
    closed = by_id(list(hook.fax.list_faxes(created_after=WINDOW_START, created_before=WINDOW_END + MS)))
    assert closed == by_id(iterated["faxes"])


def test_list_filters_with_a_raw_plus_in_the_number_prefix(sim: SimulatorServer, run_node: NodeRun) -> None:
    """direction, status and ``from`` filter the SDK's listing as in the store.

    The SDK sends ``from=+1`` with the ``+`` unencoded, which a standard query parser reads as a space: the
    simulator takes a leading space for ``+``, so the SDK's number filters work as its users expect.
    """
    low, high = WINDOW_START, WINDOW_START + timedelta(days=2)
    expected = {
        fax_id: fax
        for fax_id, fax in store_window(sim, low, high, closed=True).items()
        if fax["direction"] == "INBOUND" and fax["status"] == "COMPLETED" and fax["from"].startswith("+1")
    }
    assert len(expected) > PAGE_SIZE
    before = len(sim.requests)
    got = run_node(
        {
            "op": "list",
            "createTimeRange": {"from": iso(low), "to": iso(high)},
            "direction": "INBOUND",
            "status": "COMPLETED",
            "from": "+1",
            "pageSize": PAGE_SIZE,
        }
    )
    assert by_id(got["faxes"]) == expected
    listings = [r for r in new_requests(sim, before) if r.path.endswith("/faxes")]
    assert listings
    assert all(r.query["from"] == " 1" and r.query["direction"] == "INBOUND" for r in listings)


def test_get_fax_equals_the_store(sim: SimulatorServer, run_node: NodeRun) -> None:
    """An INBOUND and an OUTBOUND fax read by the SDK equal the store's, field for field (dates revived and back)."""
    faxes = sim.store.all_faxes()
    inbound = next(f for f in faxes if f["direction"] == "INBOUND" and f["status"] == "COMPLETED")
    outbound = next(f for f in faxes if f["direction"] == "OUTBOUND" and f["status"] == "FAILURE")
    got = run_node(
        {"op": "token_roundtrip", "steps": [{"op": "get", "id": inbound["id"]}, {"op": "get", "id": outbound["id"]}]}
    )["steps"]
    assert got == [sim.store.get(inbound["id"]), sim.store.get(outbound["id"])]


def test_get_unknown_fax_is_a_404_for_the_sdk(run_node: NodeRun) -> None:
    """The simulator's 404 reaches the SDK as a failed request with status 404."""
    answer = run_node.outcome({"op": "get", "id": "01NOSUCHFAX0000000000000000"})
    assert answer["ok"] is False
    assert answer["status"] == 404


def test_download_matches_the_hook(sim: SimulatorServer, run_node: NodeRun, hook: SinchHook, tmp_path: Path) -> None:
    """The SDK's download (``GET …/file.pdf`` in 1.4.0) and the hook's (``…/file``) give the same bytes."""
    before = len(sim.requests)
    got = run_node({"op": "download", "id": "DOWNLOAD1", "path": str(tmp_path / "node.pdf")})
    assert (tmp_path / "node.pdf").read_bytes() == DOWNLOAD_PDF
    assert got["size"] == len(DOWNLOAD_PDF)
    assert got["sha256"] == hashlib.sha256(DOWNLOAD_PDF).hexdigest()
    assert got["fileName"] == "fax-DOWNLOAD1.pdf"
    assert [r.path for r in new_requests(sim, before) if r.method == "GET"] == [
        f"/v3/projects/{PROJECT_ID}/faxes/DOWNLOAD1/file.pdf"
    ]

    ours = hook.fax.download_fax("DOWNLOAD1", tmp_path / "hook.pdf")
    assert ours["sha256"] == got["sha256"]
    assert ours["bytes"] == got["size"]


@pytest.mark.parametrize("form", ["send_json", "send_multipart"])
def test_send_to_one_number(form: str, sim: SimulatorServer, run_node: NodeRun, tmp_path: Path) -> None:
    """JSON (``files: []`` with a ``contentUrl``) and multipart (a PDF file part): one fax, which the store has."""
    number = "+14155550101" if form == "send_json" else "+14155550102"
    if form == "send_json":
        payload: dict[str, Any] = {"op": form, "to": number, "contentUrl": "https://example.com/letter.pdf"}
        pages = 1  # one page per contentUrl: the simulator does not fetch it
    else:
        pdf = tmp_path / "letter.pdf"
        pdf.write_bytes(fax_pdf("node-sdk-multipart", 2))
        payload = {"op": form, "to": number, "filePaths": [str(pdf)]}
        pages = count_pdf_pages(pdf.read_bytes())
    sent = run_node(payload)
    assert len(sent) == 1
    fax = sent[0]
    assert fax["id"]
    stored = sim.store.get(fax["id"])
    assert stored is not None
    assert (stored["to"], stored["direction"], stored["numberOfPages"]) == (number, "OUTBOUND", pages)
    assert fax["to"] == number
    assert fax["numberOfPages"] == pages


def test_send_to_two_numbers_returns_two_faxes(sim: SimulatorServer, run_node: NodeRun) -> None:
    """Two recipients (JSON): the simulator answers ``{"faxes": [...]}`` and the SDK returns both, with ids."""
    numbers = ["+14155550111", "+14155550112"]
    sent = run_node({"op": "send_json", "to": numbers, "contentUrl": "https://example.com/letter.pdf"})
    assert [fax["to"] for fax in sent] == numbers
    ids = [fax["id"] for fax in sent]
    assert all(ids)
    assert len(set(ids)) == 2
    assert [(sim.store.get(fax_id) or {}).get("to") for fax_id in ids] == numbers


def test_oauth2_token_is_fetched_once_and_reused(sim: SimulatorServer, run_node: NodeRun) -> None:
    """One SDK client: one ``POST /oauth2/token`` first, then a list, a get and a download all with that token."""
    tokens_before, before = sim.token_requests, len(sim.requests)
    window = {"from": iso(WINDOW_START), "to": iso(WINDOW_START + timedelta(hours=6))}
    steps = run_node(
        {
            "op": "token_roundtrip",
            "steps": [
                {"op": "list", "createTimeRange": window, "pageSize": 5},
                {"op": "get", "id": "DOWNLOAD1"},
            ],
        }
    )["steps"]
    assert steps[1]["id"] == "DOWNLOAD1"
    assert len(steps[0]["faxes"]) > 5, "the listing took more than one page"
    assert sim.token_requests - tokens_before == 1
    seen = new_requests(sim, before)
    assert (seen[0].method, seen[0].path, seen[0].status) == ("POST", "/oauth2/token", 200)
    api = seen[1:]
    assert len(api) >= 3
    assert all(r.path.startswith("/v3/") and r.auth == "bearer" and r.status == 200 for r in api)


def test_oauth2_token_is_renewed_once_after_it_expired(sim: SimulatorServer, run_node: NodeRun) -> None:
    """After ``expire_tokens()`` the SDK's next GET, then its next JSON send, get 401 "expired", renew, and succeed.

    Multipart is left out on purpose: the SDK's retry of a multipart send after a renewal never completes
    (its form-data stream was already read), a bug in the SDK, not in the simulator.
    """
    tokens_before, before = sim.token_requests, len(sim.requests)
    steps = run_node(
        {
            "op": "token_roundtrip",
            "steps": [
                {"op": "get", "id": "DOWNLOAD1"},
                {"op": "pause"},
                {"op": "get", "id": "DOWNLOAD1"},
                {"op": "get", "id": "BOUND-on-start"},
                {"op": "pause"},
                {"op": "send_json", "to": "+14155550121", "contentUrl": "https://example.com/letter.pdf"},
            ],
        },
        on_pause=lambda _: sim.expire_tokens(),
    )["steps"]
    assert [steps[0]["id"], steps[2]["id"], steps[3]["id"]] == ["DOWNLOAD1", "DOWNLOAD1", "BOUND-on-start"]
    assert sim.store.get(steps[5][0]["id"]) is not None
    assert sim.token_requests - tokens_before == 3
    project = f"/v3/projects/{PROJECT_ID}"
    assert [(r.method, r.path, r.status) for r in new_requests(sim, before)] == [
        ("POST", "/oauth2/token", 200),
        ("GET", f"{project}/faxes/DOWNLOAD1", 200),
        ("GET", f"{project}/faxes/DOWNLOAD1", 401),
        ("POST", "/oauth2/token", 200),
        ("GET", f"{project}/faxes/DOWNLOAD1", 200),
        ("GET", f"{project}/faxes/BOUND-on-start", 200),
        ("POST", f"{project}/faxes", 401),
        ("POST", "/oauth2/token", 200),
        ("POST", f"{project}/faxes", 200),
    ]
