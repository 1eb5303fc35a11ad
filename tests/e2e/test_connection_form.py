"""The Sinch connection in Airflow's own UI, driven in a real browser.

A real ``airflow api-server`` (its own AIRFLOW_HOME on SQLite, test_connection Enabled) serves the UI;
Debian's Chromium, driven by Playwright, adds a Sinch connection the way a user does, tests it against
the Fax API simulator (right and wrong secret), saves it, and the stored connection is read back
through the REST API.

Airflow 3.3.2 quirks this test works with (see docs/e2e.md):

- The Test button is on the connection's row in the list, not in the Add/Edit dialog: a connection is
  saved before it can be tested.
- That button posts ``port: 0`` for a connection without a port and the API then answers 400 "Bad
  Request" (apache/airflow#73298, fixed upstream after 3.3.2). The test rewrites ``0`` to ``null`` in
  that one request, which is what the fixed API does; everything else goes as the UI built it.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import CHROMIUM
from tests.e2e.deployment import REPO_ROOT, AirflowAPI, airflow_env, migrate_db, start_api_server
from tests.e2e.processes import ProcessSupervisor, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser, Locator, Page, Route

    from airflow_provider_sinch.simulator import SimulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

KEY_ID = "e2e-key-id"
KEY_SECRET = "e2e-Key-S3cret-7Qx2-never-shown"
WRONG_SECRET = "e2e-Wrong-S3cret-9Kp4-never-shown"
PROJECT_ID = "e2e-project-4f1c"
CONN_ID = "sinch_ui"

# Chromium flags for a closed network and a root user (see shared Airflow notes / docs/e2e.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOT_DIR = REPO_ROOT / "docs" / "img"


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    from airflow_provider_sinch.simulator import SimulatorConfig, SimulatorServer

    config = SimulatorConfig(key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, seed_faxes=20, seed=7)
    with SimulatorServer(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def airflow(browser_prerequisites: None, e2e_workdir: Path) -> Iterator[tuple[ProcessSupervisor, AirflowAPI]]:
    """``airflow api-server`` on a free 127.0.0.1 port, over a freshly migrated SQLite database."""
    home = e2e_workdir / "airflow"
    (home / "dags").mkdir(parents=True)
    env = airflow_env(home, api_port=free_port(), dags_folder=home / "dags")
    with ProcessSupervisor(e2e_workdir / "logs", secrets=[KEY_SECRET, WRONG_SECRET]) as procs:
        migrate_db(procs, env)
        yield procs, start_api_server(procs, env)


@pytest.fixture(scope="module")
def browser(browser_prerequisites: None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def ui(browser: Browser, airflow: tuple[ProcessSupervisor, AirflowAPI], e2e_workdir: Path) -> Iterator[ConnectionsUI]:
    context = browser.new_context(viewport={"width": 1280, "height": 1400}, base_url=airflow[1].base_url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.route("**/api/v2/connections/test", _send_port_null_for_portless_connection)
    try:
        yield ConnectionsUI(page)
    finally:
        page.screenshot(path=str(e2e_workdir / "logs" / "last-page.png"))
        context.close()


def _send_port_null_for_portless_connection(route: Route) -> None:
    """Work around apache/airflow#73298 in Airflow 3.3.2 (see the module docstring)."""
    body = json.loads(route.request.post_data or "{}")
    if body.get("port") == 0:
        body["port"] = None
    route.continue_(post_data=json.dumps(body))


# -------------------------------------------------------------------------------------- page object


