"""The Fax API endpoints over real HTTP: filters, paging, order, files, sending, services."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_sinch.simulator.app import IGNORED_PARAMS_HEADER
from airflow_provider_sinch.simulator.filters import to_ms
from airflow_provider_sinch.simulator.pdf import fax_pdf

from .conftest import AUTH, SEED_END

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sinch.simulator import SimulatorServer


def ms_of(timestamp: str) -> int:
    return to_ms(datetime.fromisoformat(timestamp.replace("Z", "+00:00")))


def list_all(http: requests.Session, sim: SimulatorServer, **params: Any) -> list[dict[str, Any]]:
    faxes: list[dict[str, Any]] = []
    page = 1
    while True:
        body = http.get(f"{sim.api_base}/faxes", params={**params, "page": page}).json()
        faxes += body["faxes"]
        if page >= body["totalPages"]:
            return faxes
        page += 1


def test_default_window_is_the_prior_week(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    faxes = list_all(http, seeded_sim, pageSize=1000)
    week_ago = to_ms(datetime.now(timezone.utc) - timedelta(days=7))
    expected = [f for f in seeded_sim.store.all_faxes() if ms_of(f["createTime"]) >= week_ago + 5_000]
    assert faxes, "3,000 faxes over 13 months leave some in the last week"
    assert all(ms_of(f["createTime"]) >= week_ago - 5_000 for f in faxes)
    assert {f["id"] for f in expected} <= {f["id"] for f in faxes}


def test_range_keys_as_sinch_sdks_send_them(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    everything = seeded_sim.store.all_faxes()
    # Pick bounds that sit exactly on stored createTimes (ties included): both ends are inclusive.
    low, high = everything[1000]["createTime"], everything[1400]["createTime"]
    expected = {f["id"] for f in everything if ms_of(low) <= ms_of(f["createTime"]) <= ms_of(high)}
    # requests encodes the keys as createTime%3E / createTime%3C: the same keys once decoded.
    encoded = list_all(http, seeded_sim, **{"createTime>": low, "createTime<": high, "pageSize": 150})
    assert {f["id"] for f in encoded} == expected
    assert len(encoded) == len(expected)
    # The Node SDK's wire form: the literal operator, then "=" and the value.
    literal = http.get(f"{seeded_sim.api_base}/faxes?createTime>={low}&createTime<={high}&pageSize=1000")
    assert {f["id"] for f in literal.json()["faxes"]} == expected
    assert IGNORED_PARAMS_HEADER not in literal.headers
    recorded = seeded_sim.requests[-1]
    assert (recorded.query["createTime>"], recorded.query["createTime<"], recorded.ignored) == (low, high, ())
    # Offsets and date-only values are accepted too.
    day = everything[1000]["createTime"][:10]
    by_day = list_all(http, seeded_sim, **{"createTime>": day, "createTime<": day, "pageSize": 1000})
    assert {f["id"] for f in by_day} == {f["id"] for f in everything if f["createTime"].startswith(day)}
    moment = datetime.fromisoformat(low.replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=-5)))
    offset_text = moment.isoformat(timespec="milliseconds")
    with_offset = list_all(http, seeded_sim, **{"createTime>": offset_text, "createTime<": high, "pageSize": 1000})
    assert {f["id"] for f in with_offset} == expected


@pytest.mark.ignores_query_params
def test_unknown_keys_filter_nothing_and_are_named(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    """``createTime%3E%3D`` decodes to the key ``createTime>=``: like the real API, the week's default answers."""
    week = list_all(http, seeded_sim, pageSize=1000)
    response = http.get(f"{seeded_sim.api_base}/faxes", params={"createTime>=": "2000-01-01", "pageSize": 1000})
    assert "createTime%3E%3D=" in (response.request.url or "")
    assert {f["id"] for f in response.json()["faxes"]} == {f["id"] for f in week}
    assert response.json()["totalItems"] < 3000
    assert response.headers[IGNORED_PARAMS_HEADER] == "createTime>="
    recorded = seeded_sim.ignored_requests[-1]
    assert recorded.path == f"/v3/projects/{seeded_sim.config.project_id}/faxes"
    assert recorded.ignored == ("createTime>=",)
    # Other endpoints know no query parameters at all.
    fax = seeded_sim.store.all_faxes()[3]
    got = http.get(f"{seeded_sim.api_base}/faxes/{fax['id']}", params={"fields": "id", "pageSize": 1})
    assert got.status_code == 200
    assert got.headers[IGNORED_PARAMS_HEADER] == "fields, pageSize"


