"""Fixtures for the simulator's own tests: servers on 127.0.0.1 with a free port."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

AUTH = ("test-key-id", "test-key-secret")
# Fixed end of the seeded span for the shared server, so its data never depends on the clock
# except through the one-week default window, which tests compute from the same constant.
SEED_END = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimulatorServer]]:
    """Start simulators with config overrides; all are stopped after the test."""
    started: list[SimulatorServer] = []

    def start(**overrides: Any) -> SimulatorServer:
        server = SimulatorServer(SimulatorConfig(**overrides)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sim(start_sim: Callable[..., SimulatorServer]) -> SimulatorServer:
    """A fresh, empty simulator with quick status transitions."""
    return start_sim(transition_seconds=0.4)


@pytest.fixture(scope="session")
def seeded_sim() -> Iterator[SimulatorServer]:
    """One shared simulator with 3,000 seeded faxes. Tests must not change its data."""
    with SimulatorServer(SimulatorConfig(seed_faxes=3000, seed=7, seed_end=SEED_END)) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_shared_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "seeded_sim" in request.fixturenames:
        server = request.getfixturevalue("seeded_sim")
        server.faults.clear()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session with Basic auth for the default credentials."""
    with requests.Session() as session:
        session.auth = AUTH
        yield session
