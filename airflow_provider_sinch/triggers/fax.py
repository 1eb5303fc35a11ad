"""Triggers for Sinch's Fax API: wait for faxes without holding a worker slot, and fire asset events.

Both triggers match with :func:`~airflow_provider_sinch.clients.fax.core.find_matching_faxes`, the one
matching function that ``FaxSensor.poke`` and ``SendFaxOperator``'s wait also run, so the deferred and
non-deferred paths cannot drift apart. They await the async transport
(:class:`~airflow_provider_sinch.hooks.sinch_async.SinchAsyncHook`, httpx): no thread per poll, and the
waits for given faxes share their polls.

Trigger events carry fax IDs and statuses only, never phone numbers: the triggerer logs every
event it fires.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sinch._time import UTC, fax_create_time, format_create_time, to_utc
from airflow_provider_sinch._validation import DEFAULT_CONN_ID
from airflow_provider_sinch.clients.fax.vocabulary import (
    TERMINAL_FAX_STATUSES,
    fax_id_time,
    sort_newest_first,
    validate_direction,
    validate_fax_id,
    validate_status,
)
from airflow_provider_sinch.exceptions import (
    SinchConnectionError,
    SinchError,
    SinchRateLimitError,
    SinchServerError,
)
from airflow_provider_sinch.hooks._credentials import redact
from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook

try:  # Airflow 3: event-driven scheduling with AssetWatcher
    from airflow.triggers.base import BaseEventTrigger as _EventTriggerBase

    HAS_EVENT_TRIGGERS = True
except ImportError:  # Airflow 2.x has no AssetWatcher, hence no event triggers
    _EventTriggerBase = BaseTrigger  # type: ignore[misc,assignment]
    HAS_EVENT_TRIGGERS = False

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Fields of a fax that may appear in a trigger event (no phone numbers: the triggerer logs events).
EVENT_FIELDS = ("id", "direction", "status", "createTime", "completedTime", "numberOfPages", "hasFile", "serviceId")
#: The warning when the asset state store fails (a read or a write): the watcher goes on without it.
STORE_UNUSABLE = "Asset state store unusable (%s); de-duplicating in memory only"
#: Errors a polling loop rides out: the hook has already retried them with backoff.
TRANSIENT_ERRORS = (SinchConnectionError, SinchServerError, SinchRateLimitError)


async def alog(log: Any, level: str, message: str, *args: Any) -> None:
    """Log from a trigger without blocking the event loop: Airflow 3's async log methods where they exist.

    The triggerer's log goes down a pipe to its supervisor; when hundreds of triggers fire at once a plain
    ``log.info`` waits for that pipe on the loop (0.6 s measured with 200 waits resuming together).
    """
    method = getattr(log, f"a{level}", None)
    if method is not None:
        await method(message, *args)
    else:  # Airflow 2: stdlib logging
        getattr(log, level)(message, *args)


def event_fields(fax: dict[str, Any]) -> dict[str, Any]:
    """The fields of a fax that are safe to put in a trigger event (no phone numbers)."""
    return {name: fax[name] for name in EVENT_FIELDS if name in fax}


def _json_criteria(criteria: dict[str, Any]) -> dict[str, Any]:
    """Criteria of ``find_matching_faxes`` as plain JSON (datetimes to ISO strings, IDs to a list)."""
    out = {key: value for key, value in criteria.items() if value is not None}
    if isinstance(out.get("created_after"), datetime):
        out["created_after"] = format_create_time(out["created_after"])
    if "fax_ids" in out:
        out["fax_ids"] = [str(fax_id) for fax_id in out["fax_ids"]]
    if "limit" in criteria and criteria["limit"] is None:
        out["limit"] = None  # "every match" must survive the round trip, unlike the other Nones
    return out


@dataclass(eq=False)
class _Wait:
    """One trigger waiting for its faxes: resolved when every one of them is final."""

    fax_ids: list[str]
    interval: float
    done: asyncio.Future[list[dict[str, Any]]]


class FaxWaitPoller:
    """The polls of every ``FaxTrigger`` waiting on fax IDs, for one connection in one triggerer loop.

    Each round it asks for the faxes all waits still need with the fewest requests
    (:func:`~airflow_provider_sinch.clients.fax.core.poll_faxes`: a listing around their creation times when
    many wait, a lookup per fax when few do, a lookup for any the listing missed) and resolves every wait
    whose faxes are all final. A final fax is not asked for again. It polls at the shortest interval of its
    waits and stops when nobody waits. A wait's answer depends only on Sinch's data, so a trigger that moves
    to another triggerer resolves the same way there.
    """

    _pollers: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, FaxWaitPoller]]] = (
        weakref.WeakKeyDictionary()
    )
    #: Let the waits of a burst of deferrals register before the first round.
    GATHER_SECONDS = 0.05
    #: Waits resolved between two yields to the event loop: each resumes its trigger in the next loop
    #: iteration (about 45 us each), so 500 resolved at once held the loop for 20-30 ms.
    RESOLVE_CHUNK = 100

    def __init__(self, sinch_conn_id: str) -> None:
        self.sinch_conn_id = sinch_conn_id
        self.waits: set[_Wait] = set()
        self.final: dict[str, dict[str, Any]] = {}
        #: Creation time of each awaited fax, read from its ULID once when its wait starts, not every round
        #: (1,000 IDs took 11-16 ms of the loop per round).
        self.created: dict[str, datetime | None] = {}
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, sinch_conn_id: str) -> FaxWaitPoller:
        """The poller of a connection in the running event loop (created on first use)."""
        pollers = cls._pollers.setdefault(asyncio.get_running_loop(), {})
        if sinch_conn_id not in pollers:
            pollers[sinch_conn_id] = cls(sinch_conn_id)
        return pollers[sinch_conn_id]

    async def wait(self, fax_ids: list[str], interval: float) -> list[dict[str, Any]]:
        """Every fax of ``fax_ids``, in that order, once all are final; a failed lookup raises its error."""
        loop = asyncio.get_running_loop()
        wait = _Wait(list(fax_ids), interval, loop.create_future())
        for fax_id in wait.fax_ids:
            if fax_id not in self.created:
                self.created[fax_id] = fax_id_time(fax_id)
        self.waits.add(wait)
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"sinch-fax-waits-{self.sinch_conn_id}")
        try:
            return await wait.done
        finally:
            self.waits.discard(wait)  # resolved, failed or cancelled: this wait leaves the poller
            if not self.waits and self._task is not None:
                task, self._task = self._task, None
                task.cancel()  # nobody waits: stop polling now, not after the next sleep

    async def _run(self) -> None:
        hook = SinchAsyncHook(self.sinch_conn_id)
        try:
            await asyncio.sleep(self.GATHER_SECONDS)
            while self.waits:
                await self._round(hook)
                if self.waits:
                    await asyncio.sleep(min(wait.interval for wait in self.waits))
        finally:
            pollers = self._pollers.get(asyncio.get_running_loop(), {})
            if self._task is None and pollers.get(self.sinch_conn_id) is self:
                del pollers[self.sinch_conn_id]  # unless a new wait started a new round of polls meanwhile
            await hook.aclose()

    async def _round(self, hook: SinchAsyncHook) -> None:
        waits = [wait for wait in self.waits if not wait.done.done()]
        needed = [fax_id for wait in waits for fax_id in wait.fax_ids if fax_id not in self.final]
        self.rounds += 1
        try:
            answers = await hook.fax.poll_faxes(needed, self.created) if needed else {}
        except (SinchError, ValueError) as exc:  # after the transport's retries: every wait learns of it
            for wait in waits:
                if not wait.done.done():
                    wait.done.set_exception(exc)
            return
        for fax_id, answer in answers.items():
            if isinstance(answer, dict) and answer.get("status") in TERMINAL_FAX_STATUSES:
                self.final[fax_id] = answer
        resolved = 0
        for wait in waits:
            if wait.done.done():
                continue  # cancelled while this round yielded
            failed = next((answers[i] for i in wait.fax_ids if isinstance(answers.get(i), Exception)), None)
            if failed is not None:
                wait.done.set_exception(failed)
            elif all(fax_id in self.final for fax_id in wait.fax_ids):
                wait.done.set_result([self.final[fax_id] for fax_id in wait.fax_ids])
            else:
                continue
            resolved += 1
            if resolved % self.RESOLVE_CHUNK == 0:
                await asyncio.sleep(0)  # the triggers resolved so far run before more are resolved
        waiting = {fax_id for wait in self.waits for fax_id in wait.fax_ids}
        self.final = {fax_id: fax for fax_id, fax in self.final.items() if fax_id in waiting}
        self.created = {fax_id: moment for fax_id, moment in self.created.items() if fax_id in waiting}


class FaxTrigger(BaseTrigger):
    """Poll Sinch until ``find_matching_faxes`` finds what a deferred task waits for; no threads.

    Fires one event and stops: ``{"status": "success", "fax_ids": [...]}`` when the wait is over, or
    ``{"status": "error", "message": ...}`` when Sinch keeps failing (after the transport's retries). The
    event depends only on Sinch's data, so a trigger restarted by another triggerer fires the same
    event; the resumed task reads the faxes again with the same function.

    A wait for given fax IDs shares its polls with every other such wait of the connection in the
    triggerer (:class:`FaxWaitPoller`): a thousand deferred sends cost a few requests per poll, not a
    thousand. A wait for filters polls on its own.

    :param criteria: keyword arguments of ``find_matching_faxes`` (JSON values only).
    :param sinch_conn_id: the ``sinch`` connection.
    :param poll_interval: seconds between polls.
    """

    def __init__(
        self,
        *,
        criteria: dict[str, Any],
        sinch_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.criteria = _json_criteria(criteria)
        self.sinch_conn_id = sinch_conn_id
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"criteria": self.criteria, "sinch_conn_id": self.sinch_conn_id, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            if "fax_ids" in self.criteria:
                fax_ids = [validate_fax_id(fax_id) for fax_id in self.criteria["fax_ids"]]
                faxes = await FaxWaitPoller.of(self.sinch_conn_id).wait(fax_ids, self.poll_interval)
            else:
                faxes = await self._wait_for_filters()
        except (SinchError, ValueError) as exc:
            yield TriggerEvent({"status": "error", "message": redact(str(exc))})
            return
        await alog(self.log, "info", "Wait over: %d matching faxes", len(faxes))
        yield TriggerEvent({"status": "success", "fax_ids": [str(fax.get("id")) for fax in faxes]})

    async def _wait_for_filters(self) -> list[dict[str, Any]]:
        hook = SinchAsyncHook(self.sinch_conn_id)
        try:
            while True:
                faxes = await hook.fax.find_matching_faxes(**self.criteria)
                if faxes:
                    return faxes
                await alog(self.log, "info", "No match yet; polling Sinch again in %.3g s", self.poll_interval)
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()


class NewFaxEventTrigger(_EventTriggerBase):
    """Fire an event when new faxes arrive, for ``AssetWatcher``: schedule a DAG on "faxes arrived" (Airflow 3).

    Every ``poll_interval`` seconds it lists the faxes matching the filters created in the last
    ``lookback`` seconds and fires one event for the faxes it has not fired before (oldest first; at most
    ``MAX_FAXES_PER_EVENT`` per event, more events when a poll finds more), with the payload
    ``{"fax_ids": [...], "faxes": [{id, direction, status, createTime, ...}, ...]}`` (no phone numbers;
    fetch a fax with ``SinchHook().fax.get_fax`` for those). The asset event's ``extra`` holds it under
    ``payload``. One event per poll rather than one per fax: the scheduler may start a run on the first
    event of a burst and leave the rest waiting for the next event (seen on Airflow 3.3.2).

    De-duplication is by fax ID. The IDs already fired are kept for ``lookback`` and, on Airflow
    versions whose triggerer gives event triggers an asset state store (3.3+, one watched asset),
    saved there one poll after their event was fired, so a restarted triggerer skips no fax and repeats
    only the faxes of an event fired in its last poll interval. Without a state store they live in
    memory: after a triggerer restart, faxes of the last ``lookback`` are fired again (at least once;
    ``DownloadFaxOperator`` is idempotent). A fax that arrives while the triggerer is down for longer
    than ``lookback`` is missed: keep an incremental ``ListFaxesOperator`` DAG if every fax must be
    processed.

    The default filters (INBOUND, COMPLETED) fire once a received fax is complete, when its PDF is
    available. ``lookback`` must exceed the time a fax can take from its ``createTime`` to matching
    the filters (reception time).

    :param sinch_conn_id: the ``sinch`` connection.
    :param direction: ``INBOUND`` (default) or ``OUTBOUND``; ``None`` for both.
    :param status: ``COMPLETED`` (default), ``FAILURE``, ...; ``None`` for any status.
    :param from_number: prefix of the sender's number.
    :param to_number: prefix of the recipient's number (e.g. one of your fax numbers).
    :param service_id: only faxes of this fax service.
    :param poll_interval: seconds between polls (each poll is one list request per page).
    :param lookback: seconds of creation time each poll looks back.
    """

    #: Faxes per asset event at most (the event's ``extra`` is stored in the metadata database).
    MAX_FAXES_PER_EVENT = 100

    def __init__(
        self,
        *,
        sinch_conn_id: str = DEFAULT_CONN_ID,
        direction: str | None = "INBOUND",
        status: str | None = "COMPLETED",
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        poll_interval: float = 60.0,
        lookback: float = 3600.0,
    ) -> None:
        if not HAS_EVENT_TRIGGERS:
            raise RuntimeError(
                "NewFaxEventTrigger needs Airflow 3 (BaseEventTrigger and AssetWatcher). On Airflow 2, "
                "schedule a DAG with an incremental ListFaxesOperator or a FaxSensor instead."
            )
        super().__init__()
        if float(lookback) <= 0 or float(poll_interval) <= 0:
            raise ValueError(f"lookback={lookback!r} and poll_interval={poll_interval!r} must be > 0 seconds.")
        self.sinch_conn_id = sinch_conn_id
        self.direction = validate_direction(direction) if direction else None
        self.status = validate_status(status) if status else None
        self.from_number = from_number
        self.to_number = to_number
        self.service_id = service_id
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)
        #: fax ID -> createTime of every fax fired within the lookback (the de-duplication memory).
        self.seen: dict[str, str] = {}
        self._state_usable = True

    def _filters(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "status": self.status,
            "from_number": self.from_number,
            "to_number": self.to_number,
            "service_id": self.service_id,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "sinch_conn_id": self.sinch_conn_id,
                **self._filters(),
                "poll_interval": self.poll_interval,
                "lookback": self.lookback,
            },
        )

    @property
    def state_key(self) -> str:
        """The asset-state-store key of this watcher's memory (one per connection and filters)."""
        digest = hashlib.sha256(json.dumps([self.sinch_conn_id, self._filters()], sort_keys=True).encode())
        return f"sinch_new_fax_seen_{digest.hexdigest()[:16]}"

    def _state_store(self) -> Any:
        return getattr(self, "asset_state_store", None) if self._state_usable else None

    async def load_seen(self) -> None:
        """Restore the IDs fired before a restart from the asset state store, when there is one."""
        store = self._state_store()
        if store is None:
            return
        try:
            saved = await store.aget(self.state_key)
        except Exception as exc:  # a store error must not stop the watcher; memory still de-duplicates
            self._state_usable = False
            await alog(self.log, "warning", STORE_UNUSABLE, type(exc).__name__)
            return
        if isinstance(saved, dict) and isinstance(saved.get("seen"), dict):
            self.seen.update({str(k): str(v) for k, v in saved["seen"].items()})
            await alog(self.log, "info", "Restored %d already fired fax IDs", len(self.seen))

    async def save_seen(self) -> None:
        """Save the fired IDs to the asset state store, when there is one."""
        store = self._state_store()
        if store is None:
            return
        try:
            await store.aset(self.state_key, {"seen": dict(self.seen)})
        except Exception as exc:
            self._state_usable = False
            await alog(self.log, "warning", STORE_UNUSABLE, type(exc).__name__)

    def new_faxes(self, faxes: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Mark the faxes not fired before as seen and return them oldest first; forget IDs past the lookback."""
        since = now - timedelta(seconds=self.lookback)
        fresh = [fax for fax in reversed(sort_newest_first(faxes)) if str(fax.get("id")) not in self.seen]
        for fax in fresh:
            self.seen[str(fax.get("id"))] = str(fax.get("createTime", ""))
        for fax_id, created in list(self.seen.items()):
            created_at = fax_create_time({"createTime": created})
            if created_at is None or created_at < since:
                del self.seen[fax_id]
        return fresh

    async def poll_once(self, hook: SinchAsyncHook, now: datetime | None = None) -> list[dict[str, Any]]:
        """One poll: the new faxes (oldest first), marked as seen in memory (``save_seen`` persists that)."""
        now = to_utc(now) if now is not None else datetime.now(tz=UTC)
        since = now - timedelta(seconds=self.lookback)
        faxes = await hook.fax.find_matching_faxes(limit=None, created_after=since, **self._filters())
        return self.new_faxes(faxes, now)

    @classmethod
    def event_payloads(cls, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The payloads of the events for one poll's new faxes: one per ``MAX_FAXES_PER_EVENT`` faxes."""
        step = cls.MAX_FAXES_PER_EVENT
        return [
            {"fax_ids": [str(fax.get("id")) for fax in chunk], "faxes": [event_fields(fax) for fax in chunk]}
            for chunk in (fresh[i : i + step] for i in range(0, len(fresh), step))
        ]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = SinchAsyncHook(self.sinch_conn_id)
        await self.load_seen()
        unsaved = False
        try:
            while True:
                if unsaved:
                    # Saved one poll interval after the events were yielded: the triggerer queues an event and
                    # resumes this generator before the event is stored, so a crash in between repeats the
                    # faxes (at least once) instead of skipping them.
                    await self.save_seen()
                    unsaved = False
                try:
                    fresh = await self.poll_once(hook)
                except TRANSIENT_ERRORS as exc:
                    await alog(
                        self.log,
                        "warning",
                        "Polling Sinch failed (%s); trying again in %.0f s",
                        exc,
                        self.poll_interval,
                    )
                    fresh = []
                if fresh:
                    await alog(self.log, "info", "%d new faxes", len(fresh))
                    for payload in self.event_payloads(fresh):
                        yield TriggerEvent(payload)
                    unsaved = True
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()
