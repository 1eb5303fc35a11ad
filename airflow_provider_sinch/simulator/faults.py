"""Fault injection: failed responses, latency, dropped connections, truncated downloads, bad JSON.

Every rule can be narrowed to a path prefix (the full request path, e.g.
``/v3/projects/test-project/faxes``) and an HTTP method. Random rules draw from their own seeded
generator, so a run with the same seed and the same request sequence fails the same requests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

BODY_SHAPES = ("error", "docs", "empty", "html")


@dataclass
class _Match:
    path_prefix: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass
class FailureSpec:
    """What an injected failure response looks like."""

    status: int
    retry_after: float | None
    body_shape: str


@dataclass
class _CountedRule(_Match):
    remaining: int = 0


@dataclass
class _FailNext(_CountedRule):
    spec: FailureSpec = field(default_factory=lambda: FailureSpec(503, None, "error"))


@dataclass
class _FailFraction(_Match):
    probability: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    spec: FailureSpec = field(default_factory=lambda: FailureSpec(503, None, "error"))


@dataclass
class _Latency(_Match):
    seconds: float = 0.0
    remaining: int | None = None


@dataclass
class _Truncate(_CountedRule):
    keep_bytes: int | None = None


@dataclass
class RequestFaults:
    """Faults decided for one request when it arrives."""

    delay: float = 0.0
    failure: FailureSpec | None = None
    reset_connection: bool = False
    truncate: bool = False
    truncate_keep_bytes: int | None = None


class FaultInjector:
    """Thread-safe set of fault rules, consulted by the simulator for every request.

    :param seed: default seed of ``fail_fraction`` rules.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._fail_next: list[_FailNext] = []
        self._fail_fraction: list[_FailFraction] = []
        self._latency: list[_Latency] = []
        self._reset: list[_CountedRule] = []
        self._truncate: list[_Truncate] = []
        self._invalid_json: list[_CountedRule] = []
        self.injected = 0
        """Number of faults injected so far (failures, resets, truncations, bad JSON)."""

    @staticmethod
    def _spec(status: int, retry_after: float | None, body_shape: str) -> FailureSpec:
        if body_shape not in BODY_SHAPES:
            raise ValueError(f"body_shape must be one of {BODY_SHAPES}")
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        return FailureSpec(status, retry_after, body_shape)

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        path_prefix: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        body_shape: str = "error",
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` instead of serving them.

        :param retry_after: seconds for a ``Retry-After`` header (omitted when ``None``).
        :param body_shape: ``"error"`` (``{code, status, message, details}``), ``"docs"``
            (``{code: "503", error, message}``), ``"empty"`` or ``"html"`` (a proxy's error page).
        """
        rule = _FailNext(path_prefix, method, n, self._spec(status, retry_after, body_shape))
        with self._lock:
            self._fail_next.append(rule)

    def fail_fraction(
        self,
        p: float,
        status: int = 503,
        seed: int | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        body_shape: str = "error",
    ) -> None:
        """Fail each matching request with probability ``p``, drawn from a generator seeded with ``seed``."""
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be between 0 and 1")
        rng = random.Random(self._seed if seed is None else seed)
        rule = _FailFraction(path_prefix, method, p, rng, self._spec(status, retry_after, body_shape))
        with self._lock:
            self._fail_fraction.append(rule)

    def latency(
        self,
        seconds: float,
        path_prefix: str | None = None,
        method: str | None = None,
        n: int | None = None,
    ) -> None:
        """Delay matching requests by ``seconds`` (all of them, or only the next ``n``)."""
        with self._lock:
            self._latency.append(_Latency(path_prefix, method, seconds, n))

    def reset_connection_next(self, n: int = 1, path_prefix: str | None = None, method: str | None = None) -> None:
        """Close the connection in the middle of the next ``n`` matching responses."""
        with self._lock:
            self._reset.append(_CountedRule(path_prefix, method, n))

    def truncate_download_next(self, n: int = 1, keep_bytes: int | None = None, path_prefix: str | None = None) -> None:
        """Send only part of the next ``n`` file downloads (default half), then close the connection.

        The ``Content-Length`` header still announces the full size.
        """
        with self._lock:
            self._truncate.append(_Truncate(path_prefix, "GET", n, keep_bytes))

    def invalid_json_next(self, n: int = 1, path_prefix: str | None = None, method: str | None = None) -> None:
        """Cut the body of the next ``n`` matching JSON responses in half (status and type unchanged)."""
        with self._lock:
            self._invalid_json.append(_CountedRule(path_prefix, method, n))

    def clear(self) -> None:
        """Remove every rule (the ``injected`` counter stays)."""
        with self._lock:
            self._fail_next.clear()
            self._fail_fraction.clear()
            self._latency.clear()
            self._reset.clear()
            self._truncate.clear()
            self._invalid_json.clear()

    # ---------------------------------------------------------- used by the app

    @staticmethod
    def _take(rules: list, method: str, path: str) -> _CountedRule | None:  # type: ignore[type-arg]
        for rule in rules:
            if rule.remaining > 0 and rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining == 0:
                    rules.remove(rule)
                return rule  # type: ignore[no-any-return]
        return None

    def on_request(self, method: str, path: str, is_download: bool) -> RequestFaults:
        """Decide the faults of a request as it arrives."""
        faults = RequestFaults()
        with self._lock:
            for lat in list(self._latency):
                if lat.matches(method, path):
                    faults.delay += lat.seconds
                    if lat.remaining is not None:
                        lat.remaining -= 1
                        if lat.remaining <= 0:
                            self._latency.remove(lat)
            fail = self._take(self._fail_next, method, path)
            if isinstance(fail, _FailNext):
                faults.failure = fail.spec
            else:
                for frac in self._fail_fraction:
                    if frac.matches(method, path) and frac.rng.random() < frac.probability:
                        faults.failure = frac.spec
                        break
            if faults.failure is None:
                if is_download:
                    trunc = self._take(self._truncate, method, path)
                    if isinstance(trunc, _Truncate):
                        faults.truncate = True
                        faults.truncate_keep_bytes = trunc.keep_bytes
                if not faults.truncate and self._take(self._reset, method, path) is not None:
                    faults.reset_connection = True
            if faults.failure is not None or faults.truncate or faults.reset_connection:
                self.injected += 1
        return faults

    def take_invalid_json(self, method: str, path: str) -> bool:
        """Whether this JSON response should be corrupted (consumes one rule use)."""
        with self._lock:
            if self._take(self._invalid_json, method, path) is None:
                return False
            self.injected += 1
            return True
