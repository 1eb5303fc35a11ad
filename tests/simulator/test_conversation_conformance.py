"""The simulator's Conversation API against Sinch's own OpenAPI document and Sinch's own Python SDK.

The spec is vendored next to this file (``conversation-openapi.yaml``, Sinch's document, trimmed). Requests go to
the simulator on 127.0.0.1 and are presented to openapi-core as if they had gone to the spec's server,
``https://us.conversation.api.sinch.com``. What is checked:

- the simulator's answers to ``messages:send`` and ``messages/{id}`` (200), and its error bodies, validate;
- the request bodies Sinch's Python SDK (``sinch`` 2.3.0, its own HTTP transport, no provider code) writes for
  ``messages.send`` / ``send_text_message`` validate as the spec's ``SendMessageRequest``: they are recorded on the
  wire by :class:`WireCapture`, since the simulator's request log keeps no bodies or headers;
- the SDK's pydantic models parse the simulator's answers (``SendMessageResponse``, and the
  ``ConversationMessageResponse`` union resolves to ``AppMessageResponse``) and dump the same fields back;
- what the simulator refuses (no ``app_id``, both or neither recipient forms, two message types, an unknown
  channel, a number that is not E.164 on SMS) is a 400 in the ``{"error": {...}}`` shape whose field violation
  names the field, and the spec refuses those bodies too (except an empty ``app_id`` and the E.164 rule, which it
  cannot express); an unknown app is a 404, and other errors (401, a body that is not JSON, 429) have the shape too;

Sinch's document cannot be used as it is: see :func:`keyed_unions`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import pytest
import yaml

from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

SPEC_PATH = Path(__file__).with_name("conversation-openapi.yaml")
SPEC_SERVER = "https://us.conversation.api.sinch.com"
KEY_ID, KEY_SECRET, PROJECT_ID = "conv-key-id", "conv-key-secret", "conv-project"
APP_ID = "01CONFORMANCEAPP"
PHONE = "+14155552671"
SEND_PATH = f"/v1/projects/{PROJECT_ID}/messages:send"

# openapi-core checks no oAuth2 security scheme (it warns and lets the request through); the auth is the
# simulator's business and is checked by the tests that read the Authorization header.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")


# ------------------------------------------------------------------ the spec


def keyed_unions(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of Sinch's document in which every one-property ``oneOf`` member requires its one property.

    Sinch's message unions (``AppMessageTypes``, ``ConversationMessageTypes``, ``RecipientBase``, ...) are
    ``oneOf`` lists of wrapper schemas such as ``TextMessageField = {properties: {text_message: ...}}`` that
    require nothing. Any object then matches every member that does not forbid it, so a strict ``oneOf`` check
    rejects every real message: openapi-core refuses the SDK's own ``{"text_message": {"text": "hi"}}`` as "valid
    under each of CarouselMessageField, ...". Sinch's SDKs pick a member by its key (the Python SDK's
    ``ResolveUnion``); making each wrapper require its key makes the spec say the same, and keeps it strict:
    two message types, or none, still fail. Two of Sinch's ``required`` lists name keys one level too high
    (``ChannelSpecificContactMessage``, ``ProductResponseMessage``) and are fixed to their wrapper key first.
    Adapted from ``/work/research/sinch-sdk/validate_spec_keyed.py`` (research notes, section P2.5).
    """
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    schemas["ChannelSpecificContactMessage"]["required"] = ["channel_specific_message"]
    schemas["ProductResponseMessage"]["required"] = ["product_response_message"]

    def target(member: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in member:
            resolved: dict[str, Any] = schemas[member["$ref"].rsplit("/", 1)[-1]]
            return resolved
        return member

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for member in node.get("oneOf", []):
                schema = target(member)
                properties = schema.get("properties", {})
                if len(properties) == 1 and not schema.get("required"):
                    schema["required"] = list(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return spec


def strict_error_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """``runtimeError`` with its four fields required (the document requires none, so ``{}`` would pass)."""
    schema = copy.deepcopy(spec["components"]["schemas"]["runtimeError"])
    schema["required"] = ["error"]
    schema["properties"]["error"]["required"] = ["code", "message", "status", "details"]
    return {**schema, "components": spec["components"]}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(keyed_unions(spec))


@pytest.fixture(scope="module")
def error_validator(spec: dict[str, Any]) -> Any:
    from openapi_schema_validator import OAS30Validator

    return OAS30Validator(strict_error_schema(spec))


def test_the_unrelaxed_spec_rejects_the_sdks_own_text_message(spec: dict[str, Any], openapi: Any) -> None:
    """Why :func:`keyed_unions` is needed, and that it relaxes nothing else: the same body fails as it is."""
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    body = text_body()
    request = MockRequest(SPEC_SERVER, "post", SEND_PATH, data=json.dumps(body).encode())
    with pytest.raises(InvalidRequestBody):
        OpenAPI.from_dict(spec).validate_request(request)
    openapi.validate_request(request)
    two_kinds = {**body, "message": {"text_message": {"text": "a"}, "media_message": {"url": "https://x.io/a.png"}}}
    with pytest.raises(InvalidRequestBody):
        openapi.validate_request(MockRequest(SPEC_SERVER, "post", SEND_PATH, data=json.dumps(two_kinds).encode()))


# ------------------------------------------------------------------ the wire


@dataclass
class Exchange:
    """One request and its answer as they crossed the simulator's API layer (after its auth check)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.response_body)

    def request_json(self) -> Any:
        return json.loads(self.body)


class WireCapture:
    """Records every exchange of a simulator's API routes, headers and bodies included (tests only).

    Installed in place of ``SimulatorApp.api`` (the FastAPI app the simulator's ASGI layer calls after it has
    authorized a request): the simulator itself records no headers or bodies, so what a client really sent (its
    ``User-Agent``, its ``Authorization``, its JSON) is read here. Requests the auth layer refused (401) do not
    reach it.
    """

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.exchanges: list[Exchange] = []
        self._inner = server.app.api
        server.app.api = self  # type: ignore[assignment]

    def uninstall(self) -> None:
        self.server.app.api = self._inner

    def since(self, start: int, path_prefix: str = "") -> list[Exchange]:
        """The exchanges from number ``start`` on whose path starts with ``path_prefix``."""
        return [x for x in self.exchanges[start:] if x.path.startswith(path_prefix)]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])},
            body=b"",
        )
        self.exchanges.append(exchange)

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                exchange.body += message.get("body", b"")
            return message

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                exchange.response_body += message.get("body", b"")
            await send(message)

        await self._inner(scope, recording_receive, recording_send)


def as_sinch_request(exchange: Exchange) -> Any:
    """The exchange's request as openapi-core sees a request to the spec's server."""
    from openapi_core.testing import MockRequest

    return MockRequest(
        SPEC_SERVER,
        exchange.method.lower(),
        exchange.path,
        args=exchange.query,
        headers=exchange.headers,
        data=exchange.body or None,
        content_type=exchange.headers.get("content-type", "application/json").split(";")[0],
    )


def check_exchange(openapi: Any, exchange: Exchange) -> None:
    """Validate the exchange's request and its answer against the operation the spec documents for them."""
    from openapi_core.testing import MockResponse

    request = as_sinch_request(exchange)
    openapi.validate_request(request)
    response = MockResponse(
        exchange.response_body,
        status_code=exchange.status or 0,
        content_type=exchange.response_headers.get("content-type", "").split(";")[0],
    )
    openapi.validate_response(request, response)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, conversation_app_ids=(APP_ID, "01OTHERAPP")
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def sdk(sim: SimulatorServer) -> Any:
    """Sinch's Python SDK as a user configures it, on its own HTTP transport, pointed at the simulator."""
    from sinch import SinchClient
    from sinch.core.clients.retry_configuration import RetryConfiguration
    from sinch.core.enums import RetryPolicy

    client = SinchClient(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        project_id=PROJECT_ID,
        conversation_region="us",
        retry_configuration=RetryConfiguration(retry_policy=RetryPolicy.NONE),
    )
    client.configuration.conversation_domain = sim.url
    client.configuration.auth_origin = sim.url
    return client


@pytest.fixture
def http(sim: SimulatorServer) -> Iterator[requests.Session]:
    import requests

    with requests.Session() as session:
        session.auth = (KEY_ID, KEY_SECRET)
        yield session


def text_body(**extra: Any) -> dict[str, Any]:
    """A minimal valid ``messages:send`` body: a text message to an E.164 number on SMS."""
    return {
        "app_id": APP_ID,
        "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": PHONE}]}},
        "message": {"text_message": {"text": "Hello from the conformance test"}},
        **extra,
    }


