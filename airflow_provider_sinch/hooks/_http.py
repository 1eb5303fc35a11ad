"""HTTP plumbing behind :class:`~airflow_provider_sinch.hooks.sinch.SinchHook`.

Retries are urllib3's ``Retry`` (shipped with requests and Airflow) with three Sinch-specific
changes: a 429 is retried for every method (the server refused it, so even a POST is safe to
repeat), the wait is capped in total, and each retry logs one line without secrets.
Authentication is a ``requests`` auth object, so it is applied to every request of the session,
including a retried one, and asks the :class:`CredentialPolicy` before any credential leaves the process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.exceptions import LocationParseError, MaxRetryError
from urllib3.util import parse_url
from urllib3.util.retry import Retry

from airflow_provider_sinch._compat import mask_secret
from airflow_provider_sinch.connection import is_loopback_host
from airflow_provider_sinch.exceptions import SinchAuthError, SinchInsecureTransportError, SinchResponseError

if TYPE_CHECKING:
    from collections.abc import Callable

    from urllib3.response import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Retry backoff: 0.5 s, 1 s, 2 s, ... up to 30 s, plus up to 0.25 s of jitter.
BACKOFF_FACTOR, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 30.0, 0.25
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Characters no credential-bearing URL may hold: parsers disagree on a backslash (urllib.parse reads
#: ``https://a\@b/`` as host ``b``, urllib3 connects to ``a``), and a space or control character is never
#: part of a valid URL.
UNSAFE_URL_CHARS = re.compile(r"[\\\x00-\x20\x7f]")


def is_sinch_host(host: str) -> bool:
    """Whether ``host`` is one of Sinch's own (``sinch.com`` or a name under it)."""
    host = host.lower()
    return host == "sinch.com" or host.endswith(".sinch.com")


