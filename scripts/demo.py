"""``make demo``: run the fax-polling example DAG in a real Airflow against the local Sinch simulator.

Steps, each announced as it happens:

1. start ``sinch-fax-simulator`` on a free 127.0.0.1 port with seeded faxes (skipped for the real API);
2. point the ``sinch_default`` connection at it with ``AIRFLOW_CONN_SINCH_DEFAULT`` (JSON);
3. create a throw-away ``AIRFLOW_HOME`` and run ``airflow db migrate``;
4. run ``airflow dags test example_sinch_fax_polling`` with ``example_dags/`` as the dags folder;
5. read what the list task put in XCom from that Airflow's metadata database and print it as a table;
6. stop the simulator and remove the temporary ``AIRFLOW_HOME``, also on failure or Ctrl-C.

To list the faxes of a real Sinch project instead, set ``SINCH_KEY_ID``, ``SINCH_KEY_SECRET`` and
``SINCH_PROJECT_ID`` (optionally ``SINCH_AUTH_TYPE``, default ``oauth2``): no simulator is started and
the DAG only reads (it lists faxes). Run with the project's venv python (``make demo`` does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = ROOT / "example_dags"
DAG_ID = "example_sinch_fax_polling"
LIST_TASK = "latest_inbound_faxes"
INCREMENTAL_TASK = "new_inbound_faxes"
SUMMARY_TASK = "summarise"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
REAL_API_VARS = ("SINCH_KEY_ID", "SINCH_KEY_SECRET", "SINCH_PROJECT_ID")
#: The venv's console scripts sit next to its python (``sys.executable`` is not resolved: it may be a symlink).
BIN = Path(sys.executable).parent
#: Lines of ``airflow dags test`` output that mark a task's start and end.
TASK_MARKERS = (("[DAG TEST] starting task_id=", "running "), ("[DAG TEST] end task task_id=", "finished"))
COLUMNS = (
    ("id", "id"),
    ("direction", "direction"),
    ("from", "from"),
    ("to", "to"),
    ("pages", "numberOfPages"),
    ("status", "status"),
    ("created (UTC)", "createTime"),
)


class DemoError(Exception):
    """A step failed; the message says what to do."""


def say(message: str = "") -> None:
    print(message, flush=True)


def step(number: int, total: int, message: str) -> None:
    say(f"\n[{number}/{total}] {message}")


@dataclass
class Target:
    """Where the ``sinch_default`` connection points."""

    conn: dict[str, Any]
    description: str


def real_api_target(environ: dict[str, str]) -> Target | None:
    """The real Sinch API when ``SINCH_KEY_ID/SINCH_KEY_SECRET/SINCH_PROJECT_ID`` are all set, else None."""
    present = [name for name in REAL_API_VARS if environ.get(name)]
    if not present:
        return None
    missing = [name for name in REAL_API_VARS if name not in present]
    if missing:
        raise DemoError(
            f"{', '.join(present)} set but {', '.join(missing)} not: set all three to use the real Sinch API, "
            "or none to use the local simulator."
        )
    auth_type = environ.get("SINCH_AUTH_TYPE", "oauth2")
    extra: dict[str, Any] = {"project_id": environ["SINCH_PROJECT_ID"], "auth_type": auth_type}
    conn: dict[str, Any] = {
        "conn_type": "sinch",
        "login": environ["SINCH_KEY_ID"],
        "password": environ["SINCH_KEY_SECRET"],
        "extra": extra,
    }
    if environ.get("SINCH_API_URL"):
        conn["host"] = environ["SINCH_API_URL"]
    where = environ.get("SINCH_API_URL") or "https://fax.api.sinch.com"
    return Target(conn, f"the real Sinch Fax API at {where} (project {environ['SINCH_PROJECT_ID']}, {auth_type})")


class Simulator:
    """``sinch-fax-simulator`` as a child process in its own session, always stopped by :meth:`stop`."""

    def __init__(self, workdir: Path, *, faxes: int, seed: int) -> None:
        self.workdir = workdir
        self.faxes = faxes
        self.seed = seed
        self.key_id = "demo-key-id"
        # A fresh secret per run: nothing reusable is left anywhere, and nothing to keep out of logs.
        self.key_secret = secrets.token_urlsafe(18)
        self.project_id = "demo-project"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = workdir / "simulator.log"

    def start(self, timeout: float = 30.0) -> None:
        executable = BIN / "sinch-fax-simulator"
        if not executable.exists():
            raise DemoError(f"{executable} not found: run the demo with `make demo` (it installs the provider).")
        command = [
            str(executable),
            "--host", "127.0.0.1",
            "--port", "0",  # the OS picks a free port; the simulator prints it
            "--seed-faxes", str(self.faxes),
            "--seed-period-days", "30",  # a month of faxes, the newest minutes old
            "--seed", str(self.seed),
            "--key-id", self.key_id,
            "--project-id", self.project_id,
        ]  # fmt: skip
        # The secret goes by the environment: on the command line `ps` would show it to every local user.
        env = {**os.environ, "SINCH_SIMULATOR_KEY_SECRET": self.key_secret}
        with self.log_path.open("wb") as log, deferred_interrupts():
            # Its own session: a Ctrl-C in the terminal reaches only this script, which then stops it in order.
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if "listening on http://" in line:
                    self.url = line.split("listening on ", 1)[1].split()[0]
                    return
            if self.process.poll() is not None:
                raise DemoError(f"the simulator exited with code {self.process.returncode}:\n{tail(self.log_path)}")
            time.sleep(0.1)
        raise DemoError(f"the simulator did not start within {timeout:.0f} s:\n{tail(self.log_path)}")

    def target(self) -> Target:
        conn = {
            "conn_type": "sinch",
            "host": self.url,
            "login": self.key_id,
            "password": self.key_secret,
            "extra": {"project_id": self.project_id, "auth_type": "basic", "conversation_app_id": "test-app"},
        }
        return Target(conn, f"the simulator at {self.url}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, "the simulator")
            self.process = None


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while a child starts, then raise KeyboardInterrupt if one came.

    Interrupted inside ``Popen``, a started child would have no handle to stop it with; deferred, the
    interrupt arrives once the caller holds the handle. Exec'd children get default handlers again.
    """
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


