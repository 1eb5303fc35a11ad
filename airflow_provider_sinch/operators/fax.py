"""Operators for Sinch's Fax API."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_sinch._compat import BaseOperator
from airflow_provider_sinch._time import UTC, format_create_time, to_utc
from airflow_provider_sinch.exceptions import SinchError
from airflow_provider_sinch.hooks.sinch import (
    FAX_DIRECTIONS,
    FAX_STATUSES,
    RETENTION,
    TERMINAL_FAX_STATUSES,
    SinchHook,
    sort_newest_first,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_sinch._compat import Context


class _Default:
    """Marks an argument the caller did not pass (its default depends on other arguments)."""

    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Any = _Default()


def _is_template(value: Any) -> bool:
    """Whether a value is only known at run time (a Jinja string or an XComArg)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return value is not None and not isinstance(value, (int, float, datetime, list, tuple))


class FaxSelectionError(SinchError, ValueError):
    """An argument of a fax operator is invalid (unknown direction or status, bad limit or window)."""


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
    out: dict[str, Any] = {}
    if direction is not None and not _is_template(direction):
        if str(direction).upper() not in FAX_DIRECTIONS:
            raise FaxSelectionError(f"direction={direction!r} is not one of {', '.join(FAX_DIRECTIONS)}.")
        direction = str(direction).upper()
    out["direction"] = direction or None
    if status is not None and not _is_template(status):
        if str(status).upper() not in FAX_STATUSES:
            raise FaxSelectionError(f"status={status!r} is not one of {', '.join(FAX_STATUSES)}.")
        status = str(status).upper()
    out["status"] = status or None
    if limit is not None and limit != "" and not _is_template(limit):
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
        elif _is_template(value):
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
    if fields is not None and not _is_template(fields):
        if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
            raise FaxSelectionError(f"fields={fields!r} must be a list of Sinch fax field names, e.g. ['id', 'from'].")
        fields = list(fields)
    out["fields"] = fields
    return out


