"""Bad-input matrix: every mistake a user can make gets a clear error naming the field, before any request.

Each case builds a hook (or an operator) from the faulty input, runs the call, and checks the error type,
that the message names the field, that the key secret is not in it, and that nothing reached the
simulator. The table in ``docs/reliability.md`` is rendered from what was observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch.exceptions import SinchConnectionConfigError, SinchInsecureTransportError
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.operators.fax import FaxSelectionError, ListFaxesOperator
from tests.conftest import KEY_SECRET, sinch_conn_json
from tests.reliability.report import check_or_write_section, table

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.reliability.conftest import RecordedSimulator

UTC = timezone.utc
FAX_ID = "01KFAXRELIABILITY0000000002"


@dataclass(frozen=True)
class Case:
    name: str
    field: str  # the text the message must contain to name the field
    error: type[Exception]
    conn: dict[str, Any]
    call: Callable[[SinchHook, Path], Any]
    where: str = "hook"


def _list(**kwargs: Any) -> Callable[[SinchHook, Path], Any]:
    return lambda hook, _: list(hook.fax.list_faxes(**kwargs))


def _faxes(hook: SinchHook, _: Path) -> Any:
    return hook.request_json("GET", hook.fax.url("faxes"), params={"pageSize": 1})


def _op(**kwargs: Any) -> Callable[[SinchHook, Path], Any]:
    return lambda hook, _: ListFaxesOperator(task_id="bad", **kwargs).execute({})


def _file_as_parent(hook: SinchHook, folder: Path) -> Any:
    (folder / "report.txt").write_text("a file, not a folder")
    return hook.fax.download_fax(FAX_ID, folder / "report.txt" / "fax.pdf")


def _directory(hook: SinchHook, folder: Path) -> Any:
    (folder / "faxes").mkdir()
    return hook.fax.download_fax(FAX_ID, folder / "faxes")


LATER, EARLIER = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)

CASES = [
    Case("connection without key ID", "Key ID (login)", SinchConnectionConfigError, {"login": ""}, _faxes),
    Case(
        "connection without key secret", "Key Secret (password)", SinchConnectionConfigError, {"password": ""}, _faxes
    ),
    Case("connection without project ID", "project_id", SinchConnectionConfigError, {"project_id": ""}, _faxes),
    Case("unknown auth type", "auth_type='digest'", SinchConnectionConfigError, {"auth_type": "digest"}, _faxes),
    Case("non-numeric timeout", "'timeout'='soon'", SinchConnectionConfigError, {"timeout": "soon"}, _faxes),
    Case(
        "non-numeric max_retries", "'max_retries'='many'", SinchConnectionConfigError, {"max_retries": "many"}, _faxes
    ),
    Case(
        "non-numeric max_retry_wait",
        "'max_retry_wait'='x'",
        SinchConnectionConfigError,
        {"max_retry_wait": "x"},
        _faxes,
    ),
    Case(
        "http:// to a remote API host", "host", SinchInsecureTransportError, {"host": "http://fax.example.com"}, _faxes
    ),
    Case(
        "http:// auth_url (token URL) to a remote host",
        "auth_url",
        SinchInsecureTransportError,
        {"auth_type": "oauth2", "auth_url": "http://auth.example.com/oauth2/token"},
        _faxes,
    ),
    Case(
        "malformed fax ID (get)",
        "fax_id='../../etc/passwd'",
        ValueError,
        {},
        lambda h, _: h.fax.get_fax("../../etc/passwd"),
    ),
    Case(
        "malformed fax ID (download)",
        "fax_id='a b'",
        ValueError,
        {},
        lambda h, folder: h.fax.download_fax("a b", folder / "x.pdf"),
    ),
    Case("malformed fax ID (delete)", "fax_id='x/y'", ValueError, {}, lambda h, _: h.fax.delete_fax_content("x/y")),
    Case("negative limit (hook)", "limit=-1", ValueError, {}, lambda h, _: h.fax.latest_faxes(-1)),
    Case("negative limit (operator)", "limit=-1", FaxSelectionError, {}, _op(limit=-1), "ListFaxesOperator"),
    Case(
        "inverted time window (hook)",
        "created_after",
        ValueError,
        {},
        _list(created_after=LATER, created_before=EARLIER),
    ),
    Case(
        "inverted time window (operator)",
        "created_after",
        FaxSelectionError,
        {},
        _op(created_after=LATER, created_before=EARLIER),
        "ListFaxesOperator",
    ),
    Case(
        "unparsable time (operator)",
        "created_after='last tuesday'",
        FaxSelectionError,
        {},
        _op(created_after="last tuesday"),
        "ListFaxesOperator",
    ),
    Case(
        "bad E.164 recipient",
        "to='0044 20 7946 0000'",
        ValueError,
        {},
        lambda h, _: h.fax.send_fax("0044 20 7946 0000", content_urls="https://example.com/a.pdf"),
    ),
    Case(
        "bad E.164 sender",
        "from_number='12345'",
        ValueError,
        {},
        lambda h, _: h.fax.send_fax("+14155552671", content_urls="https://example.com/a.pdf", from_number="12345"),
    ),
    Case("unknown status (hook)", "status='DONE'", ValueError, {}, _list(status="DONE")),
    Case("unknown direction (hook)", "direction='SIDEWAYS'", ValueError, {}, _list(direction="SIDEWAYS")),
    Case("unknown status (operator)", "status='DONE'", FaxSelectionError, {}, _op(status="DONE"), "ListFaxesOperator"),
    Case(
        "unknown direction (operator)",
        "direction='SIDEWAYS'",
        FaxSelectionError,
        {},
        _op(direction="SIDEWAYS"),
        "ListFaxesOperator",
    ),
    Case("download destination under a file", "destination", OSError, {}, _file_as_parent),
    Case("download destination is a folder", "destination", OSError, {}, _directory),
]
ROWS: dict[str, list[str]] = {}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(sim: RecordedSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: Case) -> None:
    conn = dict(case.conn)
    host = conn.pop("host", sim.url)
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(host, **conn))
    sim.server.store.add_fax(id=FAX_ID, create_time=EARLIER)
    hook = SinchHook()
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the type is checked below, with the message
        case.call(hook, tmp_path)
    error = raised.value
    message = str(error)
    ROWS[case.name] = [case.name, case.where, type(error).__name__, message.replace(str(tmp_path), "<tmp>")]
    assert isinstance(error, case.error), repr(error)
    assert case.field in message, f"{case.field!r} not named in: {message}"
    assert KEY_SECRET not in message
    assert sim.recorder.count("/") == 0, "nothing may be sent for a bad input"


def test_bad_input_table_is_current() -> None:
    if set(ROWS) != {c.name for c in CASES}:
        pytest.skip("the whole bad-input matrix did not run in this session")
    rows = [ROWS[c.name] for c in CASES]
    body = f"{len(rows)} inputs, each refused before any request with an error naming the field:\n\n" + table(
        ["bad input", "checked by", "error", "message"], rows
    )
    check_or_write_section("bad-input", body)
