"""The provider as Airflow sees it: registration, the connection form, and the 2.x/3.x compat module."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.get_provider_info import CONN_FIELDS, get_provider_info
from airflow_provider_sinch.hooks.sinch import SinchHook


def test_entry_point_and_package_name() -> None:
    dist = importlib.metadata.distribution("airflow-provider-sinch")
    eps = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert len(eps) == 1
    info = eps[0].load()()
    assert info["package-name"] == dist.metadata["Name"] == "airflow-provider-sinch"
    classifiers = dist.metadata.get_all("Classifier") or []
    assert "Framework :: Apache Airflow :: Provider" in classifiers


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_providers_manager_discovers_the_sinch_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-sinch" in pm.providers
    hook_info = pm.hooks["sinch"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_sinch.hooks.sinch.SinchHook"
    assert hook_info.connection_id_attribute_name == "sinch_conn_id"
    assert hook_info.hook_name == "Sinch"
    behaviour = pm.field_behaviours["sinch"]
    assert set(behaviour["hidden_fields"]) == {"port", "schema"}
    assert behaviour["relabeling"] == {"login": "Key ID", "password": "Key Secret", "host": "API base URL"}
    widgets = {name.split("__")[-1] for name in pm.connection_form_widgets if name.startswith("extra__sinch__")}
    assert {"project_id", "auth_type", "timeout", "max_retries"} <= widgets


def test_conn_fields_schema() -> None:
    conn = get_provider_info()["connection-types"][0]
    assert conn["connection-type"] == "sinch"
    assert conn["hook-name"] == "Sinch"
    fields = conn["conn-fields"]
    assert fields["auth_type"]["schema"]["enum"] == ["basic", "oauth2"]
    assert fields["auth_type"]["schema"]["default"] == "basic"
    assert fields["timeout"]["schema"]["default"] == 30
    assert fields["max_retries"]["schema"]["default"] == 5
    assert fields["project_id"]["schema"]["type"] == "string", "project_id is required (not nullable)"
    assert conn["ui-field-behaviour"]["placeholders"]["host"] == "https://fax.api.sinch.com"


def _widget_names_from_source() -> set[str]:
    """The keys of the dict returned by get_connection_form_widgets, read from its source.

    Reading the source works on Airflow 3.3, where wtforms/flask (which the method imports) are absent.
    """
    source = textwrap.dedent(inspect.getsource(SinchHook.get_connection_form_widgets.__func__))  # type: ignore[attr-defined]
    returns = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Return)]
    assert len(returns) == 1
    assert isinstance(returns[0].value, ast.Dict)
    return {key.value for key in returns[0].value.keys if isinstance(key, ast.Constant)}


def test_airflow2_form_and_airflow3_conn_fields_list_the_same_fields() -> None:
    assert _widget_names_from_source() == set(CONN_FIELDS)
    behaviour = SinchHook.get_ui_field_behaviour()
    info = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == info["hidden-fields"]
    assert behaviour["relabeling"] == info["relabeling"]
    assert behaviour["placeholders"] == info["placeholders"]


@pytest.mark.skipif(AIRFLOW_V_3, reason="wtforms/flask exist only with Airflow 2.x's FAB UI")
def test_airflow2_form_widgets_build() -> None:
    widgets = SinchHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)


def test_own_imports_raise_no_deprecation_warnings() -> None:
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning);"
        "import airflow_provider_sinch.hooks.sinch, airflow_provider_sinch._compat"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_hook_attributes() -> None:
    assert SinchHook.conn_type == "sinch"
    assert SinchHook.default_conn_name == "sinch_default"
    assert SinchHook.conn_name_attr == "sinch_conn_id"
    assert SinchHook.hook_name == "Sinch"
    assert "sinch_conn_id" in inspect.signature(SinchHook.__init__).parameters
