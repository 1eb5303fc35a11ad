"""Sinch's Conversation API (SMS, WhatsApp, RCS, ... through one app): ``SinchHook().conversation``.

The requests are Sinch's Python SDK's (``sinch.conversation.messages``), run on the hook's transport
(:meth:`SinchHook.get_sdk_client <airflow_provider_sinch.hooks.sinch.SinchHook.get_sdk_client>`). The
checks at the top need no I/O and no SDK, so operators run them at DAG-parse time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_provider_sinch._validation import is_template, validate_e164
from airflow_provider_sinch.clients import SinchAPIClient
from airflow_provider_sinch.exceptions import SinchArgumentError, SinchConnectionConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_sinch.hooks.sinch import SinchHook

#: Channels of Sinch's ``ConversationChannel`` (Conversation API document).
CHANNELS = (
    "SMS", "RCS", "WHATSAPP", "MMS", "KAKAOTALK", "KAKAOTALKCHAT", "VIBERBM", "LINE", "INSTAGRAM", "MESSENGER",
    "WECHAT", "TELEGRAM", "APPLEBC",
)  # fmt: skip
#: A Conversation contact ID (a ULID-like token); anything starting with "+" must be an E.164 number instead.
CONTACT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
#: Sinch's limit for a text message body (the document's ``TextMessage.text``).
MAX_TEXT = 1024


def recipient_of(value: Any, field: str = "to") -> dict[str, str]:
    """``{"phone": "+1..."}`` for an E.164 number or ``{"contact_id": "..."}`` for a contact ID; else raise."""
    if isinstance(value, str) and value.startswith("+"):
        try:
            return {"phone": validate_e164(value, field=field)}
        except ValueError as exc:
            raise SinchArgumentError(str(exc)) from None
    if isinstance(value, str) and CONTACT_ID.fullmatch(value):
        return {"contact_id": value}
    raise SinchArgumentError(
        f"{field}={value!r} is neither an E.164 phone number ('+14155552671') nor a Conversation contact ID "
        "(letters, digits, '-' or '_')."
    )


def recipients_of(to: Any) -> list[str] | None:
    """The recipients of ``to`` (one or a list), each checked; None while ``to`` is still a template."""
    if is_template(to):
        return None
    items = [to] if isinstance(to, str) else to
    if not isinstance(items, (list, tuple)) or not items:
        raise SinchArgumentError(f"to={to!r}: give an E.164 number, a contact ID, or a list of them.")
    if any(is_template(item) for item in items):
        return None
    for item in items:
        recipient_of(item)
    return list(items)


def check_channels(channels: Any) -> list[str]:
    """The channel priority list, upper-cased and checked against Sinch's channels; at least one."""
    items = [channels] if isinstance(channels, str) else list(channels or [])
    out = [str(channel).strip().upper() for channel in items]
    unknown = [channel for channel in out if channel not in CHANNELS]
    if not out or unknown:
        raise SinchArgumentError(
            f"channels={channels!r}: {'no channel given' if not out else f'unknown {unknown}'}; use channels of "
            f"Sinch's Conversation API, e.g. ['SMS'] or ['WHATSAPP', 'SMS'] ({', '.join(CHANNELS)})."
        )
    return list(dict.fromkeys(out))


def check_text(text: Any, field: str = "text") -> str:
    """A non-empty message text within Sinch's limit."""
    if not isinstance(text, str) or not text.strip():
        raise SinchArgumentError(f"{field} is empty: a message needs text.")
    if len(text) > MAX_TEXT:
        raise SinchArgumentError(f"{field} has {len(text)} characters; Sinch takes at most {MAX_TEXT}.")
    return text


def _sent(response: Any, to: str) -> dict[str, Any]:
    accepted: Any = getattr(response, "accepted_time", None)
    if accepted is not None and hasattr(accepted, "isoformat"):
        accepted = accepted.isoformat()
    return {"message_id": response.message_id, "accepted_time": accepted, "to": to}


