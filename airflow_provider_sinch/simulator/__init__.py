"""A local simulator of Sinch's Fax API v3 (quirks included) for tests, demos and offline development.

The provider never imports this package. It needs FastAPI and uvicorn (shipped with Airflow 3; the
``[simulator]`` extra on Airflow 2) but not Airflow itself. ``SimulatorConfig`` and ``FaxStore``
import without them; ``SimulatorServer`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sinch.simulator.config import SINCH_TEST_NUMBER, SimulatorConfig
from airflow_provider_sinch.simulator.store import FaxStore

if TYPE_CHECKING:
    from airflow_provider_sinch.simulator.app import RecordedRequest, SimulatorApp
    from airflow_provider_sinch.simulator.faults import FaultInjector
    from airflow_provider_sinch.simulator.server import SimulatorServer

__all__ = [
    "SINCH_TEST_NUMBER",
    "FaultInjector",
    "FaxStore",
    "RecordedRequest",
    "SimulatorApp",
    "SimulatorConfig",
    "SimulatorServer",
]

_LAZY = {
    "SimulatorServer": "airflow_provider_sinch.simulator.server",
    "SimulatorApp": "airflow_provider_sinch.simulator.app",
    "RecordedRequest": "airflow_provider_sinch.simulator.app",
    "FaultInjector": "airflow_provider_sinch.simulator.faults",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