@pytest.mark.ignores_query_params
def test_lenient_simulator_reads_the_encoded_equals_keys(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(lenient=True, seed_faxes=200, seed_end=SEED_END)
    body = requests.get(
        f"{sim.api_base}/faxes", params={"createTime>=": "2000-01-01", "pageSize": 1000}, auth=AUTH, timeout=10
    ).json()
    assert body["totalItems"] == 200
    assert sim.ignored_requests == []


def test_create_time_partial_dates(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    everything = seeded_sim.store.all_faxes()
    sample = everything[500]["createTime"]
    for prefix in (sample[:4], sample[:7], sample[:10]):
        got = list_all(http, seeded_sim, createTime=prefix, pageSize=1000)
        assert {f["id"] for f in got} == {f["id"] for f in everything if f["createTime"].startswith(prefix)}
    after = list_all(http, seeded_sim, createTime=sample, pageSize=1000)
    assert {f["id"] for f in after} == {f["id"] for f in everything if ms_of(f["createTime"]) >= ms_of(sample)}


def test_filters(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    everything = seeded_sim.store.all_faxes()
    window = {"createTime>": "2000-01-01", "pageSize": 1000}
    for key, value in (("direction", "OUTBOUND"), ("status", "FAILURE"), ("serviceId", everything[0]["serviceId"])):
        got = list_all(http, seeded_sim, **window, **{key: value})
        assert {f["id"] for f in got} == {f["id"] for f in everything if f[key] == value}
    for key in ("to", "from"):
        prefix = everything[42][key][:6]
        got = list_all(http, seeded_sim, **window, **{key: prefix})
        assert {f["id"] for f in got} == {f["id"] for f in everything if f[key].startswith(prefix)}
        assert got
    combined = list_all(http, seeded_sim, **window, direction="INBOUND", status="COMPLETED")
    assert all(f["direction"] == "INBOUND" and f["status"] == "COMPLETED" for f in combined)
    # An unencoded "+" arrives as a space; it still means "+".
    number = everything[42]["to"]
    raw = http.get(f"{seeded_sim.api_base}/faxes?createTime>=2000-01-01T00:00:00Z&to={number}&pageSize=1000").json()
    assert raw["totalItems"] == sum(1 for f in everything if f["to"] == number)


def test_paging_fields_limits_and_errors(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    body = http.get(f"{seeded_sim.api_base}/faxes", params={"createTime>": "2000", "pageSize": "1000"}).json()
    assert (body["page"], body["pageSize"], body["totalItems"], body["totalPages"]) == (1, 1000, 3000, 3)
    assert len(body["faxes"]) == 1000
    default = http.get(f"{seeded_sim.api_base}/faxes", params={"createTime>": "2000"}).json()
    assert default["pageSize"] == 100
    assert len(default["faxes"]) == 100
    assert default["totalPages"] == 30
    beyond = http.get(f"{seeded_sim.api_base}/faxes", params={"createTime>": "2000", "page": "99"}).json()
    assert beyond["faxes"] == []
    assert beyond["page"] == 99
    for params, field in (
        ({"pageSize": 1001}, "pageSize"),
        ({"pageSize": 0}, "pageSize"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"direction": "SIDEWAYS"}, "direction"),
        ({"status": "DONE"}, "status"),
        ({"createTime": "last-week"}, "createTime"),
        ({"createTime>": "2021-02-30"}, "createTime>"),
    ):
        response = http.get(f"{seeded_sim.api_base}/faxes", params=params)
        assert response.status_code == 400, params
        error = response.json()
        assert error["code"] == 400
        assert error["status"] == "INVALID_ARGUMENT"
        assert error["message"]
        assert error["details"][0]["type"] == "BadRequest"
        assert error["details"][0]["fieldViolations"][0]["field"] == field


def test_order_is_shuffled_not_newest_first_and_stable(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    params = {"createTime>": "2000", "pageSize": 250}
    first = list_all(http, seeded_sim, **params)
    second = list_all(http, seeded_sim, **params)
    ids = [f["id"] for f in first]
    assert ids == [f["id"] for f in second], "the same query must page identically"
    assert len(set(ids)) == 3000
    times = [ms_of(f["createTime"]) for f in first]
    assert times != sorted(times, reverse=True)
    assert times != sorted(times)
    top10 = http.get(f"{seeded_sim.api_base}/faxes", params={"createTime>": "2000", "pageSize": "10"}).json()
    newest = sorted(seeded_sim.store.all_faxes(), key=lambda f: f["createTime"], reverse=True)[:10]
    assert {f["id"] for f in top10["faxes"]} != {f["id"] for f in newest}


def test_order_is_never_newest_first_even_for_two_faxes(start_sim: Callable[..., SimulatorServer]) -> None:
    for seed in range(6):
        sim = start_sim(seed=seed)
        older = sim.store.add_fax(create_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
        newer = sim.store.add_fax(create_time=datetime(2024, 1, 2, tzinfo=timezone.utc))
        body = requests.get(f"{sim.api_base}/faxes", params={"createTime": "2024"}, auth=AUTH).json()
        assert [f["id"] for f in body["faxes"]] == [older["id"], newer["id"]]


def test_no_shuffle_lists_newest_first(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(shuffle=False, seed_faxes=300, seed_end=SEED_END)
    body = requests.get(f"{sim.api_base}/faxes", params={"createTime>": "2000", "pageSize": "300"}, auth=AUTH).json()
    times = [f["createTime"] for f in body["faxes"]]
    assert times == sorted(times, reverse=True)


def test_get_fax_and_not_found(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    fax = seeded_sim.store.all_faxes()[17]
    assert http.get(f"{seeded_sim.api_base}/faxes/{fax['id']}").json() == fax
    missing = http.get(f"{seeded_sim.api_base}/faxes/01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status_code == 404
    assert missing.json()["code"] == "404"
    assert missing.json()["error"] == "Not Found"
    assert missing.json()["message"]
    unknown_route = http.get(f"{seeded_sim.api_base}/nothing-here")
    assert unknown_route.status_code == 404
    assert unknown_route.json()["code"] == "404"


def test_download_streams_and_delete_removes_the_file(sim: SimulatorServer, http: requests.Session) -> None:
    small = sim.store.add_fax(pages=2)
    response = http.get(f"{sim.api_base}/faxes/{small['id']}/file")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == fax_pdf(small["id"], 2)
    assert int(response.headers["content-length"]) == len(response.content)
    assert http.get(f"{sim.api_base}/faxes/{small['id']}/file.pdf").content == response.content
    assert http.get(f"{sim.api_base}/faxes/{small['id']}/file.tif").status_code == 400

    size = 20 * 1024 * 1024 + 7
    big = sim.store.add_fax(file_size=size)
    with http.get(f"{sim.api_base}/faxes/{big['id']}/file", stream=True) as streamed:
        assert streamed.headers["content-length"] == str(size)
        received = 0
        head = b""
        for chunk in streamed.iter_content(chunk_size=1024 * 1024):
            head = head or chunk[:8]
            received += len(chunk)
    assert received == size
    assert head.startswith(b"%PDF-")

    deleted = http.delete(f"{sim.api_base}/faxes/{small['id']}/file")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert http.get(f"{sim.api_base}/faxes/{small['id']}").json()["hasFile"] is False
    gone = http.get(f"{sim.api_base}/faxes/{small['id']}/file")
    assert gone.status_code == 404
    assert gone.json()["code"] == "404"
    assert http.delete(f"{sim.api_base}/faxes/01ZZZZZZZZZZZZZZZZZZZZZZZZ/file").status_code == 404


def wait_for_status(http: requests.Session, sim: SimulatorServer, fax_id: str, wanted: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        fax: dict[str, Any] = http.get(f"{sim.api_base}/faxes/{fax_id}").json()
        if fax["status"] in wanted or time.monotonic() > deadline:
            return fax
        time.sleep(0.05)


def test_send_json_moves_through_states(start_sim: Callable[..., SimulatorServer], http: requests.Session) -> None:
    # Long enough that a slow, loaded machine still sees IN_PROGRESS between polls.
    sim = start_sim(transition_seconds=1.6)
    pdf = fax_pdf("upload", 3)
    payload = {
        "to": "+19898989898",
        "files": [{"file": base64.b64encode(pdf).decode(), "fileType": "PDF"}],
        "headerText": "Quarterly report",
        "labels": {"customerId": "1234"},
        "callbackUrl": "https://example.com/callback",
        "maxRetries": 2,
        "resolution": "SUPERFINE",
    }
    response = http.post(f"{sim.api_base}/faxes", json=payload)
    assert response.status_code == 200
    fax = response.json()
    assert isinstance(fax, dict), "one recipient gives one Fax object"
    assert fax["status"] == "QUEUED"
    assert fax["direction"] == "OUTBOUND"
    assert fax["numberOfPages"] == 3
    assert fax["labels"] == {"customerId": "1234"}
    assert fax["maxRetries"] == 2
    assert fax["resolution"] == "SUPERFINE"
    assert fax["from"] == sim.store.project_numbers[0]
    assert fax["projectId"] == "test-project"
    assert fax["callbackUrlContentType"] == "multipart/form-data"
    seen = {fax["status"]}
    deadline = time.monotonic() + 5
    while fax["status"] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.03)
        fax = http.get(f"{sim.api_base}/faxes/{fax['id']}").json()
        seen.add(fax["status"])
    assert seen == {"QUEUED", "IN_PROGRESS", "COMPLETED"}
    assert fax["hasFile"] is True
    assert fax["pagesSentSuccessfully"] == 3
    assert "completedTime" in fax
    assert fax["price"] == {"amount": "0.0000", "currencyCode": "USD"}, "the test number is free"
    assert http.get(f"{sim.api_base}/faxes/{fax['id']}/file").content == pdf


def test_send_to_several_and_to_a_failing_number(sim: SimulatorServer, http: requests.Session) -> None:
    response = http.post(
        f"{sim.api_base}/faxes",
        json={"to": ["+14155552222", "+15005550001"], "contentUrl": "https://example.com/a.pdf,https://example.com/b"},
    )
    assert response.status_code == 200
    # Two or more recipients: {"faxes": [...]}, as Sinch's SDKs read it (quirk 6); one: a Fax object.
    assert set(response.json()) == {"faxes"}
    faxes = response.json()["faxes"]
    assert [f["to"] for f in faxes] == ["+14155552222", "+15005550001"]
    assert faxes[0]["contentUrl"] == ["https://example.com/a.pdf", "https://example.com/b"]
    ok = wait_for_status(http, sim, faxes[0]["id"], {"COMPLETED", "FAILURE"})
    failed = wait_for_status(http, sim, faxes[1]["id"], {"COMPLETED", "FAILURE"})
    assert ok["status"] == "COMPLETED"
    assert ok["price"]["amount"] == "0.1400"
    assert failed["status"] == "FAILURE"
    assert (failed["errorType"], failed["errorCode"], failed["errorMessage"]) == ("CALL_ERROR", 17, "Busy")
    comma = http.post(f"{sim.api_base}/faxes", json={"to": "+14155552222,+14155553333", "contentUrl": "https://x.io"})
    assert len(comma.json()["faxes"]) == 2


def test_send_multipart(sim: SimulatorServer, http: requests.Session) -> None:
    pdf = fax_pdf("multipart", 2)
    response = http.post(
        f"{sim.api_base}/faxes",
        data={"to": ["+14155552222", "+14155553333"], "labels[costCenter]": "sales", "maxRetries": "1",
              "headerPageNumbers": "false"},
        files=[("file", ("report.pdf", pdf, "application/pdf"))],
    )  # fmt: skip
    assert response.status_code == 200, response.text
    faxes = response.json()["faxes"]
    assert [f["to"] for f in faxes] == ["+14155552222", "+14155553333"]
    assert faxes[0]["labels"] == {"costCenter": "sales"}
    assert faxes[0]["maxRetries"] == 1
    assert faxes[0]["headerPageNumbers"] is False
    assert faxes[0]["numberOfPages"] == 2
    single = http.post(f"{sim.api_base}/faxes", data={"to": "+14155552222"}, files={"file": ("a.pdf", pdf)})
    assert isinstance(single.json(), dict)
    done = wait_for_status(http, sim, single.json()["id"], {"COMPLETED"})
    assert http.get(f"{sim.api_base}/faxes/{done['id']}/file").content == pdf


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": "0041 79 123", "contentUrl": "https://x.io"}, "to"),
        ({"to": ["+14155552222", "12345"], "contentUrl": "https://x.io"}, "to"),
        ({"contentUrl": "https://x.io"}, "to"),
        ({"to": "+14155552222"}, "file"),
        ({"to": "+14155552222", "contentUrl": "ftp://x.io"}, "contentUrl"),
        ({"to": "+14155552222", "files": [{"file": "not base64!", "fileType": "PDF"}]}, "files[0].file"),
        ({"to": "+14155552222", "contentUrl": "https://x.io", "maxRetries": 9}, "maxRetries"),
        ({"to": "+14155552222", "contentUrl": "https://x.io", "resolution": "ULTRA"}, "resolution"),
        ({"to": "+14155552222", "contentUrl": "https://x.io", "headerText": "x" * 51}, "headerText"),
        ({"to": "+14155552222", "contentUrl": "https://x.io", "from": "555"}, "from"),
        ({"to": "+14155552222", "contentUrl": "https://x.io", "serviceId": "nope"}, "serviceId"),
    ],
)
def test_send_validation(sim: SimulatorServer, http: requests.Session, payload: dict[str, Any], field: str) -> None:
    response = http.post(f"{sim.api_base}/faxes", json=payload)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert field in [v["field"] for v in error["details"][0]["fieldViolations"]]
    assert sim.store.all_faxes() == []


def test_send_rejects_bad_bodies(sim: SimulatorServer, http: requests.Session) -> None:
    broken = http.post(f"{sim.api_base}/faxes", data=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["status"] == "INVALID_ARGUMENT"
    wrong_type = http.post(f"{sim.api_base}/faxes", data=b"to=1", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_services(seeded_sim: SimulatorServer, http: requests.Session) -> None:
    body = http.get(f"{seeded_sim.api_base}/services").json()
    assert (body["page"], body["pageSize"], body["totalItems"], body["totalPages"]) == (1, 20, 1, 1)
    service = body["services"][0]
    assert service["id"] == seeded_sim.store.default_service_id
    assert service["defaultForProject"] is True
    assert http.get(f"{seeded_sim.api_base}/services/{service['id']}").json() == service
    missing = http.get(f"{seeded_sim.api_base}/services/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "404"
    assert http.get(f"{seeded_sim.api_base}/services", params={"pageSize": 5000}).status_code == 400
