"""The Conversation API end to end: hook, operator and notifier against the simulator on 127.0.0.1.

``hook.conversation`` runs Sinch's Python SDK on the hook's transport; these tests check, on the simulator's side
of the wire, that the SDK's requests carry the hook's authentication (Basic, or one OAuth2 token from the
simulator's token endpoint for every call, never a token the SDK fetched itself) and both User-Agents, that errors
arrive as the provider's typed errors without the key secret, that the region and host pick the right origin,
and that ``SendMessageOperator`` and ``SinchNotifier`` deliver, also inside ``dag.test()`` runs (two in this
module). Written for Airflow 3.3 and 2.10 alike: a notifier's context carries ``dag`` (Airflow 2.10 reads
``context["dag"]``), and the DAG files import from ``airflow.sdk`` or, failing that, from Airflow 2's modules.
"""

from __future__ import annotations

import asyncio
import base64
import textwrap
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.exceptions import (
    SinchArgumentError,
    SinchConnectionConfigError,
    SinchInvalidRequestError,
    SinchNotFoundError,
    SinchRateLimitError,
)
from airflow_provider_sinch.hooks._http import TOKEN_CACHE
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.notifications.sinch import SinchNotifier, send_sinch_notification
from airflow_provider_sinch.operators.conversation import SendMessageOperator
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json, xcom_return_value

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_sinch.simulator.conversation import SentMessage
    from tests.simulator.test_conversation_conformance import WireCapture

APP_ID = "01TESTCONVERSATIONAPP"
PHONE, PHONE_2 = "+14155552671", "+46701234567"
CONTACT = "01CONTACTAIRFLOWTEST"
API = f"/v1/projects/{PROJECT_ID}/"
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()


def _config(**overrides: Any) -> SimulatorConfig:
    return SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, conversation_app_ids=(APP_ID,), **overrides
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(_config()) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    """No OAuth2 token cached from another test: each test sees its own token requests."""
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


def connect(monkeypatch: pytest.MonkeyPatch, host: str, **extra: Any) -> SinchHook:
    """``sinch_default`` from the environment (app ``APP_ID`` unless given) and a hook on it."""
    extra.setdefault("conversation_app_id", APP_ID)
    extra = {k: v for k, v in extra.items() if v is not None}
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(host, **extra))
    return SinchHook()


def auth_extras(sim: SimulatorServer, auth_type: str) -> dict[str, Any]:
    if auth_type == "oauth2":
        return {"auth_type": "oauth2", "auth_url": sim.token_url}
    return {"auth_type": "basic"}


def new_messages(sim: SimulatorServer, before: int) -> list[SentMessage]:
    return sim.app.conversation.messages[before:]


# ------------------------------------------------------------------ hook.conversation


