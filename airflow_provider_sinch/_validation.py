"""Checks every API shares: templates still to be rendered, and E.164 phone numbers.

No ``requests`` and no Airflow import: operators run these at DAG-parse time, and the simulator (which
must not depend on Airflow) takes its E.164 rule from here, so the provider and its stand-in agree.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from typing import Any

DEFAULT_CONN_ID = "sinch_default"
#: An E.164 number: "+", a country code that does not start with 0, 7 to 15 digits in all. Matched with
#: ``fullmatch``: "$" would also match before a trailing newline.
E164 = re.compile(r"\+[1-9]\d{6,14}")
_LITERALS = (str, bytes, int, float, date, datetime, timedelta, list, tuple, dict, set, os.PathLike)


def is_template(value: Any) -> bool:
    """Whether an argument is only known at run time (a Jinja string, an XComArg): skip parse-time checks."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return value is not None and not isinstance(value, _LITERALS)


def validate_e164(number: Any, *, field: str = "to") -> str:
    """Return ``number`` if it is an E.164 phone number (``+`` and 7 to 15 digits), else raise ValueError."""
    if not isinstance(number, str) or not E164.fullmatch(number):
        raise ValueError(
            f"{field}={number!r} is not an E.164 phone number: use '+', the country code and the number, "
            "digits only, e.g. '+14155552671'."
        )
    return number


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters, for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
