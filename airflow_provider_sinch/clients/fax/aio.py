"""The Fax API client over the async transport: ``SinchAsyncHook().fax``, for triggers.

It runs the same I/O-free operations as the sync client (:mod:`~airflow_provider_sinch.clients.fax.core`),
so a deferred wait matches exactly what ``FaxSensor.poke`` matches.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_sinch.clients.fax import FaxAPI, core
from airflow_provider_sinch.clients.fax.core import Batch, Call, Emit
from airflow_provider_sinch.clients.fax.vocabulary import DEFAULT_MATCH_LIMIT
from airflow_provider_sinch.exceptions import SinchError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Mapping
    from datetime import datetime

    from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook

R = TypeVar("R")


class AsyncFaxClient(FaxAPI):
    """Sinch's Fax API for one project, awaited: the searches and lookups a trigger needs."""

    hook: SinchAsyncHook
    #: Lookups of a batch in flight at once.
    CONCURRENCY = 8

    def __init__(self, hook: SinchAsyncHook) -> None:
        super().__init__(hook)
        self._concurrency = asyncio.Semaphore(self.CONCURRENCY)

    async def execute(self, call: Call) -> Any:
        """One request of an operation; the parsed JSON answer."""
        await self.hook.connect()  # the base URL needs the connection's host and project
        return await self.hook.request_json(call.method, self.url(call.path), params=call.params)

    async def run(self, steps: Generator[core.Step, Any, R], on_items: Callable[[list[Any]], None] | None = None) -> R:
        """Drive an operation to its end: answer its calls, hand what it emits to ``on_items``, return its result."""
        reply = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(step, Emit):
                if on_items is not None:
                    on_items(step.items)
                reply = None
            elif isinstance(step, Batch):
                reply = await asyncio.gather(*(self._attempt(call) for call in step.calls))
            else:
                reply = await self.execute(step)

    async def _attempt(self, call: Call) -> Any:
        async with self._concurrency:
            try:
                return await self.execute(call)
            except SinchError as exc:
                return exc

    async def poll_faxes(
        self, fax_ids: Iterable[str], created: Mapping[str, datetime | None] | None = None
    ) -> dict[str, Any]:
        """The current state of many faxes, fewest requests first (see ``core.poll_faxes``)."""
        return await self.run(core.poll_faxes(fax_ids, created))

    async def list_faxes(self, **filters: Any) -> list[dict[str, Any]]:
        """Every fax matching the filters (see ``FaxClient.list_faxes``), each once."""
        out: list[dict[str, Any]] = []
        await self.run(core.list_faxes(**filters), out.extend)
        return out

    async def get_fax(self, fax_id: str) -> dict[str, Any]:
        """One fax by its ID."""
        return await self.run(core.get_fax(fax_id))

    async def find_matching_faxes(
        self, *, fax_ids: Iterable[str] | None = None, limit: int | None = DEFAULT_MATCH_LIMIT, **filters: Any
    ) -> list[dict[str, Any]]:
        """The faxes a wait is looking for, or ``[]`` while it is not over (see ``core.find_matching_faxes``)."""
        return await self.run(core.find_matching_faxes(fax_ids=fax_ids, limit=limit, **filters))