def url_origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` as urllib3, which opens the connection, reads ``url``."""
    parsed = parse_url(url)
    scheme = (parsed.scheme or "").lower()
    return scheme, (parsed.host or "").lower(), parsed.port or DEFAULT_PORTS.get(scheme, 0)


class CredentialPolicy:
    """The one place that decides where Sinch credentials (key, secret, tokens) may be sent.

    Allowed: the origins (scheme, host, port) the connection names (its API host and its OAuth2 token URL)
    and ``https://*.sinch.com``; plain ``http://`` only to a loopback host. Every URL is judged as urllib3
    will send it, which is where the connection goes. The auth objects call :meth:`check` on each prepared
    request just before they add a header, so retries, redirects and the token request are all covered.

    :param configured: the URLs the connection names; each must itself be allowed.
    """

    def __init__(self, *configured: str) -> None:
        for url in configured:
            reason = self._unsafe(url)
            if reason:
                raise SinchInsecureTransportError(
                    f"Refusing the connection's URL {_shown(url)}: {reason}. Fix the connection's host (API base URL) "
                    "or OAuth2 token URL (extra auth_url)."
                )
        self.origins = frozenset(url_origin(url) for url in configured)

    @staticmethod
    def _unsafe(url: str) -> str | None:
        """Why ``url`` may carry no credential whoever names it, or None."""
        if UNSAFE_URL_CHARS.search(url):
            return "it contains a backslash, a space or a control character, which HTTP parsers read differently"
        if url.startswith("//"):
            return "it has no scheme ('//host/...')"
        try:
            scheme, host, _ = url_origin(url)
        except LocationParseError:
            return "it is not a valid URL"
        if scheme not in DEFAULT_PORTS or not host:
            return "only https:// URLs (or http:// to a loopback host) with a host name are allowed"
        if scheme == "http" and not is_loopback_host(host):
            return (
                "only https is allowed, or plain http to a loopback host (127.0.0.1, ::1, localhost) such as "
                "a local simulator"
            )
        return None

    def refusal(self, url: str) -> str | None:
        """Why no credential may go to ``url``, or None when it may."""
        reason = self._unsafe(url)
        if reason:
            return reason
        origin = url_origin(url)
        if origin in self.origins or (origin[0] == "https" and origin[2] == 443 and is_sinch_host(origin[1])):
            return None
        return "it is neither the connection's host, its OAuth2 token URL nor a Sinch API host (https://*.sinch.com)"

    def check(self, url: str) -> None:
        """Raise :class:`SinchInsecureTransportError` unless credentials may go to ``url``."""
        reason = self.refusal(url)
        if reason:
            raise SinchInsecureTransportError(
                f"Refusing to send Sinch credentials to {_shown(url)}: {reason}. Pass a path to use the "
                "connection's host, or fix the connection's host (API base URL) or OAuth2 token URL (extra auth_url)."
            )


def _shown(url: str) -> str:
    """``scheme://host:port`` of a URL for a message (its path and query may hold phone numbers)."""
    try:
        scheme, host, port = url_origin(url)
    except LocationParseError:
        return "an unparsable URL"
    if not scheme:
        return repr(url.split("?", 1)[0][:80])
    return f"{scheme}://{host}" if DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{host}:{port}"


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


class Redactor:
    """Every form of the secrets in use that could reach a message, to scrub from text and mask in logs.

    For a key: the secret, its URL-quoted and JSON-escaped forms, ``id:secret`` and its Basic base64; for an
    OAuth2 token: the token and its quoted form. One per process, like the token cache and Airflow's masker.
    """

    #: Shorter strings are not scrubbed: they would mangle unrelated text.
    MIN_LENGTH = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: list[str] = []

    def add_key(self, key_id: str, key_secret: str) -> None:
        """Register a key's secret in all its forms."""
        pair = f"{key_id}:{key_secret}"
        basic = base64.b64encode(pair.encode()).decode("ascii")
        self._add(key_secret, *_quoted(key_secret), json.dumps(key_secret)[1:-1], pair, basic, *_quoted(basic))

    def add_token(self, token: str) -> None:
        """Register an OAuth2 access token."""
        self._add(token, *_quoted(token))

    def _add(self, *forms: str) -> None:
        fresh = [form for form in dict.fromkeys(forms) if len(form) >= self.MIN_LENGTH]
        with self._lock:
            known = set(self._forms)
            new = [form for form in fresh if form not in known]
            if not new:
                return
            self._forms = sorted([*self._forms, *new], key=len, reverse=True)  # longest first: no partial leftovers
        for form in new:
            mask_secret(form)

    def scrub(self, text: str) -> str:
        """``text`` with every registered form replaced by ``***``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, "***")
        return text

    def scrub_value(self, value: Any) -> Any:
        """:meth:`scrub` applied to every string inside lists and dicts (an error's ``details``)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_value(item) for item in value]
        if isinstance(value, dict):
            return {self.scrub_value(k): self.scrub_value(v) for k, v in value.items()}
        return value


def _quoted(text: str) -> tuple[str, ...]:
    return quote(text, safe=""), quote(text), quote_plus(text)


REDACTOR = Redactor()


def redact(text: str) -> str:
    """``text`` without any form of any Sinch secret or token this process uses (see :class:`Redactor`)."""
    return REDACTOR.scrub(text)


def backoff_seconds(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): the one backoff of every retry loop."""
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** max(attempt - 1, 0)) + random.uniform(0, BACKOFF_JITTER)


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
            wait = backoff_seconds(len(new.history))
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
    """HTTP Basic auth with the key ID and key secret, only to where the policy allows."""

    def __init__(self, username: str, password: str, policy: CredentialPolicy) -> None:
        super().__init__(username, password)
        self.policy = policy

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.policy.check(r.url or "")
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
    :param policy: where the key and the tokens may be sent.
    :param on_token: called with each new token (the hook registers it with the redactor).
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
        response = self._session_factory().post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=self._token_auth,  # checks the prepared token URL against the policy first
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