# ------------------------------------------------------------------ the SDK on the wire


#: ``messages.send`` calls of Sinch's Python SDK: its text message to a number, to several channels, to a
#: contact, and with every option the provider passes through (``**options`` of ``send_text``).
SDK_SENDS: list[dict[str, Any]] = [
    {"recipient_identities": [{"channel": "SMS", "identity": PHONE}]},
    {
        "recipient_identities": [{"channel": "WHATSAPP", "identity": PHONE}, {"channel": "SMS", "identity": PHONE}],
        "channel_priority_order": ["WHATSAPP", "SMS"],
    },
    {"contact_id": "01CONTACTCONFORMANCE", "channel_priority_order": ["SMS"]},
    {
        "recipient_identities": [{"channel": "SMS", "identity": PHONE}],
        "channel_priority_order": ["SMS"],
        "ttl": 30,
        "event_destination_target": "https://example.com/callbacks/sinch",
        "correlation_id": "dag-1.task-2",
        "message_metadata": "run=manual__2025",
        "conversation_metadata": {"dag_id": "example", "try": 1},
        "queue": "HIGH_PRIORITY",
        "processing_strategy": "DEFAULT",
        "conversation_metadata_update_strategy": "MERGE_PATCH",
        "message_content_type": "CONTENT_NOTIFICATION",
        "channel_properties": {"SMS_FLASH_MESSAGE": "false"},
    },
]


