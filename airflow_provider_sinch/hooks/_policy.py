"""The retry and error policy of every Sinch call, written once for the sync and the async client.

No HTTP library here: ``SinchHook`` (requests/urllib3) and ``SinchAsyncHook`` (httpx) both ask this module
whether to retry, how long to wait, and which typed error an answer is, so the two cannot drift apart.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_sinch.exceptions import (
    SinchAPIError,
    SinchAuthError,
    SinchConnectionError,
    SinchInvalidRequestError,
    SinchNotFoundError,
    SinchRateLimitError,
    SinchResponseError,
    SinchServerError,
)
from airflow_provider_sinch.hooks._credentials import REDACTOR, redact

#: Statuses worth repeating: 429 for every method (Sinch refused before doing anything), the others for
#: idempotent methods only (the server may have acted).
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Methods safe to repeat after an ambiguous failure (urllib3's ``Retry.DEFAULT_ALLOWED_METHODS``).
IDEMPOTENT_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE"})
#: Retry backoff: 0.5 s, 1 s, 2 s, ... up to 30 s, plus up to 0.25 s of jitter.
BACKOFF_FACTOR, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 30.0, 0.25


def backoff_seconds(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): the one backoff of every retry loop."""
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** max(attempt - 1, 0)) + random.uniform(0, BACKOFF_JITTER)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds from now, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """When a Sinch call is repeated, and after how long.

    :param max_retries: retries after the first attempt.
    :param max_total_wait: seconds of waiting, in all, after which the last answer stands.
    """

    max_retries: int
    max_total_wait: float

    @staticmethod
    def retries_status(method: str, status: int) -> bool:
        """Whether an answer with ``status`` is worth repeating for ``method``."""
        return status == 429 or (status in RETRY_STATUSES and method.upper() in IDEMPOTENT_METHODS)

    @staticmethod
    def retries_error(method: str, *, sent: bool) -> bool:
        """Whether a transport error is worth repeating: always before the request was sent, else if idempotent."""
        return not sent or method.upper() in IDEMPOTENT_METHODS

    def next_wait(self, attempt: int, waited: float, retry_after: float | None = None) -> float | None:
        """Seconds before retry number ``attempt`` (1-based), or None to give up (out of retries or of time)."""
        if attempt > self.max_retries:
            return None
        wait = retry_after if retry_after is not None else backoff_seconds(attempt)
        return None if waited + wait > self.max_total_wait else wait


def outcome_unknown(method: str | None) -> str:
    """For a request that is not safe to repeat: it was not repeated, and may have taken effect anyway."""
    method = (method or "").upper()
    if not method or method in IDEMPOTENT_METHODS:
        return ""
    return (
        f" The {method} was not repeated, but Sinch may have acted on it (created the fax, sent the message): "
        "check before sending it again."
    )


def error_fields(body: Any) -> tuple[str | None, str | None, list[Any]]:
    """Sinch's (code, message, details) from any of its error shapes, or Nones for an empty/unreadable body.

    The Fax API answers ``{code: 400, status, message, details}`` or ``{code: "404", error, message}``; the
    other APIs (Conversation, Numbers, ...) answer ``{"error": {code, message, status, details}}``.
    """
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return None, None, []
    code = body.get("code")
    message = body.get("message") or body.get("error") or body.get("status")
    raw_details = body.get("details")
    details: list[Any] = raw_details if isinstance(raw_details, list) else []
    return (None if code is None else str(code)), (None if message is None else str(message)[:500]), details


