"""The Sinch hook: authenticated, retrying ``requests`` sessions for Sinch's REST APIs, and the Fax API."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import queue
import random
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from airflow_provider_sinch import __version__
from airflow_provider_sinch._compat import BaseHook
from airflow_provider_sinch._fax import (
    DOWNLOAD_CHUNK,
    FAX_DIRECTIONS,
    FAX_STATUSES,
    MAX_PAGE_SIZE,
    RETENTION,
    SEND_OPTIONS,
    TERMINAL_FAX_STATUSES,
    sort_newest_first,
    validate_content_url,
    validate_e164,
    validate_fax_id,
)
from airflow_provider_sinch._time import (
    UTC,
    create_time_range_params,
    create_time_window,
    format_create_time,
    to_utc,
)
from airflow_provider_sinch.exceptions import (
    SinchAPIError,
    SinchAuthError,
    SinchConnectionConfigError,
    SinchConnectionError,
    SinchDownloadError,
    SinchInvalidRequestError,
    SinchNotFoundError,
    SinchRateLimitError,
    SinchResponseError,
    SinchServerError,
)
from airflow_provider_sinch.get_provider_info import (
    CONN_FIELDS,
    DEFAULT_API_HOST,
    DEFAULT_TOKEN_URL,
    UI_FIELD_BEHAVIOUR,
)
from airflow_provider_sinch.hooks._http import (
    REDACTOR,
    RETRY_STATUSES,
    UNSAFE_URL_CHARS,
    CredentialPolicy,
    PolicySession,
    SinchBasicAuth,
    SinchOAuth2Auth,
    SinchRetry,
    TimeoutHTTPAdapter,
    is_loopback_host,
    redact,
    shared_rate_limiter,
)

# The Fax API vocabulary lives in _fax (no requests: cheap at DAG parse time) and is re-exported here.
__all__ = [
    "AUTH_TYPES",
    "DOWNLOAD_CHUNK",
    "FAX_DIRECTIONS",
    "FAX_STATUSES",
    "MAX_PAGE_SIZE",
    "RETENTION",
    "SEND_OPTIONS",
    "TERMINAL_FAX_STATUSES",
    "SinchConnectionSettings",
    "SinchHook",
    "parse_connection",
    "sort_newest_first",
    "validate_e164",
    "validate_fax_id",
]

AUTH_TYPES = ("basic", "oauth2")
#: A window this narrow is read page by page instead of halved again.
MIN_SPLIT = timedelta(seconds=1)

#: How many times ``list_faxes`` pages through a listing that changed under it before it settles for it.
LISTING_PASSES = 3
#: What Sinch's Node SDK asks for on JSON calls (the list endpoint can also answer text/csv).
JSON_ACCEPT = {"Accept": "application/json"}
#: A download asks for the PDF unencoded, so its size can be checked against Content-Length.
PDF_ACCEPT = {"Accept": "application/pdf", "Accept-Encoding": "identity"}
#: Retry backoff: 0.5 s, 1 s, 2 s, ... up to 30 s, plus up to 0.25 s of jitter.
BACKOFF_FACTOR, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 30.0, 0.25


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _in_window(fax: dict[str, Any], start: datetime, end: datetime) -> bool:
    return create_time_window(start, end)(fax)


@dataclass(frozen=True)
class SinchConnectionSettings:
    """The settings of a ``sinch`` connection after validation and type coercion."""

    key_id: str
    key_secret: str
    project_id: str
    auth_type: str
    host: str
    token_url: str
    timeout: float
    max_retries: int
    max_retry_wait: float
    ca_bundle: str | None = None
    rate_limit: float | None = None

    def __repr__(self) -> str:  # the secret must not reach a log through a repr
        return (
            f"SinchConnectionSettings(key_id={self.key_id!r}, project_id={self.project_id!r}, "
            f"auth_type={self.auth_type!r}, host={self.host!r})"
        )


def _extra(extras: Mapping[str, Any], name: str, conn_type: str = "sinch") -> Any:
    """An extra field by its bare name (Airflow 3 UI, env vars) or its 2.x ``extra__sinch__`` name."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__{conn_type}__{name}")
    return None if value == "" else value


