"""Secrets scan: run every example DAG with ``dag.test()`` and look for credentials everywhere they could land.

The connection carries a distinctive key ID and secret; with OAuth2 the hook trades them for bearer tokens
at the simulator's token endpoint. The wrapper in front of the simulator records every Authorization
header and every issued token, so the scan looks for exactly what crossed the wire: the key secret, the
``key_id:secret`` pair, the Basic header value (and its base64 part), and each access token.

Scanned: stdout/stderr of the process (Airflow 3 task loggers write there), every log record (root logger,
DEBUG), every file under ``$AIRFLOW_HOME/logs``, every XCom of the runs, the rendered template fields
stored for the runs, the text of every exception the tasks raised (in the logs, and raised again
directly), the simulator's own access and error logs, and the bytes of the metadata database itself.
The runs include retried 429s and 503s, an expired token renewed mid-run, and a task failing with a 403.
What this cannot see (the API server's UI and REST answers) is covered by the e2e browser test.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.exceptions import SinchError
from airflow_provider_sinch.hooks._http import TOKEN_CACHE
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.operators.fax import ListFaxesOperator
from airflow_provider_sinch.simulator import SimulatorConfig
from tests.conftest import ROOT, sinch_conn_json
from tests.reliability.conftest import start_recorded_simulator
from tests.reliability.report import check_or_write_section, table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.reliability.conftest import RecordedSimulator

UTC = timezone.utc
KEY_ID = "rel-key-id-5521"
SECRET = "zX9-SINCH-secret-7Qm2-distinctive"
PROJECT = "rel-project"
API = f"/v3/projects/{PROJECT}/faxes"
EXAMPLES = sorted(p.stem for p in (ROOT / "example_dags").glob("example_*.py"))
AIRFLOW_3_ONLY = {"example_sinch_fax_asset"}  # AssetWatcher and event triggers


class Collect(logging.Handler):
    """Keeps every formatted record of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format is still scanned raw
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        self.lines.append(text)


@pytest.fixture(scope="module")
def secret_sim() -> Iterator[RecordedSimulator]:
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=SECRET, project_id=PROJECT, seed=3, transition_seconds=0.0, token_ttl=3600
    )
    recorded = start_recorded_simulator(config, access_log=True)
    yield recorded
    recorded.server.stop()