class ConnectionsUI:
    """Admin > Connections of Airflow 3.3's UI, as a user sees it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def dialog(self) -> Locator:
        return self.page.get_by_role("dialog")

    def open_list(self) -> None:
        """Go to the list, unless already there (it refreshes itself after a save)."""
        if not self.page.url.endswith("/connections"):
            self.page.goto("/connections")
        self.page.get_by_role("button", name="Add Connection").wait_for()

    def add(self, conn_id: str, conn_type: str) -> None:
        """Open Add Connection, type the ID and pick the connection type from the combobox."""
        self.open_list()
        self.page.get_by_role("button", name="Add Connection").click()
        self.dialog.locator("input[name=connection_id]").fill(conn_id)
        type_box = self.field("Connection Type").get_by_role("combobox")
        type_box.click()
        type_box.fill(conn_type)
        self.page.get_by_role("option", name=conn_type, exact=True).click()
        self.dialog.locator("input[name=login]").wait_for()

    def edit(self, conn_id: str) -> None:
        self.open_list()
        self.row(conn_id).get_by_role("button", name="Edit Connection").click()
        self.dialog.locator("input[name=login]").wait_for()

    def section(self, title: str) -> None:
        """Open one of the dialog's sections; opening one closes the others."""
        self.dialog.get_by_role("button", name=title, exact=True).click()

    def field(self, label: str) -> Locator:
        """The form field (label, input and help text) whose label starts with ``label``."""
        labels = self.page.locator("label").filter(has_text=label)  # relative to each field
        return self.dialog.locator("[data-scope=field][data-part=root]").filter(has=labels).first

    def labels(self) -> list[str]:
        """The visible labels of the dialog, without the required-field asterisk."""
        return [
            text.replace("*", "").strip()
            for text in self.dialog.locator("label").all_inner_texts()
            if text.replace("*", "").strip()
        ]

    def save(self) -> None:
        with self.page.expect_response(lambda r: "/api/v2/connections" in r.url and r.request.method != "GET") as r:
            self.dialog.get_by_role("button", name="Save").click()
        assert r.value.ok, f"saving the connection failed: HTTP {r.value.status} {r.value.text()}"
        self.dialog.wait_for(state="hidden")

    def row(self, conn_id: str) -> Locator:
        return self.page.get_by_role("row").filter(has_text=conn_id)

    def test(self, conn_id: str) -> tuple[dict[str, Any], str]:
        """Press the row's Test button; return the API's answer and the text of the toast the user sees."""
        self.open_list()
        with self.page.expect_response("**/api/v2/connections/test") as response:
            self.row(conn_id).get_by_role("button", name="Test Connection").click()
        assert response.value.ok, f"the test request failed: HTTP {response.value.status} {response.value.text()}"
        result = response.value.json()
        toast = self.page.locator("[data-scope=toast][data-part=root]").filter(has_text=result["message"]).first
        toast.wait_for()
        return result, toast.inner_text()


# ---------------------------------------------------------------------------------------------- tests


