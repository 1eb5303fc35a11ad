"""The simulator's ASGI application: Sinch's Fax API v3 routes behind auth, rate limits and faults.

``SimulatorApp`` is the outer ASGI layer. It records each request, applies injected faults, checks
credentials and rate limits for ``/v3`` paths, and hands the request to a FastAPI app with the
routes. Everything is parsed by hand rather than through FastAPI's parameter validation, because
the real API's quirks (operator query keys, its two error shapes, empty 401s) are the point.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote_plus, urlparse

from airflow_provider_sinch._validation import E164  # one E.164 rule for the provider and its stand-in
from airflow_provider_sinch.simulator import conversation
from airflow_provider_sinch.simulator.auth import TokenBucket, TokenRegistry, credentials_match, parse_basic
from airflow_provider_sinch.simulator.config import SimulatorConfig
from airflow_provider_sinch.simulator.faults import FailureSpec, FaultInjector
from airflow_provider_sinch.simulator.filters import (
    LENIENT_RANGE_KEYS,
    LIST_FAXES_PARAMS,
    InvalidFilter,
    create_time_bounds,
    parse_query_string,
)
from airflow_provider_sinch.simulator.pdf import count_pdf_pages
from airflow_provider_sinch.simulator.store import DIRECTIONS, STATUSES, FaxQuery, FaxStore

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "The Sinch Fax API simulator needs FastAPI and uvicorn: "
        "pip install 'airflow-provider-sinch[simulator]' (Airflow 3 ships both)."
    ) from exc

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PROJECT_PATH = re.compile(r"^/v[13]/projects/([^/]+)(?:/|$)")
_CONVERSATION_MESSAGE_PATH = re.compile(r"^/v1/projects/[^/]+/messages/[^/:]+$")
_DOWNLOAD_PATH = re.compile(r"/faxes/[^/]+/file(?:\.[^/]+)?$")
_LIST_PATH = re.compile(r"^/v3/projects/[^/]+/(faxes|services)$")
#: The response header that names the query parameters a request sent and the simulator ignored.
IGNORED_PARAMS_HEADER = "X-Sinch-Simulator-Ignored-Params"
_GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_PHONE_VIOLATION = "Phone number was not in the expected format."

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("airflow_provider_sinch.simulator.access")


class InjectedDisconnect(Exception):
    """Raised to make uvicorn drop a connection mid-response; its error log line is filtered out."""


class _HideInjectedDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDisconnect)


def _install_log_filter() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideInjectedDisconnects) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_HideInjectedDisconnects())


@dataclass
class RecordedRequest:
    """One request as the simulator saw it (never its headers or body).

    ``ignored`` names the query parameters the endpoint does not know: like the real API, it answered as if
    they had not been sent (an ignored range filter lists the default week instead of the range).
    """

    method: str
    path: str
    query: dict[str, str]
    auth: str | None
    status: int | None = None
    time: float = field(default_factory=time.time)
    ignored: tuple[str, ...] = ()


def known_query_params(method: str, path: str, *, lenient: bool = False) -> frozenset[str]:
    """The query parameters an endpoint understands: the list endpoints' filters and paging, else none."""
    if method == "GET" and _CONVERSATION_MESSAGE_PATH.match(path):
        return conversation.KNOWN_PARAMS["messages"]
    match = _LIST_PATH.match(path) if method == "GET" else None
    if match is None:
        return frozenset()
    if match.group(1) == "services":
        return frozenset({"page", "pageSize"})
    return LIST_FAXES_PARAMS | frozenset(LENIENT_RANGE_KEYS) if lenient else LIST_FAXES_PARAMS


# ------------------------------------------------------------------ error bodies


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``components/schemas/Error`` shape: ``{code, status, message, details}``."""
    return {
        "code": status,
        "status": _GRPC_STATUS.get(status, "UNKNOWN"),
        "message": message,
        "details": details or [],
    }


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON error in the spec's ``Error`` shape."""
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def bad_request(violations: list[tuple[str, str]], message: str | None = None) -> JSONResponse:
    """400 ``INVALID_ARGUMENT`` with ``BadRequest`` field violations, as the real API answers."""
    details = [
        {
            "type": "BadRequest",
            "fieldViolations": [{"field": f, "description": d} for f, d in violations],
        }
    ]
    text = message or "Invalid argument: " + ", ".join(f for f, _ in violations)
    return JSONResponse(error_body(400, text, details), status_code=400)


