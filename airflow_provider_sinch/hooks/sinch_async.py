"""The async Sinch transport on httpx, for the triggerer: no threads, the same policy as ``SinchHook``.

``SinchAsyncHook`` reads the ``sinch`` connection with Airflow's async connection API where it exists,
authenticates with HTTP Basic or OAuth2 (sharing the process-wide token cache with the sync hook, renewing
before expiry and once on an ``expired`` 401), paces requests with the key's shared rate limiter, and asks
:mod:`~airflow_provider_sinch.hooks._policy` whether to retry and which typed error an answer is. Where
credentials may go is decided by the same
:class:`~airflow_provider_sinch.hooks._credentials.CredentialPolicy`, judged on the URL as httpx sends it.
httpx ships with Airflow 2.10 and 3.x: no new dependency.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import certifi
import httpx

from airflow_provider_sinch import __version__
from airflow_provider_sinch._compat import BaseHook
from airflow_provider_sinch._validation import DEFAULT_CONN_ID
from airflow_provider_sinch.connection import SinchConnectionSettings, parse_connection
from airflow_provider_sinch.exceptions import SinchConnectionConfigError, SinchResponseError
from airflow_provider_sinch.hooks._credentials import (
    DEFAULT_PORTS,
    REDACTOR,
    TOKEN_CACHE,
    UNSAFE_URL_CHARS,
    CredentialPolicy,
    token_cache_key,
)
from airflow_provider_sinch.hooks._policy import (
    RateLimiter,
    RetryPolicy,
    api_error,
    connection_error,
    outcome_unknown,
    retry_after_seconds,
    shared_rate_limiter,
    token_answer,
)

if TYPE_CHECKING:
    from airflow_provider_sinch.clients.conversation import ConversationClient
    from airflow_provider_sinch.clients.fax.aio import AsyncFaxClient

log = logging.getLogger(__name__)
#: Redirects followed at most, and only to the same scheme, host and port.
MAX_REDIRECTS = 3
#: One asyncio lock per event loop and access key, so concurrent waits fetch one token, not one each.
_TOKEN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, str], asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)

#: One client TLS context per CA bundle (``None``: certifi's, httpx's default) for the whole process. Building
#: one parses the whole bundle, 20-100 ms of CPU on the event loop: once per process, not once per client
#: (every poller and trigger opens one), and no thread for it.
_SSL_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The shared TLS context of a CA bundle, built on first use."""
    if ca_bundle not in _SSL_CONTEXTS:
        _SSL_CONTEXTS[ca_bundle] = ssl.create_default_context(cafile=ca_bundle or certifi.where())
    return _SSL_CONTEXTS[ca_bundle]


async def get_connection(conn_id: str) -> Any:
    """The Airflow connection, read with the async API where Airflow has one (3.1+), else the sync one."""
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    # Airflow 2.x and 3.0 have no async API. The read runs on the loop's own thread, never a worker thread, so
    # it cannot interleave with the loop's own use of 3.0's supervisor channel (which is not thread-safe).
    return BaseHook.get_connection(conn_id)


def httpx_origin(url: httpx.URL) -> tuple[str, str, int]:
    """``(scheme, host, port)`` as httpx will connect."""
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(scheme, 0)


