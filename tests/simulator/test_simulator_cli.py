"""The ``sinch-fax-simulator`` command: starts, serves, refuses remote hosts unless told."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_provider_sinch.simulator.cli import build_parser, config_from_args

from .conftest import AUTH

SCRIPT = Path(sys.executable).with_name("sinch-fax-simulator")


def run_and_probe(command: list[str]) -> tuple[str, dict[str, object]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, process.stderr.read() if process.stderr else line
        url = line.split("listening on ", 1)[1].split()[0]
        body = requests.get(
            f"{url}/v3/projects/cli-project/faxes", params={"createTime>": "2000"}, auth=AUTH, timeout=10
        )
        assert body.status_code == 200
        first = requests.get(f"{url}/v3/projects/cli-project/services", auth=AUTH, timeout=10)
        return line, {"faxes": body.json(), "first": first.status_code}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("entry", ["module", "script"])
def test_cli_starts_and_serves(entry: str) -> None:
    args = ["--port", "0", "--seed-faxes", "50", "--project-id", "cli-project", "--fail-next", "0"]
    if entry == "module":
        command = [sys.executable, "-m", "airflow_provider_sinch.simulator", *args]
    else:
        if not SCRIPT.exists():
            pytest.skip("console script not installed (pip install -e .)")
        command = [str(SCRIPT), *args]
    line, result = run_and_probe(command)
    assert "50 faxes" in line
    faxes = result["faxes"]
    assert isinstance(faxes, dict)
    assert faxes["totalItems"] == 50


def test_cli_fault_flags() -> None:
    command = [
        sys.executable, "-m", "airflow_provider_sinch.simulator", "--port", "0", "--project-id", "cli-project",
        "--fail-next", "1", "--fail-status", "502", "--fault-path-prefix", "/v3/projects/cli-project/services",
    ]  # fmt: skip
    _, result = run_and_probe(command)
    assert result["first"] == 502


def test_cli_refuses_a_remote_host_without_allow_remote() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "airflow_provider_sinch.simulator", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr


def test_cli_arguments_map_to_the_config() -> None:
    args = build_parser().parse_args(
        ["--rate-limit", "3", "--oauth-rate-limit", "20", "--token-ttl", "60", "--no-shuffle",
         "--failing-number", "+15550001111", "--transition-seconds", "0.5", "--seed", "9", "--key-id", "k"]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.basic_rate_limit, config.oauth_rate_limit, config.token_ttl) == (3, 20, 60)
    assert config.shuffle is False
    assert config.failing_numbers == ("+15550001111",)
    assert (config.transition_seconds, config.seed, config.key_id) == (0.5, 9, "k")