@pytest.mark.parametrize("auth_type", ["basic", "oauth2"])
def test_send_text_and_get_message_with_the_hooks_auth(
    auth_type: str, sim: SimulatorServer, wire: WireCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, sim.url, **auth_extras(sim, auth_type))
    start, before, tokens = len(wire.exchanges), len(sim.app.conversation.messages), sim.token_requests

    on_sms = hook.conversation.send_text("one", to=PHONE)
    on_two = hook.conversation.send_text("two", to=PHONE, channels=["whatsapp", "SMS"])
    to_contact = hook.conversation.send_text("three", to=CONTACT)
    got = hook.conversation.get_message(on_sms["message_id"])

    sent = new_messages(sim, before)
    assert [m.id for m in sent] == [on_sms["message_id"], on_two["message_id"], to_contact["message_id"]]
    assert [r["to"] for r in (on_sms, on_two, to_contact)] == [PHONE, PHONE, CONTACT]
    accepted = [datetime.fromisoformat(r["accepted_time"]) for r in (on_sms, on_two, to_contact)]
    assert [round(moment.timestamp() * 1000) for moment in accepted] == [m.accept_ms for m in sent]
    assert [m.text for m in sent] == ["one", "two", "three"]
    assert all(m.app_id == APP_ID for m in sent)
    assert sent[0].body["recipient"] == {
        "identified_by": {"channel_identities": [{"channel": "SMS", "identity": PHONE}]}
    }
    assert sent[0].body["channel_priority_order"] == ["SMS"]
    assert sent[1].body["recipient"]["identified_by"]["channel_identities"] == [
        {"channel": "WHATSAPP", "identity": PHONE},
        {"channel": "SMS", "identity": PHONE},
    ]
    assert sent[1].body["channel_priority_order"] == ["WHATSAPP", "SMS"]
    assert (sent[1].channel, sent[1].identity) == ("WHATSAPP", PHONE)
    assert sent[2].body["recipient"] == {"contact_id": CONTACT}
    assert sent[2].contact_id == CONTACT

    assert got["id"] == on_sms["message_id"]
    assert got["direction"] == "TO_CONTACT"
    assert got["app_message"] == {"text_message": {"text": "one"}}
    assert got["channel_identity"] == {"app_id": APP_ID, "channel": "SMS", "identity": PHONE}
    assert got["contact_id"] == sent[0].contact_id

    exchanges = wire.since(start)
    api = [x for x in exchanges if x.path.startswith(API)]
    assert [(x.method, x.path.removeprefix(API), x.status) for x in api] == [
        ("POST", "messages:send", 200),
        ("POST", "messages:send", 200),
        ("POST", "messages:send", 200),
        ("GET", f"messages/{on_sms['message_id']}", 200),
    ]
    for exchange in api:
        agent = exchange.headers["user-agent"]
        assert "airflow-provider-sinch/" in agent
        assert "sinch-sdk/" in agent
    token_calls = [x for x in exchanges if x.path == "/oauth2/token"]
    if auth_type == "basic":
        assert {x.headers["authorization"] for x in api} == {BASIC}
        assert token_calls == []
        assert sim.token_requests == tokens
    else:
        [token_call] = token_calls  # the hook's one token for all four calls
        assert token_call.status == 200
        assert token_call.headers["authorization"] == BASIC
        assert "sinch-sdk" not in token_call.headers["user-agent"], "the hook's token session, not the SDK"
        assert {x.headers["authorization"] for x in api} == {f"Bearer {token_call.json()['access_token']}"}
        assert sim.token_requests == tokens + 1
    sdk = hook.get_sdk_client()
    assert sdk.configuration.token_manager.token is None, "the SDK never fetched a token itself"
    recorded = [r for r in sim.requests if r.path.startswith(API)][-4:]
    assert {r.auth for r in recorded} == {"bearer" if auth_type == "oauth2" else "basic"}


