"""Store, seeding, query parsing and PDF generation, without HTTP."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_sinch.simulator import FaxStore, SimulatorConfig
from airflow_provider_sinch.simulator.filters import (
    InvalidFilter,
    create_time_bounds,
    format_ms,
    parse_query_string,
    to_ms,
)
from airflow_provider_sinch.simulator.pdf import count_pdf_pages, fax_pdf, iter_sized_pdf, min_sized_pdf
from airflow_provider_sinch.simulator.store import FaxQuery

END = datetime(2025, 6, 30, 12, 0, tzinfo=timezone.utc)
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def seeded(count: int, seed: int = 1, **overrides: object) -> FaxStore:
    return FaxStore(SimulatorConfig(seed=seed, seed_faxes=count, seed_end=END, **overrides))  # type: ignore[arg-type]


def test_seeding_is_deterministic_and_realistic() -> None:
    first, second, other = seeded(2000), seeded(2000), seeded(2000, seed=2)
    faxes = first.all_faxes()
    assert faxes == second.all_faxes()
    assert faxes != other.all_faxes()
    assert first.default_service_id == second.default_service_id
    assert len({f["id"] for f in faxes}) == 2000
    assert all(ULID.match(f["id"]) for f in faxes)
    assert all(E164.match(f["from"]) and E164.match(f["to"]) for f in faxes)
    assert all(1 <= f["numberOfPages"] <= 10 for f in faxes)
    statuses = Counter(f["status"] for f in faxes)
    assert statuses["COMPLETED"] > 1600
    assert statuses["FAILURE"] > 50
    assert 1 <= statuses["IN_PROGRESS"] <= 5
    assert Counter(f["direction"] for f in faxes)["INBOUND"] > 1200
    for fax in faxes:
        if fax["status"] == "FAILURE":
            assert {"errorType", "errorCode", "errorMessage", "completedTime"} <= fax.keys()
        if fax["status"] == "IN_PROGRESS":
            assert "completedTime" not in fax
            assert to_ms(END) - to_ms(datetime.fromisoformat(fax["createTime"][:-1] + "+00:00")) <= 300_000
    create_times = [f["createTime"] for f in faxes]
    assert len(create_times) - len(set(create_times)) >= 10, "seeding must produce createTime ties"
    oldest = datetime.fromisoformat(create_times[0][:-1] + "+00:00")
    assert END - timedelta(days=396) <= oldest < END - timedelta(days=300)


def test_seeding_100k_is_fast_and_latest_queries_are_quick() -> None:
    started = time.perf_counter()
    store = seeded(100_000, seed=3)
    assert time.perf_counter() - started < 10
    now_ms = to_ms(END)
    started = time.perf_counter()
    for minutes in range(1, 51):
        items, total = store.query(FaxQuery(lower_ms=now_ms - minutes * 3_600_000), 1, 10)
        assert len(items) == min(10, total)
    assert time.perf_counter() - started < 2


def test_add_and_update_fax() -> None:
    store = FaxStore()
    created = datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    fax = store.add_fax(
        direction="OUTBOUND", create_time=created, status="IN_PROGRESS", to_number="+14155550000",
        pages=3, labels={"team": "ops"},
    )  # fmt: skip
    assert fax["createTime"] == "2024-03-01T10:00:00.123Z"  # truncated to milliseconds
    assert fax["labels"] == {"team": "ops"}
    assert fax["status"] == "IN_PROGRESS"
    assert "completedTime" not in fax
    done = store.update_fax(fax["id"], status="COMPLETED")
    assert done["status"] == "COMPLETED"
    assert "completedTime" in done
    assert done["price"] == {"amount": "0.2100", "currencyCode": "USD"}
    assert store.get(fax["id"]) == done
    assert store.get("nope") is None
    with pytest.raises(KeyError):
        store.update_fax("nope", status="COMPLETED")
    moved = store.update_fax(fax["id"], create_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    assert store.all_faxes()[0]["id"] == moved["id"]
    custom = store.add_fax(id="01HDFHACK1YN7CCDYRA6ZRMA8Z", file_bytes=b"%PDF-1.4 tiny")
    assert store.file_bytes(custom["id"]) == b"%PDF-1.4 tiny"
    with pytest.raises(ValueError, match="already exists"):
        store.add_fax(id="01HDFHACK1YN7CCDYRA6ZRMA8Z")


def test_parse_query_string_splits_at_the_first_equals_sign_as_a_standard_server() -> None:
    expected = {"createTime>": "2021-10-01", "createTime<": "2021-10-30T10:00:00Z", "to": "+1415"}
    # What Sinch's SDKs send (the operator's "=" is the pair's separator), and the same with ">" encoded.
    assert parse_query_string("createTime>=2021-10-01&createTime<=2021-10-30T10:00:00Z&to=%2B1415") == expected
    assert parse_query_string("createTime%3E=2021-10-01&createTime%3C=2021-10-30T10%3A00%3A00Z&to=%2B1415") == expected
    # An encoded "=" belongs to the key: what requests sends for params={"createTime>=": ...}.
    assert parse_query_string(b"createTime%3E%3D=2021-10-01&createTime%3C%3D=2021-10-30") == {
        "createTime>=": "2021-10-01",
        "createTime<=": "2021-10-30",
    }
    assert parse_query_string("a=1=2&flag&b=%20x+y") == {"a": "1=2", "flag": "", "b": " x y"}


def test_encoded_equals_keys_filter_nothing_unless_lenient() -> None:
    now_ms = 400 * 86_400_000
    query = {"createTime>=": "1970-01-02", "createTime<=": "1970-01-03"}
    assert create_time_bounds(query, now_ms=now_ms) == (now_ms - 7 * 86_400_000, None)
    assert create_time_bounds(query, now_ms=now_ms, lenient=True) == (86_400_000, 3 * 86_400_000 - 1)


@pytest.mark.parametrize(
    ("query", "lower", "upper"),
    [
        ({"createTime": "2021"}, "2021-01-01T00:00:00.000Z", "2021-12-31T23:59:59.999Z"),
        ({"createTime": "2021-02"}, "2021-02-01T00:00:00.000Z", "2021-02-28T23:59:59.999Z"),
        ({"createTime": "2021-02-01"}, "2021-02-01T00:00:00.000Z", "2021-02-01T23:59:59.999Z"),
        ({"createTime": "2021-02-01T14:00:00Z"}, "2021-02-01T14:00:00.000Z", None),
        ({"createTime>": "2021-10-01", "createTime<": "2021-10-30"}, "2021-10-01T00:00:00.000Z",
         "2021-10-30T23:59:59.999Z"),
        ({"createTime>": "2021-10-01T10:00:00.250+02:00"}, "2021-10-01T08:00:00.250Z", None),
        ({"createTime<": "2021-10-01T10:00:00.2509Z"}, None, "2021-10-01T10:00:00.250Z"),
        ({"createTime>": "2021-10-01T10:00:00.2501Z"}, "2021-10-01T10:00:00.251Z", None),
    ],
)  # fmt: skip
def test_create_time_bounds(query: dict[str, str], lower: str | None, upper: str | None) -> None:
    low, high = create_time_bounds(query, now_ms=0)
    assert (None if low is None else format_ms(low)) == lower
    assert (None if high is None else format_ms(high)) == upper


def test_create_time_default_is_prior_week_and_errors_name_the_field() -> None:
    assert create_time_bounds({"pageSize": "10"}, now_ms=10 * 86_400_000) == (3 * 86_400_000, None)
    for key, value in (("createTime", "yesterday"), ("createTime>", "2021-13-01"), ("createTime<", "2021-02-30")):
        with pytest.raises(InvalidFilter) as info:
            create_time_bounds({key: value}, now_ms=0)
        assert info.value.field == key


_times = st.integers(min_value=1_600_000_000_000, max_value=1_600_000_100_000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_times, min_size=0, max_size=40),
    st.one_of(st.none(), _times),
    st.one_of(st.none(), _times),
    st.sampled_from([None, "INBOUND", "OUTBOUND"]),
)
def test_query_matches_brute_force(
    times: list[int], lower: int | None, upper: int | None, direction: str | None
) -> None:
    store = FaxStore(SimulatorConfig(shuffle=True))
    for i, ms in enumerate(times):
        created = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
        store.add_fax(direction="INBOUND" if i % 3 else "OUTBOUND", create_time=created)
    expected = {
        f["id"]
        for f in store.all_faxes()
        if (lower is None or to_ms(datetime.fromisoformat(f["createTime"][:-1] + "+00:00")) >= lower)
        and (upper is None or to_ms(datetime.fromisoformat(f["createTime"][:-1] + "+00:00")) <= upper)
        and (direction is None or f["direction"] == direction)
    }
    query = FaxQuery(lower_ms=lower, upper_ms=upper, direction=direction)
    pages = [store.query(query, page, 7) for page in range(1, 9)]
    ids = [f["id"] for items, _ in pages for f in items]
    assert len(ids) == len(set(ids)), "pages must not overlap"
    assert set(ids) == expected
    assert all(total == len(expected) for _, total in pages)


def _check_pdf_structure(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.4")
    assert data.endswith(b"%%EOF\n")
    startxref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert data[startxref:].startswith(b"xref\n")
    entries = re.findall(rb"(\d{10}) 00000 n ", data[startxref:])
    for number, offset in enumerate(entries, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj" % number)


def test_generated_pdfs_are_well_formed() -> None:
    small = fax_pdf("01HDFHACK1YN7CCDYRA6ZRMA8Z", 3)
    _check_pdf_structure(small)
    assert count_pdf_pages(small) == 3
    assert fax_pdf("A", 2) == fax_pdf("A", 2)
    for size in (min_sized_pdf("X"), 4096, 99_999, 1_000_003):
        data = b"".join(iter_sized_pdf("X", size))
        assert len(data) == size
        _check_pdf_structure(data)
    with pytest.raises(ValueError, match="too small"):
        list(iter_sized_pdf("X", 100))
    # A 100 MB file is streamed from a shared block: no 100 MB buffer is ever built.
    assert max(len(chunk) for chunk in iter_sized_pdf("X", 100 * 1024 * 1024)) <= 256 * 1024
