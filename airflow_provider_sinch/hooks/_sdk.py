"""Sinch's Python SDK (``sinch`` on PyPI) over the hook's transport.

The SDK makes its HTTP layer a port (``sinch.core.ports.http_transport.HTTPTransport``). ``HookTransport``
plugs the hook in there: Sinch's endpoints build the URLs, bodies and models, and every request goes
through :meth:`SinchHook.request <airflow_provider_sinch.hooks.sinch.SinchHook.request>`, with the hook's
authentication (Basic or OAuth2 and its token cache), timeouts, retries, rate limit, credential policy,
masking and typed errors. The SDK's own token fetching and 429 retries are switched off, so one policy
applies. Imported on first use only: ``import sinch`` takes about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sinch import SinchClient
from sinch.core.clients.retry_configuration import RetryConfiguration
from sinch.core.enums import HTTPAuthentication, RetryPolicy
from sinch.core.models.http_response import HTTPResponse
from sinch.core.models.internal.base_model_config import transform_kwargs_casing_scope
from sinch.core.ports.http_transport import HTTPTransport

from airflow_provider_sinch.hooks.sinch import json_body

if TYPE_CHECKING:
    from collections.abc import Callable

    from sinch.core.models.http_request import HttpRequest

    from airflow_provider_sinch.connection import SinchConnectionSettings
    from airflow_provider_sinch.hooks.sinch import SinchHook
    from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook


class HookTransport(HTTPTransport):
    """The SDK's HTTP port, answered by a :class:`SinchHook`: the SDK builds requests, the hook sends them."""

    def __init__(self, sinch: SinchClient, hook: SinchHook) -> None:
        super().__init__(sinch)
        self.hook = hook

    def authenticate(self, endpoint: Any, request_data: HttpRequest) -> HttpRequest:
        # The hook's session adds the credentials (Basic, or an OAuth2 token from its process-wide cache,
        # renewed before expiry and on an expired 401), after checking where the request goes.
        if HTTPAuthentication.SMS_TOKEN.value == endpoint.HTTP_AUTHENTICATION:
            raise NotImplementedError(
                "SMS API tokens are not used: the sinch connection's access key serves every API."
            )
        request_data.auth = None
        if request_data.request_body is not None and not isinstance(request_data.request_body, dict):
            request_data.headers["Content-Type"] = "application/json"
        return request_data

    def send_request(self, request_data: HttpRequest) -> HTTPResponse:
        headers = dict(request_data.headers or {})
        sdk_agent = headers.pop("User-Agent", "")
        ours = str(self.hook.get_conn().headers["User-Agent"])
        headers["User-Agent"] = f"{ours} {sdk_agent}".strip()
        response = self.hook.request(
            request_data.http_method,
            request_data.url,
            data=request_data.request_body,
            params=request_data.query_params or None,
            headers=headers,
        )  # an error status raises the hook's typed error: the SDK sees only successful answers
        return HTTPResponse(
            status_code=response.status_code,
            headers=response.headers,  # case-insensitive, as the SDK reads "www-authenticate"
            body=json_body(response) or {},  # a body that is not JSON: the hook's typed error too
        )


def _sdk_client(settings: SinchConnectionSettings, conversation_region: str | None) -> SinchClient:
    client = SinchClient(
        key_id=settings.key_id,
        key_secret=settings.key_secret,
        project_id=settings.project_id,
        conversation_region=settings.choice("conversation_region", conversation_region),
        retry_configuration=RetryConfiguration(retry_policy=RetryPolicy.NONE),  # the hook retries
    )
    if settings.host:  # a local stand-in serves every API
        client.configuration.conversation_domain = settings.host
        client.configuration.auth_origin = settings.host
    return client


def build_sdk_client(hook: SinchHook, *, conversation_region: str | None = None) -> SinchClient:
    """A ``SinchClient`` configured from the hook's connection, on the hook's transport."""
    client = _sdk_client(hook.settings, conversation_region)
    client.configuration.transport = HookTransport(client, hook)
    return client


class _Captured(Exception):
    """Carries the request an SDK call built, out of the SDK's synchronous call stack."""

    def __init__(self, endpoint: Any, request_data: HttpRequest) -> None:
        super().__init__("captured")
        self.endpoint = endpoint
        self.request_data = request_data


class _CaptureTransport(HookTransport):
    """Builds the SDK's request as it would be sent, then hands it out instead of sending it."""

    def request(self, endpoint: Any) -> Any:
        with transform_kwargs_casing_scope(self.sinch.configuration.transform_kwargs_casing):
            request_data = self.authenticate(endpoint, self.prepare_request(endpoint))
        raise _Captured(endpoint, request_data)


async def call_sdk_async(
    hook: SinchAsyncHook, call: Callable[[SinchClient], Any], *, conversation_region: str | None = None
) -> Any:
    """Run one SDK call with its I/O on the async transport: the SDK builds the request and reads the answer.

    The SDK is synchronous; its endpoint objects are not. ``call`` runs against a client whose transport
    only builds the request; the request is then awaited on ``hook`` (httpx, the same policy as every call)
    and the SDK's endpoint turns the answer into its model. No thread.
    """
    settings = await hook.connect()
    client = _sdk_client(settings, conversation_region)
    client.configuration.transport = _CaptureTransport(client, None)  # type: ignore[arg-type]
    try:
        call(client)
    except _Captured as captured:
        endpoint, request_data = captured.endpoint, captured.request_data
    else:  # pragma: no cover - every SDK call makes a request
        raise RuntimeError("the SDK call sent no request")
    headers = dict(request_data.headers or {})
    headers.pop("User-Agent", None)
    body = request_data.request_body
    response = await hook.request(
        request_data.http_method,
        request_data.url,
        params=request_data.query_params or None,
        content=body.encode() if isinstance(body, str) else None,
        headers=headers,
    )
    answer = response.json() if response.content else {}
    return endpoint.handle_response(
        HTTPResponse(status_code=response.status_code, headers=response.headers, body=answer)
    )
