"""Query-string and ``createTime`` parsing for the list endpoint.

The query is parsed as a standard server parses it: each ``&``-separated pair is split at its first
``=``, then key and value are percent-decoded. Sinch's range filters are keys that end in the operator,
``createTime>`` and ``createTime<``, so ``createTime>=2021-10-01T00:00:00Z`` (what Sinch's SDKs send)
and ``createTime%3E=...`` both read as the key ``createTime>``. ``createTime%3E%3D=...`` (an encoded
``=``) reads as the key ``createTime>=``, which no Sinch client sends: like any unknown parameter it
filters nothing, unless the simulator is started lenient.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

_TIMESTAMP = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[Tt ](?P<H>\d{2}):(?P<M>\d{2})"
    r"(?::(?P<S>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?$"
)
_PARTIAL = re.compile(r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InvalidFilter(ValueError):
    """A query parameter that cannot be understood; becomes a 400 with a field violation."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


def parse_query_string(raw: bytes | str) -> dict[str, str]:
    """Parse a raw query string the standard way: split each pair at its first ``=``, then decode.

    ``+`` decodes to a space, as in HTML forms. Later duplicates win.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    result: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        result[unquote_plus(key)] = unquote_plus(value) if sep else ""
    return result


#: The query parameters of ``GET .../faxes`` in Sinch's document, with the range keys Sinch's SDKs send.
LIST_FAXES_PARAMS = frozenset(
    {
        "serviceId",
        "createTime",
        "createTime>",
        "createTime<",
        "direction",
        "status",
        "to",
        "from",
        "labels",
        "format",
        "pageSize",
        "page",
        "fromCountry",
        "toCountry",
    }
)
#: What ``lenient`` also reads as range filters: the keys this provider sent before 0.2.
LENIENT_RANGE_KEYS = {"createTime>=": "createTime>", "createTime<=": "createTime<"}


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_ms(ms: int) -> str:
    """Format epoch milliseconds as Sinch does: ``2023-10-23T21:06:52.231Z``."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True)
class TimeSpan:
    """An instant or calendar period as microseconds since the epoch: ``[start_us, end_us)``."""

    start_us: int
    end_us: int


def parse_time_value(value: str, field: str) -> TimeSpan:
    """Parse a year, month, day or timestamp (``Z``, offsets or none = UTC) into a span.

    A timestamp is a span of one microsecond; ``2021-02`` spans the whole month.
    """
    value = value.strip()
    match = _TIMESTAMP.match(value)
    if match:
        try:
            moment = datetime(
                int(match["y"]),
                int(match["m"]),
                int(match["d"]),
                int(match["H"]),
                int(match["M"]),
                int(match["S"] or 0),
                int((match["frac"] or "0").ljust(6, "0")[:6]),
                tzinfo=_parse_tz(match["tz"]),
            )
        except ValueError as exc:
            raise InvalidFilter(field, f"Invalid timestamp {value!r}: {exc}") from None
        delta = moment - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return TimeSpan(micros, micros + 1)
    match = _PARTIAL.match(value)
    if not match:
        raise InvalidFilter(field, f"Invalid time {value!r}: use YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 timestamp")
    year = int(match["y"])
    try:
        if match["d"]:
            start = datetime(year, int(match["m"]), int(match["d"]), tzinfo=timezone.utc)
            end = start + timedelta(days=1)
        elif match["m"]:
            month = int(match["m"])
            start = datetime(year, month, 1, tzinfo=timezone.utc)
            end = start + timedelta(days=monthrange(year, month)[1])
        else:
            start = datetime(year, 1, 1, tzinfo=timezone.utc)
            end = datetime(year + 1, 1, 1, tzinfo=timezone.utc) if year < 9999 else start + timedelta(365)
    except ValueError as exc:
        raise InvalidFilter(field, f"Invalid date {value!r}: {exc}") from None
    return TimeSpan(_us(start), _us(end))


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _parse_tz(text: str | None) -> timezone:
    if not text or text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def create_time_bounds(query: dict[str, str], now_ms: int, *, lenient: bool = False) -> tuple[int | None, int | None]:
    """Inclusive ``(lower_ms, upper_ms)`` bounds on ``createTime`` for a list query.

    - ``createTime=2021-02-01`` (or ``2021-02``, ``2021``): that whole period;
      ``createTime=2021-02-01T14:00:00Z``: at or after that instant.
    - ``createTime>``: at or after the start of its value; ``createTime<``: at or before its value, where a
      date-only value includes that whole day (``<`` ``2021-10-30`` means "on or before 30 October").
    - No ``createTime`` key at all: the prior week, as the real API.
    - ``createTime>=``/``createTime<=`` are unknown keys and filter nothing, unless ``lenient``.
    """
    lower_us: int | None = None
    upper_us: int | None = None  # exclusive

    def tighten(lo: int | None, hi: int | None) -> None:
        nonlocal lower_us, upper_us
        if lo is not None:
            lower_us = lo if lower_us is None else max(lower_us, lo)
        if hi is not None:
            upper_us = hi if upper_us is None else min(upper_us, hi)

    present = False
    for key, value in query.items():
        name = LENIENT_RANGE_KEYS.get(key, key) if lenient else key
        if name == "createTime":
            present = True
            span = parse_time_value(value, key)
            is_instant = span.end_us - span.start_us == 1
            tighten(span.start_us, None if is_instant else span.end_us)
        elif name == "createTime>":
            present = True
            tighten(parse_time_value(value, key).start_us, None)
        elif name == "createTime<":
            present = True
            tighten(None, parse_time_value(value, key).end_us)
    if not present:
        return now_ms - 7 * 86_400_000, None
    # Stored times have millisecond precision: round the bounds inwards.
    lower_ms = None if lower_us is None else -(-lower_us // 1000)
    upper_ms = None if upper_us is None else (upper_us - 1) // 1000
    return lower_ms, upper_ms
