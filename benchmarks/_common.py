"""What every benchmark shares: the environment, a simulator in its own process, timing and result rows.

The simulator runs in a child process (``python benchmarks/_common.py simulator``) so the client being
measured does not share a GIL or an RSS with the server; the two talk JSON lines over stdin/stdout.
Each benchmark script prints its details and, with ``--json PATH``, writes its rows for ``run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

UTC = timezone.utc
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: Where the http provider is installed for the baselines only: next to the venv, never in its site-packages.
BENCH_DEPS = Path(sys.prefix) / "bench-deps"
HTTP_PROVIDER_VERSION = "6.3.0"  # the newest release; needs Airflow >= 2.11, fits Airflow 3.3.2

KEY_ID = "bench-key-id"
KEY_SECRET = "bench-secret-not-real-0b7e"  # the simulator's test key; never printed
PROJECT_ID = "bench-project"
RETENTION_DAYS = 396  # Sinch keeps faxes 13 months
FAXES_PATH = f"/v3/projects/{PROJECT_ID}/faxes"


def setup_env() -> None:
    """A throw-away AIRFLOW_HOME, no example DAGs, quiet logs: call before anything imports Airflow."""
    if not os.environ.get("SINCH_BENCH_AIRFLOW_HOME"):
        os.environ["SINCH_BENCH_AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="sinch-bench-airflow-")
    os.environ["AIRFLOW_HOME"] = os.environ["SINCH_BENCH_AIRFLOW_HOME"]
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # Retry lines, the http provider's 429 bodies and "execute outside the Task Runner" would drown the tables;
    # failures reach the tables as exceptions.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")


def now() -> datetime:
    return datetime.now(tz=UTC)


def iso_ms(moment: datetime) -> str:
    """The Fax API's createTime format (UTC, milliseconds, ``Z``), written independently of the provider."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_s(moment: datetime) -> str:
    """A ``createTime>`` filter value as Sinch's SDKs send it: UTC, whole seconds (floored), ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: informational, no target
    note: str = ""


@dataclass
class Report:
    """What one benchmark script found: table rows and detail lines for the docs."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def detail(self, line: str) -> None:
        print(f"  {line}", flush=True)
        self.details.append(line)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def finish(self, args: argparse.Namespace) -> int:
        print(f"\n{self.title}")
        print_table(self.rows)
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "name": self.name,
                        "title": self.title,
                        "rows": [asdict(r) for r in self.rows],
                        "details": self.details,
                    }
                )
            )
        return 0


def met_text(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


TABLE_HEADER = ("measure", "ours", "baseline", "ratio", "target", "met?")


def table_cells(rows: Sequence[Row]) -> list[tuple[str, ...]]:
    return [(r.measure, r.ours, r.baseline, r.ratio, r.target, met_text(r.met)) for r in rows]


def print_table(rows: Sequence[Row]) -> None:
    cells = [TABLE_HEADER, *table_cells(rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(TABLE_HEADER))]
    for index, line in enumerate(cells):
        print("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    sys.stdout.flush()


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes and 1-3 repetitions: proves the script works")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON here (run_all.py reads them)")
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def interleaved(
    runs: int, cpu: dict[str, list[float]] | None = None, **candidates: Callable[[], Any]
) -> dict[str, list[float]]:
    """Time each candidate ``runs`` times, alternating them so drifting machine load hits all alike.

    Returns wall seconds per candidate; ``cpu``, if given, receives this process's CPU seconds per run,
    which a loaded machine inflates far less than wall time.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, run in candidates.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            run()
            times[name].append(time.perf_counter() - start)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - cpu_start)
    return times


def ratio(ours: float, baseline: float) -> str:
    """ours / baseline, with two significant digits when it is far below 1."""
    if not baseline:
        return "-"
    value = ours / baseline
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


# ------------------------------------------------------------------------------------------ connections


def set_sinch_connection(url: str, conn_id: str = "sinch_default", **extra: Any) -> None:
    """Point an env-var ``sinch`` connection at the simulator."""
    value = {
        "conn_type": "sinch",
        "host": url,
        "login": KEY_ID,
        "password": KEY_SECRET,
        "extra": {"project_id": PROJECT_ID, **extra},
    }
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)


def set_http_connection(url: str, conn_id: str = "bench_http") -> None:
    """An ``http`` connection (HttpHook / HttpOperator) to the same simulator with Basic auth."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    value = {
        "conn_type": "http",
        "host": host,
        "port": int(port),
        "schema": "http",
        "login": KEY_ID,
        "password": KEY_SECRET,
    }
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)


def bare_session() -> Any:
    """What hand-written code uses: one ``requests.Session`` with Basic auth."""
    import requests

    session = requests.Session()
    session.auth = (KEY_ID, KEY_SECRET)
    return session


