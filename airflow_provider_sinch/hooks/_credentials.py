"""Where Sinch credentials may go, every form they take, and the process-wide OAuth2 token cache.

Shared by the sync transport (requests) and the async one (httpx); no HTTP library is imported here
except urllib3's URL parser, which is what requests connects with.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from typing import Any
from urllib.parse import quote, quote_plus

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from airflow_provider_sinch._compat import mask_secret
from airflow_provider_sinch.connection import is_loopback_host
from airflow_provider_sinch.exceptions import SinchInsecureTransportError

DEFAULT_PORTS = {"http": 80, "https": 443}
#: Characters no credential-bearing URL may hold: parsers disagree on a backslash (urllib.parse reads
#: ``https://a\\@b/`` as host ``b``, urllib3 connects to ``a``), and a space or control character is never
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


class _TokenCache:
    """Process-wide cache of OAuth2 tokens, so every hook of a worker shares one token per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Held by a synchronous token fetch, so threads do not fetch the same token twice at once.
        self.fetch_lock = threading.Lock()
        self.tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def clear(self) -> None:
        with self.lock:
            self.tokens.clear()

    def peek(self, key: tuple[str, str, str], stale: str | None = None) -> str | None:
        """The cached token of ``key`` if it is still fresh and not ``stale``, else None."""
        with self.lock:
            cached = self.tokens.get(key)
        if cached is None:
            return None
        token, renew_at = cached
        return token if token != stale and time.monotonic() < renew_at else None

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        """Cache ``token``, to be renewed ``REFRESH_MARGIN`` before Sinch says it expires (or at half its life)."""
        margin = REFRESH_MARGIN if expires_in > 2 * REFRESH_MARGIN else expires_in / 2
        with self.lock:
            self.tokens[key] = (token, time.monotonic() + expires_in - margin)


TOKEN_CACHE = _TokenCache()
#: Renew a token this many seconds before Sinch says it expires.
REFRESH_MARGIN = 60.0


def token_cache_key(token_url: str, key_id: str, key_secret: str) -> tuple[str, str, str]:
    """The cache key of one access key at one token endpoint (the secret only as a digest)."""
    return token_url, key_id, hashlib.sha256(key_secret.encode()).hexdigest()
