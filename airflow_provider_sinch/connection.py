"""The ``sinch`` connection: its fields, their defaults, and their validation (one place for all three).

``CONN_FIELDS`` is what the Airflow 3 connection form shows (through ``get_provider_info``) and what the
Airflow 2 form widgets are built from; :func:`parse_connection` takes every default from it. No
``requests`` here: the provider info and the operators import this module at DAG-parse time.

One connection serves every Sinch API: Sinch's Basic and OAuth2 auth work on all of them. The ``host``
field is optional and overrides every API's own host (for a local stand-in such as the simulator);
otherwise each API client uses its own, regional where the API is (see :mod:`airflow_provider_sinch.clients`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow_provider_sinch.exceptions import SinchConnectionConfigError

DEFAULT_TOKEN_URL = "https://auth.sinch.com/oauth2/token"
AUTH_TYPES = ("basic", "oauth2")
CONVERSATION_REGIONS = ("us", "eu", "br")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})

#: Extra fields of the ``sinch`` connection: the Airflow 3 form (``conn-fields``) and the Airflow 2 widgets.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "project_id": {
        "label": "Project ID",
        "description": "Your Sinch project ID (Sinch dashboard > Settings > Access keys). Required.",
        "schema": {"type": "string", "minLength": 1},
    },
    "auth_type": {
        "label": "Auth type",
        "description": "basic: HTTP Basic with key ID/secret on every call (heavily rate limited). "
        "oauth2: client-credentials bearer tokens, recommended for production.",
        "schema": {"type": ["string", "null"], "default": "basic", "enum": list(AUTH_TYPES)},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of every HTTP request to Sinch, in seconds.",
        "schema": {"type": ["number", "null"], "default": 30, "exclusiveMinimum": 0},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries on 429, 502, 503, 504 and connection errors, with exponential backoff.",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    # Not "token_url": Airflow masks every extra whose name contains "token" as *** in the UI and the API.
    "auth_url": {
        "label": "OAuth2 token URL",
        "description": f"Only for auth type oauth2. Default: {DEFAULT_TOKEN_URL}",
        "schema": {"type": ["string", "null"], "default": DEFAULT_TOKEN_URL},
    },
    "rate_limit": {
        "label": "Rate limit (requests/second)",
        "description": "At most this many requests per second from each worker process with this key, its "
        "tasks together; empty for no limit. Set it to the key's Sinch rate limit divided by the number of "
        "worker processes, so concurrent tasks queue instead of being refused with 429.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Path of a PEM file of certificates to trust instead of the system's, e.g. a local "
        "simulator's self-signed certificate. TLS verification is never turned off.",
        "schema": {"type": ["string", "null"]},
    },
    "conversation_region": {
        "label": "Conversation API region",
        "description": "Region of your Conversation API app: us, eu or br (its host is "
        "{region}.conversation.api.sinch.com).",
        "schema": {"type": ["string", "null"], "default": "us", "enum": list(CONVERSATION_REGIONS)},
    },
    "conversation_app_id": {
        "label": "Conversation app ID",
        "description": "Default Conversation API app for messages (Sinch dashboard > Conversation API > Apps); "
        "operators and notifiers may name another.",
        "schema": {"type": ["string", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"login": "Key ID", "password": "Key Secret", "host": "API base URL"},
    "placeholders": {
        "host": "optional: each Sinch API's own host",
        "login": "Access key ID",
        "password": "Access key secret",
        "project_id": "00000000-0000-0000-0000-000000000000",
        "auth_url": DEFAULT_TOKEN_URL,
        "conversation_region": "us",
    },
}


#: Extras the form does not show, with their defaults.
HIDDEN_DEFAULTS: dict[str, Any] = {"max_retry_wait": 120}


def default(name: str) -> Any:
    """The default of a connection extra, as ``CONN_FIELDS`` (or, if hidden, ``HIDDEN_DEFAULTS``) declares it."""
    if name in CONN_FIELDS:
        return CONN_FIELDS[name]["schema"].get("default")
    return HIDDEN_DEFAULTS.get(name)


@dataclass(frozen=True)
class SinchConnectionSettings:
    """The settings of a ``sinch`` connection after validation and type coercion.

    :param host: the connection's own API base URL (scheme, host, port), or None for each API's own host.
    :param extras: the connection's extras as stored, for API clients to read their own fields.
    """

    key_id: str
    key_secret: str
    project_id: str
    auth_type: str
    host: str | None
    token_url: str
    timeout: float
    max_retries: int
    max_retry_wait: float
    ca_bundle: str | None = None
    rate_limit: float | None = None
    conn_id: str = "sinch_default"
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    def extra(self, name: str) -> Any:
        """An extra by its bare name or its Airflow 2 ``extra__sinch__`` name; ``CONN_FIELDS``' default if unset."""
        value = _extra(self.extras, name)
        return default(name) if value is None and name in CONN_FIELDS else value

    def choice(self, name: str, value: Any = None) -> str:
        """``value`` or the extra ``name``, checked against the field's ``enum`` in ``CONN_FIELDS``."""
        chosen = str(value if value not in (None, "") else self.extra(name)).strip().lower()
        allowed = CONN_FIELDS[name]["schema"]["enum"]
        if chosen not in allowed:
            raise config_error(
                f"Connection {self.conn_id!r}: {name}={chosen!r} is not one of {', '.join(allowed)}; fix the "
                f"connection's {CONN_FIELDS[name]['label']!r} or the argument."
            )
        return chosen

    def __repr__(self) -> str:  # the secret must not reach a log through a repr
        return (
            f"SinchConnectionSettings(key_id={self.key_id!r}, project_id={self.project_id!r}, "
            f"auth_type={self.auth_type!r}, host={self.host!r})"
        )


