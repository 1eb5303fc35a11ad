"""The simulator's Conversation API driven by Sinch's own Node SDK (``@sinch/conversation`` 1.4.0), a client nobody
on this project wrote.

``tests/node/conversation_client.js`` wraps the pinned SDK (``tests/node/package-lock.json``: ``@sinch/conversation``,
``@sinch/fax``, ``@sinch/sdk-client`` and ``@sinch/sdk-core`` 1.4.0, and through ``overrides`` every other ``@sinch``
package of the tree at 1.4.0 too, on one ``@sinch/sdk-client``) in a JSON CLI pointed at one simulator on
127.0.0.1 with the SDK's own ``conversationHostname`` and ``authHostname`` options. The SDK authenticates with
OAuth2 only: it fetches a token from ``{authHostname}/oauth2/token`` with Basic and a form body, then sends Bearer.
Each test checks what the SDK sent and read against the simulator's state, its request log, the wire (headers and
bodies, through the conformance module's :class:`WireCapture`) and Sinch's OpenAPI document.

Node and the SDK come from ``scripts/node-sdk/install.sh``, run when Node or ``tests/node/node_modules`` is missing, or
when that install is older than the lockfile. Without Node the module is skipped, except under CI (``CI`` set),
where that fails.
"""

from __future__ import annotations

import base64
import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, ROOT, sinch_conn_json
from tests.node_harness import NODE_DIR, require_node_sdk
from tests.simulator.test_conversation_conformance import WireCapture, check_exchange, keyed_unions

if TYPE_CHECKING:
    from collections.abc import Iterator

CONVERSATION_CLIENT = NODE_DIR / "conversation_client.js"
NODE_RUN_TIMEOUT = 30.0
SDK_CALL_TIMEOUT_MS = 10_000
PINNED = "1.4.0"

APP_ID = "01NODECONVERSATIONAPP"
PHONE = "+14155552671"
CONTACT = "01CONTACTNODESDK"
API = f"/v1/projects/{PROJECT_ID}/"
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()

pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")  # openapi-core and oAuth2


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def node() -> str:
    """Path of ``node``, with the pinned SDK in ``tests/node/node_modules``; in CI its absence fails, else skips."""
    return require_node_sdk("conversation", PINNED)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, conversation_app_ids=(APP_ID,)
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def openapi() -> Any:
    import yaml
    from openapi_core import OpenAPI

    spec = yaml.safe_load((ROOT / "tests" / "simulator" / "conversation-openapi.yaml").read_text())
    return OpenAPI.from_dict(keyed_unions(spec))