def test_the_python_sdks_requests_and_the_simulators_answers_conform(
    openapi: Any, sdk: Any, sim: SimulatorServer, wire: WireCapture
) -> None:
    """Each SDK send and get, request and answer, validates; the SDK's bodies are what it was asked to send."""
    start = len(wire.exchanges)
    sent = []
    for number, kwargs in enumerate(SDK_SENDS):
        text = f"conformance message {number}"
        if number % 2:
            sent.append(
                sdk.conversation.messages.send(app_id=APP_ID, message={"text_message": {"text": text}}, **kwargs)
            )
        else:
            sent.append(sdk.conversation.messages.send_text_message(app_id=APP_ID, text=text, **kwargs))
    for response in sent:
        sdk.conversation.messages.get(message_id=response.message_id)
    sdk.conversation.messages.get(message_id=sent[0].message_id, messages_source="CONVERSATION_SOURCE")

    exchanges = wire.since(start)
    token, api = exchanges[0], exchanges[1:]
    assert (token.method, token.path, token.status) == ("POST", "/oauth2/token", 200), "the SDK's own OAuth2 token"
    assert [(x.method, x.status) for x in api] == [("POST", 200)] * len(SDK_SENDS) + [("GET", 200)] * (
        len(SDK_SENDS) + 1
    )
    for exchange in api:
        assert exchange.headers["authorization"] == f"Bearer {token.json()['access_token']}"
        assert exchange.headers["user-agent"].startswith("sinch-sdk/")
        check_exchange(openapi, exchange)

    bodies = [x.request_json() for x in api[: len(SDK_SENDS)]]
    assert bodies[0] == {
        "app_id": APP_ID,
        "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": PHONE}]}},
        "message": {"text_message": {"text": "conformance message 0"}},
    }
    assert bodies[2]["recipient"] == {"contact_id": "01CONTACTCONFORMANCE"}
    options = bodies[3]
    assert options["ttl"] == "30s"
    assert options["callback_url"] == "https://example.com/callbacks/sinch"
    assert options["conversation_metadata"] == {"dag_id": "example", "try": 1}
    assert "event_destination_target" not in options
    assert [x.query for x in api[len(SDK_SENDS) :]] == [{}] * len(SDK_SENDS) + [
        {"messages_source": "CONVERSATION_SOURCE"}
    ]

    stored = {message.id: message for message in sim.app.conversation.messages}
    for response, body in zip(sent, bodies, strict=True):
        assert stored[response.message_id].body == body, "the simulator keeps the body it was sent"


