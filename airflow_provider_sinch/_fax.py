"""Fax API vocabulary and validation, without ``requests``.

Operators and sensors validate their arguments at DAG parse time; importing these from here rather
than from the hook keeps ``requests`` and the triggers out of the DAG processor's import time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_sinch._time import UTC, fax_create_time

if TYPE_CHECKING:
    from collections.abc import Iterable

DEFAULT_CONN_ID = "sinch_default"
FAX_DIRECTIONS = ("INBOUND", "OUTBOUND")
FAX_STATUSES = ("QUEUED", "IN_PROGRESS", "COMPLETED", "FAILURE")
TERMINAL_FAX_STATUSES = frozenset({"COMPLETED", "FAILURE"})
MAX_PAGE_SIZE = 1000
# Matched with fullmatch: "$" would also match before a trailing newline.
E164 = re.compile(r"\+[1-9]\d{1,14}")
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


def validate_e164(number: Any, *, field: str = "to") -> str:
    """Return ``number`` if it is an E.164 phone number (``+`` and 2 to 15 digits), else raise ValueError."""
    if not isinstance(number, str) or not E164.fullmatch(number):
        raise ValueError(
            f"{field}={number!r} is not an E.164 phone number: use '+', the country code and the number, "
            "digits only, e.g. '+14155552671'."
        )
    return number


def validate_fax_id(fax_id: Any) -> str:
    """Return ``fax_id`` if it looks like a Sinch fax ID, else raise ValueError."""
    if not isinstance(fax_id, str) or not FAX_ID.fullmatch(fax_id):
        raise ValueError(
            f"fax_id={fax_id!r} is not a Sinch fax ID (letters, digits, '-' or '_', e.g. '01HDF5S9P29WC29J578J8EKC1C')."
        )
    return fax_id


def validate_content_url(url: Any, *, field: str = "content_urls") -> str:
    """Return ``url`` if it is an ``http(s)://`` URL with a host (what Sinch can fetch), else raise ValueError."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip():
        raise ValueError(
            f"{field}={url!r} is not an http(s) URL; give the https:// address Sinch downloads the document "
            "from, e.g. 'https://example.com/report.pdf' (a local file goes in files)."
        )
    return url


def validate_file_name(name: Any, *, field: str = "filename") -> str:
    """Return ``name`` if it is a plain file name (no folder, not ``.``/``..``), else raise ValueError."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    ):
        raise ValueError(
            f"{field}={name!r} is not a plain file name: no '/', '\\', '..' or control characters; the folder "
            "goes in destination, e.g. filename='{fax_id}.pdf'."
        )
    return name


def sort_newest_first(faxes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort faxes by ``createTime`` then ``id``, newest first (faxes without a createTime last)."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(faxes, key=lambda f: (fax_create_time(f) or epoch, str(f.get("id", ""))), reverse=True)
