"""The few imports that differ between Airflow 3.1+ (``airflow.sdk``), Airflow 3.0 and Airflow 2.10 / 2.11.

Kept in one place so nothing else in the provider branches on the Airflow version, and so the
provider does not depend on ``apache-airflow-providers-common-compat`` (>= 1.23 needs Airflow 2.11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION

AIRFLOW_V_3 = int(AIRFLOW_VERSION.split(".", 1)[0]) >= 3

if AIRFLOW_V_3:
    from airflow.sdk import (
        BaseOperator,
        BaseSensorOperator,
        Context,
        PokeReturnValue,
    )
    from airflow.sdk.bases.notifier import BaseNotifier

    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 3.0: the Task SDK has a BaseHook from 3.1 on
        from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # Airflow 3.0.0 to 3.0.5: airflow.sdk.log re-exports it from 3.0.6 on
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef,attr-defined]
else:  # Airflow 2.10 / 2.11
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.notifications.basenotifier import BaseNotifier  # type: ignore[no-redef]
    from airflow.sensors.base import (  # type: ignore[no-redef]
        BaseSensorOperator,
        PokeReturnValue,
    )
    from airflow.utils.context import Context  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


def object_storage_path(url: Any, conn_id: str | None = None) -> ObjectStoragePath:
    """An Airflow ``ObjectStoragePath``, its class imported on first use.

    Importing it pulls in fsspec and universal-pathlib, which DAG files that never touch storage
    should not pay for at parse time.
    """
    if AIRFLOW_V_3:
        from airflow.sdk import ObjectStoragePath
    else:
        from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    return ObjectStoragePath(url, conn_id=conn_id)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "Context",
    "PokeReturnValue",
    "mask_secret",
    "object_storage_path",
]