def test_errors_are_the_providers_typed_errors_without_the_secret(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = connect(monkeypatch, sim.url)
    before = len(sim.app.conversation.messages)
    errors: list[Exception] = []

    with pytest.raises(SinchNotFoundError) as unknown_app:
        hook.conversation.send_text("hi", to=PHONE, app_id="01NOSUCHAPP")
    assert unknown_app.value.status_code == 404
    assert "01NOSUCHAPP" in str(unknown_app.value)
    errors.append(unknown_app.value)

    with pytest.raises(SinchNotFoundError) as unknown_message:
        hook.conversation.get_message("01NOSUCHMESSAGE")
    assert unknown_message.value.path == f"{API}messages/01NOSUCHMESSAGE"
    errors.append(unknown_message.value)

    # The provider checks channels, but options go to the SDK as they are, and the SDK takes any string as a
    # channel: the simulator's 400 comes back as the typed error with its field violation.
    with pytest.raises(SinchInvalidRequestError) as rejected:
        hook.conversation.send_text("hi", to=PHONE, channel_priority_order=["SMS", "CARRIER_PIGEON"])
    assert rejected.value.status_code == 400
    assert [v["field"] for v in rejected.value.field_violations] == ["channel_priority_order"]
    assert "channel_priority_order" in str(rejected.value)
    errors.append(rejected.value)

    requests_before = len(sim.requests)
    for bad in ({"to": "+1234"}, {"to": "not a number"}, {"to": PHONE, "channels": ["FAX"]}, {"to": PHONE, "text": ""}):
        with pytest.raises(SinchArgumentError) as argument:
            hook.conversation.send_text(**{"text": "hi", **bad})
        errors.append(argument.value)
    with pytest.raises(SinchArgumentError):
        hook.conversation.get_message("../apps/x")
    assert len(sim.requests) == requests_before, "arguments are checked before anything is sent"

    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    with pytest.raises(SinchConnectionConfigError) as no_app:
        SinchHook().conversation.send_text("hi", to=PHONE)
    assert "conversation_app_id" in str(no_app.value)
    errors.append(no_app.value)

    assert len(sim.app.conversation.messages) == before
    for error in errors:
        assert KEY_SECRET not in str(error)
        assert KEY_SECRET not in repr(getattr(error, "details", None))
        assert KEY_SECRET not in str(getattr(error, "sinch_message", None))


def test_the_project_rate_limit_is_a_rate_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one request per 5 s, a second send is refused: at once without retries, and when the wait exceeds the cap.

    (A tiny limit: the 429s below must all fall inside the 5 s, even on a slow machine.)
    """
    with SimulatorServer(_config(conversation_rate_limit=0.2)) as limited:
        connect(monkeypatch, limited.url, max_retries=0).conversation.send_text("first", to=PHONE)
        with pytest.raises(SinchRateLimitError) as no_retries:
            connect(monkeypatch, limited.url, max_retries=0).conversation.send_text("second", to=PHONE)
        # Retry-After says 5 s; a total wait cap of 0.2 s gives up without waiting.
        capped = connect(monkeypatch, limited.url, max_retries=3, max_retry_wait=0.2)
        with pytest.raises(SinchRateLimitError) as over_the_cap:
            capped.conversation.send_text("third", to=PHONE)
        sends = [r.status for r in limited.requests if r.path.endswith("messages:send")]
        assert [m.text for m in limited.app.conversation.messages] == ["first"]
    assert sends == [200, 429, 429]
    for error in (no_retries.value, over_the_cap.value):
        assert error.status_code == 429
        assert error.sinch_code == "429"
        assert "rate limited" in str(error)
        assert KEY_SECRET not in str(error)


def test_a_rate_limit_error_counts_the_retries_it_made(monkeypatch: pytest.MonkeyPatch) -> None:
    with SimulatorServer(_config(conversation_rate_limit=0.2)) as limited:
        hook = connect(monkeypatch, limited.url, max_retries=3, max_retry_wait=0.2)
        hook.conversation.send_text("first", to=PHONE)
        with pytest.raises(SinchRateLimitError) as capped:
            hook.conversation.send_text("second", to=PHONE)  # Retry-After 5 s > the 0.2 s cap: no retry
        assert [r.status for r in limited.requests if r.path.endswith("messages:send")] == [200, 429]
    assert "after 0 retries" in str(capped.value)


def test_a_full_app_queue_is_a_rate_limit_error_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's queue is full and drains one message per 1,000 s: the POST is retried on 429, then given up.

    The queue is filled on the simulator's side until it refuses, whatever its exact size (the simulator lets
    one message more than ``conversation_queue_limit`` in: see the conformance tests).
    """
    with SimulatorServer(_config(conversation_app_rate=0.001, conversation_queue_limit=1)) as queued:
        body = {"app_id": APP_ID, "recipient": {"contact_id": CONTACT}, "message": {"text_message": {"text": "x"}}}
        while queued.app.conversation.accept(body)[0] == 200:
            assert len(queued.app.conversation.messages) < 10
        hook = connect(monkeypatch, queued.url, max_retries=1)
        with pytest.raises(SinchRateLimitError) as full:
            hook.conversation.send_text("refused", to=PHONE)
        sends = [r.status for r in queued.requests if r.path.endswith("messages:send")]
        assert "refused" not in [m.text for m in queued.app.conversation.messages]
    assert sends == [429, 429], "one retry of the refused POST"
    assert "queue" in (full.value.sinch_message or "")
    assert "after 1 retries" in str(full.value)
    assert full.value.waited > 0


def test_the_region_picks_the_host_unless_the_connection_names_one(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_io(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(requests.Session, "send", no_io)
    project = f"/v1/projects/{PROJECT_ID}/"

    default = connect(monkeypatch, "")
    assert default.conversation.base_url == f"https://us.conversation.api.sinch.com{project}"
    assert default.get_sdk_client().configuration.conversation_origin == "https://us.conversation.api.sinch.com"

    eu = connect(monkeypatch, "", conversation_region="eu")
    assert eu.settings.host is None
    assert eu.conversation.base_url == f"https://eu.conversation.api.sinch.com{project}"
    assert eu.conversation.url("apps/01APP") == f"https://eu.conversation.api.sinch.com{project}apps/01APP"
    sdk = eu.get_sdk_client()
    assert sdk.configuration.conversation_origin == "https://eu.conversation.api.sinch.com"
    assert sdk.configuration.auth_origin == "https://auth.sinch.com"
    assert eu.conversation.sdk() is sdk.conversation, "one SDK client per hook and region"
    br = eu.conversation.sdk("br")
    assert eu.get_sdk_client(conversation_region="br").conversation is br
    assert eu.get_sdk_client(conversation_region="BR").configuration.conversation_origin == (
        "https://br.conversation.api.sinch.com"
    )

    hosted = connect(monkeypatch, sim.url, conversation_region="eu")
    assert hosted.conversation.base_url == f"{sim.url}{project}"
    assert hosted.get_sdk_client().configuration.conversation_origin == sim.url
    assert hosted.get_sdk_client().configuration.auth_origin == sim.url

    with pytest.raises(SinchConnectionConfigError, match="conversation_region"):
        _ = connect(monkeypatch, "", conversation_region="ap").conversation.base_url
    with pytest.raises(SinchConnectionConfigError, match="conversation_region"):
        eu.conversation.sdk("mars")


def test_conversation_url_resolves_the_apis_custom_method_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Conversation API's paths have colons (``messages:send``, Google-style custom methods)."""
    hook = connect(monkeypatch, "", conversation_region="eu")
    base = f"https://eu.conversation.api.sinch.com/v1/projects/{PROJECT_ID}/"
    assert hook.conversation.url("messages:send") == f"{base}messages:send"


@pytest.mark.parametrize("auth_type", ["basic", "oauth2"])
def test_test_connection_reports_the_conversation_app(
    auth_type: str, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = connect(monkeypatch, sim.url, **auth_extras(sim, auth_type)).test_connection()
    assert ok, message
    assert f"with {auth_type} auth" in message
    assert f"Conversation API: ok (app Simulated app {APP_ID} in region us)" in message

    ok, message = connect(monkeypatch, sim.url, conversation_app_id=None).test_connection()
    assert ok, message
    assert "Conversation API" not in message, "no app configured: nothing to check"

    ok, message = connect(monkeypatch, sim.url, conversation_app_id="01NOSUCHAPP").test_connection()
    assert not ok
    assert "Conversation API:" in message
    assert "404" in message
    assert KEY_SECRET not in message


# ------------------------------------------------------------------ SendMessageOperator


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"to": "+1234"}, "to="),
        ({"to": "+1 415 555 2671"}, "to="),
        ({"to": "call me maybe"}, "to="),
        ({"to": []}, "to="),
        ({"to": [PHONE, "not/a/contact"]}, "to="),
        ({"to": 14155552671}, "to="),
        ({"channels": ["FAX"]}, "channels="),
        ({"channels": []}, "channels="),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1025}, "text"),
        ({"options": "ttl=30s"}, "options"),
    ],
)
def test_send_message_operator_checks_literals_at_parse_time(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(SinchArgumentError) as error:
        SendMessageOperator(task_id="send", **{"text": "hi", "to": PHONE, **kwargs})
    assert named in str(error.value)


def test_send_message_operator_leaves_templates_for_run_time() -> None:
    operator = SendMessageOperator(
        task_id="send", text="{{ params.text }}", to="{{ params.to }}", channels="{{ params.channels }}"
    )
    assert operator.to == "{{ params.to }}"
    SendMessageOperator(task_id="send_list", text="hi", to=[PHONE, "{{ params.to }}"], channels=("whatsapp", "sms"))


def test_send_message_operator_returns_the_message_ids_in_order(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, sim.url)
    before = len(sim.app.conversation.messages)
    operator = SendMessageOperator(
        task_id="send",
        text="Your report is ready",
        to=[PHONE, CONTACT, PHONE_2],
        channels=["WHATSAPP", "SMS"],
        options={"correlation_id": "report-42", "ttl": 60, "callback_url": "https://example.com/sinch-events"},
    )
    message_ids = operator.execute({})  # type: ignore[arg-type]
    sent = new_messages(sim, before)
    assert message_ids == [m.id for m in sent]
    assert [m.identity or m.contact_id for m in sent] == [PHONE, CONTACT, PHONE_2]
    assert {m.text for m in sent} == {"Your report is ready"}
    assert all(m.body["correlation_id"] == "report-42" and m.body["ttl"] == "60s" for m in sent)
    assert all(m.body["callback_url"] == "https://example.com/sinch-events" for m in sent), "the SDK's field name"
    assert all(m.body["channel_priority_order"] == ["WHATSAPP", "SMS"] for m in sent)


def write_dag(dags_folder: Path, dag_id: str, body: str) -> Any:
    """Write a DAG file into the dags folder (Airflow 3.3 runs only DAGs that folder's bundle parsed), parse it."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag

    header = """\
        from __future__ import annotations

        from datetime import datetime

        try:
            from airflow.sdk import DAG, task
        except ImportError:  # Airflow 2.10
            from airflow import DAG
            from airflow.decorators import task

        """
    path = dags_folder / f"{dag_id}.py"
    path.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    dag_bag = DagBag(dag_folder=str(path))
    assert not dag_bag.import_errors, dag_bag.import_errors
    dag = dag_bag.get_dag(dag_id)
    assert dag is not None
    return dag


def test_mapped_send_message_operator_in_a_dag_run(
    airflow_db: Path, dags_folder: Path, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag_id = "test_sinch_conversation_mapped"
    recipients = [PHONE, CONTACT, PHONE_2]
    dag = write_dag(
        dags_folder,
        dag_id,
        f"""\
        from airflow_provider_sinch.operators.conversation import SendMessageOperator

        with DAG({dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
            sent = SendMessageOperator.partial(
                task_id="send", text="{{{{ run_id }}}} #{{{{ ti.map_index }}}}: hello", retries=0
            ).expand(to={recipients!r})

            @task
            def collect(message_ids):
                return [message_id for batch in message_ids for message_id in batch]

            collect(sent.output)
        """,
    )
    connect(monkeypatch, sim.url)
    before = len(sim.app.conversation.messages)
    dag_run = dag.test()
    assert dag_run.state == "success"

    by_id = {m.id: m for m in new_messages(sim, before)}
    assert len(by_id) == 3
    per_task = [xcom_return_value(dag_id, dag_run.run_id, "send", map_index=index) for index in range(3)]
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in per_task), per_task
    for index, [message_id] in enumerate(per_task):
        message = by_id[message_id]
        assert (message.identity or message.contact_id) == recipients[index]
        assert message.text == f"{dag_run.run_id} #{index}: hello"
    collected = xcom_return_value(dag_id, dag_run.run_id, "collect")
    assert collected == [ids[0] for ids in per_task]


# ------------------------------------------------------------------ SinchNotifier


def notifier_context(**values: Any) -> dict[str, Any]:
    """A callback context: ``dag`` is there because Airflow 2.10's notifier reads ``context["dag"]``."""
    return {"dag": None, **values}


def test_send_sinch_notification_is_the_notifier() -> None:
    assert send_sinch_notification is SinchNotifier
    with pytest.raises(SinchArgumentError):
        send_sinch_notification(text="x", to="+1")
    with pytest.raises(SinchArgumentError):
        SinchNotifier(text="x", to=PHONE, channels=["PAGER"])


def test_notifier_renders_the_context_and_sends_to_every_recipient(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, sim.url)
    before = len(sim.app.conversation.messages)
    notifier = SinchNotifier(
        text="{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ reason }}",
        to=[PHONE, "{{ oncall }}"],
        channels="{{ channel }}",
    )
    context = notifier_context(
        ti=SimpleNamespace(dag_id="billing", task_id="charge"), reason="card declined", oncall=CONTACT, channel="SMS"
    )
    notifier(context)
    sent = new_messages(sim, before)
    assert [m.text for m in sent] == ["billing.charge failed: card declined"] * 2
    assert [m.identity or m.contact_id for m in sent] == [PHONE, CONTACT]
    assert [m.channel for m in sent] == ["SMS", "SMS"]


def test_notifier_async_notify(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sim.url)
    before = len(sim.app.conversation.messages)
    notifier = SinchNotifier(text="Deadline missed", to=[PHONE_2, CONTACT], channels=["WHATSAPP", "SMS"])
    asyncio.run(notifier.async_notify(notifier_context()))
    sent = new_messages(sim, before)
    assert [(m.text, m.identity or m.contact_id) for m in sent] == [
        ("Deadline missed", PHONE_2),
        ("Deadline missed", CONTACT),
    ]
    assert sent[0].body["channel_priority_order"] == ["WHATSAPP", "SMS"]

    if AIRFLOW_V_3:  # Airflow 3's notifiers are awaitable: templates rendered from .context, then async_notify
        templated = SinchNotifier(text="{{ deadline }} missed", to=PHONE)
        templated.context = notifier_context(deadline="The 9:00 report")  # type: ignore[assignment]

        async def await_it() -> None:
            await templated

        asyncio.run(await_it())
        assert sim.app.conversation.messages[-1].text == "The 9:00 report missed"


def test_notifier_as_on_failure_callback_in_a_dag_run(
    airflow_db: Path, dags_folder: Path, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag_id = "test_sinch_conversation_notify"
    dag = write_dag(
        dags_folder,
        dag_id,
        f"""\
        from airflow_provider_sinch.notifications.sinch import send_sinch_notification

        with DAG({dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):

            @task(
                retries=0,
                on_failure_callback=send_sinch_notification(
                    text="{{{{ ti.dag_id }}}}.{{{{ ti.task_id }}}} failed: {{{{ exception }}}}",
                    to=[{PHONE!r}, {CONTACT!r}],
                ),
            )
            def explode():
                raise RuntimeError("the flux capacitor broke")

            explode()
        """,
    )
    connect(monkeypatch, sim.url)
    before = len(sim.app.conversation.messages)
    dag_run = dag.test()
    assert dag_run.state == "failed"
    sent = new_messages(sim, before)
    assert [m.identity or m.contact_id for m in sent] == [PHONE, CONTACT]
    for message in sent:
        assert message.text is not None
        assert message.text.startswith(f"{dag_id}.explode failed: ")
        assert "the flux capacitor broke" in message.text