def test_add_test_and_save_a_sinch_connection_in_the_ui(
    ui: ConnectionsUI, airflow: tuple[ProcessSupervisor, AirflowAPI], simulator: SimulatorServer, e2e_workdir: Path
) -> None:
    """Add a Sinch connection as a user does, Test it (right and wrong secret), save, read it back via REST.

    One scenario rather than several tests: every page load of Airflow's UI costs seconds on 2 cores.
    """
    procs, api = airflow

    # 1. Picking "Sinch" relabels the standard fields and hides port and schema.
    ui.add(CONN_ID, "Sinch")
    standard = ui.labels()
    for label in ("API base URL", "Key ID", "Key Secret"):
        assert label in standard
    for label in ("Host", "Login", "Password", "Port", "Schema"):
        assert label not in standard
    assert ui.dialog.locator("input[name=port]").count() == 0
    assert ui.dialog.locator("input[name=schema]").count() == 0
    assert ui.dialog.locator("input[name=password]").get_attribute("type") == "password"
    assert "each Sinch API" in (ui.dialog.locator("input[name=host]").get_attribute("placeholder") or "")

    # 2. Fill the standard fields first: opening "Extra Fields" collapses them.
    ui.dialog.locator("input[name=host]").fill(simulator.url)
    ui.dialog.locator("input[name=login]").fill(KEY_ID)
    ui.dialog.locator("input[name=password]").fill(KEY_SECRET)
    ui.dialog.screenshot(path=str(e2e_workdir / "connection-form.png"))

    # 3. The extra fields, their defaults and the auth type choice; then OAuth2 against the simulator.
    ui.section("Extra Fields")
    extra_labels = ui.labels()
    for label in (
        "Project ID",
        "Auth type",
        "Timeout (seconds)",
        "Max retries",
        "OAuth2 token URL",
        "Conversation API region",
        "Conversation app ID",
    ):
        assert label in extra_labels
    assert "*" in ui.field("Project ID").locator("label").inner_text(), "Project ID is not marked required"
    assert ui.dialog.locator("input[name=element_timeout]").input_value() == "30"
    assert ui.dialog.locator("input[name=element_max_retries]").input_value() == "5"
    assert ui.dialog.locator("input[name=element_auth_type]").input_value() == "basic"
    ui.dialog.locator("input[name=element_project_id]").fill(PROJECT_ID)
    ui.field("Auth type").get_by_role("combobox").click()
    assert sorted(ui.page.get_by_role("option").all_inner_texts()) == ["basic", "oauth2"]
    ui.page.get_by_role("option", name="oauth2", exact=True).click()
    ui.dialog.locator("input[name=element_timeout]").fill("12.5")
    ui.dialog.locator("input[name=element_max_retries]").fill("2")
    ui.dialog.locator("input[name=element_auth_url]").fill(simulator.token_url)
    assert ui.dialog.locator("input[name=element_conversation_region]").input_value() == "us"
    ui.field("Conversation API region").get_by_role("combobox").click()
    assert sorted(ui.page.get_by_role("option").all_inner_texts()) == ["br", "eu", "us"]
    ui.page.get_by_role("option", name="eu", exact=True).click()
    ui.dialog.locator("input[name=element_conversation_app_id]").fill("test-app")
    ui.dialog.screenshot(path=str(e2e_workdir / "connection-form-extra.png"))
    ui.save()

    # 4. Test: success, through the hook in the API server, against the simulator.
    requests_before = simulator.request_count()
    result, toast = ui.test(CONN_ID)
    assert result["status"] is True, toast
    assert "Test Connection Successful" in toast
    assert f"project {PROJECT_ID}" in toast
    assert "oauth2" in toast
    assert "Conversation API: ok" in toast, "the Test button also read the connection's Conversation app"
    assert simulator.request_count() > requests_before, "the Test button did not reach the simulator"

    # 5. A wrong secret: the failure says what to check and shows no secret.
    ui.edit(CONN_ID)
    assert ui.dialog.locator("input[name=password]").input_value() != KEY_SECRET, "the edit form shows the secret"
    ui.dialog.locator("input[name=password]").fill(WRONG_SECRET)
    ui.save()
    result, toast = ui.test(CONN_ID)
    assert result["status"] is False
    assert "Test Connection Failed" in toast
    lowered = toast.lower()
    assert "check" in lowered
    assert "key id" in lowered
    assert "key secret" in lowered
    page_text = ui.page.locator("body").inner_text()
    for secret in (KEY_SECRET, WRONG_SECRET):
        assert secret not in toast
        assert secret not in page_text
        assert secret not in json.dumps(result)

    # 6. Put the right secret back and save: the stored connection, read through the REST API.
    ui.edit(CONN_ID)
    ui.dialog.locator("input[name=password]").fill(KEY_SECRET)
    ui.save()
    result, _ = ui.test(CONN_ID)
    assert result["status"] is True

    stored = api.connection(CONN_ID)
    assert stored["conn_type"] == "sinch"
    assert stored["host"] == simulator.url
    assert stored["login"] == KEY_ID
    assert stored["password"] != KEY_SECRET  # the API masks it
    assert stored["port"] is None
    assert stored["schema"] is None
    extra = json.loads(stored["extra"])
    assert extra["project_id"] == PROJECT_ID
    assert extra["auth_type"] == "oauth2"
    # Airflow masks extras whose name holds a sensitive word ("token", "secret", ...) when it returns them;
    # the token URL's extra is named auth_url so that it comes back as typed.
    assert extra["auth_url"] == simulator.token_url
    assert extra["timeout"] == 12.5
    assert isinstance(extra["timeout"], float), "the timeout must be stored as a number, not a string"
    assert extra["max_retries"] == 2
    assert isinstance(extra["max_retries"], int)
    assert (extra["conversation_region"], extra["conversation_app_id"]) == ("eu", "test-app")

    # 7. Nothing the API server logged shows a secret (Airflow masks the password; the hook the rest).
    server_log = (procs.log_dir / "api-server.log").read_text(errors="replace")
    assert KEY_SECRET not in server_log
    assert WRONG_SECRET not in server_log

    _publish_screenshots(e2e_workdir)


def _publish_screenshots(workdir: Path) -> None:
    """Copy the form's screenshots to docs/img when ``SINCH_E2E_UPDATE_SCREENSHOTS=1``.

    Opt-in, because every run shows another simulator port and would change the committed images.
    """
    if os.environ.get("SINCH_E2E_UPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("connection-form.png", "connection-form-extra.png"):
        shutil.copyfile(workdir / name, SCREENSHOT_DIR / name)
