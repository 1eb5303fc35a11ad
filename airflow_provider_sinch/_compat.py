"""The few imports that differ between Airflow 3 (``airflow.sdk``) and Airflow 2.10.

Kept in one place so nothing else in the provider branches on the Airflow version, and so the
provider does not depend on ``apache-airflow-providers-common-compat`` (>= 1.23 needs Airflow 2.11).
"""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION

AIRFLOW_V_3 = int(AIRFLOW_VERSION.split(".", 1)[0]) >= 3

if AIRFLOW_V_3:
    from airflow.sdk import (
        BaseHook,
        BaseOperator,
        BaseSensorOperator,
        Context,
        ObjectStoragePath,
        PokeReturnValue,
    )
    from airflow.sdk.log import mask_secret
else:  # Airflow 2.10 / 2.11
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.sensors.base import (  # type: ignore[no-redef]
        BaseSensorOperator,
        PokeReturnValue,
    )
    from airflow.utils.context import Context  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "mask_secret",
]