def test_the_sdks_models_parse_the_simulators_answers_and_dump_them_back(
    sdk: Any, sim: SimulatorServer, wire: WireCapture
) -> None:
    from pydantic import TypeAdapter
    from sinch.domains.conversation.models.v1.messages.response import SendMessageResponse
    from sinch.domains.conversation.models.v1.messages.response.message_response import AppMessageResponse
    from sinch.domains.conversation.models.v1.messages.response.types import ConversationMessageResponse

    start = len(wire.exchanges)
    sent = sdk.conversation.messages.send(
        app_id=APP_ID,
        message={"text_message": {"text": "round trip"}},
        recipient_identities=[{"channel": "WHATSAPP", "identity": PHONE}, {"channel": "SMS", "identity": PHONE}],
        message_metadata="meta-1",
    )
    got = sdk.conversation.messages.get(message_id=sent.message_id)
    send_answer, get_answer = (x.json() for x in wire.since(start, "/v1/"))

    parsed_send = SendMessageResponse.model_validate(send_answer)
    assert parsed_send == sent
    assert parsed_send.message_id == send_answer["message_id"]
    assert parsed_send.accepted_time == as_datetime(send_answer["accepted_time"])
    assert parsed_send.accepted_time.tzinfo is not None

    message = TypeAdapter(ConversationMessageResponse).validate_python(get_answer)
    assert isinstance(message, AppMessageResponse), f"the union resolved to {type(message).__name__}"
    assert isinstance(got, AppMessageResponse)
    assert message.model_dump() == got.model_dump()
    assert message.id == sent.message_id
    assert message.direction == "TO_CONTACT"
    assert message.app_message.text_message.text == "round trip"
    assert (message.channel_identity.channel, message.channel_identity.identity) == ("WHATSAPP", PHONE)
    assert message.channel_identity.app_id == APP_ID
    assert message.metadata == "meta-1"
    assert message.accept_time == parsed_send.accepted_time
    dumped = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert with_datetimes(dumped) == with_datetimes(get_answer), "every field the simulator answered round-trips"

    [stored] = [m for m in sim.app.conversation.messages if m.id == sent.message_id]
    assert (stored.channel, stored.identity, stored.text) == ("WHATSAPP", PHONE, "round trip")
    assert message.contact_id == stored.contact_id
    assert message.conversation_id == stored.conversation_id


def test_the_check_rejects_a_non_conforming_answer(openapi: Any, sdk: Any, wire: WireCapture) -> None:
    """The response check has teeth: the simulator's own answers, each with one field broken, fail it."""
    from openapi_core.validation.response.exceptions import InvalidData

    start = len(wire.exchanges)
    sent = sdk.conversation.messages.send_text_message(
        app_id=APP_ID, text="to be broken", recipient_identities=[{"channel": "SMS", "identity": PHONE}]
    )
    sdk.conversation.messages.get(message_id=sent.message_id)
    send, get = wire.since(start, "/v1/")
    check_exchange(openapi, send)
    check_exchange(openapi, get)
    for exchange, broken in (
        (send, {**send.json(), "accepted_time": "yesterday"}),
        (get, {**get.json(), "direction": "SIDEWAYS"}),
        (get, {**get.json(), "channel_identity": {"channel": "FAX", "identity": PHONE}}),
        (get, {k: v for k, v in get.json().items() if k != "app_message"}),
    ):
        exchange.response_body = json.dumps(broken).encode()
        with pytest.raises(InvalidData):
            check_exchange(openapi, exchange)