class NodeRun:
    """Runs ``node tests/node/conversation_client.js '<json>'`` with the simulator's settings; reads its JSON line."""

    def __init__(self, node: str, sim: SimulatorServer) -> None:
        self.node = node
        self.settings = {
            "conversationHostname": sim.url,
            "authHostname": sim.url,
            "conversationRegion": "us",
            "projectId": PROJECT_ID,
            "keyId": KEY_ID,
            "keySecret": KEY_SECRET,
            "timeoutMs": SDK_CALL_TIMEOUT_MS,
        }

    def outcome(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The script's ``{"ok": ..., ...}`` answer, with its stderr."""
        args = [self.node, str(CONVERSATION_CLIENT), json.dumps({**self.settings, **payload})]
        try:
            done = subprocess.run(args, cwd=NODE_DIR, capture_output=True, timeout=NODE_RUN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"node conversation_client.js {payload['op']} ran over {NODE_RUN_TIMEOUT} s: {exc.stderr!r}")
        lines = done.stdout.decode().strip().splitlines()
        assert len(lines) == 1, f"conversation_client.js must print one JSON line, got {done.stdout!r}; {done.stderr!r}"
        answer: dict[str, Any] = json.loads(lines[0])
        answer["stderr"] = done.stderr.decode(errors="replace")
        return answer

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The answer of a call the SDK must complete (``result`` and ``dates``); fails the test otherwise."""
        answer = self.outcome(payload)
        assert answer["ok"], f"the Node SDK failed ({answer.get('status')}): {answer['error']}\n{answer['stderr']}"
        return answer


@pytest.fixture
def run_node(node: str, sim: SimulatorServer) -> NodeRun:
    return NodeRun(node, sim)


def text_body(recipient: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
    return {"app_id": APP_ID, "recipient": recipient, "message": {"text_message": {"text": text}}, **extra}


# ------------------------------------------------------------------ tests


def test_send_to_a_number_and_a_contact_then_read_both_back(
    run_node: NodeRun, sim: SimulatorServer, wire: WireCapture, openapi: Any
) -> None:
    """One client: a token, two sends (a number on SMS, a contact ID), two gets; all as the simulator recorded."""
    start, before, tokens = len(wire.exchanges), len(sim.app.conversation.messages), sim.token_requests
    log_start = len(sim.requests)
    to_number = text_body(
        {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": PHONE}]}},
        "Hello from Node",
        channel_priority_order=["SMS"],
        ttl=30,
        correlation_id="node-1",
    )
    to_contact = text_body({"contact_id": CONTACT}, "Hello, contact")
    answer = run_node(
        {
            "op": "session",
            "steps": [
                {"op": "send_text", "body": to_number},
                {"op": "send", "body": to_contact},
                {"op": "get", "message_id_from_step": 0},
                {"op": "get", "message_id_from_step": 1},
            ],
        }
    )
    sent_by_number, sent_to_contact, by_number, by_contact = answer["result"]["steps"]
    revived = {
        f"steps.{n}.{key}" for n, key in enumerate(["accepted_time", "accepted_time", "accept_time", "accept_time"])
    }
    assert revived <= set(answer["dates"]), "the SDK read every timestamp as a date"

    stored = sim.app.conversation.messages[before:]
    assert [m.id for m in stored] == [sent_by_number["message_id"], sent_to_contact["message_id"]]
    assert (stored[0].channel, stored[0].identity, stored[0].text) == ("SMS", PHONE, "Hello from Node")
    assert stored[0].body == {**to_number, "ttl": "30s"}, "the SDK writes a numeric ttl as seconds"
    assert (stored[1].contact_id, stored[1].identity, stored[1].text) == (CONTACT, None, "Hello, contact")
    assert stored[1].body == to_contact

    assert by_number["id"] == sent_by_number["message_id"]
    assert by_number["direction"] == "TO_CONTACT"
    assert by_number["app_message"] == {"text_message": {"text": "Hello from Node"}}
    assert by_number["channel_identity"] == {"channel": "SMS", "identity": PHONE, "app_id": APP_ID}
    assert by_number["contact_id"] == stored[0].contact_id
    assert by_number["conversation_id"] == stored[0].conversation_id
    assert by_number["accept_time"] == sent_by_number["accepted_time"]
    assert by_contact["id"] == sent_to_contact["message_id"]
    assert by_contact["contact_id"] == CONTACT
    assert by_contact["app_message"] == {"text_message": {"text": "Hello, contact"}}

    # The simulator's log: the SDK fetched one token, then every call went with it.
    assert sim.token_requests == tokens + 1
    recorded = [(r.method, r.path, r.auth, r.status) for r in sim.requests[log_start:]]
    assert recorded == [
        ("POST", "/oauth2/token", "basic", 200),
        ("POST", f"{API}messages:send", "bearer", 200),
        ("POST", f"{API}messages:send", "bearer", 200),
        ("GET", f"{API}messages/{sent_by_number['message_id']}", "bearer", 200),
        ("GET", f"{API}messages/{sent_to_contact['message_id']}", "bearer", 200),
    ]
    gets = [r for r in sim.requests[log_start:] if r.method == "GET"]
    assert [r.query for r in gets] == [{"messages_source": "CONVERSATION_SOURCE"}] * 2, "the SDK's default source"

    # The wire: the SDK's token request, its Bearer on every call, and Sinch's document for every exchange.
    exchanges = wire.since(start)
    [token_call] = [x for x in exchanges if x.path == "/oauth2/token"]
    assert token_call.body == b"grant_type=client_credentials"
    assert token_call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert token_call.headers["authorization"] == BASIC
    api = [x for x in exchanges if x.path.startswith(API)]
    assert {x.headers["authorization"] for x in api} == {f"Bearer {token_call.json()['access_token']}"}
    for exchange in api:
        assert exchange.headers["user-agent"].startswith(f"sinch-sdk/{PINNED} (JavaScript/")
        check_exchange(openapi, exchange)


def test_the_provider_reads_what_the_node_sdk_sent(
    run_node: NodeRun, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clients, one simulator: the hook (Python SDK) reads the Node SDK's message, and the app, as Node does."""
    sent = run_node(
        {
            "op": "send_text",
            "body": text_body(
                {"identified_by": {"channel_identities": [{"channel": "WHATSAPP", "identity": PHONE}]}}, "Cross-client"
            ),
        }
    )["result"]
    node_view, node_app = run_node(
        {
            "op": "session",
            "steps": [{"op": "get", "message_id": sent["message_id"]}, {"op": "get_app", "app_id": APP_ID}],
        }
    )["result"]["steps"]
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url, conversation_app_id=APP_ID))
    hook = SinchHook()
    hook_view = hook.conversation.get_message(sent["message_id"])
    assert hook.conversation.probe() == f"ok (app {node_app['display_name']} in region us)"
    assert node_app["id"] == APP_ID
    assert hook_view["id"] == node_view["id"] == sent["message_id"]
    for key in ("direction", "app_message", "channel_identity", "contact_id", "conversation_id", "processing_mode"):
        assert hook_view[key] == node_view[key], key
    assert hook_view["channel_identity"]["channel"] == "WHATSAPP"


def test_errors_reach_the_node_sdk_in_the_error_shape(run_node: NodeRun, sim: SimulatorServer) -> None:
    """An unknown app, a message that does not exist and a rejected body: the SDK's error has the status and body."""
    before = len(sim.app.conversation.messages)
    unknown_app = run_node.outcome(
        {"op": "send_text", "body": {**text_body({"contact_id": CONTACT}, "x"), "app_id": "01NOSUCHAPP"}}
    )
    missing = run_node.outcome({"op": "get", "message_id": "01NOSUCHMESSAGE"})
    rejected = run_node.outcome(
        {
            "op": "send",
            "body": text_body(
                {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "4155552671"}]}}, "x"
            ),
        }
    )
    assert [(a["ok"], a["status"]) for a in (unknown_app, missing, rejected)] == [
        (False, 404),
        (False, 404),
        (False, 400),
    ]
    bodies = [json.loads(a["body"]) for a in (unknown_app, missing, rejected)]
    assert [b["error"]["status"] for b in bodies] == ["NOT_FOUND", "NOT_FOUND", "INVALID_ARGUMENT"]
    assert "01NOSUCHAPP" in bodies[0]["error"]["message"]
    [violation] = bodies[2]["error"]["details"][0]["fieldViolations"]
    assert violation["field"] == "recipient.identified_by.channel_identities[0].identity"
    assert len(sim.app.conversation.messages) == before
    assert all(KEY_SECRET not in a["error"] + a["stderr"] for a in (unknown_app, missing, rejected))
