"""Timestamps: parsing, formatting and the half-open createTime window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_sinch._time import create_time_window, format_create_time, to_utc

UTC = timezone.utc
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("create_time", "inside"),
    [
        ("2026-03-01T12:00:00.000Z", True),  # on the start: inside
        ("2026-03-01T12:59:59.999Z", True),
        ("2026-03-01T13:00:00.000Z", False),  # on the end: the next window's
        ("2026-03-01T11:59:59.999Z", False),
        ("2026-03-01T13:30:00+01:00", True),  # other forms are parsed: 12:30 UTC
        ("2026-03-01T12:00:00Z", True),
        ("2026-03-01T13:00:00Z", False),
        (None, False),
        ("not a time", False),
    ],
)
def test_window_is_half_open_for_every_form(create_time: str | None, inside: bool) -> None:
    assert create_time_window(START, END)({"createTime": create_time}) is inside


def test_window_bounds_finer_than_milliseconds_are_exact() -> None:
    start = START + timedelta(microseconds=500)
    window = create_time_window(start, END)
    assert not window({"createTime": "2026-03-01T12:00:00.000Z"})
    assert window({"createTime": "2026-03-01T12:00:00.001Z"})


_moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))


@given(after=_moments, before=_moments, created=_moments)
def test_text_comparison_agrees_with_time_comparison(after: datetime, before: datetime, created: datetime) -> None:
    """Bounds at any microsecond, faxes at whole milliseconds written as Sinch writes them."""
    created = created.replace(microsecond=created.microsecond // 1000 * 1000)
    fax = {"createTime": format_create_time(created)}
    assert create_time_window(after, before)(fax) is (after <= created < before)
    assert create_time_window(after, None)(fax) is (after <= created)
    assert create_time_window(None, before)(fax) is (created < before)


def test_open_ended_windows() -> None:
    assert create_time_window(None, END)({"createTime": "2000-01-01T00:00:00.000Z"})
    assert create_time_window(START, None)({"createTime": "2999-01-01T00:00:00.000Z"})


def test_to_utc_and_format() -> None:
    assert to_utc("2026-03-01T13:00:00+01:00") == START
    assert to_utc(datetime(2026, 3, 1, 12)) == START  # naive is UTC
    assert format_create_time(START) == "2026-03-01T12:00:00.000Z"
    with pytest.raises(ValueError, match="created_after='soon' is not an ISO 8601"):
        to_utc("soon", name="created_after")
