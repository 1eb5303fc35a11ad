"""The simulator's Conversation API: ``messages:send``, ``messages/{id}`` and ``apps/{id}``, with its limits.

What Sinch's Conversation API document says, as a stand-in for tests: ``app_id``, ``recipient`` (a
``contact_id`` or ``identified_by.channel_identities``) and ``message`` (exactly one message type) are
required; errors are ``{"error": {"code", "message", "status", "details"}}``; and, from its Rate Limits
section, a project may make 800 requests per second, and an app's outbound queue (at most 500,000
messages) drains at 20 messages per second. A send beyond either answers 429.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request  # noqa: TC002 - FastAPI reads the route annotations at run time
from fastapi.responses import JSONResponse, Response

from airflow_provider_sinch._validation import E164
from airflow_provider_sinch.simulator.auth import TokenBucket
from airflow_provider_sinch.simulator.filters import format_ms
from airflow_provider_sinch.simulator.store import make_ulid

if TYPE_CHECKING:
    from fastapi import FastAPI

#: ``ConversationChannel`` of Sinch's document.
CHANNELS = frozenset(
    {"SMS", "RCS", "WHATSAPP", "MMS", "KAKAOTALK", "KAKAOTALKCHAT", "VIBERBM", "LINE", "INSTAGRAM", "MESSENGER",
     "WECHAT", "TELEGRAM", "APPLEBC"}
)  # fmt: skip
#: The message types of ``SendMessageRequest.message`` (``AppMessage``): exactly one per message.
MESSAGE_TYPES = frozenset(
    {"text_message", "card_message", "carousel_message", "choice_message", "contact_info_message", "list_message",
     "location_message", "media_message", "template_message"}
)  # fmt: skip
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}  # fmt: skip
#: ``MessageSource`` of Sinch's document: where ``GET messages/{id}`` looks (default CONVERSATION_SOURCE).
MESSAGE_SOURCES = ("CONVERSATION_SOURCE", "DISPATCH_SOURCE")
#: The start of every Conversation API path (the Fax API's start with ``/v3/``).
PATH_PREFIX = "/v1/"
#: The query parameters of the Conversation endpoints served here.
KNOWN_PARAMS = {"messages": frozenset({"messages_source"}), "apps": frozenset(), "send": frozenset()}


def error_body(status: int, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    """The Conversation API's error shape: ``{"error": {code, message, status, details}}``."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "UNKNOWN"),
            "details": details or [],
        }
    }


@dataclass
class SentMessage:
    """One accepted message and when its app's queue hands it to the channel."""

    id: str
    app_id: str
    accept_ms: int
    dispatch_at: float
    channel: str
    identity: str | None
    contact_id: str
    conversation_id: str
    text: str | None
    body: dict[str, Any]


