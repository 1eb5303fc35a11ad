"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

The Airflow 3.3 connection form is built only from this dictionary (``conn-fields`` and
``ui-field-behaviour``, both from :mod:`airflow_provider_sinch.connection`); the hook's
``get_connection_form_widgets`` serves Airflow 2.x from the same fields.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_sinch import __version__
from airflow_provider_sinch.connection import CONN_FIELDS, UI_FIELD_BEHAVIOUR

__all__ = ["CONN_FIELDS", "UI_FIELD_BEHAVIOUR", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's ProvidersManager registers."""
    return {
        "package-name": "airflow-provider-sinch",
        "name": "Sinch",
        "description": "Sinch REST APIs with one connection: the Fax API (operators, sensor, triggers) and the "
        "Conversation API (messages, notifier) through Sinch's Python SDK.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "sinch",
                "hook-class-name": "airflow_provider_sinch.hooks.sinch.SinchHook",
                "hook-name": "Sinch",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        "hooks": [{"integration-name": "Sinch", "python-modules": ["airflow_provider_sinch.hooks.sinch"]}],
        "operators": [
            {
                "integration-name": "Sinch",
                "python-modules": [
                    "airflow_provider_sinch.operators.fax",
                    "airflow_provider_sinch.operators.conversation",
                ],
            }
        ],
        "sensors": [{"integration-name": "Sinch", "python-modules": ["airflow_provider_sinch.sensors.fax"]}],
        "triggers": [{"integration-name": "Sinch", "python-modules": ["airflow_provider_sinch.triggers.fax"]}],
        "notifications": ["airflow_provider_sinch.notifications.sinch.SinchNotifier"],
        "integrations": [
            {
                "integration-name": "Sinch",
                "external-doc-url": "https://developers.sinch.com/docs/",
                "tags": ["service"],
            }
        ],
    }
