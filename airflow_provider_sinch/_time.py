"""Timestamps as the Fax API writes and reads them (UTC, ISO 8601, millisecond precision)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

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
    """Format for the ``createTime>=``/``createTime<=`` query keys: UTC, milliseconds, ``Z``."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fax_create_time(fax: dict[str, Any]) -> datetime | None:
    """A fax's ``createTime`` as an aware UTC datetime, or None if it is missing or unreadable."""
    raw = fax.get("createTime")
    if not raw:
        return None
    try:
        return to_utc(str(raw), name="createTime")
    except ValueError:
        return None