def bare_list_pages(session: Any, url: str, params: dict[str, str], page_size: int = 1000) -> list[dict[str, Any]]:
    """The practical limit of listing: a plain page loop with the largest page size, no extra work."""
    faxes: list[dict[str, Any]] = []
    page = 1
    while True:
        response = session.get(f"{url}{FAXES_PATH}", params={**params, "page": page, "pageSize": page_size}, timeout=60)
        response.raise_for_status()
        body = response.json()
        faxes.extend(body["faxes"])
        if not body["faxes"] or page >= body["totalPages"]:
            return faxes
        page += 1


# --------------------------------------------------------------------------------- the http provider


def http_provider_path() -> Path | None:
    """Install apache-airflow-providers-http (and only what this venv lacks) into BENCH_DEPS once.

    ``pip install --target`` alone would also install a second Airflow there, so the missing packages
    are found with a dry run against this venv and installed with ``--no-deps``. Returns the folder to
    put on PYTHONPATH, or None (with a message) when it cannot be installed.
    """
    marker = BENCH_DEPS / f".http-{HTTP_PROVIDER_VERSION}"
    if marker.exists():
        return BENCH_DEPS
    requirement = f"apache-airflow-providers-http=={HTTP_PROVIDER_VERSION}"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    print(f"  installing {requirement} into {BENCH_DEPS} (benchmark baselines only)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        dry = subprocess.run(
            [*pip, "install", "--dry-run", "--report", str(report), requirement], capture_output=True, text=True
        )
        if dry.returncode:
            print(f"  cannot resolve {requirement}: {dry.stderr.strip()[-500:]}", flush=True)
            return None
        missing = [
            f"{item['metadata']['name']}=={item['metadata']['version']}"
            for item in json.loads(report.read_text())["install"]
        ]
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(BENCH_DEPS), "--upgrade", *missing],
        capture_output=True,
        text=True,
    )
    if installed.returncode:
        print(f"  cannot install {requirement}: {installed.stderr.strip()[-500:]}", flush=True)
        return None
    marker.touch()
    return BENCH_DEPS


def use_http_provider() -> bool:
    """Make the bench-only http provider importable in this process; False if it is unavailable."""
    path = http_provider_path()
    if path is None:
        return False
    if str(path) not in sys.path:
        sys.path.append(str(path))  # after site-packages: it only adds what the venv lacks
    return True


# ------------------------------------------------------------------------------- the simulator process


class Simulator:
    """A ``SimulatorServer`` in a child process, driven over JSON lines.

    :param config: ``SimulatorConfig`` fields; ``seed_period_days`` and ``seed_end`` (datetime) are converted.
    """

    def __init__(self, **config: Any) -> None:
        config.setdefault("key_id", KEY_ID)
        config.setdefault("key_secret", KEY_SECRET)
        config.setdefault("project_id", PROJECT_ID)
        if isinstance(config.get("seed_end"), datetime):
            config["seed_end"] = config["seed_end"].isoformat()
        self.config = config
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.token_url = ""
        self.faxes = 0

    def __enter__(self) -> Simulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "simulator"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(self.config) + "\n")  # on stdin, so the key is not in `ps`
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process exited with {self.proc.wait()}")
        hello = json.loads(line)
        self.url, self.token_url, self.faxes = hello["url"], hello["token_url"], hello["faxes"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        try:
            self.call("stop")
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def call(self, op: str, **kwargs: Any) -> Any:
        assert self.proc is not None
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}, default=str) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline() or '{"error": "simulator process died"}')
        if "error" in answer:
            raise RuntimeError(f"simulator {op}: {answer['error']}")
        return answer["result"]

    def count(self, path_prefix: str | None = "/v3/", method: str | None = None, status: int | None = None) -> int:
        """Recorded requests matching path prefix, method and response status."""
        return int(self.call("count", path_prefix=path_prefix, method=method, status=status))

    def statuses(self, path_prefix: str = "/v3/") -> dict[str, int]:
        return dict(self.call("statuses", path_prefix=path_prefix))

    def token_requests(self) -> int:
        return int(self.call("token_requests"))

    def reset(self) -> None:
        self.call("reset")

    def add_fax(self, create_time: datetime | None = None, **fields: Any) -> dict[str, Any]:
        return dict(self.call("add_fax", create_time=create_time.isoformat() if create_time else None, **fields))

    def add_faxes(self, faxes: Sequence[dict[str, Any]]) -> list[str]:
        """Add many faxes in one call (``add_fax`` keyword arguments each); their IDs, in order."""
        items = [{**f, "create_time": f["create_time"].isoformat() if f.get("create_time") else None} for f in faxes]
        return list(self.call("add_faxes", faxes=items))

    def latency(self, seconds: float, path_prefix: str | None = None, method: str | None = None) -> None:
        """Delay every matching request by ``seconds`` (``faults.latency``; an ``asyncio.sleep`` in the server)."""
        self.call("latency", seconds=seconds, path_prefix=path_prefix, method=method)

    def schedule_updates(self, batches: Sequence[tuple[float, Sequence[str]]], **fields: Any) -> None:
        """At each wall-clock time (``time.time()``), ``update_fax(id, **fields)`` the batch's faxes.

        Runs in the simulator process, so the client being measured sends nothing meanwhile;
        :meth:`update_times` then says when each fax was changed.
        """
        self.call("schedule_updates", batches=[[at, list(ids)] for at, ids in batches], fields=fields)

    def update_times(self) -> dict[str, float]:
        """Fax ID -> wall-clock time (``time.time()``) its scheduled update was applied."""
        return {k: float(v) for k, v in self.call("update_times").items()}


