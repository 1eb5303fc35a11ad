"""``docker-compose.yaml`` and ``Dockerfile``, checked offline: no Docker engine runs here.

Debian's ``docker-compose`` (the v1 parser) validates the file (``config -q``) and resolves it; the
tests then check the services, the ``sinch_default`` connection, the loopback-only ports and the
Airflow pins against the Makefile's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_sinch.connection import parse_connection

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "sinch-simulator"}


def _install_docker_compose() -> str | None:
    """Debian's docker-compose via apt-get (as root); the reason it cannot be had otherwise."""
    if os.geteuid() != 0:
        return "docker-compose is not installed and installing it needs root (apt-get install -y docker-compose)"
    if shutil.which("apt-get") is None:
        return "docker-compose is not installed and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "docker-compose"]
    if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            return f"apt-get install docker-compose failed: {result.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="module")
def docker_compose() -> str:
    """Path of ``docker-compose``, installed if missing; in CI its absence fails instead of skipping."""
    path = shutil.which("docker-compose")
    if path is None:
        reason = _install_docker_compose()
        path = shutil.which("docker-compose")
        if path is None:
            message = reason or "docker-compose not found after installing it"
            if os.environ.get("CI"):
                pytest.fail(f"CI must validate docker-compose.yaml: {message}")
            pytest.skip(message)
    return path


