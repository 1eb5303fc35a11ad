"""One client per Sinch API, each over the one transport (:class:`~airflow_provider_sinch.hooks.sinch.SinchHook`).

The transport knows no API: it authenticates, retries, paces, times out and raises typed errors. Each API
client knows its base URL (regional where the API is), its paths and its models, and a hook offers it as
an attribute: ``SinchHook().fax.list_faxes(...)``, ``SinchHook().conversation.send_text(...)``, after
Sinch's own SDKs (``sinch.conversation.messages.send``).

Adding an API is a module with a :class:`SinchAPIClient` subclass plus one line in :data:`API_CLIENTS`;
the transport does not change. Nothing here imports ``requests``: operators import their API's vocabulary
at DAG-parse time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote, urljoin

if TYPE_CHECKING:
    from airflow_provider_sinch.hooks.sinch import SinchHook
    from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook

#: The API clients a hook offers as attributes: attribute name -> ``module:Class``.
API_CLIENTS: dict[str, str] = {
    "fax": "airflow_provider_sinch.clients.fax.client:FaxClient",
    "conversation": "airflow_provider_sinch.clients.conversation:ConversationClient",
}


def client_class(name: str) -> type[SinchAPIClient]:
    """The client class registered under ``name`` (imported on first use)."""
    module, _, attribute = API_CLIENTS[name].partition(":")
    cls: type[SinchAPIClient] = getattr(importlib.import_module(module), attribute)
    return cls


class SinchAPIClient:
    """One Sinch API over a hook's transport: where it lives, and a cheap check for ``test_connection``.

    :param hook: the transport; its connection's ``host``, when set, replaces :meth:`api_host` (a local
        stand-in serves every API).
    """

    #: The API's name in messages, e.g. "Fax API".
    title: ClassVar[str] = "Sinch API"
    #: The path of the project's resources under the API host; ``{project_id}`` is filled in.
    base_path: ClassVar[str] = "/"

    def __init__(self, hook: SinchHook | SinchAsyncHook) -> None:
        self.hook = hook

    def api_host(self) -> str:
        """The API's own ``https://`` host, e.g. from a regional extra of the connection."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``{host}{base_path}``, ending in ``/``: relative paths of this API resolve against it."""
        host = self.hook.settings.host or self.api_host()
        path = self.base_path.replace("{project_id}", quote(self.hook.settings.project_id, safe=""))
        return f"{host.rstrip('/')}{path}"

    def url(self, path: str) -> str:
        """The absolute URL of a path relative to :attr:`base_url` (``faxes/ID``, ``messages:send``)."""
        if "://" not in path and ":" in path.split("/", 1)[0]:
            path = "./" + path  # else urljoin reads "messages:" of "messages:send" as a URL scheme
        return urljoin(self.base_url, path)

    def probe(self) -> str | None:
        """One cheap read-only call for ``test_connection``: what it showed, or None if this API is not set up.

        Raises the transport's typed error when the call fails.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hook.sinch_conn_id!r}>"
