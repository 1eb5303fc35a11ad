"""DAG-parse cost: extra import time of our operator module on top of ``import airflow.sdk``.

Candidates, each imported on top of ``import airflow.sdk``:

- ours: ``from airflow_provider_sinch.operators.fax import ListFaxesOperator``;
- http provider: ``from airflow.providers.http.operators.http import HttpOperator`` (installed for the
  benchmarks only, on PYTHONPATH for its processes only).

Each timed import runs in a fresh process forked from a "zygote" that has imported ``airflow.sdk`` and
nothing else, the way Airflow 3's DAG processor forks a process per DAG file from one that has loaded
Airflow: the measured module and its dependencies are imported for the first time in every sample, and
a sample costs milliseconds instead of a whole interpreter start. Every process loads compiled bytecode
(cached under the venv, as after a pip install), warmed before timing. A few cold ``python -c``
processes cross-check the result. Candidates alternate; the table shows medians. Importing our operator
must not import the simulator, FastAPI, Starlette or uvicorn. Over target, ``python -X importtime``
names the modules that cost the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from typing import Any

import _common as c

#: What a DAG file of ours imports: the fax operators and, for alerts, the message operator and the notifier.
OURS = (
    "from airflow_provider_sinch.operators.fax import ListFaxesOperator; "
    "from airflow_provider_sinch.operators.conversation import SendMessageOperator; "
    "from airflow_provider_sinch.notifications.sinch import send_sinch_notification"
)
HTTP = "from airflow.providers.http.operators.http import HttpOperator"
#: Never at DAG-parse time: the simulator and its web stack, and Sinch's Python SDK (about 1 s to import).
FORBIDDEN = ("airflow_provider_sinch.simulator", "fastapi", "starlette", "uvicorn", "sinch", "httpx")
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

#: Imports airflow.sdk once, then forks a child per statement read from stdin; the child times it.
ZYGOTE = """
import importlib, json, os, sys, time
import airflow.sdk
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
print("ready", flush=True)
for line in sys.stdin:
    statement = json.loads(line)
    pid = os.fork()
    if pid == 0:
        before = set(sys.modules)
        start, cpu = time.perf_counter(), time.process_time()
        exec(statement)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        new = sorted(set(sys.modules) - before)
        print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "new": new}), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


#: Bytecode for every measured process, as a pip install leaves it. The checkout is an editable install
#: and environments that set PYTHONDONTWRITEBYTECODE (this one does) would otherwise compile our modules
#: from source in every process while the http provider and requests load compiled bytecode.
PYCACHE = c.BENCH_DEPS.parent / "bench-pycache"


def child_env(pythonpath: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def measure(statement: str, pythonpath: str | None, *flags: str) -> tuple[dict[str, Any], str]:
    """One cold ``python -c`` process: import airflow.sdk, then time ``statement``."""
    done = subprocess.run(
        [sys.executable, *flags, "-c", SNIPPET.format(statement=statement)],
        capture_output=True,
        text=True,
        env=child_env(pythonpath),
        cwd=c.ROOT,
    )
    if done.returncode:
        raise SystemExit(f"`{statement}` failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


class Zygote:
    """A process that has imported airflow.sdk and forks one child per measured import."""

    def __init__(self, statement: str, pythonpath: str | None, preload: list[str] | None = None) -> None:
        self.statement = statement
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, json.dumps(preload or [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(pythonpath),
            cwd=c.ROOT,
        )

    def wait_ready(self) -> Zygote:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the import zygote for `{self.statement}` did not start")
        return self

    def measure(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(self.statement) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"`{self.statement}` failed in a forked child")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


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
    runs = 3 if args.quick else 15
    report = c.Report(
        "import", f"(1) DAG-parse import cost on top of `import airflow.sdk` (medians of {runs} forked processes)"
    )
    http_path = c.http_provider_path()

    # Warm the bytecode cache first in cold processes: a zygote started while it is empty stays slow.
    measure(OURS, None)
    if http_path:
        measure(HTTP, str(http_path))
    zygotes = {"ours": Zygote(OURS, None)}
    if http_path:
        zygotes["http"] = Zygote(HTTP, str(http_path))
    for zygote in zygotes.values():  # both start at once, then wait for each
        zygote.wait_ready()
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in zygotes}
    try:
        for zygote in zygotes.values():
            zygote.measure()  # warm-up: compiles the .pyc files the timed children then load
        for _ in range(runs):
            for name, zygote in zygotes.items():
                samples[name].append(zygote.measure())
    finally:
        for zygote in zygotes.values():
            zygote.close()
    ours_ms = [s["ms"] for s in samples["ours"]]
    http_ms = [s["ms"] for s in samples.get("http", [])]
    cpu_ms = {name: [s["cpu_ms"] for s in values] for name, values in samples.items()}
    new_modules = {m for s in samples["ours"] for m in s["new"]}
    cold: dict[str, list[float]] = {name: [] for name in zygotes}
    importtime_runs: list[str] = []
    if not args.quick:  # cross-check in cold interpreters, then look for culprits
        for _ in range(2):
            cold["ours"].append(measure(OURS, None)[0]["ms"])
            if http_path:
                cold["http"].append(measure(HTTP, str(http_path))[0]["ms"])
        importtime_runs = [measure(OURS, None, "-X", "importtime")[1] for _ in range(2)]
    own_ms: list[float] = []
    own_cpu = 0.0
    if not args.quick and c.median([sample["ms"] for sample in samples["ours"]]) > TARGET_MS:
        # What our own modules cost once their dependencies are loaded: the floor if those left parse time.
        preload = sorted(m for m in new_modules if not m.startswith("airflow_provider_sinch"))
        own = Zygote(OURS, None, preload).wait_ready()
        try:
            own.measure()
            own_samples = [own.measure() for _ in range(runs)]
            own_ms = [sample["ms"] for sample in own_samples]
            own_cpu = c.median([sample["cpu_ms"] for sample in own_samples])
        finally:
            own.close()

    leaked = sorted(m for m in new_modules if m.startswith(FORBIDDEN))
    report.detail(
        f"importing our operators and notifier pulled in {len(new_modules)} modules; simulator, web stack, Sinch SDK, "
        "httpx among "
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
    for name, values in cold.items():
        if values:
            label = "ours" if name == "ours" else "HttpOperator"
            report.detail(f"{label} in cold `python -c` processes: {', '.join(f'{v:.1f}' for v in values)} ms wall")
    met = ours <= TARGET_MS and (http is None or ours < http)
    if ours > TARGET_MS and importtime_runs:
        report.detail("over target; `python -X importtime` of ours, median cumulative ms (depth 0-2):")
        for name, ms, depth in culprits(importtime_runs):
            report.detail(f"  {'  ' * depth}{name}: {ms:.1f} ms")
    if own_ms:
        deps = sorted({m.split(".")[0] for m in new_modules if not m.startswith("airflow_provider_sinch")})
        report.detail(
            f"ours with its dependencies already loaded ({', '.join(deps)}): median {c.median(own_ms):.1f} ms wall, "
            f"{own_cpu:.1f} ms CPU: the cost of our own modules alone"
        )
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
            "DAG-parse: simulator, FastAPI/uvicorn, Sinch SDK or httpx imported",
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
