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
from sinch.core.ports.http_transport import HTTPTransport

from airflow_provider_sinch.hooks.sinch import json_body

if TYPE_CHECKING:
    from sinch.core.models.http_request import HttpRequest

    from airflow_provider_sinch.hooks.sinch import SinchHook


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


def build_sdk_client(hook: SinchHook, *, conversation_region: str | None = None) -> SinchClient:
    """A ``SinchClient`` configured from the hook's connection, on the hook's transport."""
    settings = hook.settings
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
    client.configuration.transport = HookTransport(client, hook)
    return client