class ConversationState:
    """Apps, sent messages and the two limits of Sinch's document, for one simulator.

    :param app_ids: the apps that exist; ``messages:send`` to another answers 404.
    :param project_rate: requests per second a project may make (800).
    :param app_rate: messages per second an app's queue drains (20).
    :param queue_limit: messages an app's queue holds (500,000).
    """

    def __init__(
        self,
        app_ids: tuple[str, ...] = ("test-app",),
        *,
        project_rate: float = 800.0,
        app_rate: float = 20.0,
        queue_limit: int = 500_000,
        seed: int = 42,
    ) -> None:
        self.app_ids = set(app_ids)
        self.project_bucket = TokenBucket(project_rate)
        self.app_rate = app_rate
        self.queue_limit = queue_limit
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._messages: dict[str, SentMessage] = {}
        self._queue_tail: dict[str, float] = {}  # app -> when its last queued message is dispatched
        self._contacts: dict[str, str] = {}  # identity -> contact ID

    def queued(self, app_id: str, now: float | None = None) -> int:
        """How many messages of ``app_id`` wait in its queue now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return sum(1 for m in self._messages.values() if m.app_id == app_id and m.dispatch_at > now)

    @property
    def messages(self) -> list[SentMessage]:
        """Every accepted message, oldest first."""
        with self._lock:
            return list(self._messages.values())

    def accept(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Validate a ``messages:send`` body and queue the message: ``(status, JSON answer)``."""
        problems = send_problems(body)
        if problems:
            details = [{"type": "BadRequest", "fieldViolations": [{"field": f, "description": d} for f, d in problems]}]
            return 400, error_body(400, "Invalid argument: " + ", ".join(f for f, _ in problems), details)
        app_id = body["app_id"]
        if app_id not in self.app_ids:
            return 404, error_body(404, f"App {app_id} not found in this project.")
        recipient = body["recipient"]
        now = time.monotonic()
        with self._lock:
            tail = max(now, self._queue_tail.get(app_id, now))
            # The messages not yet handed to the channel: each holds its place until its dispatch time.
            waiting = math.ceil(round((tail - now) * self.app_rate, 9))
            if waiting >= self.queue_limit:
                return 429, error_body(429, f"The queue of app {app_id} is full ({self.queue_limit} messages).")
            dispatch_at = tail + 1.0 / self.app_rate
            self._queue_tail[app_id] = dispatch_at
            if "contact_id" in recipient:
                channel = (body.get("channel_priority_order") or ["SMS"])[0]
                identity, contact_id = None, str(recipient["contact_id"])
            else:
                first = recipient["identified_by"]["channel_identities"][0]
                channel, identity = first["channel"], first["identity"]
                contact_id = self._contacts.setdefault(
                    identity, make_ulid(int(time.time() * 1000), self._rng.getrandbits(80))
                )
            accept_ms = int(time.time() * 1000)
            message = SentMessage(
                id=make_ulid(accept_ms, self._rng.getrandbits(80)),
                app_id=app_id,
                accept_ms=accept_ms,
                dispatch_at=dispatch_at,
                channel=channel,
                identity=identity,
                contact_id=contact_id,
                conversation_id=make_ulid(accept_ms, self._rng.getrandbits(80)),
                text=(body["message"].get("text_message") or {}).get("text"),
                body=body,
            )
            self._messages[message.id] = message
        return 200, {"message_id": message.id, "accepted_time": format_ms(accept_ms)}

    def render(self, message_id: str) -> dict[str, Any] | None:
        """A sent message as ``GET messages/{id}`` answers it (``ConversationMessage``), or None."""
        with self._lock:
            message = self._messages.get(message_id)
        if message is None:
            return None
        identity = {
            "channel": message.channel,
            "identity": message.identity or message.contact_id,
            "app_id": message.app_id,
        }
        return {
            "id": message.id,
            "direction": "TO_CONTACT",
            "app_message": {key: value for key, value in message.body["message"].items() if key in MESSAGE_TYPES},
            "channel_identity": identity,
            "contact_id": message.contact_id,
            "conversation_id": message.conversation_id,
            "accept_time": format_ms(message.accept_ms),
            "metadata": str(message.body.get("message_metadata") or ""),
            "injected": False,
            "processing_mode": "CONVERSATION",
        }

    def app(self, app_id: str) -> dict[str, Any] | None:
        """An app as ``GET apps/{id}`` answers it, or None."""
        if app_id not in self.app_ids:
            return None
        return {
            "id": app_id,
            "display_name": f"Simulated app {app_id}",
            "channel_credentials": [],
            "processing_mode": "CONVERSATION",
            "conversation_metadata_report_view": "NONE",
        }