def stop_process(process: subprocess.Popen[Any], name: str, grace: float = 10.0) -> None:
    """TERM the process group of a child started with ``start_new_session``, KILL it after ``grace`` s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        say(f"    {name} did not stop within {grace:.0f} s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, indented."""
    if not path.exists():
        return "    (no output)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


def airflow_env(home: Path, target: Target) -> dict[str, str]:
    """The environment of the airflow commands: a private AIRFLOW_HOME and the connection as an env var."""
    env = dict(os.environ)
    for name in (*REAL_API_VARS, "SINCH_AUTH_TYPE", "SINCH_API_URL"):
        env.pop(name, None)  # the connection below carries them; Airflow needs nothing else
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_SINCH_DEFAULT": json.dumps(target.conn),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_airflow(args: list[str], env: dict[str, str], log_path: Path, *, show_tasks: bool = False) -> int:
    """Run ``airflow ARGS`` with its output in ``log_path``; with ``show_tasks``, report each task as it runs."""
    command = [str(BIN / "airflow"), *args]
    started = time.monotonic()
    process: subprocess.Popen[str] | None = None
    with log_path.open("w") as log:
        try:
            with deferred_interrupts():
                process = subprocess.Popen(
                    command,
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    text=True,
                    errors="replace",
                )
            assert process.stdout is not None
            follow(process.stdout, log, show_tasks, started)
            return process.wait()
        finally:
            if process is not None:
                stop_process(process, "airflow")


def follow(stream: IO[str], log: IO[str], show_tasks: bool, started: float) -> None:
    """Copy ``airflow dags test`` output to the log and announce task starts and ends."""
    for line in stream:
        log.write(line)
        if not show_tasks or "[DAG TEST]" not in line:
            continue
        elapsed = time.monotonic() - started
        for marker, verb in TASK_MARKERS:
            if marker in line:
                task_id = line.split(marker, 1)[1].split()[0]
                say(f"    {elapsed:5.1f} s  {verb} {task_id}")


def read_xcom(home: Path, task_id: str) -> Any:
    """The ``return_value`` XCom of ``task_id`` in the only run of the demo's metadata database.

    Airflow 3 stores XCom values as JSON in the ``xcom`` table; reading it with sqlite3 needs no Airflow
    import and no API server.
    """
    with contextlib.closing(sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True)) as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' AND map_index = -1 "
            "ORDER BY timestamp DESC LIMIT 1",
            (DAG_ID, task_id),
        ).fetchone()
    if row is None or row[0] is None:
        return None
    value = row[0]
    return json.loads(value.decode() if isinstance(value, bytes) else value)


def format_created(value: Any) -> str:
    """``2026-11-28T03:56:24.861Z`` as ``2026-11-28 03:56:24``."""
    text = str(value or "")
    return text.replace("T", " ")[:19] if "T" in text else text


