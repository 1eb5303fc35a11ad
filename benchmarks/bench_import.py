"""DAG-parse cost: extra import time of our operator module on top of ``import airflow.sdk``.

Each measurement is a fresh ``python -c`` process that imports ``airflow.sdk``, then times one import:

- ours: ``from airflow_provider_sinch.operators.fax import ListFaxesOperator``;
- http provider: ``from airflow.providers.http.operators.http import HttpOperator`` (installed for the
  benchmarks only, put on PYTHONPATH for its processes only).

The processes alternate; the table shows medians. Importing our operator must not import the simulator,
FastAPI, Starlette or uvicorn. When ours is over target, ``python -X importtime`` names the culprits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from typing import Any

import _common as c

OURS = "from airflow_provider_sinch.operators.fax import ListFaxesOperator"
HTTP = "from airflow.providers.http.operators.http import HttpOperator"
FORBIDDEN = ("airflow_provider_sinch.simulator", "fastapi", "starlette", "uvicorn")
TARGET_MS = 25.0

SNIPPET = """
import json, sys, time
import airflow.sdk
before = set(sys.modules)
print("--- measured import ---", file=sys.stderr, flush=True)
start, cpu = time.perf_counter(), time.process_time()
{statement}
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "new": sorted(set(sys.modules) - before)}}))
"""


def measure(statement: str, pythonpath: str | None, *flags: str) -> tuple[dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [sys.executable, *flags, "-c", SNIPPET.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env,
        cwd=c.ROOT,
    )
    if done.returncode:
        raise SystemExit(f"`{statement}` failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def culprits(importtime_runs: list[str], top: int = 8) -> list[tuple[str, float, int]]:
    """Median cumulative import time (ms) of the modules imported by the measured statement, biggest first.

    Only the top two levels of the import tree are kept (the module itself and what it pulls in directly).
    """
    per_module: dict[str, list[float]] = defaultdict(list)
    depth_of: dict[str, int] = {}
    for stderr in importtime_runs:
        section = stderr.split("--- measured import ---", 1)[-1]
        for line in section.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _self, cumulative_us, field = line.split("|", 2)
            name = field.strip()
            per_module[name].append(int(cumulative_us) / 1000)
            depth_of[name] = (len(field) - len(field.lstrip(" ")) - 1) // 2
    base = min(depth_of.values(), default=0)
    rows = [
        (name, c.median(values), depth_of[name] - base)
        for name, values in per_module.items()
        if depth_of[name] - base <= 2
    ]
    return sorted(rows, key=lambda r: r[1], reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    runs = 1 if args.quick else 15
    report = c.Report(
        "import", f"(1) DAG-parse import cost on top of `import airflow.sdk` (medians of {runs} processes)"
    )
    http_path = c.http_provider_path()

    # Full runs start with the -X importtime runs and an http warm-up: they compile the .pyc files the
    # timed runs then load. --quick skips them (and the culprit search) to stay short.
    importtime_runs = [] if args.quick else [measure(OURS, None, "-X", "importtime")[1] for _ in range(3)]
    if http_path and not args.quick:
        measure(HTTP, str(http_path))
    ours_ms: list[float] = []
    http_ms: list[float] = []
    cpu_ms: dict[str, list[float]] = {"ours": [], "http": []}
    new_modules: set[str] = set()
    for _ in range(runs):
        result, _stderr = measure(OURS, None)
        ours_ms.append(result["ms"])
        cpu_ms["ours"].append(result["cpu_ms"])
        new_modules.update(result["new"])
        if http_path:
            http_result = measure(HTTP, str(http_path))[0]
            http_ms.append(http_result["ms"])
            cpu_ms["http"].append(http_result["cpu_ms"])

    leaked = sorted(m for m in new_modules if m.startswith(FORBIDDEN))
    report.detail(
        f"importing our operator pulled in {len(new_modules)} modules; simulator/fastapi/starlette/uvicorn among "
        f"them: {', '.join(leaked) if leaked else 'none'}"
    )
    ours = c.median(ours_ms)
    http = c.median(http_ms) if http_ms else None
    report.detail(
        f"ours: median {ours:.1f} ms wall (min {min(ours_ms):.1f}, max {max(ours_ms):.1f}), "
        f"{c.median(cpu_ms['ours']):.1f} ms CPU"
    )
    if http_ms:
        report.detail(
            f"HttpOperator: median {http:.1f} ms wall (min {min(http_ms):.1f}, max {max(http_ms):.1f}), "
            f"{c.median(cpu_ms['http']):.1f} ms CPU"
        )
    met = ours <= TARGET_MS and (http is None or ours < http)
    if ours > TARGET_MS and importtime_runs:
        report.detail("over target; `python -X importtime` of ours, median cumulative ms (depth 0-2):")
        for name, ms, depth in culprits(importtime_runs):
            report.detail(f"  {'  ' * depth}{name}: {ms:.1f} ms")
    report.add(
        c.Row(
            "DAG-parse: extra import, ms wall (CPU) vs HttpOperator",
            f"{ours:.1f} ({c.median(cpu_ms['ours']):.1f})",
            f"{http:.1f} ({c.median(cpu_ms['http']):.1f})" if http is not None else "n/a",
            c.ratio(ours, http) if http else "-",
            f"<= {TARGET_MS:g} ms and < http",
            met,
        )
    )
    report.add(
        c.Row(
            "DAG-parse: simulator/FastAPI/uvicorn imported",
            "none" if not leaked else ", ".join(leaked),
            "-",
            "-",
            "none",
            not leaked,
        )
    )
    return report.finish(args)


if __name__ == "__main__":
    sys.exit(main())
