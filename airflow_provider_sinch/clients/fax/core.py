"""The Fax API's search logic without I/O: one implementation for the synchronous and the async runners.

Each operation is a generator. It yields a :class:`Call` when it needs a request and receives the parsed
JSON answer back; it yields :class:`Emit` to hand out faxes as they arrive (a listing is streamed page by
page); its return value is the operation's result. ``FaxClient`` drives these with the hook's ``requests``
session, the async client with ``httpx``: the paging, the half-open window rule, the latest-N search and
the matching of waits exist once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_sinch._time import UTC, create_time_range_params, create_time_window, format_create_time, to_utc
from airflow_provider_sinch.clients.fax.vocabulary import (
    DEFAULT_MATCH_LIMIT,
    MAX_PAGE_SIZE,
    RETENTION,
    TERMINAL_FAX_STATUSES,
    FaxSelectionError,
    fax_id_time,
    sort_newest_first,
    validate_direction,
    validate_fax_id,
    validate_status,
)
from airflow_provider_sinch.exceptions import SinchResponseError

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Mapping

log = logging.getLogger(__name__)

#: A window this narrow is read page by page instead of halved again.
MIN_SPLIT = timedelta(seconds=1)
#: How many times a listing that changed while it was paged is paged through again.
LISTING_PASSES = 3


@dataclass(frozen=True)
class Call:
    """One request an operation needs: ``GET faxes?...`` relative to the Fax API's project base."""

    method: str
    path: str
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Emit:
    """What an operation hands out before it is done: the faxes of one page (or, for ``list_pages``, a page)."""

    items: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    """Independent requests a runner may send at once; the answer is a list, one item per call, in order.

    An item is the parsed JSON answer, or the :class:`~airflow_provider_sinch.exceptions.SinchError` that
    call raised, so one missing fax does not hide the others.
    """

    calls: list[Call] = field(default_factory=list)


Step = Call | Emit | Batch
#: At most this many faxes are looked up one by one; more are found with a listing around their createTimes.
FEW_FOR_GETS = 3
#: Faxes created further apart than this are listed in separate windows.
WINDOW_GAP = timedelta(minutes=30)


