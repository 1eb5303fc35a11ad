"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

The Airflow 3.3 connection form is built only from this dictionary (``conn-fields`` and
``ui-field-behaviour``); the hook's ``get_connection_form_widgets`` serves Airflow 2.x.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_sinch import __version__

DEFAULT_API_HOST = "https://fax.api.sinch.com"
DEFAULT_TOKEN_URL = "https://auth.sinch.com/oauth2/token"

#: Extra fields of the ``sinch`` connection, shared by the 3.x provider info and the 2.x form widgets.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "project_id": {
        "label": "Project ID",
        "description": "Your Sinch project ID (Sinch dashboard > Settings > Access keys). Required.",
        "schema": {"type": "string", "minLength": 1},
    },
    "auth_type": {
        "label": "Auth type",
        "description": "basic: HTTP Basic with key ID/secret on every call (heavily rate limited). "
        "oauth2: client-credentials bearer tokens, recommended for production.",
        "schema": {"type": ["string", "null"], "default": "basic", "enum": ["basic", "oauth2"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of every HTTP request to Sinch, in seconds.",
        "schema": {"type": ["number", "null"], "default": 30, "exclusiveMinimum": 0},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries on 429, 502, 503, 504 and connection errors, with exponential backoff.",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    # Not "token_url": Airflow masks every extra whose name contains "token" as *** in the UI and the API.
    "auth_url": {
        "label": "OAuth2 token URL",
        "description": f"Only for auth type oauth2. Default: {DEFAULT_TOKEN_URL}",
        "schema": {"type": ["string", "null"]},
    },
    "rate_limit": {
        "label": "Rate limit (requests/second)",
        "description": "At most this many requests per second from each worker process with this key, its "
        "tasks together; empty for no limit. Set it to the key's Sinch rate limit divided by the number of "
        "worker processes, so concurrent tasks queue instead of being refused with 429.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Path of a PEM file of certificates to trust instead of the system's, e.g. a local "
        "simulator's self-signed certificate. TLS verification is never turned off.",
        "schema": {"type": ["string", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"login": "Key ID", "password": "Key Secret", "host": "API base URL"},
    "placeholders": {
        "host": DEFAULT_API_HOST,
        "login": "Access key ID",
        "password": "Access key secret",
        "project_id": "00000000-0000-0000-0000-000000000000",
        "auth_url": DEFAULT_TOKEN_URL,
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's ProvidersManager registers."""
    return {
        "package-name": "airflow-provider-sinch",
        "name": "Sinch",
        "description": "Sinch REST APIs (Fax API v3): connection, hook, operators, sensors and triggers.",
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
        "operators": [{"integration-name": "Sinch", "python-modules": ["airflow_provider_sinch.operators.fax"]}],
        "sensors": [{"integration-name": "Sinch", "python-modules": ["airflow_provider_sinch.sensors.fax"]}],
        "triggers": [{"integration-name": "Sinch", "python-modules": ["airflow_provider_sinch.triggers.fax"]}],
        "integrations": [
            {
                "integration-name": "Sinch",
                "external-doc-url": "https://developers.sinch.com/docs/fax/",
                "tags": ["service"],
            }
        ],
    }