def not_found(message: str) -> JSONResponse:
    """404 in the shape Sinch's docs show: ``{code: "404", error, message}`` with a string code."""
    return JSONResponse({"code": "404", "error": "Not Found", "message": message}, status_code=404)


def _failure_response(spec: FailureSpec) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    reason = HTTPStatus(spec.status).phrase if spec.status in HTTPStatus._value2member_map_ else "Error"
    headers: list[tuple[bytes, bytes]] = []
    if spec.body_shape == "error":
        body = json.dumps(error_body(spec.status, f"Injected fault: {reason}")).encode()
        headers.append((b"content-type", b"application/json"))
    elif spec.body_shape == "docs":
        payload = {"code": str(spec.status), "error": reason, "message": f"Injected fault: {reason}"}
        body = json.dumps(payload).encode()
        headers.append((b"content-type", b"application/json"))
    elif spec.body_shape == "html":
        body = f"<html><head><title>{spec.status} {reason}</title></head><body>{reason}</body></html>".encode()
        headers.append((b"content-type", b"text/html; charset=utf-8"))
    else:
        body = b""
    if spec.retry_after is not None:
        value = spec.retry_after
        text = str(int(value)) if float(value).is_integer() else str(value)
        headers.append((b"retry-after", text.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    return spec.status, headers, body


# ------------------------------------------------------------------ the ASGI app


class SimulatorApp:
    """ASGI application simulating Sinch's Fax API v3 and its OAuth2 token endpoint.

    :param config: simulator settings; defaults to ``SimulatorConfig()``.
    :param store: fax state to serve; defaults to a new ``FaxStore(config)``.
    :param access_log: log ``METHOD path status`` per request at INFO on
        ``airflow_provider_sinch.simulator.access`` (never a header, query string or body).
    """

    def __init__(
        self, config: SimulatorConfig | None = None, store: FaxStore | None = None, *, access_log: bool = False
    ) -> None:
        self.access_log = access_log
        self.config = config or SimulatorConfig()
        self.store = store if store is not None else FaxStore(self.config)
        self.faults = FaultInjector(seed=self.config.seed)
        self.tokens = TokenRegistry(self.config.token_ttl)
        cfg = self.config
        self.conversation = conversation.ConversationState(
            cfg.conversation_app_ids,
            project_rate=cfg.conversation_rate_limit,
            app_rate=cfg.conversation_app_rate,
            queue_limit=cfg.conversation_queue_limit,
            seed=cfg.seed,
        )
        self._buckets: dict[str, TokenBucket | None] = {
            "basic": TokenBucket(self.config.basic_rate_limit) if self.config.basic_rate_limit else None,
            "bearer": TokenBucket(self.config.oauth_rate_limit) if self.config.oauth_rate_limit else None,
        }
        self._log_lock = threading.Lock()
        self._log: deque[RecordedRequest] = deque(maxlen=self.config.max_recorded_requests)
        self._ignored: list[RecordedRequest] = []
        self.api = _build_api(self)
        _install_log_filter()

    # ---------------------------------------------------------- request log

    @property
    def requests(self) -> list[RecordedRequest]:
        """The recorded requests, oldest first (a copy)."""
        with self._log_lock:
            return list(self._log)

    def request_count(self, path_prefix: str | None = None, method: str | None = None) -> int:
        """How many recorded requests match the path prefix and method."""
        with self._log_lock:
            return sum(
                1
                for r in self._log
                if (path_prefix is None or r.path.startswith(path_prefix))
                and (method is None or r.method == method.upper())
            )

    def reset_requests(self) -> None:
        """Forget the recorded requests (those with ignored parameters included)."""
        with self._log_lock:
            self._log.clear()
            self._ignored.clear()

    @property
    def ignored_requests(self) -> list[RecordedRequest]:
        """Every request that sent a query parameter its endpoint ignored, oldest first (a copy).

        Kept apart from the bounded request log, so a test can assert at its end that none was sent.
        """
        with self._log_lock:
            return list(self._ignored)

    def pop_ignored_requests(self) -> list[RecordedRequest]:
        """Return :attr:`ignored_requests` and forget them."""
        with self._log_lock:
            ignored, self._ignored = self._ignored, []
        return ignored

    @property
    def token_requests(self) -> int:
        """Number of successful ``POST /oauth2/token`` calls."""
        return self.tokens.issued

    def expire_tokens(self) -> None:
        """Make every access token issued so far expired."""
        self.tokens.expire_all()

    # ---------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)  # type: ignore[arg-type]
            return
        method: str = scope["method"]
        path: str = scope["path"]
        query = parse_query_string(scope.get("query_string", b""))
        authorization = _header(scope, b"authorization")
        scheme = authorization.split(" ", 1)[0].lower() if authorization else ""
        auth_kind = scheme if scheme in ("basic", "bearer") else None
        known = known_query_params(method, path, lenient=self.config.lenient)
        ignored = tuple(sorted(name for name in query if name not in known))
        record = RecordedRequest(method, path, query, auth_kind, ignored=ignored)
        with self._log_lock:
            self._log.append(record)
            if ignored:
                self._ignored.append(record)
        if ignored:
            logger.warning("%s %s: ignored unknown query parameter(s) %s", method, path, ", ".join(ignored))
        ignored_header = (IGNORED_PARAMS_HEADER.lower().encode(), _header_list(ignored)) if ignored else None

        async def raw_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if ignored_header is not None:
                    message = {**message, "headers": [*message.get("headers", []), ignored_header]}
                record.status = message["status"]
                if self.access_log:
                    access_logger.info("%s %s %d", method, path, record.status)
            await send(message)

        is_download = method == "GET" and bool(_DOWNLOAD_PATH.search(path))
        faults = self.faults.on_request(method, path, is_download)
        if faults.delay:
            await asyncio.sleep(faults.delay)
        if faults.failure is not None:
            status, headers, body = _failure_response(faults.failure)
            await _send_simple(raw_send, status, headers, body)
            return

        if path.startswith(("/v3/", conversation.PATH_PREFIX)):
            rejected = self._authorize(path, authorization, auth_kind)
            if rejected is not None:
                status, headers, body = rejected
                await _send_simple(raw_send, status, headers, body)
                return

        wrapped = _ResponseMangler(self, raw_send, method, path, faults.reset_connection, faults.truncate)
        wrapped.keep_bytes = faults.truncate_keep_bytes
        try:
            await self.api(scope, receive, wrapped)  # type: ignore[arg-type]
        except BaseException:
            if wrapped.cut:
                raise InjectedDisconnect("connection closed by an injected fault") from None
            raise
        if wrapped.cut:
            raise InjectedDisconnect("connection closed by an injected fault")

    def _authorize(
        self, path: str, authorization: str, auth_kind: str | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """``None`` when the request may proceed, else the rejection (401 or 429)."""
        cfg = self.config
        # The Fax API answers a bad credential with an empty 401; the Conversation API with its error shape.
        body = b""
        if path.startswith(conversation.PATH_PREFIX):
            body = json.dumps(conversation.error_body(401, "Request had invalid credentials.")).encode()
        kind = [(b"content-type", b"application/json")] if body else []

        def unauthorized(*headers: tuple[bytes, bytes]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            return 401, [*headers, *kind, (b"content-length", str(len(body)).encode())], body

        if auth_kind == "basic":
            if not credentials_match(parse_basic(authorization), cfg.key_id, cfg.key_secret):
                return unauthorized()
        elif auth_kind == "bearer":
            state = self.tokens.check(authorization.split(" ", 1)[1].strip() if " " in authorization else "")
            if state == "expired":
                return unauthorized(
                    (b"www-authenticate", b'Bearer error="invalid_token", error_description="token expired"')
                )
            if state != "valid":
                return unauthorized(
                    (b"www-authenticate", b'Bearer error="invalid_token", error_description="invalid token"')
                )
        else:
            return unauthorized()
        match = _PROJECT_PATH.match(path)
        if match and unquote_plus(match.group(1)) != cfg.project_id:
            return unauthorized()
        bucket = self._buckets.get(auth_kind)
        if bucket is not None:
            allowed, wait = bucket.acquire()
            if not allowed:
                body = json.dumps(error_body(429, "Too many requests, slow down.")).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                if cfg.retry_after_on_429:
                    headers.append((b"retry-after", str(wait).encode()))
                return 429, headers, body
        return None


def _header_list(names: tuple[str, ...]) -> bytes:
    """Parameter names for a header value: percent-encoded where not plain ASCII, comma-separated."""
    return ", ".join(quote(name, safe="<>=[]!$'()*+;:@/?") for name in names).encode("ascii")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def _send_simple(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _ResponseMangler:
    """Wraps ``send`` to cut a response short or corrupt its JSON, as the faults ask."""

    def __init__(self, app: SimulatorApp, send: Send, method: str, path: str, reset: bool, truncate: bool) -> None:
        self.app = app
        self.send = send
        self.method = method
        self.path = path
        self.cut_mode = reset or truncate
        self.truncate = truncate
        self.keep_bytes: int | None = None
        self.cut = False
        self.limit = 0
        self.sent = 0
        self.corrupt = False
        self.start: Message | None = None
        self.buffer = bytearray()

    async def __call__(self, message: Message) -> None:
        if self.cut:
            raise InjectedDisconnect("connection already closed by an injected fault")
        if message["type"] == "http.response.start":
            headers = message.get("headers", [])
            length = next((int(v) for k, v in headers if k.lower() == b"content-length"), None)
            ctype = next((bytes(v) for k, v in headers if k.lower() == b"content-type"), b"")
            if not self.cut_mode and b"json" in ctype and self.app.faults.take_invalid_json(self.method, self.path):
                self.corrupt = True
                self.start = message
                return
            if self.cut_mode:
                full = length or 0
                keep = self.keep_bytes if self.keep_bytes is not None else full // 2
                self.limit = max(0, min(keep, full - 1)) if full else 0
            await self.send(message)
            return
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if self.corrupt:
            self.buffer += body
            if more:
                return
            assert self.start is not None
            bad = bytes(self.buffer[: max(1, len(self.buffer) // 2)])
            headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(bad)).encode()))
            await self.send({**self.start, "headers": headers})
            await self.send({"type": "http.response.body", "body": bad, "more_body": False})
            return
        if self.cut_mode:
            room = self.limit - self.sent
            if len(body) < room or (len(body) == room and more):
                self.sent += len(body)
                await self.send(message)
                return
            if room > 0:
                await self.send({"type": "http.response.body", "body": body[:room], "more_body": True})
            self.cut = True
            raise InjectedDisconnect("connection closed by an injected fault")
        await self.send(message)


# ------------------------------------------------------------------ routes


def _int_param(query: dict[str, str], name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = query.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidFilter(name, f"{name} must be an integer") from None
    if value < minimum:
        raise InvalidFilter(name, f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidFilter(name, f"{name} must be at most {maximum}")
    return value


def _enum_param(query: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    if raw not in allowed:
        raise InvalidFilter(name, f"{name} must be one of {', '.join(allowed)}")
    return raw


def _phone_prefix(query: dict[str, str], name: str) -> str | None:
    raw = query.get(name, "")
    value = raw.strip()
    if not value:
        return None
    if raw.startswith(" "):  # an unencoded "+" arrives as a space
        value = "+" + value
    return value


def _paged(items_key: str, items: list[dict[str, Any]], page: int, page_size: int, total: int) -> JSONResponse:
    return JSONResponse(
        {
            items_key: items,
            "page": page,
            "totalPages": math.ceil(total / page_size),
            "pageSize": page_size,
            "totalItems": total,
        }
    )


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _build_api(sim: SimulatorApp) -> FastAPI:
    api = FastAPI(
        title="Sinch Fax API simulator", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )
    base = "/v3/projects/{project_id}"
    store = sim.store
    conversation.add_routes(api, sim.conversation)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The Conversation API answers every error in its own shape.
        if request.url.path.startswith(conversation.PATH_PREFIX):
            text = f"No such resource: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
            body = conversation.error_body(exc.status_code, text)
            return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 404:
            return not_found(f"No such resource: {request.url.path}")
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @api.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, InjectedDisconnect):
            raise exc
        logger.exception("Simulator error on %s %s", request.method, request.url.path)
        if request.url.path.startswith(conversation.PATH_PREFIX):
            return JSONResponse(conversation.error_body(500, "Internal simulator error"), status_code=500)
        return error_response(500, "Internal simulator error")

    @api.get(base + "/faxes")
    async def list_faxes(request: Request) -> Response:
        query = parse_query_string(request.scope.get("query_string", b""))
        try:
            page = _int_param(query, "page", 1, minimum=1)
            page_size = _int_param(query, "pageSize", 100, minimum=1, maximum=1000)
            lower, upper = create_time_bounds(query, int(time.time() * 1000), lenient=sim.config.lenient)
            direction = _enum_param(query, "direction", DIRECTIONS)
            status = _enum_param(query, "status", STATUSES)
        except InvalidFilter as exc:
            return bad_request([(exc.field, exc.description)])
        fax_query = FaxQuery(
            lower_ms=lower,
            upper_ms=upper,
            direction=direction,
            status=status,
            to_prefix=_phone_prefix(query, "to"),
            from_prefix=_phone_prefix(query, "from"),
            service_id=query.get("serviceId") or None,
            from_country=(query.get("fromCountry") or "").upper() or None,
            to_country=(query.get("toCountry") or "").upper() or None,
        )
        items, total = store.query(fax_query, page, page_size)
        return _paged("faxes", items, page, page_size, total)

    @api.post(base + "/faxes")
    async def send_fax(request: Request) -> Response:
        return await _send_fax(sim, request)

    @api.get(base + "/faxes/{fax_id}")
    async def get_fax(fax_id: str) -> Response:
        fax = store.get(fax_id)
        if fax is None:
            return not_found(f"Fax {fax_id} not found")
        return JSONResponse(fax)

    async def download(fax_id: str) -> Response:
        if store.get(fax_id) is None:
            return not_found(f"Fax {fax_id} not found")
        opened = store.open_file(fax_id)
        if opened is None:
            return not_found(f"No file stored for fax {fax_id}")
        size, chunks = opened
        headers = {
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="fax-{fax_id}.pdf"',
        }
        return StreamingResponse(_aiter(chunks), media_type="application/pdf", headers=headers)

    @api.get(base + "/faxes/{fax_id}/file")
    async def get_fax_file(fax_id: str) -> Response:
        return await download(fax_id)

    @api.get(base + "/faxes/{fax_id}/file.{file_format}")
    async def get_fax_file_deprecated(fax_id: str, file_format: str) -> Response:
        if file_format != "pdf":
            return bad_request([("fileFormat", "Only pdf is supported.")])
        return await download(fax_id)

    @api.delete(base + "/faxes/{fax_id}/file")
    async def delete_fax_file(fax_id: str) -> Response:
        if not store.delete_file(fax_id):
            return not_found(f"Fax {fax_id} not found")
        return Response(status_code=204)

    @api.get(base + "/services")
    async def list_services(request: Request) -> Response:
        query = parse_query_string(request.scope.get("query_string", b""))
        try:
            page = _int_param(query, "page", 1, minimum=1)
            page_size = _int_param(query, "pageSize", 20, minimum=1, maximum=1000)
        except InvalidFilter as exc:
            return bad_request([(exc.field, exc.description)])
        services = store.services()
        start = (page - 1) * page_size
        return _paged("services", services[start : start + page_size], page, page_size, len(services))

    @api.get(base + "/services/{service_id}")
    async def get_service(service_id: str) -> Response:
        service = store.get_service(service_id)
        if service is None:
            return not_found(f"Service {service_id} not found")
        return JSONResponse(service)

    @api.post("/oauth2/token")
    async def issue_token(request: Request) -> Response:
        form = parse_query_string(await request.body())
        given = parse_basic(request.headers.get("authorization", ""))
        if given is None and "client_id" in form:
            given = (form.get("client_id", ""), form.get("client_secret", ""))
        if not credentials_match(given, sim.config.key_id, sim.config.key_secret):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="sinch"'},
            )
        if form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "Use grant_type=client_credentials"},
                status_code=400,
            )
        token = sim.tokens.issue()
        ttl = sim.config.token_ttl
        return JSONResponse(
            {
                "access_token": token,
                "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
                "scope": "",
                "token_type": "bearer",
            },
            headers={"Cache-Control": "no-store"},
        )

    return api


# ------------------------------------------------------------------ send fax

_ENUMS = {
    "callbackUrlContentType": ("multipart/form-data", "application/json"),
    "imageConversionMethod": ("HALFTONE", "MONOCHROME"),
    "resolution": ("FINE", "SUPERFINE"),
}
_FILE_TYPES = ("DOCX", "PDF", "TIF", "JPG", "TXT", "HTML", "PNG")
_BOOLS = ("headerPageNumbers", "inProgressNotifications")
_INT_RANGES = {"maxRetries": (0, 5), "retryDelaySeconds": (30, 300)}
_STRINGS = ("headerText", "headerTimeZone", "callbackUrl", "coverPageId")


def _split_numbers(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    numbers: list[str] = []
    for item in values:
        if not isinstance(item, str):
            numbers.append(repr(item))
            continue
        numbers.extend(part.strip() for part in item.split(",") if part.strip())
    return numbers


async def _read_payload(request: Request) -> tuple[dict[str, Any], list[tuple[bytes, str]]] | Response:
    """The send request's fields (JSON-typed) and its files as ``(content, fileType)``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    files: list[tuple[bytes, str]] = []
    if ctype == "application/json":
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return bad_request([("body", "The request body is not valid JSON.")], "Invalid JSON payload")
        if not isinstance(payload, dict):
            return bad_request([("body", "The request body must be a JSON object.")])
        return payload, files
    if ctype == "multipart/form-data":
        try:
            form = await request.form()
        except AssertionError:  # python-multipart missing
            return error_response(501, "multipart/form-data needs python-multipart in the simulator's environment")
        data: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key in ("file", "files"):
                    content = await value.read()
                    name = (value.filename or "").lower()
                    is_pdf = content.startswith(b"%PDF") or name.endswith(".pdf")
                    files.append((content, "PDF" if is_pdf else (name.rsplit(".", 1)[-1].upper() or "PDF")))
                continue
            _add_form_field(data, key, value)
        return _coerce_form(data), files
    if ctype == "application/x-www-form-urlencoded":
        data = {}
        for part in (await request.body()).decode("latin-1").split("&"):
            if part:
                key, _, value = part.partition("=")
                _add_form_field(data, unquote_plus(key), unquote_plus(value))
        return _coerce_form(data), files
    return error_response(
        415, f"Unsupported content type {ctype or '(none)'}; use application/json or multipart/form-data"
    )


def _add_form_field(data: dict[str, Any], key: str, value: str) -> None:
    bracket = re.match(r"^(labels|coverPageData)\[([^\]]+)\]$", key)
    if bracket:
        data.setdefault(bracket.group(1), {})[bracket.group(2)] = value
    elif key in ("to", "contentUrl"):
        data.setdefault(key, []).append(value)
    else:
        data[key] = value


def _coerce_form(data: dict[str, Any]) -> dict[str, Any]:
    """Form values are strings: give booleans and integers their JSON types."""
    for key in _BOOLS:
        if isinstance(data.get(key), str):
            text = data[key].strip().lower()
            data[key] = True if text == "true" else False if text == "false" else data[key]
    for key in _INT_RANGES:
        if isinstance(data.get(key), str):
            with contextlib.suppress(ValueError):
                data[key] = int(data[key])
    if isinstance(data.get("contentUrl"), list):
        urls = [u.strip() for item in data["contentUrl"] for u in item.split(",") if u.strip()]
        data["contentUrl"] = urls[0] if len(urls) == 1 else urls
    return data


def _valid_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value.strip())
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


async def _send_fax(sim: SimulatorApp, request: Request) -> Response:
    read = await _read_payload(request)
    if isinstance(read, Response):
        return read
    data, files = read
    violations: list[tuple[str, str]] = []

    recipients = _split_numbers(data.get("to")) if data.get("to") not in (None, "", []) else []
    if not recipients:
        violations.append(("to", "At least one recipient phone number is required."))
    elif any(not E164.fullmatch(n) for n in recipients):
        violations.append(("to", _PHONE_VIOLATION))
    service_id = data.get("serviceId") or sim.store.default_service_id
    service = sim.store.get_service(str(service_id))
    if service is None:
        violations.append(("serviceId", f"Service {service_id} not found."))
    sender = data.get("from") or (service or {}).get("defaultFrom") or sim.store.project_numbers[0]
    if not isinstance(sender, str) or not E164.fullmatch(sender):
        violations.append(("from", _PHONE_VIOLATION))

    for index, item in enumerate(data.get("files") or []):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            violations.append((f"files[{index}].file", "Expected a base64 encoded file."))
            continue
        try:
            content = base64.b64decode(item["file"], validate=True)
        except ValueError:
            violations.append((f"files[{index}].file", "The file is not valid base64."))
            continue
        file_type = item.get("fileType") or "PDF"
        if file_type not in _FILE_TYPES:
            violations.append((f"files[{index}].fileType", f"fileType must be one of {', '.join(_FILE_TYPES)}."))
            continue
        files.append((content, file_type))
    if any(not content for content, _ in files):
        violations.append(("file", "The file is empty."))

    content_url = data.get("contentUrl")
    urls: list[Any] = []
    if isinstance(content_url, str) and content_url.strip():
        urls = [u.strip() for u in content_url.split(",") if u.strip()]
        content_url = urls[0] if len(urls) == 1 else urls
    elif isinstance(content_url, list):
        urls = content_url
    elif content_url not in (None, ""):
        violations.append(("contentUrl", "contentUrl must be a URL or a list of URLs."))
    if any(not _valid_url(u) for u in urls):
        violations.append(("contentUrl", "contentUrl must contain http(s) URLs."))
    if not files and not urls:
        violations.append(("file", "At least one file or contentUrl parameter is required."))

    fields: dict[str, Any] = {}
    if urls:
        fields["contentUrl"] = content_url
    for key in _STRINGS:
        if key in data and data[key] is not None:
            if not isinstance(data[key], str):
                violations.append((key, f"{key} must be a string."))
            else:
                fields[key] = data[key]
    if len(fields.get("headerText", "")) > 50:
        violations.append(("headerText", "headerText can be at most 50 characters."))
    for key in _BOOLS:
        if key in data:
            if not isinstance(data[key], bool):
                violations.append((key, f"{key} must be true or false."))
            else:
                fields[key] = data[key]
    for key, (low, high) in _INT_RANGES.items():
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                violations.append((key, f"{key} must be an integer from {low} to {high}."))
            else:
                fields[key] = value
    for key, allowed in _ENUMS.items():
        if key in data:
            if data[key] not in allowed:
                violations.append((key, f"{key} must be one of {', '.join(allowed)}."))
            else:
                fields[key] = data[key]
    for key in ("labels", "coverPageData"):
        if key in data:
            value = data[key]
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                violations.append((key, f"{key} must be an object of string values."))
            else:
                fields[key] = dict(value)
    if "callbackUrl" in fields and "callbackUrlContentType" not in fields:
        fields["callbackUrlContentType"] = "multipart/form-data"
    if violations:
        return bad_request(violations)

    pages = sum(count_pdf_pages(content) if kind == "PDF" else 1 for content, kind in files) + len(urls)
    single_pdf = files[0][0] if len(files) == 1 and files[0][1] == "PDF" and not urls else None
    faxes = [
        sim.store.add_sent_fax(
            to_number=number,
            from_number=str(sender),
            pages=pages,
            service_id=str(service_id),
            file_bytes=single_pdf,
            fields=dict(fields),
        )
        for number in recipients
    ]
    # One recipient: the Fax; two or more: {"faxes": [...]}, which both of Sinch's SDKs read (Node
    # FaxesApi.send `responseData.faxes`, .NET SendFaxResponse `faxes`).
    return JSONResponse(faxes[0] if len(faxes) == 1 else {"faxes": faxes})
