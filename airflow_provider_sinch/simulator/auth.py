"""Credentials, OAuth2 access tokens and rate limits of the simulator."""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import threading
import time


def parse_basic(header: str) -> tuple[str, str] | None:
    """``(user, password)`` from a ``Basic`` Authorization header value, or ``None``."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials_match(given: tuple[str, str] | None, key_id: str, key_secret: str) -> bool:
    """Constant-time comparison of a key ID and secret."""
    if given is None:
        return False
    id_ok = hmac.compare_digest(given[0].encode(), key_id.encode())
    secret_ok = hmac.compare_digest(given[1].encode(), key_secret.encode())
    return id_ok and secret_ok


class TokenRegistry:
    """Issued OAuth2 access tokens and their expiry (monotonic clock)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self) -> str:
        """Create a new token valid for ``ttl`` seconds."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            # Forget tokens that expired long ago so a long-running server does not grow.
            if len(self._expiry) > 10_000:
                self._expiry = {t: e for t, e in self._expiry.items() if e > now - 3600}
            self._expiry[token] = now + self.ttl
            self.issued += 1
        return token

    def check(self, token: str) -> str:
        """``"valid"``, ``"expired"`` or ``"invalid"``."""
        with self._lock:
            expiry = self._expiry.get(token)
        if expiry is None:
            return "invalid"
        return "valid" if time.monotonic() < expiry else "expired"

    def expire_all(self) -> None:
        """Make every token issued so far expired."""
        with self._lock:
            now = time.monotonic()
            self._expiry = {t: min(e, now - 0.001) for t, e in self._expiry.items()}


class TokenBucket:
    """A token bucket allowing ``rate`` requests per second with bursts up to ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> tuple[bool, int]:
        """Take one token: ``(True, 0)``, or ``(False, seconds until one is available)``."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True, 0
            return False, max(1, math.ceil((1.0 - self._tokens) / self.rate))
