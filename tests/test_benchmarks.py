"""The benchmarks still run: ``benchmarks/run_all.py --quick`` end to end, in a subprocess.

Not a timed test: it checks that every benchmark ran and printed its rows, and that the hard,
machine-independent results hold (request counts, token reuse, no failed poller, nothing heavy imported
at DAG-parse time). Speed ratios are for ``make bench`` to report, never for a test to assert.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(not AIRFLOW_V_3, reason="the benchmarks and their http-provider baseline target Airflow 3"),
    pytest.mark.timeout(420),
]


def test_quick_benchmarks_run(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.pop("AIRFLOW_HOME", None)
    env.pop("PYTHONPATH", None)
    env["SINCH_BENCH_AIRFLOW_HOME"] = str(tmp_path / "airflow-home")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--output", str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for measure in (
        "DAG-parse: extra import",
        "list 1,000 faxes: ours vs bare",
        "latest 10 of 2,000: requests",
        "incremental run, 2,000 history + 5 new: requests",
        "download 8 MiB: peak RSS growth",
        "token requests per 100 calls",
        "pollers at R=10/s: failed tasks",
    ):
        assert measure in out, f"{measure!r} missing from the quick run's table:\n{out[-3000:]}"

    rows = {line.split("  ")[0]: line for line in out[out.index("=== Results") :].splitlines()}
    assert rows["DAG-parse: simulator, FastAPI/uvicorn, Sinch SDK or httpx imported"].split()[-1] == "yes"
    assert rows["latest 10 of 2,000: requests"].split()[-1] == "yes"
    assert rows["incremental run, 2,000 history + 5 new: requests"].split()[-1] == "yes"
    assert rows["download 8 MiB: peak RSS growth (MiB)"].split()[-1] == "yes"
    assert rows["token requests per 100 calls: one hook"].split()[-1] == "yes"
    assert rows["8 pollers at R=10/s: failed tasks"].split()[-1] == "yes"

    text = report.read_text()
    assert "## Machine" in text
    assert "| nproc |" in text
    assert "bench-secret" not in out + done.stderr + text, "the simulator's key secret was printed"
