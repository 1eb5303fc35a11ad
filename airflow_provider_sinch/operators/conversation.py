"""Operators for Sinch's Conversation API: text messages over SMS, WhatsApp, RCS, ... through one app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sinch._compat import BaseOperator
from airflow_provider_sinch._validation import DEFAULT_CONN_ID, is_template
from airflow_provider_sinch.clients.conversation import check_channels, check_text, recipients_of
from airflow_provider_sinch.exceptions import SinchArgumentError
from airflow_provider_sinch.hooks.base import SinchHookMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_sinch._compat import Context


class SendMessageOperator(SinchHookMixin, BaseOperator):
    """Send a text message to one or more recipients through a Conversation API app; return the message IDs.

    Each recipient gets its own message: an E.164 number is reached on ``channels`` in order (SMS by
    default), a Conversation contact ID on the contact's channels in that order. The message IDs, one per
    recipient in the order given, land in XCom. Maps over recipients:
    ``SendMessageOperator.partial(text=...).expand(to=["+1...", "+46..."])``.

    The requests are Sinch's Python SDK's, on the hook's transport. A POST is never repeated on a timeout
    or a 5xx (Sinch may have accepted the message); an Airflow task retry sends to every recipient again,
    so use ``retries=0`` where a duplicate message matters more than a missed one.

    :param text: the message text, at most 1,024 characters (templated).
    :param to: an E.164 number or contact ID, or a list of them (templated).
    :param app_id: the Conversation app; default the connection's ``conversation_app_id`` (templated).
    :param channels: the channel priority list, e.g. ``["WHATSAPP", "SMS"]``; default SMS (templated).
    :param region: ``us``, ``eu`` or ``br``; default the connection's ``conversation_region`` (templated).
    :param options: more arguments of the SDK's ``messages.send``: ``ttl``, ``correlation_id``,
        ``message_metadata``, ``callback_url``, ``queue``, ... (templated).
    :param sinch_conn_id: the ``sinch`` connection.
    """

    template_fields: Sequence[str] = ("text", "to", "app_id", "channels", "region", "options")
    template_fields_renderers = {"options": "json"}
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        text: str,
        to: str | list[str],
        app_id: str | None = None,
        channels: str | Sequence[str] = ("SMS",),
        region: str | None = None,
        options: dict[str, Any] | None = None,
        sinch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.to = to
        self.app_id = app_id
        self.channels = channels
        self.region = region
        self.options = options
        self.sinch_conn_id = sinch_conn_id
        self._check()

    def _check(self) -> list[str] | None:
        """Check what is known (at parse time the literals, at run time everything); the recipients once known."""
        if not is_template(self.text):
            check_text(self.text)
        if not is_template(self.channels):
            check_channels(self.channels)
        if self.options is not None and not is_template(self.options) and not isinstance(self.options, dict):
            raise SinchArgumentError(f"options is a {type(self.options).__name__}, not a dict of send arguments.")
        return recipients_of(self.to)

    def execute(self, context: Context) -> list[str]:
        recipients = self._check()
        if recipients is None:
            raise SinchArgumentError(f"to={self.to!r} did not render to phone numbers or contact IDs.")
        conversation = self.hook.conversation
        message_ids = []
        for recipient in recipients:
            sent = conversation.send_text(
                self.text,
                to=recipient,
                app_id=self.app_id or None,
                channels=check_channels(self.channels),
                region=self.region or None,
                **(self.options or {}),
            )
            message_ids.append(sent["message_id"])
        self.log.info("Sent %d messages: %s", len(message_ids), ", ".join(message_ids))
        return message_ids
