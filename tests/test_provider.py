"""The provider as Airflow sees it: registration, the connection form, and the 2.x/3.x compat module."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys

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
    assert fields["conversation_region"]["schema"]["enum"] == ["us", "eu", "br"]
    assert "conversation_app_id" in fields
    assert "each Sinch API" in conn["ui-field-behaviour"]["placeholders"]["host"], "the host is optional"


def test_provider_info_lists_the_notifier_and_both_operator_modules() -> None:
    import importlib

    info = get_provider_info()
    for dotted in info["notifications"]:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name)
    modules = [m for entry in info["operators"] for m in entry["python-modules"]]
    assert modules == ["airflow_provider_sinch.operators.fax", "airflow_provider_sinch.operators.conversation"]
    for module in modules:
        importlib.import_module(module)


def test_airflow2_ui_behaviour_is_the_airflow3_one() -> None:
    behaviour = SinchHook.get_ui_field_behaviour()
    info = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == info["hidden-fields"]
    assert behaviour["relabeling"] == info["relabeling"]
    assert behaviour["placeholders"] == info["placeholders"]


@pytest.mark.skipif(AIRFLOW_V_3, reason="wtforms/flask exist only with Airflow 2.x's FAB UI")
def test_airflow2_form_widgets_build() -> None:
    widgets = SinchHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS), "the 2.x form is built from the 3.x form's fields"
    assert type(widgets["max_retries"].field_class).__name__ != "", "widgets build"
    assert widgets["max_retries"].field_class.__name__ == "IntegerField"
    assert widgets["timeout"].field_class.__name__ == "StringField", "Airflow 2's form has no FloatField"


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
