"""The Fax API's vocabulary and the one check of each argument, without ``requests``.

Operators, the sensor, the triggers and the client all validate through these functions, at DAG-parse
time for literal values and at run time after templates are rendered, so every path gives the same
message. Nothing here does I/O or imports the transport.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_sinch._time import UTC, fax_create_time, format_create_time, to_utc
from airflow_provider_sinch._validation import is_template, validate_e164
from airflow_provider_sinch.exceptions import FaxSelectionError

if TYPE_CHECKING:
    from collections.abc import Iterable

FAX_DIRECTIONS = ("INBOUND", "OUTBOUND")
FAX_STATUSES = ("QUEUED", "IN_PROGRESS", "COMPLETED", "FAILURE")
TERMINAL_FAX_STATUSES = frozenset({"COMPLETED", "FAILURE"})
#: The fax resolutions of Sinch's document (``resolution`` of a send).
FAX_RESOLUTIONS = ("FINE", "SUPERFINE")
MAX_PAGE_SIZE = 1000
#: Matched with ``fullmatch``: "$" would also match before a trailing newline.
FAX_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
DOWNLOAD_CHUNK = 1024 * 1024
#: How many matching faxes a sensor or trigger returns at most by default.
DEFAULT_MATCH_LIMIT = 100
#: How long Sinch keeps faxes (13 months); the oldest point a "latest faxes" search looks at.
RETENTION = timedelta(days=396)

#: ``send_fax`` keyword options and the Fax API field each one becomes.
SEND_OPTIONS: dict[str, str] = {
    "from_number": "from",
    "header_text": "headerText",
    "header_page_numbers": "headerPageNumbers",
    "header_time_zone": "headerTimeZone",
    "cover_page_id": "coverPageId",
    "cover_page_data": "coverPageData",
    "labels": "labels",
    "callback_url": "callbackUrl",
    "callback_url_content_type": "callbackUrlContentType",
    "max_retries": "maxRetries",
    "retry_delay_seconds": "retryDelaySeconds",
    "resolution": "resolution",
    "image_conversion_method": "imageConversionMethod",
    "service_id": "serviceId",
    "in_progress_notifications": "inProgressNotifications",
}


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().upper()
    if text not in allowed:
        raise FaxSelectionError(f"{name}={value!r} is not one of {', '.join(allowed)}.")
    return text


def validate_direction(direction: Any) -> str:
    """``INBOUND`` or ``OUTBOUND`` (any case), upper-cased; else :class:`FaxSelectionError`."""
    return _choice(direction, "direction", FAX_DIRECTIONS)


def validate_status(status: Any) -> str:
    """One of ``FAX_STATUSES`` (any case), upper-cased; else :class:`FaxSelectionError`."""
    return _choice(status, "status", FAX_STATUSES)


def validate_resolution(resolution: Any) -> str:
    """``FINE`` or ``SUPERFINE`` (any case), upper-cased; else :class:`FaxSelectionError`."""
    return _choice(resolution, "resolution", FAX_RESOLUTIONS)


def validate_number(number: Any, field: str = "to") -> str:
    """An E.164 number, or :class:`FaxSelectionError` naming ``field``."""
    try:
        return validate_e164(number, field=field)
    except ValueError as exc:
        raise FaxSelectionError(str(exc)) from None


def validate_fax_id(fax_id: Any) -> str:
    """Return ``fax_id`` if it looks like a Sinch fax ID, else raise :class:`FaxSelectionError`."""
    if not isinstance(fax_id, str) or not FAX_ID.fullmatch(fax_id):
        raise FaxSelectionError(
            f"fax_id={fax_id!r} is not a Sinch fax ID (letters, digits, '-' or '_', e.g. '01HDF5S9P29WC29J578J8EKC1C')."
        )
    return fax_id


_CROCKFORD = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}


def fax_id_time(fax_id: str) -> datetime | None:
    """When a fax was created, read from its ID if the ID is a ULID (Sinch's are); None if it is not one.

    A hint only: a search by it is checked against the answer, and an ID it misses is looked up by itself.
    """
    if len(fax_id) != 26 or any(char not in _CROCKFORD for char in fax_id[:10].upper()):
        return None
    ms = 0
    for char in fax_id[:10].upper():
        ms = ms * 32 + _CROCKFORD[char]
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    now = datetime.now(tz=UTC)
    return moment if now - RETENTION <= moment <= now + timedelta(days=1) else None


def fax_id_of(value: Any) -> str:
    """The validated fax ID of an ID string or of a fax dict (an item of ``ListFaxesOperator``'s output)."""
    if isinstance(value, dict):
        value = value.get("id")
    elif isinstance(value, str):
        value = value.strip()
    return validate_fax_id(value)


def validate_content_url(url: Any, *, field: str = "content_urls") -> str:
    """Return ``url`` if it is an ``http(s)://`` URL with a host (what Sinch can fetch), else raise."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip():
        raise FaxSelectionError(
            f"{field}={url!r} is not an http(s) URL; give the https:// address Sinch downloads the document "
            "from, e.g. 'https://example.com/report.pdf' (a local file goes in files)."
        )
    return url


def validate_file_name(name: Any, *, field: str = "filename") -> str:
    """Return ``name`` if it is a plain file name (no folder, not ``.``/``..``), else raise."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    ):
        raise FaxSelectionError(
            f"{field}={name!r} is not a plain file name: no '/', '\\', '..' or control characters; the folder "
            "goes in destination, e.g. filename='{fax_id}.pdf'."
        )
    return name


def check_fax_selection(
    *,
    direction: Any = None,
    status: Any = None,
    limit: Any = None,
    created_after: Any = None,
    created_before: Any = None,
    fields: Any = None,
) -> dict[str, Any]:
    """Validate and normalise fax selection arguments; raise :class:`FaxSelectionError` naming the field.

    Used at DAG parse time for literal values and at run time after templates are rendered, so both give
    the same message. Values that are still templates are returned unchanged.
    """
    out: dict[str, Any] = {
        "direction": direction if is_template(direction) or direction in (None, "") else validate_direction(direction),
        "status": status if is_template(status) or status in (None, "") else validate_status(status),
    }
    out["direction"] = out["direction"] or None
    out["status"] = out["status"] or None
    if limit is not None and limit != "" and not is_template(limit):
        try:
            number = int(str(limit).strip()) if isinstance(limit, str) else limit
        except ValueError:
            raise FaxSelectionError(f"limit={limit!r} is not a whole number; use e.g. 10, or None for all.") from None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise FaxSelectionError(f"limit={limit!r} must be a whole number >= 1, or None for every match.")
        limit = number
    out["limit"] = None if limit in (None, "", "None") else limit
    window: dict[str, Any] = {}
    for name, value in (("created_after", created_after), ("created_before", created_before)):
        if value in (None, "", "None"):
            window[name] = None
        elif is_template(value):
            window[name] = value
        else:
            try:
                window[name] = to_utc(value, name=name)
            except (ValueError, TypeError) as exc:
                raise FaxSelectionError(str(exc)) from None
    after, before = window["created_after"], window["created_before"]
    if isinstance(after, datetime) and isinstance(before, datetime) and after >= before:
        raise FaxSelectionError(
            f"created_after ({format_create_time(after)}) must be earlier than created_before "
            f"({format_create_time(before)}): the window [created_after, created_before) is empty."
        )
    out.update(window)
    if fields is not None and not is_template(fields):
        if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
            raise FaxSelectionError(f"fields={fields!r} must be a list of Sinch fax field names, e.g. ['id', 'from'].")
        fields = list(fields)
    out["fields"] = fields
    return out


def project_fields(faxes: list[dict[str, Any]], fields: list[str] | None) -> list[dict[str, Any]]:
    """Keep only ``fields`` (and ``id``) of each fax; all fields when ``fields`` is None."""
    if not fields:
        return faxes
    keep = ["id", *(f for f in fields if f != "id")]
    return [{name: fax[name] for name in keep if name in fax} for fax in faxes]


def sort_newest_first(faxes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort faxes by ``createTime`` then ``id``, newest first (faxes without a createTime last)."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(faxes, key=lambda f: (fax_create_time(f) or epoch, str(f.get("id", ""))), reverse=True)