def as_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def with_datetimes(value: Any) -> Any:
    """``value`` with its ``*_time`` strings parsed, so ``.123Z`` and ``.123000Z`` compare equal."""
    if isinstance(value, dict):
        return {k: as_datetime(v) if k.endswith("_time") else with_datetimes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_datetimes(item) for item in value]
    return value


# ------------------------------------------------------------------ what the simulator refuses


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


REJECTED: dict[str, tuple[dict[str, Any], str, bool]] = {
    # case: (body, the field the violation names, whether the (relaxed) spec refuses the body too)
    "missing app_id": (_without(text_body(), "app_id"), "app_id", True),
    "empty app_id": (text_body(app_id=""), "app_id", False),
    "both recipient forms": (
        text_body(recipient={"contact_id": "01CONTACT", **text_body()["recipient"]}),
        "recipient",
        True,
    ),
    "neither recipient form": (text_body(recipient={}), "recipient", True),
    "no recipient": (_without(text_body(), "recipient"), "recipient", True),
    "two message types": (
        text_body(message={"text_message": {"text": "a"}, "media_message": {"url": "https://example.com/a.png"}}),
        "message",
        True,
    ),
    "no message type": (text_body(message={}), "message", True),
    "bad channel": (
        text_body(recipient={"identified_by": {"channel_identities": [{"channel": "FAX", "identity": PHONE}]}}),
        "recipient.identified_by.channel_identities[0].channel",
        True,
    ),
    "bad channel in the priority order": (
        text_body(channel_priority_order=["SMS", "CARRIER_PIGEON"]),
        "channel_priority_order",
        True,
    ),
    "number not E.164 on SMS": (
        text_body(recipient={"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "4155552671"}]}}),
        "recipient.identified_by.channel_identities[0].identity",
        False,  # the spec's identity is any string: only the channel's rules say a number must be E.164
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_the_simulator_rejects_bad_sends_with_a_field_violation(
    case: str,
    openapi: Any,
    error_validator: Any,
    sim: SimulatorServer,
    wire: WireCapture,
    http: requests.Session,
) -> None:
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    body, violated, spec_refuses = REJECTED[case]
    before = len(sim.app.conversation.messages)
    start = len(wire.exchanges)
    answer = http.post(f"{sim.url}{SEND_PATH}", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()
    error_validator.validate(error)
    assert error["error"]["code"] == 400
    assert error["error"]["status"] == "INVALID_ARGUMENT"
    violations = [v for detail in error["error"]["details"] for v in detail.get("fieldViolations", [])]
    assert violated in [v["field"] for v in violations], violations
    assert all(v["description"] for v in violations)
    assert violated in error["error"]["message"]
    assert len(sim.app.conversation.messages) == before, "nothing was queued"

    [exchange] = wire.since(start)
    request = as_sinch_request(exchange)
    if spec_refuses:
        with pytest.raises(InvalidRequestBody):
            openapi.validate_request(request)
    else:
        openapi.validate_request(request)
    from openapi_core.testing import MockResponse

    openapi.validate_response(request, MockResponse(exchange.response_body, status_code=400))


def test_unknown_app_is_404_in_the_error_shape(
    error_validator: Any, openapi: Any, sim: SimulatorServer, http: requests.Session
) -> None:
    from openapi_core.testing import MockRequest

    body = text_body(app_id="01NOSUCHAPP")
    openapi.validate_request(MockRequest(SPEC_SERVER, "post", SEND_PATH, data=json.dumps(body).encode()))
    answer = http.post(f"{sim.url}{SEND_PATH}", json=body)
    assert answer.status_code == 404
    error = answer.json()
    error_validator.validate(error)
    assert (error["error"]["code"], error["error"]["status"]) == (404, "NOT_FOUND")
    assert "01NOSUCHAPP" in error["error"]["message"]

    missing = http.get(f"{sim.url}/v1/projects/{PROJECT_ID}/messages/01NOSUCHMESSAGE")
    assert missing.status_code == 404
    error_validator.validate(missing.json())
    app = http.get(f"{sim.url}/v1/projects/{PROJECT_ID}/apps/01NOSUCHAPP")
    assert app.status_code == 404
    error_validator.validate(app.json())


def test_other_error_answers_are_in_the_error_shape(
    error_validator: Any, sim: SimulatorServer, http: requests.Session
) -> None:
    """Bad credentials (401), a body that is not JSON (400) and the project's rate limit (429) alike."""
    import requests

    wrong_key = requests.post(f"{sim.url}{SEND_PATH}", json=text_body(), auth=(KEY_ID, "wrong"), timeout=10)
    assert wrong_key.status_code == 401
    error_validator.validate(wrong_key.json())
    assert wrong_key.json()["error"]["status"] == "UNAUTHENTICATED"

    not_json = http.post(
        f"{sim.url}{SEND_PATH}", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert not_json.status_code == 400
    error_validator.validate(not_json.json())

    with SimulatorServer(
        SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, conversation_rate_limit=1)
    ) as limited:
        answers = [http.post(f"{limited.url}{SEND_PATH}", json=text_body(app_id="test-app")) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429]
    error_validator.validate(answers[1].json())
    assert answers[1].json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert int(answers[1].headers["Retry-After"]) >= 1


def test_an_apps_queue_holds_queue_limit_messages(http: requests.Session) -> None:
    """Sinch's document: an app's queue holds at most its limit (500,000) and drains at 20 messages/s."""
    config = SimulatorConfig(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        project_id=PROJECT_ID,
        conversation_app_ids=(APP_ID,),
        conversation_app_rate=0.001,
        conversation_queue_limit=2,
    )
    with SimulatorServer(config) as queued:
        statuses = [http.post(f"{queued.url}{SEND_PATH}", json=text_body()).status_code for _ in range(3)]
        waiting = queued.app.conversation.queued(APP_ID)
    assert (statuses, waiting) == ([200, 200, 429], 2)


def test_get_message_checks_the_messages_source(
    openapi: Any, sdk: Any, sim: SimulatorServer, http: requests.Session
) -> None:
    from openapi_core.testing import MockRequest
    from openapi_core.validation.request.exceptions import InvalidParameter

    sent = sdk.conversation.messages.send_text_message(
        app_id=APP_ID, text="source", recipient_identities=[{"channel": "SMS", "identity": PHONE}]
    )
    path = f"/v1/projects/{PROJECT_ID}/messages/{sent.message_id}"
    with pytest.raises(InvalidParameter):
        openapi.validate_request(MockRequest(SPEC_SERVER, "get", path, args={"messages_source": "BOGUS"}))
    bogus = http.get(f"{sim.url}{path}", params={"messages_source": "BOGUS"})
    dispatch = http.get(f"{sim.url}{path}", params={"messages_source": "DISPATCH_SOURCE"})
    assert (bogus.status_code, dispatch.status_code) == (400, 404)
    assert bogus.json()["error"]["details"][0]["fieldViolations"][0]["field"] == "messages_source"


def test_an_endpoint_the_simulator_does_not_serve_answers_in_the_conversation_error_shape(
    error_validator: Any, sdk: Any, sim: SimulatorServer, http: requests.Session
) -> None:
    """Sinch's document: a Conversation endpoint that does not exist is a 404 with the ``{"error": {...}}`` body."""
    from sinch.core.exceptions import SinchException

    unserved = http.get(f"{sim.url}/v1/projects/{PROJECT_ID}/contacts/01CONTACT")
    wrong_method = http.delete(f"{sim.url}/v1/projects/{PROJECT_ID}/messages/01MESSAGE")
    assert (unserved.status_code, wrong_method.status_code) == (404, 405)
    for answer in (unserved, wrong_method):
        error_validator.validate(answer.json())
    with pytest.raises(SinchException) as raised:
        sdk.conversation.contacts.get(contact_id="01CONTACT")
    assert raised.value.response_status_code == 404