def list_params(
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
        params["direction"] = validate_direction(direction)
    if status is not None:
        params["status"] = validate_status(status)
    if from_number:
        params["from"] = str(from_number)
    if to_number:
        params["to"] = str(to_number)
    if service_id:
        params["serviceId"] = str(service_id)
    after = to_utc(created_after, name="created_after") if created_after is not None else None
    before = to_utc(created_before, name="created_before") if created_before is not None else None
    if after is not None and before is not None and after >= before:
        raise FaxSelectionError(
            f"created_after ({format_create_time(after)}) must be earlier than created_before "
            f"({format_create_time(before)})."
        )
    params.update(create_time_range_params(after, before))
    return params


def get_fax(fax_id: str) -> Generator[Step, Any, dict[str, Any]]:
    """One fax by its ID."""
    body = yield Call("GET", f"faxes/{quote(validate_fax_id(fax_id), safe='')}")
    if not isinstance(body, dict):
        raise SinchResponseError("Sinch answered a fax with a body that is not an object.")
    return body


def list_pages(params: Mapping[str, str], page_size: int = MAX_PAGE_SIZE) -> Generator[Step, Any, None]:
    """Emit the raw list-faxes responses page by page (1-based), stopping at ``totalPages``.

    Each ``Emit`` holds one page body (not faxes). Tolerates a missing ``totalPages`` (stops at a short page)
    and an empty page.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise FaxSelectionError(f"page_size={page_size} must be between 1 and {MAX_PAGE_SIZE}.")
    page = 1
    while True:
        body = yield Call("GET", "faxes", {**params, "page": page, "pageSize": page_size})
        if not isinstance(body, dict):
            raise SinchResponseError("Sinch answered a list of faxes with a body that is not an object.")
        yield Emit([body])
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


def list_faxes(*, page_size: int = MAX_PAGE_SIZE, **filters: Any) -> Generator[Step, Any, None]:
    """Emit every fax matching the filters, over all pages, each ``id`` once (see ``FaxClient.list_faxes``)."""
    params = list_params(**filters)
    after, before = filters.get("created_after"), filters.get("created_before")
    after = to_utc(after, name="created_after") if after is not None else None
    before = to_utc(before, name="created_before") if before is not None else None
    windowed, inside = after is not None or before is not None, create_time_window(after, before)
    seen: set[str] = set()
    listed: set[Any] = set()  # every ID the server listed, in or out of the half-open window
    for listing in range(1, LISTING_PASSES + 1):
        total = None
        pages = list_pages(params, page_size)
        reply = None
        while True:
            try:
                step = pages.send(reply)
            except StopIteration:
                break
            if not isinstance(step, Emit):
                reply = yield step
                continue
            reply = None
            body = step.items[0]
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
                yield Emit([fax for fax, _ in fresh])
                continue
            out = []
            for fax, fax_id in zip(page, ids, strict=True):
                if fax_id in seen or (windowed and not inside(fax)):
                    continue
                if fax_id is not None:
                    seen.add(fax_id)
                out.append(fax)
            yield Emit(out)
        # Sinch documents no list order: if it changed while we paged (a fax finishing moved to a page
        # already read), fewer faxes were listed than the server counts. Page through again.
        if not isinstance(total, int) or len(listed) >= total:
            return
        log.warning(
            "Sinch listed %d of %d faxes: the list changed while it was paged (pass %d of %d)",
            len(listed),
            total,
            listing,
            LISTING_PASSES,
        )


def collect(steps: Generator[Step, Any, Any]) -> Generator[Call, Any, list[dict[str, Any]]]:
    """Run an operation inside another: pass its calls through, return what it emitted."""
    out: list[dict[str, Any]] = []
    reply = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration:
            return out
        if isinstance(step, Emit):
            out.extend(step.items)
            reply = None
        else:
            reply = yield step  # type: ignore[misc]


def latest_faxes(
    limit: int,
    *,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    first_span: timedelta = timedelta(hours=1),
    growth: int = 4,
    **filters: Any,
) -> Generator[Step, Any, list[dict[str, Any]]]:
    """The ``limit`` newest faxes matching ``filters``, newest first (see ``FaxClient.latest_faxes``)."""
    if limit < 1:
        raise FaxSelectionError(f"limit={limit} must be at least 1.")
    newest = to_utc(created_before, name="created_before") if created_before is not None else datetime.now(tz=UTC)
    oldest = to_utc(created_after, name="created_after") if created_after is not None else newest - RETENTION
    list_params(created_after=oldest, created_before=newest, **filters)  # validate once, early
    found: dict[str, dict[str, Any]] = {}
    end, span = newest, first_span
    while end > oldest and len(found) < limit:
        start = max(oldest, end - span)
        for fax in (yield from _newest_in_window(start, end, limit - len(found), filters)):
            found.setdefault(str(fax.get("id")), fax)
        end, span = start, span * growth
    return sort_newest_first(found.values())[:limit]


def _newest_in_window(
    start: datetime, end: datetime, need: int, filters: dict[str, Any]
) -> Generator[Step, Any, list[dict[str, Any]]]:
    """Faxes of ``[start, end)``: all of them, or at least ``need`` of the newest when it is crowded."""
    params = list_params(created_after=start, created_before=end, **filters)
    body = yield Call("GET", "faxes", {**params, "page": 1, "pageSize": MAX_PAGE_SIZE})
    if not isinstance(body, dict):
        raise SinchResponseError("Sinch answered a list of faxes with a body that is not an object.")
    page = body.get("faxes") or []
    total_pages = body.get("totalPages")
    single_page = total_pages <= 1 if isinstance(total_pages, int) else len(page) < MAX_PAGE_SIZE
    if single_page or not page:
        inside = create_time_window(start, end)
        return [fax for fax in page if inside(fax)]
    if end - start <= MIN_SPLIT:
        # Too narrow to halve (many faxes at one instant): read every page of it.
        return (yield from collect(list_faxes(created_after=start, created_before=end, **filters)))
    mid = start + (end - start) / 2
    newer = yield from _newest_in_window(mid, end, need, filters)
    if len(newer) >= need:
        return newer
    older = yield from _newest_in_window(start, mid, need - len(newer), filters)
    return newer + older


def find_matching_faxes(
    *,
    fax_ids: Iterable[str] | None = None,
    direction: str | None = None,
    status: str | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
    service_id: str | None = None,
    created_after: datetime | str | None = None,
    limit: int | None = DEFAULT_MATCH_LIMIT,
) -> Generator[Step, Any, list[dict[str, Any]]]:
    """The faxes a wait is looking for, or ``[]`` while the wait is not over.

    - With ``fax_ids``: every one of those faxes once **all** of them are in a final status
      (COMPLETED or FAILURE), in the given order; ``[]`` while any is still QUEUED or IN_PROGRESS.
    - Otherwise: the faxes matching the filters, newest first. ``from_number``/``to_number`` match as
      prefixes, ``created_after`` is inclusive. ``limit`` caps the answer to the newest N (searched
      backwards in time, cheap when matches are recent); ``None`` lists every match created since
      ``created_after`` (Sinch's prior week without it).

    The single matching function of the sensor, the send operator's wait and the triggers.
    """
    if fax_ids is not None:
        faxes = []
        for fax_id in fax_ids:
            faxes.append((yield from get_fax(fax_id)))
        return faxes if all(fax.get("status") in TERMINAL_FAX_STATUSES for fax in faxes) else []
    filters: dict[str, Any] = {
        "direction": direction,
        "status": status,
        "from_number": from_number or None,
        "to_number": to_number or None,
        "service_id": service_id or None,
    }
    if limit is None:
        return sort_newest_first((yield from collect(list_faxes(created_after=created_after, **filters))))
    if created_after is not None and to_utc(created_after, name="created_after") >= datetime.now(tz=UTC):
        return []  # waiting for faxes from a point in time still to come
    return (yield from latest_faxes(limit, created_after=created_after, **filters))


def poll_faxes(
    fax_ids: Iterable[str], created: Mapping[str, datetime | None] | None = None, *, few: int = FEW_FOR_GETS
) -> Generator[Step, Any, dict[str, Any]]:
    """The current state of many faxes with the fewest requests: fax ID -> fax (or the error of its lookup).

    A handful is looked up one by one. More are found by listing the windows around their ``createTime``s
    (``created``, else the time in a ULID fax ID), which takes a page per thousand faxes whatever the
    number of waits; any fax a listing did not show is then looked up by itself.
    """
    ids = list(dict.fromkeys(fax_ids))
    found: dict[str, Any] = {}
    wanted = set(ids)
    if len(ids) > few:
        times = sorted(
            (moment, fax_id)
            for fax_id in ids
            if (moment := (created or {}).get(fax_id) or fax_id_time(fax_id)) is not None
        )
        for start, end in _windows([moment for moment, _ in times]):
            faxes = yield from collect(
                list_faxes(created_after=start - timedelta(seconds=1), created_before=end + timedelta(seconds=1))
            )
            found.update({fax["id"]: fax for fax in faxes if fax.get("id") in wanted})
    missing = [fax_id for fax_id in ids if fax_id not in found]
    if missing:
        answers = yield Batch([Call("GET", f"faxes/{quote(validate_fax_id(fax_id), safe='')}") for fax_id in missing])
        found.update(zip(missing, answers, strict=True))
    return found


def _windows(moments: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted moments grouped into ``[first, last]`` windows wherever they are more than ``WINDOW_GAP`` apart."""
    windows: list[tuple[datetime, datetime]] = []
    for moment in moments:
        if windows and moment - windows[-1][1] <= WINDOW_GAP:
            windows[-1] = (windows[-1][0], moment)
        else:
            windows.append((moment, moment))
    return windows
