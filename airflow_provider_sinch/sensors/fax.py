"""Sensors for Sinch's Fax API."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf

from airflow_provider_sinch._compat import BaseSensorOperator, PokeReturnValue
from airflow_provider_sinch._validation import DEFAULT_CONN_ID, is_template
from airflow_provider_sinch.clients.fax.vocabulary import (
    DEFAULT_MATCH_LIMIT,
    FaxSelectionError,
    check_fax_selection,
    fax_id_of,
    project_fields,
    sort_newest_first,
)
from airflow_provider_sinch.exceptions import SinchError
from airflow_provider_sinch.hooks.base import SinchHookMixin

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from airflow_provider_sinch._compat import Context


class FaxSensor(SinchHookMixin, BaseSensorOperator):
    """Wait until a fax matching filters exists, or until a given fax reaches a final status.

    Two ways to use it:

    - **filters** (``direction``, ``status``, ``from_number``/``to_number`` prefixes, ``service_id``,
      ``created_after``): done as soon as at least one fax matches. Returns the matching faxes, newest
      first, at most ``limit`` of them. Use ``created_after="{{ data_interval_start }}"`` to wait for a
      fax that arrives during the run's interval.
    - **fax_id**: done when that fax is COMPLETED or FAILURE (a FAILURE does not fail the sensor;
      check ``status`` downstream, or use ``SendFaxOperator(wait_for_completion=True)``). Returns
      ``[fax]``. ``fax_id`` may be a fax dict from ``ListFaxesOperator``.

    The faxes land in XCom (``PokeReturnValue``). Works in ``poke`` and ``reschedule`` mode, and with
    ``deferrable=True`` (default from ``[operators] default_deferrable``) hands the wait to
    :class:`~airflow_provider_sinch.triggers.fax.FaxTrigger`, which calls the same matching function
    (:func:`~airflow_provider_sinch.clients.fax.core.find_matching_faxes`) as ``poke``.

    :param sinch_conn_id: the ``sinch`` connection.
    :param fax_id: wait for this fax to reach a final status (templated).
    :param direction: ``INBOUND`` or ``OUTBOUND`` (templated).
    :param status: ``QUEUED``, ``IN_PROGRESS``, ``COMPLETED`` or ``FAILURE`` (templated).
    :param from_number: prefix of the sender's number (templated).
    :param to_number: prefix of the recipient's number (templated).
    :param service_id: only faxes of this fax service (templated).
    :param created_after: only faxes created at or after this point; datetime or ISO string, UTC
        (templated). Without it, the whole 13-month retention is searched, newest first.
    :param limit: at most this many of the newest matching faxes are returned (templated).
    :param fields: keep only these fax fields in XCom (``id`` always kept) (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = (
        "fax_id",
        "direction",
        "status",
        "from_number",
        "to_number",
        "service_id",
        "created_after",
        "limit",
        "fields",
    )
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        sinch_conn_id: str = DEFAULT_CONN_ID,
        fax_id: str | dict[str, Any] | None = None,
        direction: str | None = None,
        status: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        created_after: datetime | str | None = None,
        limit: int | str = DEFAULT_MATCH_LIMIT,
        fields: list[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sinch_conn_id = sinch_conn_id
        self.fax_id = fax_id
        self.direction = direction
        self.status = status
        self.from_number = from_number
        self.to_number = to_number
        self.service_id = service_id
        self.created_after = created_after
        self.limit = limit
        self.fields = fields
        self.deferrable = deferrable
        self._criteria()  # literal arguments fail at DAG parse time, with the run-time message

    def _criteria(self) -> dict[str, Any]:
        """The arguments of ``find_matching_faxes``, validated (templates left alone until rendered)."""
        if self.fax_id is not None and self.fax_id != "":
            filters = (self.direction, self.status, self.from_number, self.to_number, self.service_id)
            if any(value not in (None, "") for value in (*filters, self.created_after)):
                raise FaxSelectionError(
                    "fax_id cannot be combined with direction, status, from_number, to_number, service_id or "
                    "created_after: give either a fax ID to wait for or filters to match."
                )
            check_fax_selection(fields=self.fields)
            return {"fax_ids": [self.fax_id if is_template(self.fax_id) else fax_id_of(self.fax_id)]}
        selection = check_fax_selection(
            direction=self.direction,
            status=self.status,
            limit=self.limit,
            created_after=self.created_after,
            fields=self.fields,
        )
        if selection["limit"] is None:
            raise FaxSelectionError(f"limit={self.limit!r} must be a whole number >= 1.")
        return {
            "direction": selection["direction"],
            "status": selection["status"],
            "from_number": self.from_number or None,
            "to_number": self.to_number or None,
            "service_id": self.service_id or None,
            "created_after": selection["created_after"],
            "limit": selection["limit"],
        }

    def poke(self, context: Context) -> PokeReturnValue:
        faxes = self.hook.fax.find_matching_faxes(**self._criteria())
        if not faxes:
            self.log.info("No matching fax yet")
            return PokeReturnValue(is_done=False)
        self.log.info("%d matching faxes", len(faxes))
        return PokeReturnValue(is_done=True, xcom_value=project_fields(faxes, self._fields()))

    def _fields(self) -> list[str] | None:
        return check_fax_selection(fields=self.fields)["fields"]

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # no trip through the triggerer when the fax is already there
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=_fax_trigger(
                criteria=self._criteria(),
                sinch_conn_id=self.sinch_conn_id,
                poll_interval=float(self.poke_interval),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after :class:`FaxTrigger` fired: read the matches again with the same function as ``poke``."""
        if not event or event.get("status") != "success":
            message = (event or {}).get("message") or "the trigger ended without an event"
            raise SinchError(f"Waiting for faxes failed: {message}")
        faxes = self.hook.fax.find_matching_faxes(**self._criteria())
        found = {str(fax.get("id")) for fax in faxes}
        # A fax of the event that no longer matches (its status moved on) is still part of the answer.
        faxes += [self.hook.fax.get_fax(fax_id) for fax_id in event.get("fax_ids", []) if fax_id not in found]
        if "fax_ids" not in self._criteria():
            faxes = sort_newest_first(faxes)
        self.log.info("%d matching faxes", len(faxes))
        return project_fields(faxes, self._fields())


def _fax_trigger(**kwargs: Any) -> Any:
    """A FaxTrigger, imported on first use (airflow.triggers stays out of DAG parsing)."""
    from airflow_provider_sinch.triggers.fax import FaxTrigger

    return FaxTrigger(**kwargs)