def compose(docker_compose: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``docker-compose -f docker-compose.yaml ARGS`` with only the variables given (plus PATH)."""
    clean_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), **env}
    return subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def resolved(docker_compose: str) -> dict[str, Any]:
    """The file as docker-compose resolves it (anchors merged, ${VARS} defaulted)."""
    result = compose(docker_compose, "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def makefile_airflow_version() -> str:
    match = re.search(r"^AIRFLOW_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile has no AIRFLOW_VERSION default"
    return match.group(1)


def test_docker_compose_validates_the_file(docker_compose: str) -> None:
    result = compose(docker_compose, "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # no warnings (e.g. unset variables without a default)


def test_the_official_services_and_the_simulator(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == SERVICES
    assert services["airflow-worker"]["command"] in ("celery worker", ["celery", "worker"])
    for name in AIRFLOW_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert service["image"] == services["sinch-simulator"]["image"]
        assert service["build"]["dockerfile"] == "Dockerfile"
        mounts = {volume.split(":")[1]: volume for volume in service["volumes"]}
        assert mounts["/opt/airflow/dags"].startswith(str(ROOT / "example_dags") + ":")
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # The worker and the triggerer (NewFaxEventTrigger polls from there) start once the simulator is healthy.
    for name in ("airflow-worker", "airflow-triggerer"):
        assert services[name]["depends_on"]["sinch-simulator"]["condition"] == "service_healthy", name
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


def _simulator_args(resolved: dict[str, Any]) -> dict[str, str]:
    command = resolved["services"]["sinch-simulator"]["command"]
    args: dict[str, str] = {}
    for item in command:
        name, _, value = item.partition("=")
        args[name] = value
    return args


def test_the_simulator_service_runs_the_cli_on_the_network(resolved: dict[str, Any]) -> None:
    from airflow_provider_sinch.simulator.cli import build_parser

    service = resolved["services"]["sinch-simulator"]
    assert service["entrypoint"] == ["sinch-fax-simulator"]
    parsed = build_parser().parse_args(service["command"])  # the CLI accepts exactly these arguments
    assert parsed.host == "0.0.0.0"
    assert parsed.allow_remote  # the CLI refuses a non-loopback host without it
    assert parsed.tls_dir  # https, so credentials never cross the network in clear
    assert parsed.tls_hostname == ["sinch-simulator"]
    assert parsed.port == 8080
    assert parsed.seed_faxes > 0


def test_sinch_default_points_at_the_simulator_over_verified_https(resolved: dict[str, Any], tmp_path: Path) -> None:
    from airflow.models.connection import Connection
    from cryptography import x509

    from airflow_provider_sinch.simulator.tls import CERT_NAME, ensure_self_signed_cert

    services = resolved["services"]
    sim = _simulator_args(resolved)
    values = {services[name]["environment"]["AIRFLOW_CONN_SINCH_DEFAULT"] for name in AIRFLOW_SERVICES}
    assert len(values) == 1
    conn = Connection(conn_id="sinch_default", uri=values.pop())
    assert conn.conn_type == "sinch"

    # The connection trusts exactly the certificate the simulator writes, through a volume both mount.
    tls_dir = sim["--tls-dir"]
    assert conn.extra_dejson["ca_bundle"] == f"{tls_dir}/{CERT_NAME}"
    sim_volume = next(v for v in services["sinch-simulator"]["volumes"] if v.split(":")[1] == tls_dir)
    for name in AIRFLOW_SERVICES:
        assert f"{sim_volume.split(':')[0]}:{tls_dir}:ro" in services[name]["volumes"]

    # The hook's reading of it, with the certificate the simulator's own arguments produce.
    cert, _ = ensure_self_signed_cert(tmp_path, [sim["--tls-hostname"], sim["--host"]])
    conn.set_extra(json.dumps({**conn.extra_dejson, "ca_bundle": str(cert)}))
    settings = parse_connection(conn)
    assert settings.host == "https://sinch-simulator:8080"  # https: plain http would be refused
    assert "--key-secret" not in sim, "a secret on the command line is visible to every local user (ps)"
    secret = services["sinch-simulator"]["environment"]["SINCH_SIMULATOR_KEY_SECRET"]
    assert (settings.key_id, settings.key_secret) == (sim["--key-id"], secret)
    assert settings.project_id == sim["--project-id"]
    assert settings.auth_type == "basic"
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "sinch-simulator" in names.value.get_values_for_type(x509.DNSName)


def test_a_real_project_replaces_the_connection(docker_compose: str) -> None:
    real = json.dumps(
        {
            "conn_type": "sinch",
            "login": "KEY_ID",
            "password": "KEY_SECRET",
            "extra": {"project_id": "PROJECT_ID", "auth_type": "oauth2"},
        }
    )
    result = compose(docker_compose, "config", AIRFLOW_CONN_SINCH_DEFAULT=real)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in AIRFLOW_SERVICES:
        assert json.loads(services[name]["environment"]["AIRFLOW_CONN_SINCH_DEFAULT"]) == json.loads(real)


def test_every_published_port_is_bound_to_loopback(resolved: dict[str, Any]) -> None:
    published = []
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            published.append((name, text))
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
    assert ("airflow-apiserver", "127.0.0.1:8080:8080/tcp") in published
    assert {name for name, _ in published} == {"airflow-apiserver", "sinch-simulator"}
    raw = COMPOSE_FILE.read_text()
    assert not re.search(r'^\s*-\s*"?\d+:\d+"?\s*$', raw, re.MULTILINE)  # no unbound "8080:8080"


def test_dockerfile_pins_the_airflow_of_make_test() -> None:
    version = makefile_airflow_version()
    dockerfile = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert froms == [f"apache/airflow:{version}"]
    unfolded = dockerfile.replace("\\\n", " ")
    install = " ".join(re.findall(r"^RUN\s+(.*pip install.*)$", unfolded, re.MULTILINE))
    assert f'"apache-airflow=={version}"' in install
    assert "/opt/airflow-provider-sinch[simulator]" in install
    # The constraints file make test installs that version with, copied into the image and used.
    assert f"-c /opt/airflow-provider-sinch/constraints/airflow-{version}.txt" in install
    assert f"constraints/airflow-{version}.txt /opt/airflow-provider-sinch/constraints/" in dockerfile
    for source in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"


def test_dockerignore_keeps_what_the_image_needs_and_nothing_else() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!airflow_provider_sinch"} <= set(rules)


def _init_uid_check(docker_compose: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The AIRFLOW_UID check of airflow-init's command, as docker-compose resolves it with ``env``, run by bash."""
    result = compose(docker_compose, "config", **env)
    assert result.returncode == 0, result.stderr
    script = yaml.safe_load(result.stdout)["services"]["airflow-init"]["command"][-1]
    # `config` prints "$$" escaped again; the container gets "$".
    check = script[: script.index("mkdir -p")].replace("$$", "$")
    return subprocess.run(["bash", "-c", check], capture_output=True, text=True, timeout=30)


def test_airflow_init_warns_when_airflow_uid_is_not_set(docker_compose: str) -> None:
    """As docs/docker-compose.md says: without AIRFLOW_UID the init job warns, and says how to set it."""
    unset = _init_uid_check(docker_compose)
    assert unset.returncode == 0, unset.stderr
    assert "AIRFLOW_UID not set" in unset.stdout
    assert 'echo "AIRFLOW_UID=$(id -u)" > .env' in unset.stdout
    given = _init_uid_check(docker_compose, AIRFLOW_UID="1000")
    assert given.returncode == 0, given.stderr
    assert "AIRFLOW_UID not set" not in given.stdout
    assert "AIRFLOW_UID" in (ROOT / "docs" / "docker-compose.md").read_text()
