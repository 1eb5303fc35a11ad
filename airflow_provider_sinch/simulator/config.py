"""Configuration of the Sinch Fax API simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Sinch's free test number: faxes sent to it complete successfully and cost nothing.
SINCH_TEST_NUMBER = "+19898989898"


@dataclass
class SimulatorConfig:
    """Everything that shapes one simulator instance.

    The defaults give a quiet, unlimited server with an empty fax store; tests switch on what they
    exercise (seeded faxes, rate limits, short token lifetimes).

    :param key_id: access key ID accepted as Basic user name and as OAuth2 client ID.
    :param key_secret: access key secret.
    :param project_id: the only project ID the API paths accept; any other one gets 401.
    :param seed: seed for everything random (seeded faxes, list order, fault fractions).
    :param seed_faxes: number of faxes seeded at start, spread over ``seed_period`` ending at ``seed_end``.
    :param seed_period: time span of the seeded faxes (default 396 days, Sinch's 13-month retention).
    :param seed_end: end of the seeded span; ``None`` means now. Fix it to compare two seeded stores.
    :param shuffle: list faxes in a seeded order that is not newest-first (Sinch documents no order);
        ``False`` lists newest first.
    :param token_ttl: lifetime of issued OAuth2 access tokens, in seconds.
    :param basic_rate_limit: requests per second allowed with Basic auth (token bucket); ``None`` = unlimited.
    :param oauth_rate_limit: requests per second allowed with Bearer tokens; ``None`` = unlimited.
    :param retry_after_on_429: add a ``Retry-After`` header to rate-limit 429s (the real API does not promise one).
    :param transition_seconds: time a sent fax takes from QUEUED through IN_PROGRESS to its final status.
    :param failing_numbers: recipients whose faxes end in FAILURE (``CALL_ERROR`` 17, Busy).
    :param max_recorded_requests: how many recent requests ``SimulatorServer.requests`` keeps.
    :param conversation_app_ids: the Conversation API apps of the project; a send to another answers 404.
    :param conversation_rate_limit: Conversation API requests per second per project (Sinch's document: 800).
    :param conversation_app_rate: messages per second an app's queue drains (Sinch's document: 20).
    :param conversation_queue_limit: messages an app's queue holds before a send answers 429 (500,000).
    :param lenient: also read ``createTime>=``/``createTime<=`` query keys (an encoded ``=`` inside the key,
        which no Sinch client sends) as range filters. Off by default: a strict simulator, like the real API,
        ignores them and answers the default week, so a test sees the difference. Never on in the tests,
        the demo or docker-compose.
    """

    key_id: str = "test-key-id"
    key_secret: str = "test-key-secret"
    project_id: str = "test-project"
    seed: int = 42
    seed_faxes: int = 0
    seed_period: timedelta = field(default_factory=lambda: timedelta(days=396))
    seed_end: datetime | None = None
    shuffle: bool = True
    token_ttl: float = 3600
    basic_rate_limit: float | None = None
    oauth_rate_limit: float | None = None
    retry_after_on_429: bool = False
    transition_seconds: float = 2.0
    failing_numbers: tuple[str, ...] = ("+15005550001",)
    max_recorded_requests: int = 100_000
    conversation_app_ids: tuple[str, ...] = ("test-app",)
    conversation_rate_limit: float = 800.0
    conversation_app_rate: float = 20.0
    conversation_queue_limit: int = 500_000
    lenient: bool = False