def config_error(message: str) -> SinchConnectionConfigError:
    """The typed error of a bad connection; imported here on use, as Airflow imports this module while it starts."""
    from airflow_provider_sinch.exceptions import SinchConnectionConfigError

    return SinchConnectionConfigError(message)


def _extra(extras: dict[str, Any], name: str) -> Any:
    """An extra field by its bare name (Airflow 3 UI, env vars) or its 2.x ``extra__sinch__`` name."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__sinch__{name}")
    return None if value == "" else value


def _number(value: Any, name: str, conn_id: str, *, kind: type[int] | type[float], minimum: float) -> Any:
    try:
        number = kind(str(value).strip()) if isinstance(value, str) else kind(value)
    except (TypeError, ValueError):
        raise config_error(
            f"Connection {conn_id!r}: extra {name!r}={value!r} is not a number; set it to a "
            f"{'whole ' if kind is int else ''}number such as {default(name) or 10}."
        ) from None
    if number < minimum or (kind is float and number == 0):
        raise config_error(
            f"Connection {conn_id!r}: extra {name!r}={value!r} must be {'> 0' if kind is float else '>= 0'}."
        )
    return number


def parse_connection(
    conn: Any,
    *,
    auth_type: str | None = None,
    project_id: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> SinchConnectionSettings:
    """Validate an Airflow connection and coerce its extras, merging explicit hook arguments over them."""
    conn_id = getattr(conn, "conn_id", None) or "sinch_default"
    extras = dict(conn.extra_dejson or {})
    missing = [
        label
        for label, value in (("Key ID (login)", conn.login), ("Key Secret (password)", conn.password))
        if not value
    ]
    project = project_id or _extra(extras, "project_id")
    if not project:
        missing.append("Project ID (extra 'project_id')")
    if missing:
        raise config_error(
            f"Connection {conn_id!r} is missing {', '.join(missing)}. Copy them from the Sinch dashboard "
            "(Settings > Access keys) into the connection."
        )

    def number(name: str, given: Any, kind: type[int] | type[float], minimum: float) -> Any:
        raw = given if given is not None else _extra(extras, name)
        raw = default(name) if raw is None else raw
        return None if raw is None else _number(raw, name, conn_id, kind=kind, minimum=minimum)

    ca_bundle = _extra(extras, "ca_bundle")
    if ca_bundle is not None and not Path(str(ca_bundle)).is_file():
        raise config_error(
            f"Connection {conn_id!r}: extra 'ca_bundle'={ca_bundle!r} is not a readable file; give the path "
            "of a PEM certificate file, or leave it empty to trust the system's certificates."
        )
    settings = SinchConnectionSettings(
        key_id=str(conn.login),
        key_secret=str(conn.password),
        project_id=str(project).strip(),
        auth_type="basic",
        host=_base_host(conn),
        token_url=str(_extra(extras, "auth_url") or _extra(extras, "token_url") or default("auth_url")).strip(),
        timeout=number("timeout", timeout, float, 0),
        max_retries=number("max_retries", max_retries, int, 0),
        max_retry_wait=number("max_retry_wait", None, float, 0),
        ca_bundle=None if ca_bundle is None else str(ca_bundle),
        rate_limit=number("rate_limit", None, float, 0),
        conn_id=conn_id,
        extras=extras,
    )
    return replace(settings, auth_type=settings.choice("auth_type", auth_type))


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


def _base_host(conn: Any) -> str | None:
    """The connection's host as a base URL (scheme, host, port), or None when it names none."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        return None
    if "://" not in host:
        hostname = host.split(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
        scheme = "http" if is_loopback_host(hostname) else "https"
        host = f"{scheme}://{host}"
    if conn.port and urlsplit(host).port is None:
        host = f"{host}:{conn.port}"
    return host