class SinchAsyncHook:
    """The async transport: ``await hook.request(...)``; ``hook.fax`` is the async Fax API client.

    :param sinch_conn_id: the ``sinch`` connection (the same as the sync hook's).
    """

    def __init__(self, sinch_conn_id: str = DEFAULT_CONN_ID) -> None:
        self.sinch_conn_id = sinch_conn_id
        #: Requests sent through :meth:`request` (retries not counted).
        self.request_count = 0
        self._settings: SinchConnectionSettings | None = None
        self._client: httpx.AsyncClient | None = None
        self._policy: CredentialPolicy | None = None
        self._limiter: RateLimiter | None = None
        self._fax: AsyncFaxClient | None = None

    async def connect(self) -> SinchConnectionSettings:
        """Read and check the connection (once); every request does this first."""
        if self._settings is None:
            settings = parse_connection(await get_connection(self.sinch_conn_id))
            REDACTOR.add_key(settings.key_id, settings.key_secret)
            self._policy = CredentialPolicy(settings.token_url, *([settings.host] if settings.host else []))
            if settings.rate_limit:
                self._limiter = shared_rate_limiter(settings.host, settings.key_id, settings.rate_limit)
            verify = ssl_context(settings.ca_bundle)
            self._client = httpx.AsyncClient(
                timeout=settings.timeout,
                verify=verify,
                headers={"User-Agent": f"airflow-provider-sinch/{__version__}"},
                follow_redirects=False,
                trust_env=False,
            )
            self._settings = settings
        return self._settings

    @property
    def settings(self) -> SinchConnectionSettings:
        """The connection's settings; ``await connect()`` first."""
        if self._settings is None:
            raise RuntimeError("await SinchAsyncHook.connect() before using its settings")
        return self._settings

    @property
    def fax(self) -> AsyncFaxClient:
        """The async Fax API client on this transport."""
        if self._fax is None:
            from airflow_provider_sinch.clients.fax.aio import AsyncFaxClient

            self._fax = AsyncFaxClient(self)
        return self._fax

    @property
    def conversation(self) -> ConversationClient:
        """The Conversation API client on this transport (its ``asend_text`` is the async send)."""
        from airflow_provider_sinch.clients.conversation import ConversationClient

        return ConversationClient(self)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._settings = None

    # -- credentials ------------------------------------------------------------------------------------

    def _check(self, url: httpx.URL, raw: str) -> None:
        """Refuse to send a credential where the policy does not allow it, judged as httpx connects."""
        assert self._policy is not None
        if UNSAFE_URL_CHARS.search(raw):
            raise SinchConnectionConfigError(
                f"Refusing the URL {raw[:80]!r}: it contains a backslash, a space or a control character."
            )
        scheme, host, port = httpx_origin(url)
        self._policy.check(f"{scheme}://{host}:{port}/")

    async def _token(self, *, stale: str | None = None) -> str:
        settings = self.settings
        key = token_cache_key(settings.token_url, settings.key_id, settings.key_secret)
        token = TOKEN_CACHE.peek(key, stale)
        if token is not None:
            return token
        locks = _TOKEN_LOCKS.setdefault(asyncio.get_running_loop(), {})
        async with locks.setdefault(key, asyncio.Lock()):
            token = TOKEN_CACHE.peek(key, stale)
            if token is None:
                token, expires_in = await self._fetch_token()
                TOKEN_CACHE.put(key, token, expires_in)
            return token

    async def _fetch_token(self) -> tuple[str, float]:
        settings = self.settings
        assert self._client is not None
        url = httpx.URL(settings.token_url)
        self._check(url, settings.token_url)
        basic = base64.b64encode(f"{settings.key_id}:{settings.key_secret}".encode()).decode("ascii")
        try:
            response = await self._client.post(
                url, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
            )
        except httpx.HTTPError as exc:
            raise self._no_answer("POST", url, exc) from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        token, expires_in = token_answer(response.status_code, body)
        REDACTOR.add_token(token)
        return token, expires_in

    async def _authorization(self, *, stale: str | None = None) -> str:
        settings = self.settings
        if settings.auth_type == "oauth2":
            return f"Bearer {await self._token(stale=stale)}"
        return "Basic " + base64.b64encode(f"{settings.key_id}:{settings.key_secret}".encode()).decode("ascii")

    # -- requests ---------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send an authenticated request; retry as :class:`RetryPolicy` says; raise the typed error of a failure."""
        settings = await self.connect()
        assert self._client is not None
        policy = RetryPolicy(settings.max_retries, settings.max_retry_wait)
        method = method.upper()
        target = httpx.URL(url, params=params) if params else httpx.URL(url)
        raw, attempt, waited, renewed, hops, retried = url, 0, 0.0, False, 0, 0
        self.request_count += 1
        while True:
            self._check(target, raw)
            authorization = await self._authorization()
            if self._limiter is not None:
                delay = self._limiter.reserve()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                sent_headers = {"Accept": "application/json", **(headers or {}), "Authorization": authorization}
                response = await self._client.request(method, target, json=json, content=content, headers=sent_headers)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                attempt += 1
                wait = policy.next_wait(attempt, waited) if policy.retries_error(method, sent=sent) else None
                if wait is None:
                    raise self._no_answer(method, target, exc) from None
                log.warning(
                    "Sinch %s %s failed (%s); retry %d in %.2f s",
                    method,
                    target.path,
                    type(exc).__name__,
                    attempt,
                    wait,
                )
                waited += wait
                retried += 1
                await asyncio.sleep(wait)
                continue
            status = response.status_code
            expired = "expired" in response.headers.get("WWW-Authenticate", "").lower()
            if status == 401 and expired and not renewed and settings.auth_type == "oauth2":
                renewed = True  # once: a new token, and the same request again
                await self._token(stale=authorization.removeprefix("Bearer "))
                continue
            if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                location = response.url.join(response.headers["location"])
                if httpx_origin(location) != httpx_origin(target) or hops >= MAX_REDIRECTS:
                    raise SinchResponseError(
                        f"Sinch {method} {target.path} answered HTTP {status} to another host (or too many "
                        "redirects); credentials stay with the connection's hosts, so it was not followed."
                        + outcome_unknown(method),
                        status_code=status,
                    )
                target, raw, hops = location, str(location), hops + 1
                continue
            if policy.retries_status(method, status):
                attempt += 1
                wait = policy.next_wait(attempt, waited, retry_after_seconds(response.headers.get("Retry-After")))
                if wait is not None:
                    log.warning(
                        "Sinch %s %s answered HTTP %d; retry %d in %.2f s", method, target.path, status, attempt, wait
                    )
                    waited += wait
                    retried += 1
                    await asyncio.sleep(wait)
                    continue
            if status >= 400:
                try:
                    body = response.json() if response.content else None
                except ValueError:
                    body = None
                raise api_error(
                    status,
                    method,
                    target.path,
                    body,
                    project_id=settings.project_id,
                    max_retries=settings.max_retries,
                    waited=waited,
                    retried=retried,
                )
            return response

    async def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, returning the parsed JSON body (``None`` for an empty one)."""
        response = await self.request(method, url, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SinchResponseError(
                f"Sinch {method} {urlsplit(url).path} answered HTTP {response.status_code} with a body that is not "
                f"JSON ({response.headers.get('Content-Type', 'no content type')})." + outcome_unknown(method),
                status_code=response.status_code,
            ) from None

    def _no_answer(self, method: str, url: httpx.URL, exc: Exception) -> Exception:
        text = str(exc).lower()
        return connection_error(
            method,
            url.path,
            url.netloc.decode("ascii", "replace"),
            exc,
            timeout=self.settings.timeout,
            conn_id=self.sinch_conn_id,
            tls="certificate" in text or "ssl" in text,
            timed_out=isinstance(exc, httpx.TimeoutException),
        )
