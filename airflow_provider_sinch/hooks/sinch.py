"""The Sinch transport: one authenticated, retrying, pooled ``requests`` session for every Sinch REST API.

``SinchHook`` knows no single API. It reads the ``sinch`` connection once, authenticates (HTTP Basic with
the key, or OAuth2 client-credentials tokens), applies timeouts, retries, the rate limit and the
credential policy, and turns error answers of every Sinch error shape into typed exceptions. The API
clients of :mod:`airflow_provider_sinch.clients` build on it and are its attributes (``hook.fax``,
``hook.conversation``); :meth:`SinchHook.get_sdk_client` gives Sinch's own Python SDK on the same session.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from airflow_provider_sinch import __version__
from airflow_provider_sinch._compat import BaseHook
from airflow_provider_sinch.clients import API_CLIENTS, client_class
from airflow_provider_sinch.connection import (
    CONN_FIELDS,
    UI_FIELD_BEHAVIOUR,
    SinchConnectionSettings,
    parse_connection,
)
from airflow_provider_sinch.exceptions import SinchConnectionConfigError, SinchConnectionError, SinchResponseError
from airflow_provider_sinch.hooks._credentials import REDACTOR, UNSAFE_URL_CHARS, CredentialPolicy, redact
from airflow_provider_sinch.hooks._http import (
    PolicySession,
    SinchBasicAuth,
    SinchOAuth2Auth,
    SinchRetry,
    TimeoutHTTPAdapter,
)
from airflow_provider_sinch.hooks._policy import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    api_error,
    backoff_seconds,
    connection_error,
    outcome_unknown,
    reason,
    shared_rate_limiter,
)

if TYPE_CHECKING:
    from airflow_provider_sinch.clients.conversation import ConversationClient
    from airflow_provider_sinch.clients.fax.client import FaxClient

#: What Sinch's SDKs ask for on JSON calls (some endpoints can also answer CSV).
JSON_ACCEPT = {"Accept": "application/json"}


class SinchHook(BaseHook):
    """Talk to any Sinch REST API with a project's access key: the transport under every API client.

    One pooled ``requests.Session`` per hook with authentication (HTTP Basic with the key ID and key
    secret, or OAuth2 client-credentials bearer tokens), a timeout on every request, retries with backoff
    on 429, 502, 503, 504 and connection errors (a POST only on 429), and the typed exceptions of
    :mod:`airflow_provider_sinch.exceptions`. API clients are attributes: ``hook.fax``, ``hook.conversation``.

    :param sinch_conn_id: the ``sinch`` connection: key ID (login), key secret (password), the extra
        ``project_id`` and the optional extras of :data:`~airflow_provider_sinch.connection.CONN_FIELDS`.
    :param auth_type: ``basic`` or ``oauth2``; overrides the connection's.
    :param project_id: overrides the connection's project ID.
    :param timeout: seconds for every request; overrides the connection's.
    :param max_retries: retries on 429/502/503/504/connection errors; overrides the connection's.
    """

    conn_name_attr = "sinch_conn_id"
    default_conn_name = "sinch_default"
    conn_type = "sinch"
    hook_name = "Sinch"

    fax: FaxClient
    conversation: ConversationClient

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

    def __getattr__(self, name: str) -> Any:
        if name in API_CLIENTS:  # hook.fax, hook.conversation: built on first use, one per hook
            clients = self.__dict__.setdefault("_clients", {})
            if name not in clients:
                clients[name] = client_class(name)(self)
            return clients[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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
        """Extra fields of the Airflow 2.x connection form, built from ``CONN_FIELDS`` (the 3.x form's source)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import AnyOf, NumberRange, Optional

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema = spec["schema"]
            validators: list[Any] = [Optional()]
            if "enum" in schema:
                validators.append(AnyOf(list(schema["enum"])))
            # Airflow 2's form has no FloatField: other numbers are strings there, coerced like every extra.
            is_int = "integer" in schema["type"]
            if is_int:
                validators.append(NumberRange(min=schema.get("minimum", 0)))
            field_type = IntegerField if is_int else StringField
            widgets[name] = field_type(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                validators=validators,
                default=schema.get("default"),
                description=spec["description"],
            )
        return widgets

    # -- connection and session -----------------------------------------------------------------------

    @cached_property
    def settings(self) -> SinchConnectionSettings:
        """The validated connection settings (read from Airflow on first use, not in ``__init__``)."""
        conn = self.get_connection(self.sinch_conn_id)
        settings = parse_connection(conn, **self._overrides)
        REDACTOR.add_key(settings.key_id, settings.key_secret)  # the secret in every form, masked and scrubbed
        return settings

    @property
    def project_id(self) -> str:
        """The Sinch project ID of the connection."""
        return self.settings.project_id

    @cached_property
    def credential_policy(self) -> CredentialPolicy:
        """Where this connection's credentials may go: its host, its token URL and ``https://*.sinch.com``."""
        configured = [self.settings.token_url] + ([self.settings.host] if self.settings.host else [])
        return CredentialPolicy(*configured)

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

    def get_sdk_client(self, *, conversation_region: str | None = None) -> Any:
        """A ``sinch.SinchClient`` (Sinch's Python SDK) whose HTTP calls go through this hook's session.

        Sinch's endpoints and models over this transport: the same auth, timeouts, retries, rate limit,
        credential policy, masking and typed errors as every other call of the hook. Cached per hook and
        Conversation region (default: the connection's ``conversation_region``).
        """
        from airflow_provider_sinch.hooks._sdk import build_sdk_client  # about 1 s of imports: only when used

        region = self.settings.choice("conversation_region", conversation_region)
        clients = self.__dict__.setdefault("_sdk_clients", {})
        if region not in clients:
            clients[region] = build_sdk_client(self, conversation_region=region)
        return clients[region]

    def close(self) -> None:
        """Close the pooled connections of this hook's sessions."""
        for name in ("_session", "_token_session"):
            session = self.__dict__.pop(name, None)
            if session is not None:
                session.close()

    # -- requests ------------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Check an absolute URL, or resolve a path from the root of the connection's host.

        An absolute URL must be ``https://*.sinch.com`` or on the connection's host; a path (``/v1/...``)
        needs a connection host. ``{project_id}`` placeholders are filled in. A path starting with ``//``
        (it would name another host) and any backslash, space or control character are refused. API clients
        build their URLs with :meth:`SinchAPIClient.url <airflow_provider_sinch.clients.SinchAPIClient.url>`.
        """
        if path_or_url.startswith("//") or UNSAFE_URL_CHARS.search(path_or_url):
            why = (
                "it starts with '//', which names another host"
                if path_or_url.startswith("//")
                else "it contains a backslash, a space or a control character, which HTTP parsers read differently"
            )
            raise SinchConnectionConfigError(
                f"Refusing the path or URL {path_or_url[:80]!r}: {why}. Pass an https://*.sinch.com URL, or use an "
                "API client (e.g. hook.fax.url('faxes'))."
            )
        url = path_or_url.replace("{project_id}", quote(self.settings.project_id, safe=""))
        if "://" not in url:
            if not self.settings.host:
                raise SinchConnectionConfigError(
                    f"{path_or_url[:80]!r} is a path, and connection {self.sinch_conn_id!r} names no host to resolve "
                    "it against: pass an absolute https://*.sinch.com URL, or use an API client (hook.fax, "
                    "hook.conversation), which knows its API's host."
                )
            url = urljoin(self.settings.host + "/", url)
        reason = self.credential_policy.refusal(url)
        if reason:
            parts = urlsplit(url)
            raise SinchConnectionConfigError(
                f"Refusing to send Sinch credentials to {parts.scheme}://{parts.netloc}: {reason}."
            )
        return url

    def request(
        self, method: str, path_or_url: str, *, raise_for_status: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send an authenticated request to any Sinch REST API and return the response.

        :param method: HTTP method.
        :param path_or_url: an absolute ``https://*.sinch.com`` URL (API clients build them), or a path
            from the root of the connection's host.
        :param raise_for_status: raise the typed :class:`~airflow_provider_sinch.exceptions.SinchAPIError`
            subclass on an error status (default).
        :param kwargs: passed to ``requests.Session.request`` (``params``, ``json``, ``data``, ``files``,
            ``headers``, ``stream``, ``timeout``, ...). A timeout is always applied.
        """
        url = self.url_for(path_or_url)
        kwargs.setdefault("timeout", self.settings.timeout)
        path = urlsplit(url).path
        self.request_count += 1
        # urllib3 retries up to the response headers only; a body that breaks after them is retried here when
        # the method is safe to repeat (a streamed body is read, and retried, by the caller).
        repeatable = not kwargs.get("stream") and method.upper() in IDEMPOTENT_METHODS
        attempt = 0
        while True:
            try:
                response = self.get_conn().request(method, url, **kwargs)
                break
            except requests.RequestException as exc:
                attempt += 1
                if repeatable and attempt <= self.settings.max_retries and body_broke(exc):
                    wait = backoff_seconds(attempt)
                    self.log.warning(
                        "Sinch %s %s broke mid-response (%s); retry %d in %.2f s",
                        method,
                        path,
                        reason(exc),
                        attempt,
                        wait,
                    )
                    time.sleep(wait)
                    continue
                raise self._connection_error(method, path, url, kwargs["timeout"], exc) from None
        if raise_for_status:
            self.raise_for_status(response)
        return response

    def request_json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, asking for and returning the parsed JSON body (``None`` for an empty one)."""
        kwargs["headers"] = {**JSON_ACCEPT, **(kwargs.get("headers") or {})}
        return json_body(self.request(method, path_or_url, **kwargs))

    def _connection_error(self, method: str, path: str, url: str, timeout: Any, exc: Exception) -> SinchConnectionError:
        return connection_error(
            method,
            path,
            urlsplit(url).netloc,
            exc,
            timeout=timeout,
            conn_id=self.sinch_conn_id,
            tls=isinstance(exc, requests.exceptions.SSLError),
            timed_out=isinstance(exc, requests.Timeout) or "timed out" in str(exc),
        )

    def raise_for_status(self, response: requests.Response) -> None:
        """Raise the typed error of an error response (see :func:`~airflow_provider_sinch.hooks._policy.api_error`)."""
        if response.status_code < 400:
            return
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        response.close()
        retries = getattr(response.raw, "retries", None)
        raise api_error(
            response.status_code,
            (response.request.method if response.request is not None else None) or "?",
            urlsplit(response.url).path,
            body,
            project_id=self.settings.project_id,
            max_retries=self.settings.max_retries,
            waited=float(getattr(retries, "waited", 0.0) or 0.0),
            retried=len(getattr(retries, "history", None) or ()),
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and project with one cheap read-only call per API the connection is set up for."""
        lines, ok = [], True
        for name in API_CLIENTS:
            client = getattr(self, name)
            try:
                shown = client.probe()
            except Exception as exc:
                ok = False
                lines.append(f"{client.title}: {redact(str(exc))}")
                if (
                    isinstance(exc, (SinchConnectionConfigError, SinchConnectionError))
                    or getattr(exc, "status_code", 0) == 401
                ):
                    break  # the connection itself is wrong: every other API would say the same
                continue
            if shown is not None:
                lines.append(f"{client.title}: {shown}")
        if ok:
            lines.insert(
                0, f"Connected to Sinch project {self.settings.project_id} with {self.settings.auth_type} auth."
            )
        return ok, "; ".join(lines)


def json_body(response: requests.Response) -> Any:
    """The parsed JSON body of a successful response (``None`` for an empty one), or :class:`SinchResponseError`."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        method = response.request.method if response.request is not None else None
        raise SinchResponseError(
            f"Sinch {method} {urlsplit(response.url).path} answered HTTP {response.status_code} with a "
            f"body that is not JSON ({response.headers.get('Content-Type', 'no content type')})."
            + outcome_unknown(method),
            status_code=response.status_code,
        ) from None


def body_broke(exc: BaseException) -> bool:
    """Whether a requests error says the response body broke off after the headers had arrived."""
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    return isinstance(exc, requests.ConnectionError) and bool(exc.args) and isinstance(exc.args[0], ReadTimeoutError)
