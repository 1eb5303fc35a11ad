"""``docs/reliability.md``: sections rendered from what the reliability tests observed.

Each test module renders its section (a table of what it saw) and compares it with the section between
``<!-- name:begin -->`` and ``<!-- name:end -->`` in the committed document. With
``SINCH_RELIABILITY_WRITE=1`` it writes the section instead; ``make_report.py`` does that for every
section. Sections hold no timings or ports, so the same code gives the same document on every run.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
WRITE_ENV = "SINCH_RELIABILITY_WRITE"
REGENERATE = "python tests/reliability/make_report.py"


@dataclass(frozen=True)
class MatrixRow:
    """One cell of the fault matrix as observed."""

    op: str
    fault: str
    attempts: int
    outcome: str
    message: str
    delivered: str
    files: str


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_fault_matrix(rows: list[MatrixRow]) -> str:
    ops = list(dict.fromkeys(r.op for r in rows))
    faults = list(dict.fromkeys(r.fault for r in rows))
    by_cell = {(r.op, r.fault): r for r in rows}
    outcomes = Counter(
        "recovered after a retry"
        if r.outcome == "success" and r.attempts > 1
        else "success"
        if r.outcome == "success"
        else "typed error"
        for r in rows
    )
    bad = [r for r in rows if "TWICE" in r.delivered or "LOST" in r.delivered or "PARTIAL" in r.files]
    summary = (
        f"{len(rows)} cells: {outcomes['recovered after a retry']} recovered after a retry, "
        f"{outcomes['typed error']} end in a typed error with a message naming the request, "
        f"{outcomes['success']} succeed without a retry. Faxes lost or delivered twice: "
        f"{sum('LOST' in r.delivered or 'TWICE' in r.delivered for r in rows)}; partial files left: "
        f"{sum('PARTIAL' in r.files for r in rows)}."
    )
    assert not bad, bad

    def short(row: MatrixRow | None) -> str:
        if row is None:
            return "n/a"
        tries = f"{row.attempts} attempt{'s' if row.attempts != 1 else ''}"
        if row.outcome == "success":
            return f"ok, {tries}" + (" (retried)" if row.attempts > 1 else "")
        return f"{row.outcome}, {tries}"

    grid = table(["fault", *ops], [[f, *(short(by_cell.get((op, f))) for op in ops)] for f in faults])
    details = table(
        ["operation", "fault", "attempts", "outcome", "delivered", "file", "message"],
        [[r.op, r.fault, str(r.attempts), r.outcome, r.delivered, r.files, r.message or "-"] for r in rows],
    )
    return (
        f"{summary}\n\n{grid}\n\nEvery cell in detail (messages as raised, the simulator's port elided):\n\n{details}"
    )


def check_or_write_section(name: str, body: str) -> None:
    """Compare the section ``name`` of the document with ``body``, or write it when asked to."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if os.environ.get(WRITE_ENV) == "1":
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + f"\n\n{block}\n"
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
        return
    match = pattern.search(text)
    current = match.group(0) if match else None
    assert current == block, (
        f"docs/reliability.md section {name!r} does not match what the tests observed; regenerate it with "
        f"`{REGENERATE}` and review the diff."
    )