class ConversationClient(SinchAPIClient):
    """Messages through a Conversation API app, with Sinch's Python SDK on the hook's transport.

    ``https://{region}.conversation.api.sinch.com/v1/projects/{project_id}/``: the region is the
    connection's ``conversation_region`` (us, eu or br) unless a call names another; the app, its
    ``conversation_app_id`` unless a call names another.
    """

    hook: SinchHook

    title = "Conversation API"
    base_path = "/v1/projects/{project_id}/"

    def api_host(self) -> str:
        return f"https://{self.region()}.conversation.api.sinch.com"

    def region(self, region: str | None = None) -> str:
        """``region`` or the connection's ``conversation_region``, checked."""
        return self.hook.settings.choice("conversation_region", region)

    def app_id(self, app_id: str | None = None) -> str:
        """``app_id`` or the connection's ``conversation_app_id``; a clear error when there is neither."""
        chosen = app_id or self.hook.settings.extra("conversation_app_id")
        if not chosen:
            raise SinchConnectionConfigError(
                f"No Conversation app: pass app_id, or set the extra 'conversation_app_id' of connection "
                f"{self.hook.sinch_conn_id!r} (Sinch dashboard > Conversation API > Apps)."
            )
        return str(chosen)

    def sdk(self, region: str | None = None) -> Any:
        """The SDK's Conversation API for ``region``, on the hook's transport."""
        return self.hook.get_sdk_client(conversation_region=self.region(region)).conversation

    def send_text(
        self,
        text: str,
        *,
        to: str,
        app_id: str | None = None,
        channels: Sequence[str] = ("SMS",),
        region: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Send one text message to one recipient; return ``{"message_id", "accepted_time", "to"}``.

        :param text: the message (at most 1,024 characters).
        :param to: an E.164 number, reached on ``channels`` in order, or a Conversation contact ID.
        :param app_id: the Conversation app; default the connection's ``conversation_app_id``.
        :param channels: the channel priority list; default SMS.
        :param region: ``us``, ``eu`` or ``br``; default the connection's ``conversation_region``.
        :param options: more arguments of the SDK's ``messages.send`` (``ttl``, ``correlation_id``,
            ``message_metadata``, ``callback_url``, ``queue``, ...).
        """
        response = self.sdk(region).messages.send(**self._send_kwargs(text, to, app_id, channels, options))
        return _sent(response, to)

    async def asend_text(
        self,
        text: str,
        *,
        to: str,
        app_id: str | None = None,
        channels: Sequence[str] = ("SMS",),
        region: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """:meth:`send_text` on the async transport (``SinchAsyncHook().conversation``): no thread."""
        from airflow_provider_sinch.hooks._sdk import call_sdk_async

        await self.hook.connect()  # type: ignore[attr-defined]
        kwargs = self._send_kwargs(text, to, app_id, channels, options)
        response = await call_sdk_async(
            self.hook,  # type: ignore[arg-type]
            lambda sdk: sdk.conversation.messages.send(**kwargs),
            conversation_region=self.region(region),
        )
        return _sent(response, to)

    def _send_kwargs(
        self, text: str, to: str, app_id: str | None, channels: Sequence[str], options: dict[str, Any]
    ) -> dict[str, Any]:
        """The arguments of the SDK's ``messages.send`` for a text to one recipient, checked."""
        recipient = recipient_of(to)
        order = check_channels(channels)
        kwargs: dict[str, Any] = {"channel_priority_order": order, **options}
        if "phone" in recipient:
            kwargs["recipient_identities"] = [{"channel": channel, "identity": recipient["phone"]} for channel in order]
        else:
            kwargs["contact_id"] = recipient["contact_id"]
        if "callback_url" in kwargs:
            kwargs["event_destination_target"] = kwargs.pop("callback_url")
        kwargs.update(app_id=self.app_id(app_id), message={"text_message": {"text": check_text(text)}})
        return kwargs

    def get_message(self, message_id: str, *, region: str | None = None) -> dict[str, Any]:
        """One message by its ID, as Sinch's SDK models it (a JSON-ready dict)."""
        if not isinstance(message_id, str) or not CONTACT_ID.fullmatch(message_id):
            raise SinchArgumentError(f"message_id={message_id!r} is not a Conversation message ID.")
        message = self.sdk(region).messages.get(message_id=message_id)
        dumped: dict[str, Any] = message.model_dump(mode="json", exclude_none=True)
        return dumped

    def probe(self) -> str | None:
        """Read the connection's Conversation app, when it names one: a read-only check of key, project and app."""
        app_id = self.hook.settings.extra("conversation_app_id")
        if not app_id:
            return None
        app = self.sdk().apps.get(app_id=str(app_id))
        return f"ok (app {getattr(app, 'display_name', None) or app_id} in region {self.region()})"
