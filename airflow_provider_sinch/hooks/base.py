"""The hook every operator, sensor and notifier of this provider uses, built on first use."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_sinch.hooks.sinch import SinchHook


class SinchHookMixin:
    """A lazily built :class:`~airflow_provider_sinch.hooks.sinch.SinchHook` for ``self.sinch_conn_id``.

    Never at DAG-parse time: ``requests`` and the transport are imported on first use of ``hook``.
    """

    sinch_conn_id: str

    @cached_property
    def hook(self) -> SinchHook:
        """The Sinch hook of ``sinch_conn_id``."""
        from airflow_provider_sinch.hooks.sinch import SinchHook

        return SinchHook(sinch_conn_id=self.sinch_conn_id)
