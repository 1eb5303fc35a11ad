"""Sinch's Fax API: ``vocabulary`` (values and checks, no I/O), ``core`` (the search logic, no I/O),
``client`` (:class:`~airflow_provider_sinch.clients.fax.client.FaxClient`, ``SinchHook().fax``) and ``aio``
(:class:`~airflow_provider_sinch.clients.fax.aio.AsyncFaxClient`, ``SinchAsyncHook().fax``)."""

from __future__ import annotations

from airflow_provider_sinch.clients import SinchAPIClient


class FaxAPI(SinchAPIClient):
    """Where Sinch's Fax API v3 lives: ``https://fax.api.sinch.com/v3/projects/{project_id}/``."""

    title = "Fax API"
    base_path = "/v3/projects/{project_id}/"

    def api_host(self) -> str:
        return "https://fax.api.sinch.com"