class ListFaxesOperator(BaseOperator):
    """List faxes into XCom: by default the 10 newest, whatever the API's order and however old.

    Returns a JSON-serialisable list of fax dicts (Sinch's field names), newest first (``createTime``
    then ``id``). Never file content.

    Modes:

    - **latest** (default): the ``limit`` newest faxes matching the filters, searched backwards from
      ``created_before`` (default now) to ``created_after`` (default the 13-month retention). Sinch's own
      list returns only the prior week without a time filter; this finds older faxes too, with a number of
      requests that grows with how far back it must look, not with how many faxes the account holds.
    - **window**: ``limit=None`` returns every match in ``[created_after, created_before)``.
    - **incremental** (``incremental=True``): for scheduled polling. Every fax created in the run's data
      interval, shifted back by ``settle_lag`` (``[start - lag, end - lag)``, half-open, so consecutive runs
      tile time with no gap and no overlap and a fax exactly on a boundary goes to one run). If a fax of
      the window is still QUEUED or IN_PROGRESS, the operator polls again every ``settle_poll_interval``
      seconds until all are final, and fails after ``settle_timeout`` without returning anything, so a task
      retry delivers the window complete. Each fax is delivered to downstream tasks exactly once across
      runs, catch-up and backfills included. ``status`` is applied after the wait, so a fax that ends
      COMPLETED is not lost by being IN_PROGRESS when first seen.

    :param sinch_conn_id: the ``sinch`` connection.
    :param direction: ``INBOUND`` or ``OUTBOUND`` (templated).
    :param status: ``QUEUED``, ``IN_PROGRESS``, ``COMPLETED`` or ``FAILURE`` (templated).
    :param from_number: prefix of the sender's number (templated).
    :param to_number: prefix of the recipient's number (templated).
    :param service_id: only faxes of this fax service (templated).
    :param created_after: window start, inclusive; datetime or ISO string, UTC (templated).
    :param created_before: window end, exclusive; datetime or ISO string, UTC (templated).
    :param limit: how many of the newest faxes (templated); ``None`` for every match. Default 10, and
        ``None`` in incremental mode.
    :param fields: keep only these fax fields (``id`` is always kept) so the XCom stays small (templated).
    :param incremental: poll the run's data interval exactly once (see above).
    :param settle_lag: how far the incremental window trails the data interval.
    :param settle_timeout: how long to wait for faxes of the window to reach a final status.
    :param settle_poll_interval: seconds between polls while waiting.
    """

    template_fields: Sequence[str] = (
        "direction",
        "status",
        "from_number",
        "to_number",
        "service_id",
        "created_after",
        "created_before",
        "limit",
        "fields",
    )
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        sinch_conn_id: str = SinchHook.default_conn_name,
        direction: str | None = None,
        status: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | str | None = _DEFAULT,
        fields: list[str] | None = None,
        incremental: bool = False,
        settle_lag: timedelta = timedelta(minutes=10),
        settle_timeout: timedelta = timedelta(minutes=30),
        settle_poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if incremental:
            if limit is not _DEFAULT and limit is not None:
                raise FaxSelectionError(
                    f"limit={limit!r} cannot be used with incremental=True: every fax of the window is delivered."
                )
            if created_after is not None or created_before is not None:
                raise FaxSelectionError(
                    "created_after/created_before cannot be used with incremental=True: the window is the "
                    "run's data interval shifted back by settle_lag."
                )
            limit = None
        elif limit is _DEFAULT:
            limit = 10
        if settle_lag < timedelta(0):
            raise FaxSelectionError(f"settle_lag={settle_lag!r} must not be negative.")
        self.sinch_conn_id = sinch_conn_id
        self.direction = direction
        self.status = status
        self.from_number = from_number
        self.to_number = to_number
        self.service_id = service_id
        self.created_after = created_after
        self.created_before = created_before
        self.limit = limit
        self.fields = fields
        self.incremental = incremental
        self.settle_lag = settle_lag
        self.settle_timeout = settle_timeout
        self.settle_poll_interval = settle_poll_interval
        check_fax_selection(**self._selection())

    def _selection(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "status": self.status,
            "limit": self.limit,
            "created_after": self.created_after,
            "created_before": self.created_before,
            "fields": self.fields,
        }

    @cached_property
    def hook(self) -> SinchHook:
        """The Sinch hook (built on first use, never at DAG parse time)."""
        return SinchHook(sinch_conn_id=self.sinch_conn_id)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        selection = check_fax_selection(**self._selection())
        filters = {
            "direction": selection["direction"],
            "from_number": self.from_number or None,
            "to_number": self.to_number or None,
            "service_id": self.service_id or None,
        }
        if self.incremental:
            faxes = self._poll_interval(context, filters, selection["status"])
        else:
            faxes = self._select(filters, selection)
        faxes = sort_newest_first(faxes)
        self.log.info("Returning %d faxes (%d Sinch API requests)", len(faxes), self.hook.request_count)
        return project_fields(faxes, selection["fields"])

    def _select(self, filters: dict[str, Any], selection: dict[str, Any]) -> list[dict[str, Any]]:
        after, before, limit = selection["created_after"], selection["created_before"], selection["limit"]
        filters = {**filters, "status": selection["status"]}
        if limit is not None:
            self.log.info("Searching the %d newest faxes created before %s", limit, _fmt(before) or "now")
            return self.hook.latest_faxes(limit, created_after=after, created_before=before, **filters)
        after = after or (before or datetime.now(tz=UTC)) - RETENTION
        self.log.info("Listing every fax created in [%s, %s)", _fmt(after), _fmt(before) or "now")
        return list(self.hook.list_faxes(created_after=after, created_before=before, **filters))

    def _poll_interval(self, context: Context, filters: dict[str, Any], status: str | None) -> list[dict[str, Any]]:
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            raise FaxSelectionError(
                "incremental=True needs the run's data interval; this run has none (a manual run without a "
                "logical date). Give the DAG a schedule, or trigger it with a logical date."
            )
        window_start, window_end = to_utc(start) - self.settle_lag, to_utc(end) - self.settle_lag
        if window_start >= window_end:
            # Manual runs on Airflow 3 have a zero-length data interval: they cover no time of their own.
            self.log.info("The data interval is empty (a manual run?): no faxes to deliver")
            return []
        now = datetime.now(tz=UTC)
        if window_end > now:
            raise FaxSelectionError(
                f"The window [{_fmt(window_start)}, {_fmt(window_end)}) ends in the future; faxes could still "
                "arrive in it after this run. Run it after the data interval ends (scheduled runs do)."
            )
        self.log.info("Polling faxes created in [%s, %s)", _fmt(window_start), _fmt(window_end))
        deadline = time.monotonic() + self.settle_timeout.total_seconds()
        while True:
            faxes = list(self.hook.list_faxes(created_after=window_start, created_before=window_end, **filters))
            pending = [fax for fax in faxes if fax.get("status") not in TERMINAL_FAX_STATUSES]
            if not pending:
                break
            if time.monotonic() >= deadline:
                raise SinchError(
                    f"{len(pending)} of {len(faxes)} faxes created in [{_fmt(window_start)}, {_fmt(window_end)}) "
                    f"are still QUEUED or IN_PROGRESS after settle_timeout={self.settle_timeout}; nothing was "
                    "delivered. A retry of this task delivers the window once they are final."
                )
            self.log.info(
                "%d of %d faxes still in progress; polling again in %.0f s",
                len(pending),
                len(faxes),
                self.settle_poll_interval,
            )
            time.sleep(self.settle_poll_interval)
        if status is not None:
            faxes = [fax for fax in faxes if fax.get("status") == status]
        return faxes


def project_fields(faxes: list[dict[str, Any]], fields: list[str] | None) -> list[dict[str, Any]]:
    """Keep only ``fields`` (and ``id``) of each fax; all fields when ``fields`` is None."""
    if not fields:
        return faxes
    keep = ["id", *(f for f in fields if f != "id")]
    return [{name: fax[name] for name in keep if name in fax} for fax in faxes]


def _fmt(value: datetime | None) -> str | None:
    return format_create_time(value) if value is not None else None
