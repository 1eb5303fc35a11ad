"""``make demo`` (``scripts/demo.py``): end to end with real Airflow, and its clean-up on Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.py"
TABLE_HEADER = re.compile(r"^id\s+direction\s+from\s+to\s+pages\s+status\s+created \(UTC\)$")
FAX_ROW = re.compile(
    r"^(?P<id>[0-9A-Z]{26})\s+(?P<direction>INBOUND|OUTBOUND)\s+(?P<from>\+\d+)\s+(?P<to>\+\d+)\s+(?P<pages>\d+)\s+"
    r"(?P<status>QUEUED|IN_PROGRESS|COMPLETED|FAILURE)\s+(?P<created>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$"
)
needs_airflow_3 = pytest.mark.skipif(not AIRFLOW_V_3, reason="make demo runs on the pinned Airflow 3.3.2")


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sinch_demo", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def demo_env() -> dict[str, str]:
    """The caller's environment without anything that would switch the demo to the real API or leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SINCH_", "AIRFLOW"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


def simulator_processes(port: str) -> list[int]:
    """PIDs of any process whose command line runs the simulator on ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "sinch-fax-simulator" in cmdline and port in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def simulator_pid_and_url(output: str) -> tuple[int, str]:
    match = re.search(r"listening on (http://127\.0\.0\.1:(\d+)) \(pid (\d+)\)", output)
    assert match, output
    return int(match.group(3)), match.group(1)


@pytest.mark.e2e
@needs_airflow_3
def test_demo_runs_the_dag_prints_the_xcom_table_and_leaves_nothing_running() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(DEMO), "--faxes", "150"],
        cwd=ROOT,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    elapsed = time.monotonic() - started

    # Every step is announced.
    for number in range(1, 6):
        assert f"[{number}/5]" in output
    assert "airflow dags test example_sinch_fax_polling" in output
    assert "the DAG run succeeded" in output

    # The table: a header and the 10 newest inbound faxes, newest first.
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if TABLE_HEADER.match(line))
    rows = [FAX_ROW.match(line) for line in lines[header + 2 : header + 12]]
    assert all(rows), "\n".join(lines[header : header + 12])
    assert {row["direction"] for row in rows if row} == {"INBOUND"}
    created = [row["created"] for row in rows if row]
    assert created == sorted(created, reverse=True)
    assert len({row["id"] for row in rows if row}) == 10
    assert not any(FAX_ROW.match(line) for line in lines[header + 12 : header + 13])  # exactly 10 rows

    # The summary task saw the same newest fax.
    summary = json.loads(re.search(r"summarise returned (\{.*\})", output).group(1))  # type: ignore[union-attr]
    assert summary["newest"].replace("T", " ")[:19] == created[0]

    # Nothing left running and nothing left behind; the connection's secret never printed.
    pid, url = simulator_pid_and_url(output)
    assert not pid_alive(pid)
    assert simulator_processes(url.rsplit(":", 1)[1]) == []
    home = Path(re.search(r"AIRFLOW_HOME=(\S+)", output).group(1))  # type: ignore[union-attr]
    assert processes_using(str(home.parent)) == []
    assert not home.parent.exists()
    assert '"password"' not in output
    print(f"demo took {elapsed:.0f} s")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.e2e
@needs_airflow_3
@pytest.mark.parametrize(
    "interrupt_after",
    [
        pytest.param("AIRFLOW_HOME=", id="while-airflow-db-migrate-starts"),
        pytest.param("running ", id="during-airflow-dags-test"),
    ],
)
def test_ctrl_c_stops_everything_and_removes_the_temporary_home(interrupt_after: str) -> None:
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--faxes", "20"],
        cwd=ROOT,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C in a terminal reaches a process whose SIGINT is the default. A test run started in the
        # background of a non-interactive shell (nohup, `cmd &`) inherits SIGINT ignored, and Python then
        # installs no KeyboardInterrupt handler: restore the terminal's case.
        preexec_fn=_default_sigint,
    )
    assert process.stdout is not None
    seen = ""
    try:
        deadline = time.monotonic() + 240
        while interrupt_after not in seen and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen += line
        assert interrupt_after in seen, seen
        pid, url = simulator_pid_and_url(seen)
        assert pid_alive(pid)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = seen + rest
    assert process.returncode == 130, output
    assert "Interrupted" in output
    assert not pid_alive(pid)
    assert simulator_processes(url.rsplit(":", 1)[1]) == []
    workdir = Path(re.search(r"AIRFLOW_HOME=(\S+)", output).group(1)).parent  # type: ignore[union-attr]
    assert processes_using(str(workdir)) == []  # no airflow child left, e.g. one started as Ctrl-C came
    assert not workdir.exists()


def processes_using(text: str) -> list[int]:
    """PIDs of live processes whose command line or environment mentions ``text``."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in blob and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_real_api_needs_all_three_variables() -> None:
    demo = load_demo()
    assert demo.real_api_target({}) is None
    with pytest.raises(demo.DemoError, match="SINCH_KEY_SECRET, SINCH_PROJECT_ID not"):
        demo.real_api_target({"SINCH_KEY_ID": "abc"})


def test_real_api_connection_uses_oauth2_and_the_default_host(tmp_path: Path) -> None:
    demo = load_demo()
    secret = "real-secret-value-123"
    target = demo.real_api_target({"SINCH_KEY_ID": "kid", "SINCH_KEY_SECRET": secret, "SINCH_PROJECT_ID": "proj"})
    assert target.conn == {
        "conn_type": "sinch",
        "login": "kid",
        "password": secret,
        "extra": {"project_id": "proj", "auth_type": "oauth2"},
    }
    assert secret not in target.description
    env = demo.airflow_env(tmp_path, target)
    assert json.loads(env["AIRFLOW_CONN_SINCH_DEFAULT"]) == target.conn
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "example_dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert not any(name.startswith("SINCH_") for name in env)


def test_fax_table_lines_up_columns() -> None:
    demo = load_demo()
    faxes = [
        {
            "id": "01ABC",
            "direction": "INBOUND",
            "from": "+15551234567",
            "to": "+15557654321",
            "numberOfPages": 3,
            "status": "COMPLETED",
            "createTime": "2026-01-02T03:04:05.678Z",
        },
        {"id": "01ABD", "direction": "INBOUND", "status": "QUEUED"},
    ]
    lines = demo.fax_table(faxes).splitlines()
    assert lines[0].split() == ["id", "direction", "from", "to", "pages", "status", "created", "(UTC)"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == [
        "01ABC",
        "INBOUND",
        "+15551234567",
        "+15557654321",
        "3",
        "COMPLETED",
        "2026-01-02",
        "03:04:05",
    ]
    assert lines[3].split() == ["01ABD", "INBOUND", "QUEUED"]


def test_the_demo_refuses_airflow_2(monkeypatch: pytest.MonkeyPatch) -> None:
    demo = load_demo()
    monkeypatch.setattr(demo, "version", lambda name: "2.10.5")
    with pytest.raises(demo.DemoError, match=r"runs on Airflow 3, not 2\.10\.5"):
        demo.airflow_version()