def _number(value: Any, name: str, conn_id: str, *, kind: type[int] | type[float], minimum: float) -> Any:
    try:
        number = kind(str(value).strip()) if isinstance(value, str) else kind(value)
    except (TypeError, ValueError):
        raise SinchConnectionConfigError(
            f"Connection {conn_id!r}: extra {name!r}={value!r} is not a number; "
            f"set it to a {'whole ' if kind is int else ''}number such as "
            f"{CONN_FIELDS.get(name, {}).get('schema', {}).get('default', 30)}."
        ) from None
    if number < minimum or (kind is float and number == 0):
        raise SinchConnectionConfigError(
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
    conn_id = getattr(conn, "conn_id", None) or "sinch"
    extras = conn.extra_dejson or {}
    missing = [
        label
        for label, value in (("Key ID (login)", conn.login), ("Key Secret (password)", conn.password))
        if not value
    ]
    project = project_id or _extra(extras, "project_id")
    if not project:
        missing.append("Project ID (extra 'project_id')")
    if missing:
        raise SinchConnectionConfigError(
            f"Connection {conn_id!r} is missing {', '.join(missing)}. Copy them from the Sinch dashboard "
            "(Settings > Access keys) into the connection."
        )
    auth = str(auth_type or _extra(extras, "auth_type") or "basic").strip().lower()
    if auth not in AUTH_TYPES:
        raise SinchConnectionConfigError(
            f"Connection {conn_id!r}: auth_type={auth!r} is not supported; use 'basic' or 'oauth2'."
        )
    raw_timeout = timeout if timeout is not None else _extra(extras, "timeout")
    raw_retries = max_retries if max_retries is not None else _extra(extras, "max_retries")
    raw_wait = _extra(extras, "max_retry_wait")
    raw_rate = _extra(extras, "rate_limit")
    ca_bundle = _extra(extras, "ca_bundle")
    if ca_bundle is not None and not Path(str(ca_bundle)).is_file():
        raise SinchConnectionConfigError(
            f"Connection {conn_id!r}: extra 'ca_bundle'={ca_bundle!r} is not a readable file; give the path "
            "of a PEM certificate file, or leave it empty to trust the system's certificates."
        )
    return SinchConnectionSettings(
        key_id=str(conn.login),
        key_secret=str(conn.password),
        project_id=str(project).strip(),
        auth_type=auth,
        host=_base_host(conn),
        token_url=str(_extra(extras, "auth_url") or _extra(extras, "token_url") or DEFAULT_TOKEN_URL).strip(),
        timeout=_number(30 if raw_timeout is None else raw_timeout, "timeout", conn_id, kind=float, minimum=0),
        max_retries=_number(5 if raw_retries is None else raw_retries, "max_retries", conn_id, kind=int, minimum=0),
        ca_bundle=None if ca_bundle is None else str(ca_bundle),
        max_retry_wait=_number(120 if raw_wait is None else raw_wait, "max_retry_wait", conn_id, kind=float, minimum=0),
        rate_limit=None if raw_rate is None else _number(raw_rate, "rate_limit", conn_id, kind=float, minimum=0),
    )


def _base_host(conn: Any) -> str:
    """The API base URL: the connection's host (with scheme and port) or Sinch's Fax API host."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        return DEFAULT_API_HOST
    if "://" not in host:
        hostname = host.split(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
        scheme = "http" if is_loopback_host(hostname) else "https"
        host = f"{scheme}://{host}"
    if conn.port and urlsplit(host).port is None:
        host = f"{host}:{conn.port}"
    return host


def _error_fields(response: requests.Response) -> tuple[str | None, str | None, list[Any]]:
    """Sinch's (code, message, details) from either error shape, or Nones for an empty/unreadable body."""
    if not response.content:
        return None, None, []
    try:
        body = response.json()
    except ValueError:
        return None, None, []
    if not isinstance(body, dict):
        return None, None, []
    code = body.get("code")
    message = body.get("message") or body.get("error") or body.get("status")
    raw_details = body.get("details")
    details: list[Any] = raw_details if isinstance(raw_details, list) else []
    return (None if code is None else str(code)), (None if message is None else str(message)[:500]), details


class SinchHook(BaseHook):
    """Talk to Sinch's REST APIs with a project's access key.

    Builds one pooled ``requests.Session`` per hook with authentication (HTTP Basic with the key ID
    and key secret, or OAuth2 client-credentials bearer tokens), a timeout on every request and
    retries with backoff on 429, 502, 503, 504 and connection errors. Errors are raised as the typed
    exceptions of :mod:`airflow_provider_sinch.exceptions`.

    :param sinch_conn_id: the ``sinch`` connection holding key ID (login), key secret (password) and
        the extras ``project_id``, ``auth_type``, ``timeout``, ``max_retries``, ``auth_url`` (the OAuth2
        token URL; the older name ``token_url`` is read too) and ``rate_limit`` (requests per second for
        all hooks of the process using the key; unset: no limit).
    :param auth_type: ``basic`` or ``oauth2``; overrides the connection's.
    :param project_id: overrides the connection's project ID.
    :param timeout: seconds for every request; overrides the connection's (default 30).
    :param max_retries: retries on 429/502/503/504/connection errors; overrides the connection's (default 5).
    """

    conn_name_attr = "sinch_conn_id"
    default_conn_name = "sinch_default"
    conn_type = "sinch"
    hook_name = "Sinch"

    def __init__(
        self,
        sinch_conn_id: str = default_conn_name,
        *,
        auth_type: str | None = None,
        project_id: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sinch_conn_id = sinch_conn_id
        #: Requests sent through :meth:`request` (retries not counted): what a task cost on the rate limit.
        self.request_count = 0
        self._overrides: dict[str, Any] = {
            "auth_type": auth_type,
            "project_id": project_id,
            "timeout": timeout,
            "max_retries": max_retries,
        }

    # -- connection form (Airflow 2.x; Airflow 3.3 reads get_provider_info) ---------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel, hide and describe the standard connection fields (Airflow 2.x form)."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the Airflow 2.x connection form (same fields as ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import AnyOf, NumberRange, Optional

        return {
            "project_id": StringField(lazy_gettext(CONN_FIELDS["project_id"]["label"]), widget=BS3TextFieldWidget()),
            "auth_type": StringField(
                lazy_gettext(CONN_FIELDS["auth_type"]["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), AnyOf(list(AUTH_TYPES))],
                default="basic",
            ),
            "timeout": IntegerField(
                lazy_gettext(CONN_FIELDS["timeout"]["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
                default=30,
            ),
            "max_retries": IntegerField(
                lazy_gettext(CONN_FIELDS["max_retries"]["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=0)],
                default=5,
            ),
            "ca_bundle": StringField(lazy_gettext(CONN_FIELDS["ca_bundle"]["label"]), widget=BS3TextFieldWidget()),
            # Airflow 2's form supports no FloatField: a string, coerced like every extra.
            "rate_limit": StringField(lazy_gettext(CONN_FIELDS["rate_limit"]["label"]), widget=BS3TextFieldWidget()),
            "auth_url": StringField(lazy_gettext(CONN_FIELDS["auth_url"]["label"]), widget=BS3TextFieldWidget()),
        }

    # -- connection and session -----------------------------------------------------------------------

    @cached_property
    def settings(self) -> SinchConnectionSettings:
        """The validated connection settings (read from Airflow on first use, not in ``__init__``)."""
        conn = self.get_connection(self.sinch_conn_id)
        settings = parse_connection(conn, **self._overrides)
        REDACTOR.add_key(settings.key_id, settings.key_secret)  # the secret in every form, masked and scrubbed
        return settings

    @cached_property
    def credential_policy(self) -> CredentialPolicy:
        """Where this connection's credentials may go: its host, its token URL and ``https://*.sinch.com``."""
        return CredentialPolicy(self.settings.host, self.settings.token_url)

    @property
    def project_id(self) -> str:
        """The Sinch project ID of the connection."""
        return self.settings.project_id

    @property
    def api_base_url(self) -> str:
        """Base URL of the Fax API for this project, ending in ``/``."""
        return f"{self.settings.host}/v3/projects/{quote(self.settings.project_id, safe='')}/"

    def _new_session(self, *, with_auth: bool) -> requests.Session:
        settings = self.settings
        limiter = None
        if with_auth and settings.rate_limit:
            limiter = shared_rate_limiter(settings.host, settings.key_id, settings.rate_limit)
        retry = SinchRetry(
            total=settings.max_retries,
            connect=settings.max_retries,
            read=settings.max_retries,
            status=settings.max_retries,
            other=0,
            redirect=3,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=BACKOFF_FACTOR,
            backoff_max=BACKOFF_MAX,
            backoff_jitter=BACKOFF_JITTER,
            raise_on_status=False,
            respect_retry_after_header=True,
            max_total_wait=settings.max_retry_wait,
            logger=self.log,
            limiter=limiter,
        )
        session = PolicySession(self.credential_policy)
        session.headers["User-Agent"] = f"airflow-provider-sinch/{__version__}"
        adapter = TimeoutHTTPAdapter(
            max_retries=retry, timeout=settings.timeout, ca_bundle=settings.ca_bundle, limiter=limiter, pool_maxsize=16
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        if with_auth:
            session.auth = self._auth
        return session

    @cached_property
    def _auth(self) -> requests.auth.AuthBase:
        settings = self.settings
        if settings.auth_type == "oauth2":
            return SinchOAuth2Auth(
                settings.key_id,
                settings.key_secret,
                settings.token_url,
                session_factory=lambda: self._token_session,
                timeout=settings.timeout,
                policy=self.credential_policy,
                on_token=REDACTOR.add_token,
            )
        return SinchBasicAuth(settings.key_id, settings.key_secret, self.credential_policy)

    @cached_property
    def _token_session(self) -> requests.Session:
        return self._new_session(with_auth=False)

    @cached_property
    def _session(self) -> requests.Session:
        return self._new_session(with_auth=True)

    def get_conn(self) -> requests.Session:
        """Return this hook's ``requests.Session`` (created once, pooled, with auth, retries and timeouts)."""
        return self._session

    def close(self) -> None:
        """Close the pooled connections of this hook's sessions."""
        for name in ("_session", "_token_session"):
            session = self.__dict__.pop(name, None)
            if session is not None:
                session.close()

    # -- generic requests ----------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Resolve a path against the Fax API project base, or check an absolute Sinch URL.

        ``faxes/ID`` resolves to ``{host}/v3/projects/{project_id}/faxes/ID``; a path starting with ``/``
        resolves against the host; an absolute URL must be ``https://*.sinch.com`` or the connection's
        host. ``{project_id}`` placeholders are filled in. A path starting with ``//`` (it would name another
        host) and any backslash, space or control character are refused.
        """
        if path_or_url.startswith("//") or UNSAFE_URL_CHARS.search(path_or_url):
            why = (
                "it starts with '//', which names another host"
                if path_or_url.startswith("//")
                else "it contains a backslash, a space or a control character, which HTTP parsers read differently"
            )
            raise SinchConnectionConfigError(
                f"Refusing the path or URL {path_or_url[:80]!r}: {why}. Pass a path such as 'faxes/ID' or an "
                "https://*.sinch.com URL."
            )
        path_or_url = path_or_url.replace("{project_id}", quote(self.settings.project_id, safe=""))
        url = urljoin(self.api_base_url, path_or_url) if "://" not in path_or_url else path_or_url
        reason = self.credential_policy.refusal(url)
        if reason:
            raise SinchConnectionConfigError(
                f"Refusing to send Sinch credentials to {urlsplit(url).scheme}://{urlsplit(url).netloc}: {reason}. "
                "Pass a path to use the connection's host."
            )
        return url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        raise_for_status: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send an authenticated request to any Sinch REST API and return the response.

        :param method: HTTP method.
        :param path_or_url: a path relative to the Fax API project base (``faxes``), a path from the host
            root (``/v3/...``), or an absolute ``https://*.sinch.com`` URL.
        :param raise_for_status: raise the typed :class:`~airflow_provider_sinch.exceptions.SinchAPIError`
            subclass on an error status (default).
        :param kwargs: passed to ``requests.Session.request`` (``params``, ``json``, ``data``, ``files``,
            ``stream``, ``timeout``, ...). A timeout is always applied.
        """
        url = self.url_for(path_or_url)
        kwargs.setdefault("timeout", self.settings.timeout)
        path = urlsplit(url).path
        self.request_count += 1
        # urllib3 retries up to the response headers only; a body that breaks after them is retried here when
        # the method is safe to repeat (a streamed body is read, and retried, by the caller).
        repeatable = not kwargs.get("stream") and method.upper() in Retry.DEFAULT_ALLOWED_METHODS
        attempt = 0
        while True:
            try:
                response = self.get_conn().request(method, url, **kwargs)
                break
            except requests.RequestException as exc:
                attempt += 1
                if repeatable and attempt <= self.settings.max_retries and _body_broke(exc):
                    wait = _backoff(attempt)
                    self.log.warning(
                        "Sinch %s %s broke mid-response (%s); retry %d in %.2f s",
                        method,
                        path,
                        _reason(exc),
                        attempt,
                        wait,
                    )
                    time.sleep(wait)
                    continue
                raise self._connection_error(method, path, url, kwargs["timeout"], exc) from None
        if raise_for_status:
            self.raise_for_status(response)
        return response

    def _connection_error(self, method: str, path: str, url: str, timeout: Any, exc: Exception) -> SinchConnectionError:
        if isinstance(exc, requests.exceptions.SSLError):
            return SinchConnectionError(
                f"Sinch {method} {path} failed: the TLS certificate of {urlsplit(url).netloc} could not be "
                "verified. For a server with its own certificate (e.g. the local simulator), set the "
                "connection's 'ca_bundle' extra to its PEM file."
            )
        if isinstance(exc, requests.Timeout) or "timed out" in str(exc):
            return SinchConnectionError(
                f"Sinch {method} {path} timed out after {timeout} s (timeout of connection "
                f"{self.sinch_conn_id!r}); raise the connection's 'timeout' extra if Sinch is slow."
                + _outcome_unknown(method)
            )
        reason = _reason(exc)
        return SinchConnectionError(
            f"Sinch {method} {path} failed: could not reach {urlsplit(url).netloc} or the connection "
            f"broke ({reason}), after the connection's retries."
            + ("" if "refused" in reason else _outcome_unknown(method))
        )

    def raise_for_status(self, response: requests.Response) -> None:
        """Raise the typed error for an error response; messages name what to check, never credentials."""
        status = response.status_code
        if status < 400:
            return
        method = response.request.method if response.request is not None else "?"
        path = urlsplit(response.url).path
        code, message, details = _error_fields(response)
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
        response.close()
        if status in (401, 403):
            hint = (
                "check the connection's key ID and key secret and that project ID "
                f"{self.settings.project_id!r} belongs to that access key"
                if status == 401
                else "the access key has no access to this API or project; check its permissions in the Sinch dashboard"
            )
            raise SinchAuthError(redact(f"{what}: {hint}."), **kwargs)
        if status == 404:
            raise SinchNotFoundError(redact(f"{what}: the resource does not exist."), **kwargs)
        if status == 429:
            retries = getattr(response.raw, "retries", None)
            waited = float(getattr(retries, "waited", 0.0) or 0.0)
            raise SinchRateLimitError(
                redact(
                    f"{what}: rate limited after {self.settings.max_retries} retries and {waited:.1f} s of "
                    "waiting. Basic auth is heavily rate limited by Sinch: use auth_type 'oauth2', lower the "
                    "request rate, or raise max_retries."
                ),
                waited=waited,
                **kwargs,
            )
        if status in (400, 422):
            error = SinchInvalidRequestError(what, **kwargs)
            violations = "; ".join(f"{v['field']}: {v['description']}" for v in error.field_violations)
            error.args = (redact(f"{what}: {violations or 'Sinch rejected the request'}."),)
            raise error
        if status >= 500:
            advice = _outcome_unknown(method) or " Try again later."
            raise SinchServerError(redact(f"{what}: Sinch had a server error.{advice}"), **kwargs)
        raise SinchAPIError(redact(f"{what}."), **kwargs)

    def request_json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, returning the parsed JSON body (``None`` for an empty one)."""
        kwargs["headers"] = {**JSON_ACCEPT, **(kwargs.get("headers") or {})}
        response = self.request(method, path_or_url, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SinchResponseError(
                f"Sinch {method} {urlsplit(response.url).path} answered HTTP {response.status_code} with a "
                f"body that is not JSON ({response.headers.get('Content-Type', 'no content type')})."
                + _outcome_unknown(method),
                status_code=response.status_code,
            ) from None

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and project with one cheap read-only call (list one fax)."""
        try:
            next(self.list_fax_pages(self.fax_list_params(), page_size=1))
        except Exception as exc:
            return False, redact(str(exc))
        return True, (
            f"Connected to the Sinch Fax API for project {self.settings.project_id} "
            f"with {self.settings.auth_type} auth."
        )

    # -- Fax API -------------------------------------------------------------------------------------

    def fax_list_params(
        self,
        *,
        direction: str | None = None,
        status: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
    ) -> dict[str, str]:
        """Query parameters of a list-faxes call, validated: the one place every listing builds its query.

        The range filters are ``createTime>``/``createTime<`` in whole seconds, as Sinch's SDKs send them
        (:func:`~airflow_provider_sinch._time.create_time_range_params`); callers filter the answers to the
        exact half-open window.
        """
        params: dict[str, str] = {}
        if direction is not None:
            direction = str(direction).upper()
            if direction not in FAX_DIRECTIONS:
                raise ValueError(f"direction={direction!r} is not one of {', '.join(FAX_DIRECTIONS)}.")
            params["direction"] = direction
        if status is not None:
            status = str(status).upper()
            if status not in FAX_STATUSES:
                raise ValueError(f"status={status!r} is not one of {', '.join(FAX_STATUSES)}.")
            params["status"] = status
        if from_number:
            params["from"] = str(from_number)
        if to_number:
            params["to"] = str(to_number)
        if service_id:
            params["serviceId"] = str(service_id)
        after = to_utc(created_after, name="created_after") if created_after is not None else None
        before = to_utc(created_before, name="created_before") if created_before is not None else None
        if after is not None and before is not None and after >= before:
            raise ValueError(
                f"created_after ({format_create_time(after)}) must be earlier than created_before "
                f"({format_create_time(before)})."
            )
        params.update(create_time_range_params(after, before))
        return params

    def list_fax_pages(self, params: Mapping[str, str], *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Yield the raw list-faxes responses page by page (1-based), stopping at ``totalPages``.

        Tolerates a missing ``totalPages`` (stops at a short page) and an empty page.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size={page_size} must be between 1 and {MAX_PAGE_SIZE}.")
        page = 1
        while True:
            body = self.request_json("GET", "faxes", params={**params, "page": page, "pageSize": page_size})
            if not isinstance(body, dict):
                raise SinchResponseError("Sinch answered a list of faxes with a body that is not an object.")
            yield body
            faxes = body.get("faxes") or []
            total_pages = body.get("totalPages")
            if not faxes:
                return
            if isinstance(total_pages, int):
                if page >= total_pages:
                    return
            elif len(faxes) < page_size:
                return
            page += 1

    def list_faxes(
        self,
        *,
        direction: str | None = None,
        status: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield every fax matching the filters, over all pages, each ``id`` once.

        ``created_after``/``created_before`` (datetime or ISO string, UTC) form the half-open window
        ``[created_after, created_before)``, sent as Sinch's ``createTime>``/``createTime<`` filters in whole
        seconds (the lower bound floored, the upper one ceiled) and enforced exactly on the answers, so a fax
        exactly on a boundary belongs to one window only. Without either, Sinch returns only the prior week.
        ``from_number``/``to_number`` match as prefixes.

        If fewer faxes were listed than Sinch counts (``totalItems``), the list changed order while it was
        paged, and it is paged through again (up to ``LISTING_PASSES`` times), yielding only new IDs. A fax
        moves only when it changes, so one missed by the last pass was yielded, as it was then, by an
        earlier one.
        """
        params = self.fax_list_params(
            direction=direction,
            status=status,
            from_number=from_number,
            to_number=to_number,
            service_id=service_id,
            created_after=created_after,
            created_before=created_before,
        )
        after = to_utc(created_after, name="created_after") if created_after is not None else None
        before = to_utc(created_before, name="created_before") if created_before is not None else None
        windowed, inside = after is not None or before is not None, create_time_window(after, before)
        seen: set[str] = set()
        listed: set[Any] = set()  # every ID the server listed, in or out of the half-open window
        for listing in range(1, LISTING_PASSES + 1):
            total = None
            for body in self.list_fax_pages(params, page_size=page_size):
                total = body.get("totalItems")
                page = body.get("faxes") or []
                ids = [fax.get("id") for fax in page]
                listed.update(ids)
                if len(set(ids)) == len(ids):  # the usual page: its IDs are distinct, filter it in bulk
                    fresh = [
                        (fax, fax_id)
                        for fax, fax_id in zip(page, ids, strict=True)
                        if fax_id not in seen and (not windowed or inside(fax))
                    ]
                    seen.update(fax_id for _, fax_id in fresh if fax_id is not None)
                    yield from (fax for fax, _ in fresh)
                    continue
                for fax, fax_id in zip(page, ids, strict=True):
                    if fax_id in seen or (windowed and not inside(fax)):
                        continue
                    if fax_id is not None:
                        seen.add(fax_id)
                    yield fax
            # Sinch documents no list order: if it changed while we paged (a fax finishing moved to a page
            # already read), fewer faxes were listed than the server counts. Page through again.
            if not isinstance(total, int) or len(listed) >= total:
                return
            self.log.warning(
                "Sinch listed %d of %d faxes: the list changed while it was paged (pass %d of %d)",
                len(listed),
                total,
                listing,
                LISTING_PASSES,
            )

    def latest_faxes(
        self,
        limit: int,
        *,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        first_span: timedelta = timedelta(hours=1),
        growth: int = 4,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Return the ``limit`` newest faxes matching ``filters``, newest first, whatever the server order.

        Sinch lists only the prior week without a ``createTime`` filter and does not document its order,
        so this searches backwards in time from ``created_before`` (default now) with windows that grow
        ``growth``-fold (1 h, 4 h, 16 h, ...) down to ``created_after`` (default: the 13-month retention).
        A window holding more than one page is halved, newer half first, instead of paged through. The
        number of requests grows with how far back the newest faxes are, not with the account's size.

        :param limit: how many faxes (>= 1).
        :param filters: ``direction``, ``status``, ``from_number``, ``to_number``, ``service_id``.
        """
        if limit < 1:
            raise ValueError(f"limit={limit} must be at least 1.")
        newest = to_utc(created_before, name="created_before") if created_before is not None else _now()
        oldest = to_utc(created_after, name="created_after") if created_after is not None else newest - RETENTION
        self.fax_list_params(created_after=oldest, created_before=newest, **filters)  # validate once, early
        found: dict[str, dict[str, Any]] = {}
        end, span = newest, first_span
        while end > oldest and len(found) < limit:
            start = max(oldest, end - span)
            for fax in self._newest_in_window(start, end, limit - len(found), filters):
                found.setdefault(str(fax.get("id")), fax)
            end, span = start, span * growth
        return sort_newest_first(found.values())[:limit]

    def _newest_in_window(
        self, start: datetime, end: datetime, need: int, filters: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Faxes of ``[start, end)``: all of them, or at least ``need`` of the newest when it is crowded."""
        params = self.fax_list_params(created_after=start, created_before=end, **filters)
        body = next(self.list_fax_pages(params))
        page = body.get("faxes") or []
        total_pages = body.get("totalPages")
        single_page = total_pages <= 1 if isinstance(total_pages, int) else len(page) < MAX_PAGE_SIZE
        if single_page or not page:
            return [fax for fax in page if _in_window(fax, start, end)]
        if end - start <= MIN_SPLIT:
            # Too narrow to halve (many faxes at one instant): read every page of it.
            return list(self.list_faxes(created_after=start, created_before=end, **filters))
        mid = start + (end - start) / 2
        newer = self._newest_in_window(mid, end, need, filters)
        if len(newer) >= need:
            return newer
        return newer + self._newest_in_window(start, mid, need - len(newer), filters)

    def get_fax(self, fax_id: str) -> dict[str, Any]:
        """Return one fax by its ID."""
        return self.request_json("GET", f"faxes/{quote(validate_fax_id(fax_id), safe='')}")

    def delete_fax_content(self, fax_id: str) -> None:
        """Delete the stored content (PDF) of a fax; the fax record stays."""
        self.request("DELETE", f"faxes/{quote(validate_fax_id(fax_id), safe='')}/file")

    def download_fax(
        self,
        fax_id: str,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        chunk_size: int = DOWNLOAD_CHUNK,
    ) -> dict[str, Any]:
        """Stream a fax's PDF to a path or a binary file object, in chunks; return its size and SHA-256.

        For a path, the file is written under a temporary name in the same folder and renamed only when
        complete and its size matches ``Content-Length``; on any failure nothing is left behind. For a file
        object, the caller owns cleanup on failure.
        """
        path = f"faxes/{quote(validate_fax_id(fax_id), safe='')}/file"
        if not isinstance(destination, (str, os.PathLike)):
            return self._stream_to(path, destination, fax_id, chunk_size)
        target = Path(destination)
        fd, tmp_name = _part_file(target)  # before the request: an unwritable destination costs no download
        try:
            with os.fdopen(fd, "wb") as fh:
                result = self._stream_to(path, fh, fax_id, chunk_size)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return {**result, "path": str(target)}

    def _stream_to(self, path: str, fh: IO[bytes], fax_id: str, chunk_size: int) -> dict[str, Any]:
        """GET ``path`` into ``fh``; a body that breaks off is requested again, up to ``max_retries`` times.

        ``fh`` is only appended to (object-store writers cannot seek): a repeated download skips the bytes
        an earlier attempt already wrote.
        """
        attempt = 0
        writer = _HashingWriter(fh)
        try:
            while True:
                response = self.request("GET", path, stream=True, headers=PDF_ACCEPT)
                expected = response.headers.get("Content-Length")
                skip = writer.size
                try:
                    with response:
                        for chunk in response.iter_content(chunk_size=chunk_size):
                            if skip:
                                cut = min(skip, len(chunk))
                                chunk, skip = chunk[cut:], skip - cut
                            if chunk:
                                writer.write(chunk)
                    break
                except requests.RequestException as exc:
                    attempt += 1
                    if attempt > self.settings.max_retries:
                        raise SinchDownloadError(
                            f"Download of fax {fax_id} broke after {writer.size} bytes ({_reason(exc)}), {attempt} "
                            "times; no file was kept. Run the task again to retry."
                        ) from None
                    wait = _backoff(attempt)
                    self.log.warning(
                        "Download of fax %s broke after %d bytes (%s); retry %d in %.2f s",
                        fax_id,
                        writer.size,
                        _reason(exc),
                        attempt,
                        wait,
                    )
                    time.sleep(wait)
        finally:
            writer.close()  # every chunk written (or the writer's error raised) before anyone reads fh
        size = writer.size
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise SinchDownloadError(
                f"Download of fax {fax_id} ended after {size} of {expected} bytes; no file was kept. "
                "Run the task again to retry."
            )
        return {"fax_id": fax_id, "bytes": size, "sha256": writer.sha256}

    def send_fax(
        self,
        to: str | list[str],
        *,
        files: list[Any] | None = None,
        content_urls: str | list[str] | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Send a fax to one or more numbers; return the created faxes (one per recipient, each with an ``id``).

        :param to: E.164 number(s), validated before anything is sent.
        :param files: local paths, ``(filename, bytes_or_binary_file)`` tuples or binary file objects;
            sent as multipart/form-data parts.
        :param content_urls: URL(s) Sinch fetches and faxes (sent as JSON ``contentUrl`` without files).
        :param options: Sinch's fax options in snake case: ``from_number``, ``header_text``,
            ``cover_page_id``, ``cover_page_data``, ``labels``, ``callback_url``, ``max_retries``,
            ``resolution``, ... (see ``SEND_OPTIONS``).

        The POST is never repeated on a timeout or a 5xx (Sinch may have created the fax); a 429 is.
        """
        recipients = [to] if isinstance(to, str) else list(to or [])
        if not recipients:
            raise ValueError("to is empty: give at least one E.164 number, e.g. '+14155552671'.")
        for number in recipients:
            validate_e164(number)
        urls = [content_urls] if isinstance(content_urls, str) else list(content_urls or [])
        for url in urls:
            validate_content_url(url)
        if not files and not urls:
            raise ValueError("Give files or content_urls: a fax needs at least one document.")
        unknown = sorted(set(options) - set(SEND_OPTIONS))
        if unknown:
            raise ValueError(f"Unknown send_fax option(s) {unknown}; allowed: {sorted(SEND_OPTIONS)}.")
        fields = {SEND_OPTIONS[k]: v for k, v in options.items() if v is not None}
        if "from" in fields:
            validate_e164(fields["from"], field="from_number")
        opened: list[IO[bytes]] = []
        try:
            parts = _file_parts(files or [], opened)
            if parts and "coverPageData" not in fields:
                body = self._send_multipart(recipients, parts, urls, fields)
            else:
                # JSON: no files, or cover page data, which Sinch documents for JSON only (neither SDK sends it
                # as multipart): the files then go base64-encoded, as Sinch's JSON body takes them.
                payload: dict[str, Any] = {"to": recipients[0] if len(recipients) == 1 else recipients}
                if urls:
                    payload["contentUrl"] = urls[0] if len(urls) == 1 else urls
                if parts:
                    payload["files"] = [
                        self.encode_file_for_json(_read_all(content), _file_type(name)) for name, content, _ in parts
                    ]
                payload.update(fields)
                body = self.request_json("POST", "faxes", json=payload)
        finally:
            for fh in opened:
                fh.close()
        return sent_faxes(body)

    def _send_multipart(
        self, recipients: list[str], parts: list[tuple[str, Any, str]], urls: list[str], fields: dict[str, Any]
    ) -> Any:
        data: list[tuple[str, str]] = [("to", number) for number in recipients]
        if urls:
            data.append(("contentUrl", ",".join(urls)))
        for name, value in fields.items():
            if isinstance(value, Mapping):
                data.extend((f"{name}[{k}]", str(v)) for k, v in value.items())
            elif isinstance(value, bool):
                data.append((name, "true" if value else "false"))
            else:
                data.append((name, str(value)))
        files = [("file", part) for part in parts]
        return self.request_json("POST", "faxes", data=data, files=files)

    @staticmethod
    def encode_file_for_json(content: bytes, file_type: str = "PDF") -> dict[str, str]:
        """A ``files`` item of the JSON send body: base64 content and Sinch's ``fileType``."""
        return {"file": base64.b64encode(content).decode("ascii"), "fileType": file_type.upper()}


def sent_faxes(body: Any) -> list[dict[str, Any]]:
    """The faxes of a send response: ``{"faxes": [...]}`` (two or more recipients), one fax, or a bare list.

    Sinch answers one recipient with a Fax object and several with ``{"faxes": [...]}`` (Node
    ``FaxesApi.send`` reads ``responseData.faxes``; .NET ``SendFaxResponse.Faxes``); a bare list is read
    leniently. Anything else raises :class:`SinchResponseError` naming its shape, never its content.
    """
    if isinstance(body, dict) and "faxes" in body:
        faxes, shape = body["faxes"], "an object whose 'faxes' is"
    elif isinstance(body, dict):
        faxes, shape = [body], "a fax object"
    else:
        faxes, shape = body, "a body that is"
    if not isinstance(faxes, list) or not faxes:
        kind = "an empty list" if isinstance(faxes, list) else f"a JSON {_json_kind(faxes)}"
        raise SinchResponseError(
            f"Sinch answered the send with {shape} {kind}, not the created faxes; check the faxes list before "
            "sending again (the faxes may have been created).",
            status_code=200,
        )
    bad = [index for index, fax in enumerate(faxes) if not isinstance(fax, dict) or not fax.get("id")]
    if bad:
        raise SinchResponseError(
            f"Sinch answered the send with {len(faxes)} item(s), of which {len(bad)} (at {bad[:5]}) are not a fax "
            "with an id; check the faxes list before sending again (the faxes may have been created).",
            status_code=200,
        )
    return faxes


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


_CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _content_type(name: str) -> str:
    return _CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


#: Sinch's JSON ``fileType`` for a file name's extension.
_FILE_TYPES = {".pdf": "PDF", ".docx": "DOCX", ".tif": "TIF", ".tiff": "TIF", ".jpg": "JPG", ".jpeg": "JPG",
               ".txt": "TXT", ".html": "HTML", ".htm": "HTML", ".png": "PNG"}  # fmt: skip


def _file_type(name: str) -> str:
    return _FILE_TYPES.get(Path(name).suffix.lower(), "PDF")


def _file_parts(files: list[Any], opened: list[IO[bytes]]) -> list[tuple[str, Any, str]]:
    """``(filename, content, content type)`` of each document; files opened here are added to ``opened``."""
    parts: list[tuple[str, Any, str]] = []
    for index, item in enumerate(files):
        if isinstance(item, (str, os.PathLike)):
            opened.append(open(item, "rb"))  # noqa: SIM115 - the caller closes it
            parts.append((Path(item).name, opened[-1], _content_type(str(item))))
        elif isinstance(item, tuple) and len(item) == 2:
            name, content = item
            parts.append((str(name), content, _content_type(str(name))))
        elif hasattr(item, "read"):
            name = Path(getattr(item, "name", f"document-{index}.pdf")).name
            parts.append((name, item, _content_type(name)))
        else:
            raise ValueError(
                f"files[{index}] is a {type(item).__name__}; give a path, (filename, bytes) or a binary file object."
            )
    return parts


def _read_all(content: Any) -> bytes:
    return content.read() if hasattr(content, "read") else bytes(content)


class _HashingWriter:
    """Write chunks to a file and hash them in a second thread, overlapping both with the network reads.

    SHA-256 runs at about the speed of a loopback download, so hashing in the reading thread halves the
    throughput; hashlib and file writes release the GIL. At most ``depth`` chunks wait in between, so
    memory stays bounded. ``size`` counts the bytes handed over; ``close`` waits until they are written
    and raises the writer's error (a full disk, a failed upload part), if any.
    """

    def __init__(self, fh: IO[bytes], depth: int = 4) -> None:
        self.fh = fh
        self.size = 0
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sinch-download-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:  # after an error, drain the queue so write() never blocks forever
                try:
                    self.fh.write(chunk)
                    self._digest.update(chunk)
                except BaseException as exc:
                    self._error = exc

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def _part_file(target: Path) -> tuple[int, str]:
    """Create the temporary file a download is written to, next to ``target``; an OSError names ``destination``."""
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, f"is a folder; give a file path such as {str(target / 'fax.pdf')!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise OSError(exc.errno, f"destination={str(target)!r} cannot be written: {exc.strerror or exc}") from None


def _outcome_unknown(method: str | None) -> str:
    """For a request that is not safe to repeat: it was not repeated, and may have taken effect anyway."""
    method = (method or "").upper()
    if not method or method in Retry.DEFAULT_ALLOWED_METHODS:
        return ""
    return (
        f" The {method} was not repeated, but Sinch may have acted on it (e.g. created the fax): "
        "check, e.g. by listing the faxes, before sending it again."
    )


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based), as urllib3's retries wait."""
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** (attempt - 1)) + random.uniform(0, BACKOFF_JITTER)


def _body_broke(exc: BaseException) -> bool:
    """Whether a requests error says the response body broke off after the headers had arrived."""
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    return isinstance(exc, requests.ConnectionError) and bool(exc.args) and isinstance(exc.args[0], ReadTimeoutError)


def _reason(exc: BaseException) -> str:
    """A short cause of a requests error without the URL (which may carry phone numbers)."""
    name = type(exc).__name__
    text = str(exc)
    if "Read timed out" in text:
        return f"{name}: read timed out"
    if "Connection refused" in text:
        return f"{name}: connection refused"
    if "reset" in text.lower() or "aborted" in text.lower():
        return f"{name}: connection reset"
    if "IncompleteRead" in text or "incomplete" in text.lower():
        return f"{name}: incomplete read"
    return name
