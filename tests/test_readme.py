"""The README runs: its code blocks execute, its commands work, its links and versions are current."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch import __version__
from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.clients import client_class
from airflow_provider_sinch.connection import parse_connection
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json, xcom_return_value

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MY_DOCS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "docs" / "docker-compose.md",
    ROOT / "docs" / "development.md",
]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


PYTHON_BLOCKS = code_blocks(README, "python")
DAG_BLOCKS = [block for block in PYTHON_BLOCKS if "@dag" in block or "DAG(" in block]
SCRIPT_BLOCKS = [block for block in PYTHON_BLOCKS if block not in DAG_BLOCKS]
BASH = "\n".join(code_blocks(README, "bash"))


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    """A week of seeded faxes, so the README's "this week" and "latest" snippets have something to show."""
    config = SimulatorConfig(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        project_id=PROJECT_ID,
        seed=11,
        seed_faxes=300,
        seed_period=timedelta(days=7),
    )
    with SimulatorServer(config) as sim:
        yield sim


def test_the_readme_has_the_blocks_these_tests_run() -> None:
    assert len(DAG_BLOCKS) == 1
    assert len(SCRIPT_BLOCKS) == 1


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_every_python_block_compiles(index: int) -> None:
    compile(PYTHON_BLOCKS[index], f"README.md python block {index + 1}", "exec")


def test_the_tour_dag_runs_and_puts_the_latest_faxes_in_xcom(
    airflow_db: Path,
    dags_folder: Path,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = DAG_BLOCKS[0]
    if not AIRFLOW_V_3:  # what the README tells Airflow 2.x users to change
        source = source.replace("from airflow.sdk import dag, task", "from airflow.decorators import dag, task")
    (dags_folder / "readme_tour.py").write_text(source)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    dag_bag = DagBag(dag_folder=str(dags_folder / "readme_tour.py"))
    assert not dag_bag.import_errors, dag_bag.import_errors
    dag = dag_bag.get_dag("sinch_fax_tour")
    assert dag is not None
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(simulator.url))
    dag_run = dag.test()
    assert dag_run.state == "success"

    latest = xcom_return_value("sinch_fax_tour", dag_run.run_id, "latest_inbound_faxes")
    inbound = [fax for fax in simulator.store.all_faxes() if fax["direction"] == "INBOUND"]
    newest = sorted(inbound, key=lambda fax: (fax["createTime"], fax["id"]), reverse=True)[:10]
    assert [fax["id"] for fax in latest] == [fax["id"] for fax in newest]
    assert set(latest[0]) == {"id", "from", "numberOfPages", "status", "createTime"}
    assert xcom_return_value("sinch_fax_tour", dag_run.run_id, "report") == 0  # a manual run's interval is empty
    out, err = capfd.readouterr()
    assert f"{newest[0]['numberOfPages']} pages {newest[0]['status']}" in out + err
    assert KEY_SECRET not in out + err


def test_the_hook_snippet_lists_and_downloads(
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(simulator.url))
    monkeypatch.chdir(tmp_path)
    exec(compile(SCRIPT_BLOCKS[0], "README.md hook snippet", "exec"), {"__name__": "readme_snippet"})
    out = capsys.readouterr().out
    count = int(out.split(" completed inbound faxes this week")[0].split()[-1])
    assert count > 0
    assert (tmp_path / "fax.pdf").read_bytes().startswith(b"%PDF")
    assert re.search(r"^\d+ bytes, sha256 [0-9a-f]{64}$", out, re.MULTILINE)


def _documented_env_connections() -> list[str]:
    texts = [README, (ROOT / "docs" / "docker-compose.md").read_text()]
    return [value for text in texts for value in re.findall(r"export AIRFLOW_CONN_SINCH_DEFAULT='([^']+)'", text)]


