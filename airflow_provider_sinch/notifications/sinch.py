"""``SinchNotifier``: an Airflow notifier that sends a text message (SMS by default) through Sinch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sinch._compat import BaseNotifier
from airflow_provider_sinch._validation import DEFAULT_CONN_ID, is_template
from airflow_provider_sinch.clients.conversation import check_channels, check_text, recipients_of
from airflow_provider_sinch.hooks.base import SinchHookMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_sinch._compat import Context


class SinchNotifier(SinchHookMixin, BaseNotifier):
    """Send a text message through a Sinch Conversation API app when Airflow calls back.

    For ``on_failure_callback``, ``on_success_callback``, ``sla_miss_callback`` and deadline alerts::

        on_failure_callback=send_sinch_notification(
            text="{{ ti.dag_id }}.{{ ti.task_id }} failed on try {{ ti.try_number }}: {{ exception }}",
            to=["+14155552671"],
        )

    The fields are templates rendered with the callback's context. Every recipient gets its own message.

    :param text: the message, at most 1,024 characters (templated).
    :param to: an E.164 number or Conversation contact ID, or a list of them (templated).
    :param app_id: the Conversation app; default the connection's ``conversation_app_id`` (templated).
    :param channels: the channel priority list; default SMS (templated).
    :param region: ``us``, ``eu`` or ``br``; default the connection's ``conversation_region`` (templated).
    :param sinch_conn_id: the ``sinch`` connection.
    """

    template_fields = ("text", "to", "app_id", "channels", "region")

    def __init__(
        self,
        *,
        text: str,
        to: str | list[str],
        app_id: str | None = None,
        channels: str | Sequence[str] = ("SMS",),
        region: str | None = None,
        sinch_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__()
        self.text = text
        self.to = to
        self.app_id = app_id
        self.channels = channels
        self.region = region
        self.sinch_conn_id = sinch_conn_id
        if not is_template(channels):
            check_channels(channels)
        recipients_of(to)

    def _messages(self) -> list[dict[str, Any]]:
        """The keyword arguments of each message: one per recipient."""
        return [
            {
                "text": check_text(self.text),
                "to": recipient,
                "app_id": self.app_id or None,
                "channels": check_channels(self.channels),
                "region": self.region or None,
            }
            for recipient in recipients_of(self.to) or []
        ]

    def notify(self, context: Context) -> None:
        """Send the rendered message to every recipient."""
        for message in self._messages():
            sent = self.hook.conversation.send_text(message.pop("text"), **message)
            self.log.info("Sent Sinch message %s", sent["message_id"])

    async def async_notify(self, context: Context) -> None:
        """The same from the triggerer (deadline alerts), on the async transport: no thread."""
        from airflow_provider_sinch.hooks.sinch_async import SinchAsyncHook

        hook = SinchAsyncHook(self.sinch_conn_id)
        try:
            for message in self._messages():
                sent = await hook.conversation.asend_text(message.pop("text"), **message)
                self.log.info("Sent Sinch message %s", sent["message_id"])
        finally:
            await hook.aclose()


#: The notifier under the name Airflow's notifiers use in DAG files (``send_slack_notification``, ...).
send_sinch_notification = SinchNotifier

__all__ = ["SinchNotifier", "send_sinch_notification"]