def _serve_simulator() -> None:
    """Child side of :class:`Simulator`: serve until told to stop or stdin closes."""
    from airflow_provider_sinch.simulator import SimulatorConfig
    from airflow_provider_sinch.simulator.server import SimulatorServer

    config = json.loads(sys.stdin.readline())
    if "seed_period_days" in config:
        config["seed_period"] = timedelta(days=config.pop("seed_period_days"))
    if config.get("seed_end"):
        config["seed_end"] = datetime.fromisoformat(config["seed_end"])
    sim = SimulatorServer(SimulatorConfig(**config)).start()

    def count(path_prefix: str | None, method: str | None, status: int | None) -> int:
        return sum(
            1
            for r in sim.requests
            if (path_prefix is None or r.path.startswith(path_prefix))
            and (method is None or r.method == method)
            and (status is None or r.status == status)
        )

    def statuses(path_prefix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in sim.requests:
            if r.path.startswith(path_prefix):
                out[str(r.status)] = out.get(str(r.status), 0) + 1
        return out

    def add_fax(create_time: str | None = None, **fields: Any) -> dict[str, Any]:
        when = datetime.fromisoformat(create_time) if create_time else None
        return sim.store.add_fax(create_time=when, **fields)

    def add_faxes(faxes: list[dict[str, Any]]) -> list[str]:
        return [add_fax(**fields)["id"] for fields in faxes]

    def latency(seconds: float, path_prefix: str | None, method: str | None) -> None:
        sim.faults.latency(seconds, path_prefix=path_prefix, method=method)

    updated: dict[str, float] = {}

    def schedule_updates(batches: list[list[Any]], fields: dict[str, Any]) -> None:
        def apply() -> None:
            for at, ids in sorted(batches, key=lambda batch: batch[0]):
                time.sleep(max(0.0, at - time.time()))
                for fax_id in ids:
                    sim.store.update_fax(fax_id, **fields)
                    updated[fax_id] = time.time()

        updated.clear()
        threading.Thread(target=apply, name="scheduled-updates", daemon=True).start()

    handlers: dict[str, Callable[..., Any]] = {
        "count": count,
        "statuses": statuses,
        "token_requests": lambda: sim.token_requests,
        "reset": sim.reset_requests,
        "add_fax": add_fax,
        "add_faxes": add_faxes,
        "latency": latency,
        "schedule_updates": schedule_updates,
        "update_times": lambda: dict(updated),
        "stop": lambda: None,
    }
    print(json.dumps({"url": sim.url, "token_url": sim.token_url, "faxes": len(sim.store)}), flush=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            op = command.pop("op")
            try:
                answer = {"result": handlers[op](**command)}
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer, default=str), flush=True)
            if op == "stop":
                break
    finally:
        sim.stop()


# ------------------------------------------------------------------------------------------------ facts


def machine_facts() -> dict[str, str]:
    """nproc, CPU model, load, Python and the versions that shape the numbers."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def dist(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    http_version = (
        HTTP_PROVIDER_VERSION if (BENCH_DEPS / f".http-{HTTP_PROVIDER_VERSION}").exists() else "not installed"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {
        "date (UTC)": now().strftime("%Y-%m-%d %H:%M"),
        "nproc": str(os.cpu_count()),
        "CPU": cpu,
        "load average at start (1/5/15 min)": load,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "apache-airflow": dist("apache-airflow"),
        "apache-airflow-task-sdk": dist("apache-airflow-task-sdk"),
        "requests": dist("requests"),
        "urllib3": dist("urllib3"),
        "apache-airflow-providers-http (baseline, bench-only)": http_version,
        "airflow-provider-sinch": dist("airflow-provider-sinch"),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["simulator"]:
        _serve_simulator()
    else:
        sys.exit("usage: python benchmarks/_common.py simulator  (a JSON config line on stdin)")
