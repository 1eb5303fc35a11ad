"""requests/urllib3 plumbing of :class:`~airflow_provider_sinch.hooks.sinch.SinchHook`.

Retries are urllib3's ``Retry`` (shipped with requests and Airflow), deciding with the shared
:class:`~airflow_provider_sinch.hooks._policy.RetryPolicy`: a 429 is retried for every method (the server
refused it, so even a POST is safe to repeat), 5xx and read errors for idempotent methods only, the wait
is capped in total, and each retry logs one line without secrets. Authentication is a ``requests`` auth
object, so it is applied to every request of the session, including a retried one, and asks the
:class:`~airflow_provider_sinch.hooks._credentials.CredentialPolicy` before any credential leaves the process.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.exceptions import LocationParseError, MaxRetryError
from urllib3.util.retry import Retry

from airflow_provider_sinch.hooks._credentials import (
    REDACTOR,
    TOKEN_CACHE,
    UNSAFE_URL_CHARS,
    CredentialPolicy,
    redact,
    token_cache_key,
    url_origin,
)
from airflow_provider_sinch.hooks._policy import (
    RETRY_STATUSES,
    RateLimiter,
    RetryPolicy,
    backoff_seconds,
    shared_rate_limiter,
    token_answer,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from urllib3.response import BaseHTTPResponse

__all__ = [
    "REDACTOR",
    "RETRY_STATUSES",
    "TOKEN_CACHE",
    "UNSAFE_URL_CHARS",
    "CredentialPolicy",
    "PolicySession",
    "RateLimiter",
    "SinchBasicAuth",
    "SinchOAuth2Auth",
    "SinchRetry",
    "TimeoutHTTPAdapter",
    "backoff_seconds",
    "redact",
    "shared_rate_limiter",
]


class PolicySession(requests.Session):
    """A ``requests.Session`` that keeps a credential on a redirect only to the same origin, as urllib3 sees it.

    requests keeps ``Authorization`` when ``urllib.parse`` reads the same host in the new URL, which a
    backslash can fake; this session compares the origins urllib3 connects to, and asks the policy.
    """

    def __init__(self, policy: CredentialPolicy) -> None:
        super().__init__()
        self.policy = policy

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        headers = prepared_request.headers
        if "Authorization" not in headers:
            return  # and no .netrc credentials are added to a redirect either
        new_url, old_url = prepared_request.url or "", response.request.url or ""
        try:
            same = url_origin(new_url) == url_origin(old_url)
        except LocationParseError:
            same = False
        if not same or self.policy.refusal(new_url) is not None:
            del headers["Authorization"]


class SinchRetry(Retry):
    """urllib3 ``Retry`` deciding with :class:`RetryPolicy`; caps the total wait and logs each retry."""

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
        if status_code not in RETRY_STATUSES or not RetryPolicy.retries_status(method, status_code):
            return False
        return bool(self.total) or self.total is None

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
        retry_after = self.get_retry_after(response) if response is not None else None
        policy = RetryPolicy(max_retries=len(new.history), max_total_wait=self.max_total_wait)
        wait = policy.next_wait(len(new.history), self.waited, retry_after)
        if wait is None:
            # Past the total-wait cap: give up now and let the caller turn the last answer into an error.
            raise MaxRetryError(_pool, url or "", error or Exception(f"total retry wait cap {self.max_total_wait}s"))
        new.next_wait = wait
        new.waited = self.waited + wait
        if self.logger is not None:
            path = (url or "").split("?", 1)[0]
            cause = f"HTTP {response.status}" if response is not None else type(error).__name__
            self.logger.warning(
                "Sinch %s %s answered %s; retry %d in %.2f s", method, path, cause, len(new.history), wait
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
    """HTTP Basic auth with the key ID and key secret, only to where the policy allows."""

    def __init__(self, username: str, password: str, policy: CredentialPolicy) -> None:
        super().__init__(username, password)
        self.policy = policy

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.policy.check(r.url or "")
        return super().__call__(r)

    def __repr__(self) -> str:
        return f"SinchBasicAuth(key_id={self.username!r})"


class SinchOAuth2Auth(AuthBase):
    """OAuth2 client-credentials bearer auth with a cached token, renewed before expiry and on 401 expired.

    :param key_id: the access key ID (client ID).
    :param key_secret: the access key secret (client secret).
    :param token_url: the token endpoint.
    :param session_factory: returns the session used to POST to the token endpoint.
    :param timeout: timeout of the token request.
    :param policy: where the key and the tokens may be sent.
    :param on_token: called with each new token (the hook registers it with the redactor).
    """

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        token_url: str,
        session_factory: Callable[[], requests.Session],
        timeout: float,
        policy: CredentialPolicy,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.key_id = key_id
        self.token_url = token_url
        self._session_factory = session_factory
        self.timeout = timeout
        self.policy = policy
        self._on_token = on_token
        self._token_auth = SinchBasicAuth(key_id, key_secret, policy)
        self.token_requests = 0
        self._cache_key = token_cache_key(token_url, key_id, key_secret)

    def __repr__(self) -> str:
        return f"SinchOAuth2Auth(key_id={self.key_id!r}, token_url={self.token_url!r})"

    def get_token(self, *, stale: str | None = None) -> str:
        """Return a valid token, fetching one if none is cached, it is near expiry, or it equals ``stale``."""
        token = TOKEN_CACHE.peek(self._cache_key, stale)
        if token is not None:
            return token
        with TOKEN_CACHE.fetch_lock:  # one fetch at a time per process: the others then find it cached
            token = TOKEN_CACHE.peek(self._cache_key, stale)
            if token is None:
                token, expires_in = self._fetch_token()
                TOKEN_CACHE.put(self._cache_key, token, expires_in)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        response = self._session_factory().post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=self._token_auth,  # checks the prepared token URL against the policy first
            timeout=self.timeout,
        )
        self.token_requests += 1
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        token, expires_in = token_answer(response.status_code, body)
        if self._on_token is not None:
            self._on_token(token)
        return token, expires_in

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.policy.check(r.url or "")
        r.headers["Authorization"] = f"Bearer {self.get_token()}"
        r.register_hook("response", self._retry_on_expired)
        return r

    def _retry_on_expired(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        if r.status_code != 401 or "expired" not in r.headers.get("WWW-Authenticate", "").lower():
            return r
        request = r.request
        sent = request.headers.get("Authorization") or ""
        # A redirect hop to another origin had its Authorization removed (PolicySession.rebuild_auth): a 401
        # from there is not ours to answer with a new token.
        if not sent.startswith("Bearer ") or getattr(request, "_sinch_token_renewed", False):
            return r
        self.policy.check(request.url or "")
        r.content  # noqa: B018 - read the small 401 body so the connection goes back to the pool
        r.close()
        retry = request.copy()
        retry._sinch_token_renewed = True  # type: ignore[attr-defined]
        retry.headers["Authorization"] = f"Bearer {self.get_token(stale=sent.removeprefix('Bearer '))}"
        assert r.connection is not None
        new = r.connection.send(retry, **kwargs)
        new.history.append(r)
        new.request = retry
        return new