@pytest.fixture
def sim_logs() -> Iterator[Collect]:
    """The simulator's own logs (access log, errors) and uvicorn's."""
    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("airflow_provider_sinch.simulator", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def _conn(sim: RecordedSimulator, auth: str) -> str:
    extra: dict[str, Any] = {
        "login": KEY_ID,
        "password": SECRET,
        "project_id": PROJECT,
        "max_retries": 3,
        "conversation_app_id": "test-app",
    }
    if auth == "oauth2":
        extra.update(auth_type="oauth2", auth_url=sim.server.token_url)
    return sinch_conn_json(sim.url, **extra)


def _run_dag(dag_id: str, dags_folder: Path, **kwargs: Any) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    shutil.copy(ROOT / "example_dags" / f"{dag_id}.py", dags_folder / f"{dag_id}.py")
    dag_bag = DagBag(dag_folder=str(dags_folder / f"{dag_id}.py"))
    assert not dag_bag.import_errors, dag_bag.import_errors
    dag = dag_bag.get_dag(dag_id)
    assert dag is not None
    if "logical_date" in kwargs and not AIRFLOW_V_3:
        kwargs["execution_date"] = kwargs.pop("logical_date")
    return dag.test(**kwargs)


def _stored(dag_id: str, run_id: str) -> dict[str, list[str]]:
    """XCom values and rendered template fields stored for a run, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    if AIRFLOW_V_3:
        from airflow.models.xcom import XComModel as XCom
    else:
        from airflow.models.xcom import XCom  # type: ignore[assignment,no-redef]

    with create_session() as session:
        xcoms = session.query(XCom).filter_by(dag_id=dag_id, run_id=run_id).all()
        rendered = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id).all()
        return {
            "xcom": [f"{x.task_id}/{x.key}: {x.value!r}" for x in xcoms],
            "rendered": [json.dumps(r.rendered_fields, default=str) for r in rendered],
        }


PAIR = f"{KEY_ID}:{SECRET}"
BASIC_VALUE = base64.b64encode(PAIR.encode()).decode()


def _tokens(credentials: set[str]) -> set[str]:
    """The access tokens among the credentials the wrapper recorded (headers, their values, issued tokens)."""
    return {c for c in credentials if not c.startswith(("Basic ", "Bearer ")) and c != BASIC_VALUE}


def _database_bytes(home: Path) -> str:
    """The raw bytes of the SQLite metadata database and its WAL, read by another process.

    Opening and closing the file in this process would drop the POSIX locks SQLite holds on it here,
    and a concurrent writer (an ``airflow`` CLI in another test) could then corrupt it.
    """
    files = sorted(str(p) for p in home.glob("airflow.db*") if p.is_file())
    if not files:
        return ""
    return subprocess.run(["cat", *files], capture_output=True, check=True).stdout.decode("latin-1")


def _needles(sim: RecordedSimulator) -> dict[str, str]:
    """Every credential that crossed the wire, named for the report (never printed)."""
    needles = {"key secret": SECRET, "key_id:secret": PAIR, "Basic value": BASIC_VALUE}
    for index, token in enumerate(sorted(_tokens(sim.recorder.credentials))):
        needles[f"access token {index + 1}"] = token
    return needles


SCENARIOS: list[tuple[str, str, str]] = [(dag_id, "oauth2", "success") for dag_id in EXAMPLES]
SCENARIOS += [("example_sinch_fax_polling", "basic", "success"), ("example_sinch_fax_polling", "oauth2", "403")]
# A failed fax fails a task, and its on_failure_callback texts through the Conversation API (Sinch's SDK).
SCENARIOS += [("example_sinch_fax_alerts", "basic", "alert"), ("example_sinch_fax_alerts", "oauth2", "alert")]
SCANNED: dict[str, list[str]] = {}


@pytest.mark.parametrize(("dag_id", "auth", "ending"), SCENARIOS, ids=[f"{d}-{a}-{e}" for d, a, e in SCENARIOS])
def test_no_credential_anywhere(
    airflow_db: Path,
    dags_folder: Path,
    secret_sim: RecordedSimulator,
    sim_logs: Collect,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    dag_id: str,
    auth: str,
    ending: str,
) -> None:
    if dag_id in AIRFLOW_3_ONLY and not AIRFLOW_V_3:
        pytest.skip("AssetWatcher and event triggers need Airflow 3")
    sim = secret_sim
    known = set(sim.recorder.credentials)
    sim.server.faults.clear()
    sim.server.store.clear()
    TOKEN_CACHE.clear()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", _conn(sim, auth))
    monkeypatch.setenv("AIRFLOW_VAR_SINCH_FAX_ARCHIVE", tmp_path.as_uri())
    caplog.set_level(logging.DEBUG)

    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    start = now.replace(minute=now.minute - now.minute % 15) - timedelta(minutes=30)
    kwargs: dict[str, Any] = {}
    for minutes in (-4, 3, 9):  # inside the download DAG's window [start - 5 min, start + 10 min)
        fax = sim.server.store.add_fax(create_time=start + timedelta(minutes=minutes), file_bytes=b"%PDF-1.4 fax\n")
    if dag_id == "example_sinch_fax_download":
        kwargs["logical_date"] = start + timedelta(minutes=15)
    if dag_id == "example_sinch_fax_asset":
        kwargs["run_conf"] = {"fax_ids": [fax["id"]]}
    if ending == "alert":
        sim.server.store.add_fax(create_time=now - timedelta(minutes=20), status="FAILURE")
        sent_before = len(sim.server.app.conversation.messages)

    if auth == "oauth2":  # a cached token that is expired by the time the DAG uses it: renewed mid-run
        (hook := SinchHook()).request("GET", hook.fax.url("faxes"), params={"pageSize": 1})
        sim.server.expire_tokens()
    if ending == "403":
        sim.server.faults.fail_next(100, status=403, path_prefix=API, method="GET")
    else:
        sim.server.faults.fail_next(1, status=429, path_prefix=API, method="GET", retry_after=1)
        sim.server.faults.fail_next(1, status=503, path_prefix=API, method="GET")

    dag_run = _run_dag(dag_id, dags_folder, **kwargs)
    assert dag_run.state == ("success" if ending == "success" else "failed")
    if ending == "alert":
        alerts = sim.server.app.conversation.messages[sent_before:]
        assert [m.text for m in alerts] == [
            f"Airflow: {dag_id}.no_failed_faxes failed (try 1, run {dag_run.run_id})."
        ], "the notifier sent one message through the Conversation API"

    errors: list[str] = []
    if ending == "403":  # the exception the failing task raised, as text
        with pytest.raises(SinchError) as raised:
            ListFaxesOperator(task_id="again", limit=1).execute({})
        errors = [str(raised.value), repr(raised.value)]
    out, err = capfd.readouterr()
    home = Path(os.environ["AIRFLOW_HOME"])
    log_files = [p for p in (home / "logs").rglob("*") if p.is_file()]
    stored = _stored(dag_id, dag_run.run_id)
    places = {
        "stdout/stderr": out + err,
        "log records": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "task log files": "\n".join(p.read_text(errors="replace") for p in log_files),
        "XCom values": "\n".join(stored["xcom"]),
        "rendered template fields": "\n".join(stored["rendered"]),
        "exception text": "\n".join(errors),
        "simulator logs": "\n".join(sim_logs.lines),
        "metadata database": _database_bytes(home),
    }
    needles = _needles(sim)
    hits = [f"{what} in {where}" for where, text in places.items() for what, value in needles.items() if value in text]
    assert not hits, hits

    # The scan saw what it claims to: retries were logged, a token was renewed, the access log ran.
    assert sim_logs.lines, "the simulator's access log was captured"
    new_tokens = _tokens(sim.recorder.credentials - known)
    if auth == "oauth2":  # the injected 403s come before the token check: no renewal in that run
        assert len(new_tokens) >= (1 if ending == "403" else 2), "a token was issued, expired and renewed"
    else:
        assert not new_tokens
    assert stored["xcom"] or ending == "403"
    if ending == "alert":
        assert sim.recorder.count("/v1/projects/", "POST") >= 1, "the alert went over the wire"
    if ending == "403":
        assert "HTTP 403" in places["stdout/stderr"] + places["log records"] + places["task log files"]
    else:
        assert "answered HTTP 429; retry 1" in places["stdout/stderr"] + places["log records"]
    looked_for = "key secret, `key_id:secret`, Basic header value" + (
        ", every access token" if auth == "oauth2" else ""
    )
    endings = {"403": "a task fails with 403", "alert": "a task fails, the notifier texts", "success": "success"}
    SCANNED[f"{dag_id} ({auth}, {endings[ending]})"] = [
        ", ".join(where for where, text in places.items() if text),
        looked_for,
        str(len(hits)),
    ]


def test_secrets_table_is_current() -> None:
    runnable = [s for s in SCENARIOS if AIRFLOW_V_3 or s[0] not in AIRFLOW_3_ONLY]
    if len(SCANNED) != len(runnable):
        pytest.skip("the whole secrets scan did not run in this session")
    if not AIRFLOW_V_3:
        pytest.skip("the committed table is the Airflow 3 run, which includes the asset DAG")
    rows = [[name, *values] for name, values in sorted(SCANNED.items())]
    body = (
        "Every example DAG ran with `dag.test()` against the simulator, with retried 429/503 answers and, for "
        "OAuth2, a cached token expired before the run (renewed mid-run). The access tokens looked for are "
        "every token the simulator issued in the session, as recorded on the wire.\n\n"
        + table(["DAG run", "places scanned (non-empty)", "looked for", "hits"], rows)
    )
    check_or_write_section("secrets", body)