def send_problems(body: Any) -> list[tuple[str, str]]:
    """The field violations of a ``messages:send`` body, as Sinch's document defines the request."""
    if not isinstance(body, dict):
        return [("body", "The request body must be a JSON object.")]
    problems: list[tuple[str, str]] = []
    if not isinstance(body.get("app_id"), str) or not body["app_id"]:
        problems.append(("app_id", "app_id is required."))
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or ("contact_id" in recipient) == ("identified_by" in recipient):
        problems.append(("recipient", "Give exactly one of recipient.contact_id and recipient.identified_by."))
    elif "identified_by" in recipient:
        identities = (recipient["identified_by"] or {}).get("channel_identities")
        if not isinstance(identities, list) or not identities:
            problems.append(
                ("recipient.identified_by.channel_identities", "At least one channel identity is required.")
            )
        else:
            for index, item in enumerate(identities):
                field = f"recipient.identified_by.channel_identities[{index}]"
                if not isinstance(item, dict) or item.get("channel") not in CHANNELS:
                    problems.append((f"{field}.channel", f"channel must be one of {', '.join(sorted(CHANNELS))}."))
                elif not isinstance(item.get("identity"), str) or not item["identity"]:
                    problems.append((f"{field}.identity", "identity is required."))
                elif item["channel"] in ("SMS", "MMS", "WHATSAPP", "RCS") and not E164.fullmatch(item["identity"]):
                    problems.append((f"{field}.identity", "Phone number was not in the expected format."))
    elif not isinstance(recipient["contact_id"], str) or not recipient["contact_id"]:
        problems.append(("recipient.contact_id", "contact_id must be a non-empty string."))
    message = body.get("message")
    message = message if isinstance(message, dict) else {}
    kinds = [key for key in message if key in MESSAGE_TYPES]
    if len(kinds) != 1:
        problems.append(("message", f"Give exactly one message type ({', '.join(sorted(MESSAGE_TYPES))})."))
    elif kinds == ["text_message"]:
        text_message = message["text_message"]
        text = text_message.get("text") if isinstance(text_message, dict) else None
        if not isinstance(text, str) or not text:
            problems.append(("message.text_message.text", "text is required."))
    order = body.get("channel_priority_order")
    if order is not None and (not isinstance(order, list) or any(channel not in CHANNELS for channel in order)):
        problems.append(("channel_priority_order", "channel_priority_order must list channels of ConversationChannel."))
    return problems


def add_routes(api: FastAPI, state: ConversationState) -> None:
    """The Conversation API's routes on the simulator's FastAPI app (authorized by the outer ASGI layer)."""
    base = PATH_PREFIX + "projects/{project_id}"

    @api.post(base + "/messages:send")
    async def send_message(request: Request) -> Response:
        allowed, wait = state.project_bucket.acquire()
        if not allowed:
            return JSONResponse(
                error_body(429, f"Too many requests for this project ({state.project_bucket.rate:g} per second)."),
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse(error_body(400, "The request body is not valid JSON."), status_code=400)
        status, answer = state.accept(body)
        return JSONResponse(answer, status_code=status)

    @api.get(base + "/messages/{message_id}")
    async def get_message(message_id: str, request: Request) -> Response:
        source = request.query_params.get("messages_source", "CONVERSATION_SOURCE")
        if source not in MESSAGE_SOURCES:
            violation = {"field": "messages_source", "description": f"Use one of {', '.join(MESSAGE_SOURCES)}."}
            details = [{"type": "BadRequest", "fieldViolations": [violation]}]
            return JSONResponse(error_body(400, "Invalid argument: messages_source", details), status_code=400)
        message = state.render(message_id)
        # Every message here was sent in CONVERSATION processing mode: the dispatch source holds none of them.
        if message is None or source == "DISPATCH_SOURCE":
            return JSONResponse(error_body(404, f"Message {message_id} not found."), status_code=404)
        return JSONResponse(message)

    @api.get(base + "/apps/{app_id}")
    async def get_app(app_id: str) -> Response:
        app = state.app(app_id)
        if app is None:
            return JSONResponse(error_body(404, f"App {app_id} not found."), status_code=404)
        return JSONResponse(app)