def fax_table(faxes: list[dict[str, Any]]) -> str:
    """A plain-text table of faxes, one per line."""
    rows = [[title for title, _ in COLUMNS]]
    for fax in faxes:
        cells = []
        for _title, field in COLUMNS:
            value = fax.get(field)
            cells.append(format_created(value) if field == "createTime" else "" if value is None else str(value))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def airflow_version() -> str:
    """The installed Airflow's version; the demo needs Airflow 3 (``make demo`` uses the pinned 3.3.2)."""
    try:
        found = version("apache-airflow")
    except PackageNotFoundError:
        raise DemoError(
            f"Airflow is not installed for {sys.executable}: run the demo with `make demo`, which creates the venv."
        ) from None
    if int(found.split(".", 1)[0]) < 3:
        raise DemoError(f"the demo runs on Airflow 3, not {found}: run it with `make demo` (Airflow 3.3.2, .venv).")
    return found


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--faxes", type=int, default=300, help="faxes the simulator seeds (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulator's faxes (default 7)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME (logs, airflow.db)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # `kill` (SIGTERM) cleans up like Ctrl-C: both end in the finally blocks below.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="sinch-demo-"))
    home = workdir / "airflow-home"
    home.mkdir()
    simulator: Simulator | None = None
    keep = args.keep
    try:
        af_version = airflow_version()
        real = real_api_target(dict(os.environ))
        total = 5
        say(f"Sinch fax-polling demo: Airflow {af_version}, Python {sys.version.split()[0]}, DAG {DAG_ID}")
        if real is None:
            step(1, total, f"Starting the Sinch Fax API simulator on 127.0.0.1 with {args.faxes} seeded faxes")
            simulator = Simulator(workdir, faxes=args.faxes, seed=args.seed)
            simulator.start()
            assert simulator.process is not None
            say(f"    listening on {simulator.url} (pid {simulator.process.pid})")
            target = simulator.target()
        else:
            step(1, total, "SINCH_KEY_ID, SINCH_KEY_SECRET and SINCH_PROJECT_ID are set: using the real Sinch API")
            say("    no simulator; the DAG only lists faxes (read-only)")
            target = real

        step(2, total, "Pointing the connection sinch_default at it (AIRFLOW_CONN_SINCH_DEFAULT, JSON)")
        say(f"    {target.description}; key ID {target.conn['login']!r}, key secret hidden")
        env = airflow_env(home, target)

        step(3, total, "Preparing a temporary Airflow home and its database (airflow db migrate)")
        say(f"    AIRFLOW_HOME={home}")
        migrate_started = time.monotonic()
        if run_airflow(["db", "migrate"], env, workdir / "db-migrate.log") != 0:
            keep = True
            raise DemoError(f"airflow db migrate failed:\n{tail(workdir / 'db-migrate.log')}")
        say(f"    done in {time.monotonic() - migrate_started:.0f} s")

        step(4, total, f"Running the example DAG with real Airflow: airflow dags test {DAG_ID}")
        say(f"    dags folder: {DAGS_FOLDER.relative_to(ROOT)}/ (usually 20-60 s)")
        dag_log = workdir / "dags-test.log"
        rc = run_airflow(["dags", "test", DAG_ID], env, dag_log, show_tasks=True)
        if rc != 0:
            keep = True
            raise DemoError(f"airflow dags test exited with {rc}; the end of its output:\n{tail(dag_log)}")
        say("    the DAG run succeeded")

        step(5, total, f"Reading what {LIST_TASK} put in XCom (return_value) from the Airflow database")
        faxes = read_xcom(home, LIST_TASK)
        if not isinstance(faxes, list):
            keep = True
            raise DemoError(f"no list of faxes in the XCom of {LIST_TASK} (found {type(faxes).__name__})")
        say(f"\nThe {len(faxes)} newest inbound faxes, newest first (XCom of task {LIST_TASK}):\n")
        say(fax_table(faxes))
        new = read_xcom(home, INCREMENTAL_TASK)
        summary = read_xcom(home, SUMMARY_TASK)
        say(
            f"\n{INCREMENTAL_TASK} (incremental=True) delivered {len(new or [])} faxes: a manual run has an empty\n"
            "data interval; scheduled runs each deliver the faxes of their own interval, exactly once."
        )
        if summary is not None:
            say(f"{SUMMARY_TASK} returned {json.dumps(summary)}")
        say(f"\nDone in {time.monotonic() - started:.0f} s.")
        return 0
    except DemoError as exc:
        say(f"\nDemo failed: {exc}")
        return 1
    except KeyboardInterrupt:
        say("\nInterrupted: cleaning up.")
        return 130
    finally:
        # Stop the simulator, also on errors and Ctrl-C; a second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if simulator is not None and simulator.process is not None:
            pid = simulator.process.pid
            simulator.stop()
            say(f"Stopped the simulator (pid {pid}); nothing is left running.")
        if keep:
            say(f"Logs and the Airflow database are kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
