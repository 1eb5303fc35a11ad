"""The compatibility suite: the built wheel, installed non-editable, on one Airflow release line.

``make test`` runs it on every line that the full suite does not cover (2.11, 3.0, 3.1, 3.2, at the newest
patch), each in its own venv pinned by ``constraints/airflow-<version>.txt``. It imports nothing from the
repository: the provider under test is the one pip installed from ``dist/``. It checks the import and the
provider registration, the connection form's fields, the hook against the simulator, ``airflow dags test``
of every example DAG that line supports, and one deferred wait through that line's trigger-running code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

# Airflow reads its configuration when first imported: a home of this suite's own, first.
HOME = Path(tempfile.mkdtemp(prefix="sinch-compat-home-"))
(HOME / "dags").mkdir()
os.environ.update(
    AIRFLOW_HOME=str(HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(HOME / "dags"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
)

import airflow  # noqa: E402

from airflow_provider_sinch import __version__  # noqa: E402
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "example_dags"
AIRFLOW = tuple(int(part) for part in airflow.__version__.split(".")[:2])
AIRFLOW_3 = AIRFLOW >= (3, 0)
KEY_ID, KEY_SECRET, PROJECT_ID = "compat-key", "compat-Secret-7y2", "compat-project"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def home() -> Path:
    """The migrated AIRFLOW_HOME, whose dags folder gets the example DAGs."""
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], check=True, capture_output=True)
    return HOME


@pytest.fixture(scope="module")
def sim() -> Any:
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed=4, seed_faxes=300, transition_seconds=2.0
    )
    with SimulatorServer(config) as server:
        yield server


def _conn(sim: Any, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "sinch",
            "host": sim.url,
            "login": KEY_ID,
            "password": KEY_SECRET,
            "extra": {"project_id": PROJECT_ID, "conversation_app_id": "test-app", **extra},
        }
    )


def test_the_provider_under_test_is_the_installed_wheel() -> None:
    import airflow_provider_sinch

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(airflow_provider_sinch.__file__).resolve().is_relative_to(site), airflow_provider_sinch.__file__
    direct_url = next(Path(site).glob(f"airflow_provider_sinch-{__version__}.dist-info")) / "direct_url.json"
    assert not json.loads(direct_url.read_text()).get("dir_info", {}).get("editable"), "not an editable install"


def test_every_module_imports_and_the_provider_registers() -> None:
    code = (
        "import airflow_provider_sinch.hooks.sinch, airflow_provider_sinch.hooks.sinch_async, "
        "airflow_provider_sinch.operators.fax, airflow_provider_sinch.operators.conversation, "
        "airflow_provider_sinch.sensors.fax, airflow_provider_sinch.triggers.fax, "
        "airflow_provider_sinch.notifications.sinch\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "pm = ProvidersManager()\n"
        "assert 'airflow-provider-sinch' in pm.providers, sorted(pm.providers)\n"
        "assert pm.hooks['sinch'].hook_class_name == 'airflow_provider_sinch.hooks.sinch.SinchHook'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = subprocess.run([str(BIN / "airflow"), "providers", "list", "-o", "json"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "airflow-provider-sinch" in listed.stdout


def test_the_connection_form_fields() -> None:
    from airflow_provider_sinch.connection import CONN_FIELDS
    from airflow_provider_sinch.get_provider_info import get_provider_info
    from airflow_provider_sinch.hooks.sinch import SinchHook

    info = get_provider_info()["connection-types"][0]
    assert info["conn-fields"] == CONN_FIELDS
    assert {"project_id", "auth_type", "conversation_region", "conversation_app_id"} <= set(CONN_FIELDS)
    try:
        import flask_appbuilder  # noqa: F401 - the Airflow 2 form (and 3.0/3.1 with FAB) is built from widgets
    except ImportError:
        return
    widgets = SinchHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)


def test_the_hook_against_the_simulator(sim: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow_provider_sinch.hooks.sinch import SinchHook

    for auth in ("basic", "oauth2"):
        extra = {"auth_type": "oauth2", "auth_url": sim.token_url} if auth == "oauth2" else {}
        monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", _conn(sim, **extra))
        hook = SinchHook()
        ok, message = hook.test_connection()
        assert ok, message
        listed = list(hook.fax.list_faxes(created_after=datetime.now(tz=timezone.utc) - timedelta(days=400)))
        assert len(listed) == len(sim.store.all_faxes()) >= 300
        assert len(hook.fax.latest_faxes(5)) == 5
        sent = hook.fax.send_fax(["+14155552671", "+14155552672"], content_urls="https://example.com/a.pdf")
        assert len(sent) == 2
        assert hook.fax.download_fax(listed[0]["id"], tmp_path / f"{auth}.pdf")["bytes"] > 0
        assert hook.conversation.send_text("compat", to="+14155552671")["message_id"]


def _dags_test(dag_id: str, home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    (home / "dags" / f"{dag_id}.py").write_text((EXAMPLES / f"{dag_id}.py").read_text())
    return subprocess.run(
        [str(BIN / "airflow"), "dags", "test", dag_id, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


EXAMPLE_DAGS = [
    "example_sinch_fax_polling",
    "example_sinch_fax_download",
    "example_sinch_fax_send",
    "example_sinch_fax_alerts",
]
if AIRFLOW_3:
    EXAMPLE_DAGS.append("example_sinch_fax_asset")


@pytest.mark.parametrize("dag_id", EXAMPLE_DAGS)
def test_dags_test_of_each_example(dag_id: str, home: Path, sim: Any, tmp_path: Path) -> None:
    """``airflow dags test`` of an example: the send example defers its wait for delivery (the trigger runs)."""
    env = {"AIRFLOW_CONN_SINCH_DEFAULT": _conn(sim), "AIRFLOW_VAR_SINCH_FAX_ARCHIVE": tmp_path.as_uri()}
    args: list[str] = []
    if dag_id == "example_sinch_fax_asset":
        fax = sim.store.add_fax(file_bytes=b"%PDF-1.4 compat\n")
        args = ["-c", json.dumps({"fax_ids": [fax["id"]]})]
    if dag_id == "example_sinch_fax_alerts":  # a failed fax fails the task, whose callback texts
        sim.store.add_fax(create_time=datetime.now(tz=timezone.utc) - timedelta(minutes=10), status="FAILURE")
    sent_before, alerts_before = sim.store.all_faxes(), len(sim.app.conversation.messages)
    result = _dags_test(dag_id, home, env, *args)
    output = (result.stdout + result.stderr)[-4000:]
    if dag_id == "example_sinch_fax_alerts":
        assert result.returncode != 0, output
        alerts = sim.app.conversation.messages[alerts_before:]
        assert alerts, output
        assert "no_failed_faxes failed" in alerts[-1].text, output
        return
    assert result.returncode == 0, output
    if dag_id == "example_sinch_fax_send":
        new = [f for f in sim.store.all_faxes() if f["id"] not in {g["id"] for g in sent_before}]
        assert [f["status"] for f in new] == ["COMPLETED"], "the fax was sent and the deferred wait saw it delivered"
    if dag_id == "example_sinch_fax_asset":
        assert (tmp_path / "inbound" / f"{fax['id']}.pdf").read_bytes() == b"%PDF-1.4 compat\n"


def test_the_asset_example_says_why_it_cannot_run_on_airflow_2(home: Path, sim: Any) -> None:
    if AIRFLOW_3:
        pytest.skip("Airflow 3 runs it")
    result = _dags_test("example_sinch_fax_asset", home, {"AIRFLOW_CONN_SINCH_DEFAULT": _conn(sim)})
    assert result.returncode != 0
    assert "needs Airflow 3" in result.stdout + result.stderr


def test_one_deferred_wait_resumes(home: Path, sim: Any) -> None:
    """A deferrable FaxSensor waits in the trigger for a fax that becomes final a few seconds later."""
    fax = sim.store.add_fax(direction="OUTBOUND", status="IN_PROGRESS")
    dag = f'''
from datetime import datetime, timezone
from airflow_provider_sinch.sensors.fax import FaxSensor
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
with DAG(dag_id="compat_deferred_wait", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    FaxSensor(task_id="wait", fax_id="{fax["id"]}", deferrable=True, poke_interval=1, timeout=120)
'''
    (home / "dags" / "compat_deferred_wait.py").write_text(dag)
    threading.Timer(4.0, lambda: sim.store.update_fax(fax["id"], status="COMPLETED")).start()
    result = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "compat_deferred_wait"],
        capture_output=True,
        text=True,
        env={**os.environ, "AIRFLOW_CONN_SINCH_DEFAULT": _conn(sim)},
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "defer" in output.lower(), "the sensor deferred"
