"""Timestamps as the Fax API writes and reads them.

Sinch writes ``createTime`` with milliseconds (``2023-10-23T21:06:52.231Z``) and Sinch's SDKs send the
range filters in whole seconds (``2023-10-23T21:06:52Z``): see :func:`create_time_range_params`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

UTC = timezone.utc


def to_utc(value: datetime | str, *, name: str = "value") -> datetime:
    """Parse a datetime or an ISO 8601 string into an aware UTC datetime.

    Naive values are taken as UTC. ``name`` is used in the error message.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{name}={value!r} is not an ISO 8601 date or timestamp; "
                "use e.g. '2026-01-31' or '2026-01-31T14:00:00Z'."
            ) from None
    else:
        raise TypeError(f"{name} must be a datetime or an ISO 8601 string, not {type(value).__name__}.")
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    # A plain datetime even for pendulum input: pendulum's comparison with stdlib datetimes is unreliable.
    return datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, tzinfo=UTC)


def format_create_time(dt: datetime) -> str:
    """A moment as Sinch writes a fax's ``createTime``: UTC, milliseconds, ``Z`` (logs, messages, events)."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _whole_second(dt: datetime, *, up: bool) -> str:
    moment = dt.astimezone(UTC)
    floor = moment.replace(microsecond=0)
    if up and floor != moment:
        floor += timedelta(seconds=1)
    return floor.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_time_range_params(after: datetime | None, before: datetime | None) -> dict[str, str]:
    """The list-faxes range filters for the half-open window ``[after, before)``, as Sinch's SDKs send them.

    The keys are ``createTime>`` and ``createTime<``: on the wire ``createTime>=VALUE``, which a server
    splits at the first ``=`` (Node ``@sinch/fax`` ``FaxesApi.list``; .NET ``ListFaxesRequest.ToQueryString``).
    Both SDKs send whole-second UTC values (``yyyy-MM-ddTHH:mm:ssZ``) and the server includes both ends,
    so the lower bound is floored and the upper bound ceiled: the server's window covers ``[after, before)``
    and the caller filters the answers to it exactly (:func:`create_time_window`).
    """
    params: dict[str, str] = {}
    if after is not None:
        params["createTime>"] = _whole_second(after, up=False)
    if before is not None:
        params["createTime<"] = _whole_second(before, up=True)
    return params


def fax_create_time(fax: dict[str, Any]) -> datetime | None:
    """A fax's ``createTime`` as an aware UTC datetime, or None if it is missing or unreadable."""
    raw = fax.get("createTime")
    if not raw:
        return None
    try:
        return to_utc(str(raw), name="createTime")
    except ValueError:
        return None


def _ceil_ms(moment: datetime) -> datetime:
    """``moment`` rounded up to a whole millisecond."""
    return moment + timedelta(microseconds=-moment.microsecond % 1000)


def create_time_window(after: datetime | None, before: datetime | None) -> Callable[[dict[str, Any]], bool]:
    """A test of whether a fax's ``createTime`` lies in the half-open window ``[after, before)``.

    Sinch writes ``createTime`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ``; such strings compare in time order, so
    they are compared as text against bounds written the same way (parsing every fax of a 10,000-fax
    listing costs more than the rest of the client). Other forms are parsed.
    """
    # Such a string is a whole millisecond, so for a bound b between milliseconds, t >= b and t < b hold
    # exactly when they hold for b rounded up to the next millisecond: the text bounds are rounded up.
    low = format_create_time(_ceil_ms(after)) if after is not None else None
    high = format_create_time(_ceil_ms(before)) if before is not None else None

    def inside(fax: dict[str, Any]) -> bool:
        raw = fax.get("createTime")
        if isinstance(raw, str) and len(raw) == 24 and raw[10] == "T" and raw[23] == "Z":
            return (low is None or raw >= low) and (high is None or raw < high)
        created = fax_create_time(fax)
        return created is not None and (after is None or created >= after) and (before is None or created < before)

    return inside