def api_error(
    status: int,
    method: str,
    path: str,
    body: Any,
    *,
    project_id: str,
    max_retries: int,
    waited: float = 0.0,
    retried: int | None = None,
) -> SinchAPIError:
    """The typed error of an error answer; its message names what to check, never a credential."""
    code, message, details = error_fields(body)
    message, details = (None if message is None else redact(message)), REDACTOR.scrub_value(details)
    what = f"Sinch {method} {path} answered HTTP {status}"
    if code or message:
        what += f" (code {code}: {message})" if code else f" ({message})"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "sinch_code": code,
        "sinch_message": message,
        "details": details,
        "method": method,
        "path": path,
    }
    if status in (401, 403):
        hint = (
            f"check the connection's key ID and key secret and that project ID {project_id!r} belongs to that "
            "access key"
            if status == 401
            else "the access key has no access to this API or project; check its permissions in the Sinch dashboard"
        )
        return SinchAuthError(redact(f"{what}: {hint}."), **kwargs)
    if status == 404:
        return SinchNotFoundError(redact(f"{what}: the resource does not exist."), **kwargs)
    if status == 429:
        return SinchRateLimitError(
            redact(
                f"{what}: rate limited after {max_retries if retried is None else retried} retries and {waited:.1f} s "
                "of waiting. Basic auth is heavily rate limited by Sinch: use auth_type 'oauth2', lower the request "
                "rate, or raise max_retries."
            ),
            waited=waited,
            **kwargs,
        )
    if status in (400, 422):
        error = SinchInvalidRequestError(what, **kwargs)
        violations = "; ".join(f"{v['field']}: {v['description']}" for v in error.field_violations)
        error.args = (redact(f"{what}: {violations or 'Sinch rejected the request'}."),)
        return error
    if status >= 500:
        advice = outcome_unknown(method) or " Try again later."
        return SinchServerError(redact(f"{what}: Sinch had a server error.{advice}"), **kwargs)
    return SinchAPIError(redact(f"{what}."), **kwargs)


def token_answer(status: int, body: Any) -> tuple[str, float]:
    """``(access_token, expires_in)`` of an OAuth2 token answer, or the typed error that says what to check."""
    if status in (400, 401, 403):
        raise SinchAuthError(
            f"Sinch refused the OAuth2 token request with HTTP {status}: check the connection's key ID and key "
            "secret (an access key of the project), and its OAuth2 token URL (extra auth_url).",
            status_code=status,
        )
    if not 200 <= status < 300:
        raise SinchResponseError(f"The OAuth2 token endpoint answered HTTP {status}.", status_code=status)
    try:
        return str(body["access_token"]), float(body.get("expires_in") or 3600)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SinchResponseError(
            "The OAuth2 token endpoint answered without a usable access_token.", status_code=status
        ) from None


def reason(exc: BaseException) -> str:
    """A short cause of a transport error without the URL (which may carry phone numbers)."""
    name = type(exc).__name__
    text = str(exc)
    if "timed out" in text.lower() or "timeout" in name.lower():
        return f"{name}: read timed out"
    if "refused" in text.lower():
        return f"{name}: connection refused"
    if "reset" in text.lower() or "aborted" in text.lower():
        return f"{name}: connection reset"
    if "incompleteread" in text.lower() or "incomplete" in text.lower():
        return f"{name}: incomplete read"
    return name


def connection_error(
    method: str, path: str, netloc: str, exc: BaseException, *, timeout: float, conn_id: str, tls: bool, timed_out: bool
) -> SinchConnectionError:
    """The typed error of a request that got no answer (after the retries where they were safe)."""
    if tls:
        return SinchConnectionError(
            f"Sinch {method} {path} failed: the TLS certificate of {netloc} could not be verified. For a server with "
            "its own certificate (e.g. the local simulator), set the connection's 'ca_bundle' extra to its PEM file."
        )
    if timed_out:
        return SinchConnectionError(
            f"Sinch {method} {path} timed out after {timeout} s (timeout of connection {conn_id!r}); raise the "
            "connection's 'timeout' extra if Sinch is slow." + outcome_unknown(method)
        )
    why = reason(exc)
    return SinchConnectionError(
        f"Sinch {method} {path} failed: could not reach {netloc} or the connection broke ({why}), after the "
        "connection's retries." + ("" if "refused" in why else outcome_unknown(method))
    )


class RateLimiter:
    """Spaces requests evenly, at most ``rate`` per second, across every thread and event loop that uses it."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def reserve(self) -> float:
        """Take the next turn; the seconds to wait for it (``time.sleep`` it, or ``asyncio.sleep`` it)."""
        with self._lock:
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self.interval
        return turn - now

    def wait(self) -> None:
        """Block until the caller's turn."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)


_LIMITERS: dict[tuple[str, str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_rate_limiter(host: str | None, key_id: str, rate: float) -> RateLimiter:
    """The limiter of one access key, shared by every hook, sync or async, of the process (Sinch limits per key)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((host or "sinch.com", key_id, rate), RateLimiter(rate))
