"""Every documented endpoint's responses validate against Sinch's own OpenAPI document.

The spec is vendored next to this file (``fax-openapi.yaml``, Sinch's document, trimmed), so these
tests run everywhere instead of skipping on a machine without the shared copy. Requests go to the
simulator and are presented to openapi-core as if they had gone to the spec's server, ``https://fax.api.sinch.com``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from airflow_provider_sinch.simulator.pdf import fax_pdf

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from airflow_provider_sinch.simulator import SimulatorServer

SPEC_PATH = Path(__file__).with_name("fax-openapi.yaml")
SPEC_SERVER = "https://fax.api.sinch.com"


@pytest.fixture(scope="module")
def openapi() -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC_PATH))


@pytest.fixture(scope="module")
def error_validator() -> Any:
    from openapi_schema_validator import OAS31Validator

    spec = yaml.safe_load(SPEC_PATH.read_text())
    return OAS31Validator({"$ref": "#/components/schemas/Error", "components": spec["components"]})


def check(openapi: Any, response: requests.Response) -> None:
    """Validate one simulator response against the operation the spec documents for it."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    class AsIfSinch(RequestsOpenAPIRequest):
        @property
        def host_url(self) -> str:
            return SPEC_SERVER

    class BinaryAsText(RequestsOpenAPIResponse):
        # openapi-core checks a binary body (type string, format binary) as bytes and rejects it as
        # "not of type string"; hand it the body as text so the PDF is checked against the schema.
        @property
        def data(self) -> Any:
            if self.content_type.startswith("application/pdf"):
                return self.response.content.decode("latin-1")
            return super().data

    assert response.status_code < 300, response.text
    openapi.validate_response(AsIfSinch(response.request), BinaryAsText(response))


def test_fax_endpoints_conform(openapi: Any, start_sim: Callable[..., SimulatorServer], http: requests.Session) -> None:
    sim = start_sim(seed_faxes=400, transition_seconds=0)
    base = sim.api_base
    pdf = fax_pdf("conformance", 2)
    sent_json = http.post(
        f"{base}/faxes",
        json={
            "to": "+14155552222",
            "files": [{"file": base64.b64encode(pdf).decode(), "fileType": "PDF"}],
            "contentUrl": ["https://example.com/a.pdf"],
            "labels": {"customerId": "1"},
            "coverPageData": {"toname": "Acme"},
            "callbackUrl": "https://example.com/cb",
            "headerText": "Hello",
            "maxRetries": 2,
            "resolution": "FINE",
            "imageConversionMethod": "MONOCHROME",
            "inProgressNotifications": True,
            "coverPageId": "01HDFHACK1YN7CCDYRA6ZRMA8Z",
        },
    )
    check(openapi, sent_json)
    check(openapi, http.post(f"{base}/faxes", data={"to": "+15005550001"}, files={"file": ("a.pdf", pdf)}))

    listed = http.get(f"{base}/faxes", params={"createTime>": "2000-01-01", "pageSize": "1000"})
    check(openapi, listed)
    faxes = listed.json()["faxes"]
    kinds = {(f["direction"], f["status"], f["hasFile"]) for f in faxes}
    assert {("INBOUND", "COMPLETED", True), ("INBOUND", "FAILURE", False), ("OUTBOUND", "FAILURE", True)} <= kinds
    check(openapi, http.get(f"{base}/faxes"))
    for params in ({"direction": "INBOUND", "status": "FAILURE"}, {"createTime": "2025"}, {"page": 3}):
        check(openapi, http.get(f"{base}/faxes", params=params))

    samples: dict[tuple[str, str, bool], str] = {}
    for fax in faxes:
        samples.setdefault((fax["direction"], fax["status"], fax["hasFile"]), fax["id"])
    for fax_id in [*samples.values(), sent_json.json()["id"]]:
        check(openapi, http.get(f"{base}/faxes/{fax_id}"))

    with_file = next(fid for (_, _, has_file), fid in samples.items() if has_file)
    check(openapi, http.get(f"{base}/faxes/{with_file}/file"))
    check(openapi, http.get(f"{base}/faxes/{with_file}/file.pdf"))
    check(openapi, http.delete(f"{base}/faxes/{with_file}/file"))
    check(openapi, http.get(f"{base}/faxes/{with_file}"))


def test_service_endpoints_conform(openapi: Any, seeded_sim: SimulatorServer, http: requests.Session) -> None:
    services = http.get(f"{seeded_sim.api_base}/services")
    check(openapi, services)
    check(openapi, http.get(f"{seeded_sim.api_base}/services", params={"pageSize": 1, "page": 2}))
    check(openapi, http.get(f"{seeded_sim.api_base}/services/{services.json()['services'][0]['id']}"))


def test_structured_errors_match_the_error_schema(
    error_validator: Any, seeded_sim: SimulatorServer, http: requests.Session
) -> None:
    base = seeded_sim.api_base
    bodies = [
        http.get(f"{base}/faxes", params={"pageSize": 5000}).json(),
        http.get(f"{base}/faxes", params={"createTime": "soon"}).json(),
        http.post(f"{base}/faxes", json={"to": "12", "contentUrl": "https://x.io"}).json(),
        http.post(f"{base}/faxes", json=[]).json(),
    ]
    seeded_sim.faults.fail_next(1, status=503)
    bodies.append(http.get(f"{base}/faxes").json())
    for body in bodies:
        error_validator.validate(body)
        assert isinstance(body["code"], int)


def test_the_check_rejects_a_non_conforming_fax(
    openapi: Any, start_sim: Callable[..., SimulatorServer], http: requests.Session
) -> None:
    from openapi_core.validation.response.exceptions import InvalidData

    sim = start_sim()
    fax = sim.store.add_fax(status="FAILURE", errorCode="seventeen", numberOfPages="two")
    with pytest.raises(InvalidData):
        check(openapi, http.get(f"{sim.api_base}/faxes/{fax['id']}"))