@pytest.mark.parametrize("value", _documented_env_connections())
def test_documented_env_var_connections_are_valid(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", value)
    settings = SinchHook().settings  # read through Airflow's env-var secrets backend, as a task would
    assert settings.project_id in ("PROJECT_ID", "test-project")
    assert settings.key_id in ("KEY_ID", "test-key-id")
    if settings.key_id == "KEY_ID":
        assert settings.auth_type == "oauth2"  # the README recommends it for real projects
        assert settings.host is None, "a real project: each API client uses its own Sinch host"
    else:
        assert settings.host == "http://127.0.0.1:8080"  # the simulator example


def test_the_documented_json_and_uri_forms_are_the_same_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    json_form, uri_form = (v for v in _documented_env_connections()[:2])
    assert json_form.startswith("{")
    assert uri_form.startswith("sinch://")
    settings = []
    for value in (json_form, uri_form):
        monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", value)
        settings.append(repr(SinchHook().settings) + SinchHook().settings.key_secret)
    assert settings[0] == settings[1]


def test_the_airflow_connections_add_line_creates_a_valid_connection(airflow_db: Path) -> None:
    lines = [line for line in BASH.splitlines() if line.startswith("airflow connections add ")]
    assert len(lines) == 1
    argv = shlex.split(lines[0])
    assert argv[3] == "sinch_default"
    conn_id = f"readme_check_{uuid.uuid4().hex[:8]}"  # the shared test database keeps no sinch_default
    argv[3] = conn_id
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    try:
        added = subprocess.run([airflow, *argv[1:]], env=env, capture_output=True, text=True, timeout=180)
        assert added.returncode == 0, added.stdout + added.stderr
        got = subprocess.run(
            [airflow, "connections", "get", conn_id, "-o", "json"], env=env, capture_output=True, text=True, timeout=180
        )
        assert got.returncode == 0, got.stdout + got.stderr
    finally:
        subprocess.run([airflow, "connections", "delete", conn_id], env=env, capture_output=True, timeout=180)
    record = _json_from_cli(got.stdout)
    from airflow.models.connection import Connection

    conn = Connection(
        conn_id=conn_id,
        conn_type=record["conn_type"],
        login=record["login"],
        password=record["password"],
        extra=json.dumps(record["extra_dejson"]) if "extra_dejson" in record else record["extra"],
    )
    settings = parse_connection(conn)
    assert (settings.key_id, settings.key_secret, settings.project_id) == ("KEY_ID", "KEY_SECRET", "PROJECT_ID")
    assert settings.auth_type == "oauth2"


def _json_from_cli(stdout: str) -> dict[str, Any]:
    """The connection record of ``airflow connections get -o json`` (a list of one; logs may precede it)."""
    start = stdout.index("[")
    records = json.loads(stdout[start:])
    assert len(records) == 1
    return records[0]


def test_the_simulator_command_is_valid() -> None:
    from airflow_provider_sinch.simulator.cli import build_parser

    lines = [line for line in BASH.splitlines() if line.startswith("sinch-fax-simulator ")]
    assert lines
    for line in lines:
        build_parser().parse_args(shlex.split(line.split("#")[0])[1:])


def test_the_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    documented = set(
        re.findall(r"(?:^|`)make ([a-z][\w-]*)", README + (ROOT / "docs" / "development.md").read_text(), re.MULTILINE)
    )
    assert {"demo", "test", "test-newest", "test-oldest"} <= documented
    assert documented <= targets


@pytest.mark.parametrize("doc", MY_DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_supported_versions_match_the_build() -> None:
    makefile = (ROOT / "Makefile").read_text()
    newest = re.search(r"^AIRFLOW_VERSION \?= (\S+)$", makefile, re.MULTILINE).group(1)  # type: ignore[union-attr]
    oldest = re.search(r"^AIRFLOW_OLDEST \?= (\S+)$", makefile, re.MULTILINE).group(1)  # type: ignore[union-attr]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.10"' in pyproject
    assert '"apache-airflow>=2.10"' in pyproject
    row = {
        cells[0]: cells[1:]
        for line in README.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert row["Python"][0] == ">= 3.10"
    assert row["Apache Airflow"][0] == "2.10+ and 3.x"
    assert f"{newest} (full suite)" in row["Apache Airflow"][1]
    assert oldest in row["Apache Airflow"][1]
    assert f"apache/airflow:{newest}" in README


def test_the_changelog_covers_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(__version__)}\]", changelog, re.MULTILINE)


def test_every_class_the_readme_names_exists() -> None:
    import importlib

    names = re.findall(r"`(airflow_provider_sinch(?:\.\w+)+)\.([A-Z]\w+)`", README)
    assert len(names) >= 5
    for module, name in names:
        assert hasattr(importlib.import_module(module), name), f"README names {module}.{name}, which does not exist"
    for attribute in ("fax", "conversation"):
        row = re.search(rf"\| `hook\.{attribute}`: ([^|]*)\|", README)
        assert row, f"README lists no methods of hook.{attribute}"
        client = client_class(attribute)
        for method in re.findall(r"`(\w+)`", row.group(1)):
            assert callable(getattr(client, method, None)), (
                f"README names hook.{attribute}.{method}, which does not exist"
            )
