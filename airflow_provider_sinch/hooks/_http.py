"""HTTP plumbing behind :class:`~airflow_provider_sinch.hooks.sinch.SinchHook`.

Retries are urllib3's ``Retry`` (shipped with requests and Airflow) with three Sinch-specific
changes: a 429 is retried for every method (the server refused it, so even a POST is safe to
repeat), the wait is capped in total, and each retry logs one line without secrets.
Authentication is a ``requests`` auth object, so it is applied to every request of the session,
including a retried one, and checks the transport before any credential leaves the process.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from airflow_provider_sinch.exceptions import SinchAuthError, SinchInsecureTransportError, SinchResponseError

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests
    from urllib3.response import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 502, 503, 504})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str) -> None:
    """Refuse to send credentials anywhere but https, or plain http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return
    raise SinchInsecureTransportError(
        f"Refusing to send Sinch credentials to {parts.scheme}://{parts.hostname}: only https is allowed, "
        "or plain http to a loopback host (127.0.0.1, ::1, localhost) such as a local simulator. "
        "Fix the connection's host (API base URL) or OAuth2 token URL (extra auth_url)."
    )


class SinchRetry(Retry):
    """urllib3 ``Retry`` that also retries 429 on POST, caps the total wait and logs each retry."""

    def __init__(
        self,
        *args: Any,
        max_total_wait: float = 120.0,
        waited: float = 0.0,
        next_wait: float = 0.0,
        logger: logging.Logger | Any | None = None,
        limiter: RateLimiter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_total_wait = max_total_wait
        self.waited = waited
        self.next_wait = next_wait
        self.logger = logger
        self.limiter = limiter

    def new(self, **kw: Any) -> SinchRetry:
        params: dict[str, Any] = {
            "max_total_wait": self.max_total_wait,
            "waited": self.waited,
            "next_wait": self.next_wait,
            "logger": self.logger,
            "limiter": self.limiter,
        }
        params.update(kw)
        return super().new(**params)  # type: ignore[return-value]

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.status_forcelist and 429 in self.status_forcelist:
            # A 429 was refused before any work was done: repeating it is safe for every method.
            return bool(self.total) or self.total is None
        return super().is_retry(method, status_code, has_retry_after)

    def _backoff(self) -> float:
        attempt = len(self.history)
        base = min(self.backoff_max, self.backoff_factor * (2 ** max(attempt - 1, 0)))
        return base + random.uniform(0, self.backoff_jitter)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> SinchRetry:
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        assert isinstance(new, SinchRetry)
        wait = None
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = new._backoff()
        if self.waited + wait > self.max_total_wait:
            # Past the total-wait cap: give up now and let the caller turn the last answer into an error.
            raise MaxRetryError(_pool, url or "", error or Exception(f"total retry wait cap {self.max_total_wait}s"))
        new.next_wait = wait
        new.waited = self.waited + wait
        if self.logger is not None:
            path = (url or "").split("?", 1)[0]
            cause = f"HTTP {response.status}" if response is not None else type(error).__name__
            self.logger.warning(
                "Sinch %s %s answered %s; retry %d in %.2f s",
                method,
                path,
                cause,
                len(new.history),
                wait,
            )
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.next_wait > 0:
            time.sleep(self.next_wait)
        if self.limiter is not None:  # a retry is a request too: it waits for its turn
            self.limiter.wait()


class _DropUrllib3RetryLines(logging.Filter):
    """urllib3 logs each retry with the full URL (query strings may hold phone numbers); ours logs it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and isinstance(args[0], SinchRetry))


logging.getLogger("urllib3.connectionpool").addFilter(_DropUrllib3RetryLines())


class RateLimiter:
    """Spaces requests evenly, at most ``rate`` per second, across every thread that uses it."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until the caller's turn."""
        with self._lock:
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self.interval
        if turn > now:
            time.sleep(turn - now)


_LIMITERS: dict[tuple[str, str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_rate_limiter(host: str, key_id: str, rate: float) -> RateLimiter:
    """The limiter of one access key on one host, shared by every hook of the process (Sinch limits per key)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((host, key_id, rate), RateLimiter(rate))


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that applies a default timeout, so no request of the session can hang forever.

    With ``ca_bundle`` it also verifies TLS against that file, whatever ``REQUESTS_CA_BUNDLE`` says
    (requests lets that environment variable override a session's ``verify``). With ``limiter`` every
    request waits for its turn (urllib3's retries wait in :meth:`SinchRetry.sleep`).
    """

    def __init__(
        self,
        *args: Any,
        timeout: float,
        ca_bundle: str | None = None,
        limiter: RateLimiter | None = None,
        **kwargs: Any,
    ) -> None:
        self.timeout = timeout
        self.ca_bundle = ca_bundle
        self.limiter = limiter
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        if self.limiter is not None:
            self.limiter.wait()
        return super().send(request, **kwargs)


class SinchBasicAuth(HTTPBasicAuth):
    """HTTP Basic auth with the key ID and key secret, only over https or to loopback."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        check_transport(r.url or "")
        return super().__call__(r)

    def __repr__(self) -> str:
        return f"SinchBasicAuth(key_id={self.username!r})"


class _TokenCache:
    """Process-wide cache of OAuth2 tokens, so every hook of a worker shares one token per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def clear(self) -> None:
        with self.lock:
            self.tokens.clear()


TOKEN_CACHE = _TokenCache()


class SinchOAuth2Auth(AuthBase):
    """OAuth2 client-credentials bearer auth with a cached token, renewed before expiry and on 401 expired.

    :param key_id: the access key ID (client ID).
    :param key_secret: the access key secret (client secret).
    :param token_url: the token endpoint.
    :param session_factory: returns the session used to POST to the token endpoint.
    :param timeout: timeout of the token request.
    :param on_token: called with each new token (the hook registers it with the secrets masker).
    """

    #: Renew a token this many seconds before Sinch says it expires.
    REFRESH_MARGIN = 60.0

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        token_url: str,
        session_factory: Callable[[], requests.Session],
        timeout: float,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.key_id = key_id
        self._key_secret = key_secret
        self.token_url = token_url
        self._session_factory = session_factory
        self.timeout = timeout
        self._on_token = on_token
        self.token_requests = 0
        secret_digest = hashlib.sha256(key_secret.encode()).hexdigest()
        self._cache_key = (token_url, key_id, secret_digest)

    def __repr__(self) -> str:
        return f"SinchOAuth2Auth(key_id={self.key_id!r}, token_url={self.token_url!r})"

    def get_token(self, *, stale: str | None = None) -> str:
        """Return a valid token, fetching one if none is cached, it is near expiry, or it equals ``stale``."""
        with TOKEN_CACHE.lock:
            cached = TOKEN_CACHE.tokens.get(self._cache_key)
            if cached is not None:
                token, renew_at = cached
                if token != stale and time.monotonic() < renew_at:
                    return token
            token, expires_in = self._fetch_token()
            margin = self.REFRESH_MARGIN if expires_in > 2 * self.REFRESH_MARGIN else expires_in / 2
            TOKEN_CACHE.tokens[self._cache_key] = (token, time.monotonic() + expires_in - margin)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        check_transport(self.token_url)
        response = self._session_factory().post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=HTTPBasicAuth(self.key_id, self._key_secret),
            timeout=self.timeout,
        )
        self.token_requests += 1
        if response.status_code in (400, 401, 403):
            raise SinchAuthError(
                f"Sinch refused the OAuth2 token request with HTTP {response.status_code}: check the "
                "connection's key ID and key secret (an access key of the project), and its OAuth2 token URL "
                "(extra auth_url).",
                status_code=response.status_code,
            )
        if not response.ok:
            raise SinchResponseError(
                f"The OAuth2 token endpoint answered HTTP {response.status_code}.",
                status_code=response.status_code,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise SinchResponseError(
                "The OAuth2 token endpoint answered without a usable access_token.",
                status_code=response.status_code,
            ) from None
        if self._on_token is not None:
            self._on_token(token)
        return token, expires_in

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        check_transport(r.url or "")
        r.headers["Authorization"] = f"Bearer {self.get_token()}"
        r.register_hook("response", self._retry_on_expired)
        return r

    def _retry_on_expired(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        if r.status_code != 401 or "expired" not in r.headers.get("WWW-Authenticate", "").lower():
            return r
        request = r.request
        if getattr(request, "_sinch_token_renewed", False):
            return r
        stale = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        r.content  # noqa: B018 - read the small 401 body so the connection goes back to the pool
        r.close()
        retry = request.copy()
        retry._sinch_token_renewed = True  # type: ignore[attr-defined]
        retry.headers["Authorization"] = f"Bearer {self.get_token(stale=stale)}"
        assert r.connection is not None
        new = r.connection.send(retry, **kwargs)
        new.history.append(r)
        new.request = retry
        return new
