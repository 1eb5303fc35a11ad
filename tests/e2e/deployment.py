"""Building blocks of a real Airflow deployment on 127.0.0.1: PostgreSQL, Redis, Airflow's components.

Nothing here knows about a particular test: ``test_connection_form`` uses the API server alone (on
SQLite), ``test_distributed`` the whole CeleryExecutor deployment. Every process is started through a
:class:`~tests.e2e.processes.ProcessSupervisor`, which stops them all at the end.
"""

from __future__ import annotations

import base64
import glob
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from tests.e2e.processes import free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from tests.e2e.processes import ProcessSupervisor

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
EXAMPLE_DAGS = REPO_ROOT / "example_dags"

#: Task-instance states after which nothing more happens to a task in this run.
FINISHED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


# ---------------------------------------------------------------------------------------- environment


def airflow_env(home: Path, *, api_port: int, dags_folder: Path, **settings: str) -> dict[str, str]:
    """The environment of every Airflow process of one deployment.

    Inherited ``AIRFLOW__*`` and ``AIRFLOW_CONN_*`` variables are dropped so that the developer's own
    settings (and the unit tests' temporary ``AIRFLOW_HOME``) never leak in. The secrets that all
    components must share (JWT, Fernet, session) are generated here, once per deployment.

    :param settings: more variables, e.g. ``AIRFLOW__CORE__EXECUTOR="CeleryExecutor"``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            # Airflow spawns its children as ``airflow ...``: they must find the venv's, not another one.
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            # The repository on the path: the workers import tests.e2e.worker_identity (see there).
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            # No login page: the browser and the REST calls act as admin (loopback only).
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        }
    )
    env.update(settings)
    return env


def new_workdir(prefix: str) -> Path:
    """A fresh temporary directory that any local user can enter (PostgreSQL may run as ``nobody``)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def remove_workdir(path: Path) -> None:
    """Delete a work directory unless ``SINCH_E2E_KEEP`` asks to keep it for a post-mortem."""
    if os.environ.get("SINCH_E2E_KEEP"):
        print(f"SINCH_E2E_KEEP set: keeping {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------ infrastructure


def postgres_bindir() -> Path:
    """The newest Debian PostgreSQL server's binaries (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise FileNotFoundError("no PostgreSQL server: run scripts/e2e/install.sh")
    return Path(found[-1]).parent


def _as_unprivileged(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; as root, run it as nobody (setpriv execs, no extra process).
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]


def start_postgres(procs: ProcessSupervisor, workdir: Path, *, timeout: float = 60) -> str:
    """Start a throw-away PostgreSQL on a free 127.0.0.1 port; return the SQLAlchemy URL of database ``airflow``.

    Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the data lives for one test.
    """
    bindir = postgres_bindir()
    data = workdir / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "nobody", "nogroup")
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "HOME": str(data)}
    procs.run(
        "postgres-initdb",
        _as_unprivileged(
            [str(bindir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"]
        ),
        env=env,
        timeout=timeout,
    )
    port = free_port()
    argv = [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(data)]
    for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200"):
        argv += ["-c", setting]
    procs.start(
        "postgres",
        _as_unprivileged(argv),
        env=env,
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
        stop_signal=signal.SIGINT,
        stop_last=True,
    )
    procs.wait_for_port("postgres", port, timeout=timeout)
    procs.run(
        "postgres-createdb",
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
        env=env,
        timeout=timeout,
    )
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


def start_redis(procs: ProcessSupervisor, workdir: Path, *, timeout: float = 30) -> str:
    """Start a throw-away Redis (no persistence) on a free 127.0.0.1 port; return its URL."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise FileNotFoundError("no redis-server: run scripts/e2e/install.sh")
    data = workdir / "redis"
    data.mkdir()
    port = free_port()
    options = {"bind": "127.0.0.1", "port": str(port), "protected-mode": "yes", "save": "", "appendonly": "no"}
    argv = [redis_server, "--dir", str(data)]
    for name, value in options.items():
        argv += [f"--{name}", value]
    procs.start("redis", argv, env={"PATH": os.environ.get("PATH", "")}, stop_last=True)
    procs.wait_for_port("redis", port, timeout=timeout)
    return f"redis://127.0.0.1:{port}/0"


# ------------------------------------------------------------------------------------------ airflow


def migrate_db(procs: ProcessSupervisor, env: Mapping[str, str], *, timeout: float = 180) -> None:
    procs.run("airflow-db-migrate", [AIRFLOW, "db", "migrate"], env=env, timeout=timeout)


def start_api_server(procs: ProcessSupervisor, env: Mapping[str, str], *, timeout: float = 120) -> AirflowAPI:
    """Start ``airflow api-server`` (one worker) on the port in ``env`` and wait until it is healthy."""
    port = env["AIRFLOW__API__PORT"]
    procs.start("api-server", [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", port, "-w", "1"], env=env)
    api = AirflowAPI(f"http://127.0.0.1:{port}")
    procs.wait_until("the API server to report a healthy metadata database", api.healthy, timeout=timeout)
    return api


# ---------------------------------------------------------------------------------------- REST API


@dataclass
class RunObservation:
    """What polling a DAG run saw: its final state and every state each task instance went through."""

    dag_id: str
    run_id: str
    state: str
    task_instances: list[dict[str, Any]]
    #: ``(task_id, map_index) -> states in the order first seen``, e.g. ``["running", "deferred", "success"]``.
    ti_states: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def states_of(self, task_id: str, map_index: int = -1) -> list[str]:
        return self.ti_states.get((task_id, map_index), [])

    def tis(self, task_id: str) -> list[dict[str, Any]]:
        """The task instances of one task (several for a mapped task), by map index."""
        return sorted((ti for ti in self.task_instances if ti["task_id"] == task_id), key=lambda t: t["map_index"])


class AirflowAPI:
    """A small client of Airflow's public REST API (``/api/v2``) as an all-admins simple-auth user."""

    def __init__(self, base_url: str, *, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params=params or None)
        response.raise_for_status()
        return response.json()

    def get_all(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a listing, page after page (the API returns at most ``[api] maximum_page_limit``, 100)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(path, **params, limit=100, offset=len(items))
            items += page[key]
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    def post_all(self, path: str, key: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Like :meth:`get_all`, for the batch listings (``POST .../list`` with a JSON body)."""
        items: list[dict[str, Any]] = []
        while True:
            response = self.request("POST", path, json={**body, "page_limit": 100, "page_offset": len(items)})
            response.raise_for_status()
            page = response.json()
            items += page[key]
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    def healthy(self) -> bool:
        try:
            response = self.request("GET", "/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return False
        return response.ok and response.json().get("metadatabase", {}).get("status") == "healthy"

    def health(self) -> dict[str, Any]:
        return dict(self.get("/api/v2/monitor/health"))

    # -- connections

    def connection(self, conn_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/connections/{conn_id}"))

    # -- DAGs and runs

    def dag_exists(self, dag_id: str) -> bool:
        return self.request("GET", f"/api/v2/dags/{dag_id}").status_code == 200

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/importErrors")["import_errors"])

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual run now (``logical_date: null``, Airflow 3); return its run ID."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        response = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v2/dags/{dag_id}/dagRuns", order_by="-start_date")["dag_runs"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included."""
        return self.get_all(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")

    def count_tis(self, dag_id: str, run_id: str, *states: str) -> int:
        """How many task instances of a run are in one of ``states`` (cheap: the API counts, returns one)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return int(self.get(path, state=list(states), limit=1)["total_entries"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1, key: str = "return_value") -> Any:
        """A task's XCom value, deserialised."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, map_index=map_index, deserialize=True, stringify=False)["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1, try_number: int = 1) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self.request("GET", path, params={"map_index": map_index}, headers={"Accept": "text/plain"})
        return response.text if response.ok else f"(no log: HTTP {response.status_code})"


class RunMonitor:
    """Watches every DAG run of a deployment from a background thread, recording each task's states.

    Runs of several DAGs go on side by side while the tests check them one after the other; a state
    that lasts a few seconds (``deferred``) is long over by the time a later test looks. So one thread
    polls all task instances (two requests per poll, whatever the number of runs) from the moment the
    runs start, and the tests read the history it kept.

    :param interval: seconds between polls; ``deferred`` lasts about 2-3 s here, so well under that.
    :param idle_interval: seconds between polls while every run seen is finished (a new one is seen then).
    :param dag_ids: watch only these DAGs' runs. Every poll serialises every task instance it returns, so a
        test with hundreds of them (``test_200_deferred_waits_share_polls_and_all_resume``) would cost the
        API server a good part of a core, twice a second; such a test watches its own run more cheaply.
    """

    def __init__(
        self,
        api: AirflowAPI,
        *,
        interval: float = 0.5,
        idle_interval: float = 2.0,
        dag_ids: Collection[str] | None = None,
    ) -> None:
        self.api = api
        self.interval = interval
        self.idle_interval = idle_interval
        self.dag_ids = None if dag_ids is None else sorted(dag_ids)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._run_states: dict[tuple[str, str], str] = {}
        self._tis: dict[tuple[str, str], dict[tuple[str, int], dict[str, Any]]] = {}
        self._history: dict[tuple[str, str], dict[tuple[str, int], list[str]]] = {}
        self._thread = threading.Thread(target=self._loop, name="e2e-run-monitor", daemon=True)
        self.last_error: str | None = None

    def __enter__(self) -> RunMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except (requests.RequestException, ValueError, KeyError) as exc:
                self.last_error = repr(exc)  # the API server restarting, say: try again next time
            self._stop.wait(self.interval if self._busy() else self.idle_interval)

    def _busy(self) -> bool:
        """Whether a watched run is not finished (or none was seen yet): then the states change quickly."""
        with self._lock:
            states = list(self._run_states.values())
        return not states or any(state not in ("success", "failed") for state in states)

    def _list(self, path: str, key: str) -> list[dict[str, Any]]:
        if self.dag_ids is None:
            return self.api.get_all(path, key)
        return self.api.post_all(f"{path}/list", key, {"dag_ids": self.dag_ids})

    def poll(self) -> None:
        runs = self._list("/api/v2/dags/~/dagRuns", "dag_runs")
        tis = self._list("/api/v2/dags/~/dagRuns/~/taskInstances", "task_instances")
        latest: dict[tuple[str, str], dict[tuple[str, int], dict[str, Any]]] = {}
        for ti in tis:
            latest.setdefault((ti["dag_id"], ti["dag_run_id"]), {})[(ti["task_id"], ti["map_index"])] = ti
        with self._lock:
            for run in runs:
                self._run_states[(run["dag_id"], run["dag_run_id"])] = run["state"]
            # The latest snapshot replaces the last one: expanding a mapped task renumbers its map_index -1.
            self._tis.update(latest)
            for ti in tis:
                run_key = (ti["dag_id"], ti["dag_run_id"])
                ti_key = (ti["task_id"], ti["map_index"])
                states = self._history.setdefault(run_key, {}).setdefault(ti_key, [])
                if ti["state"] and (not states or states[-1] != ti["state"]):
                    states.append(ti["state"])

    def wait(
        self, dag_id: str, run_id: str, *, timeout: float, check: Callable[[], None] | None = None
    ) -> RunObservation:
        """Wait until the run is ``success`` or ``failed``; return it with its tasks' state histories.

        :param check: called while waiting, e.g. to fail fast when a component died.
        """
        key = (dag_id, run_id)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                state = self._run_states.get(key)
            if state in ("success", "failed"):
                self.poll()  # once more, so the task states returned are the final ones
                with self._lock:
                    return RunObservation(
                        dag_id,
                        run_id,
                        self._run_states[key],
                        list(self._tis.get(key, {}).values()),
                        {k: list(v) for k, v in self._history.get(key, {}).items()},
                    )
            if time.monotonic() > deadline:
                with self._lock:
                    history = self._history.get(key)
                raise TimeoutError(
                    f"{dag_id} run {run_id} still {state} after {timeout:.0f} s; tasks: {history}; "
                    f"last monitor error: {self.last_error}"
                )
            if check is not None:
                check()
            time.sleep(self.interval)


# ------------------------------------------------------------------------------ CeleryExecutor deployment

#: The Celery workers' names; each also becomes the hostname its task instances record, and the name of
#: the worker's own queue (it consumes ``default`` too; see tests/e2e/worker_queues.py).
WORKERS = ("e2e-worker-1", "e2e-worker-2")
#: Task slots per worker, well above the cores: 200 mapped sensors must each run once to defer and once to
#: resume, and a slot is mostly idle. Airflow 3.3.2's task supervisor often notices its task process's exit
#: only at its next wake-up, up to ``[workers] min_heartbeat_interval`` (5 s) later, when the task's pipes
#: closed before the exit could be reaped (it then waits in select() on nothing): about every other task
#: holds its slot some seconds after it ended. Lowering that interval to 1 s cures it, but then every running
#: task heartbeats each second (about 2 heartbeats per task here): more slots are the cheaper cure on 2 cores.
WORKER_CONCURRENCY = 8
#: What ``airflow_local_settings.py`` in ``$AIRFLOW_HOME/config`` holds: the cluster policy of worker_queues.
LOCAL_SETTINGS = "from tests.e2e.worker_queues import task_instance_mutation_hook  # noqa: F401\n"


def start_celery_deployment(
    procs: ProcessSupervisor,
    workdir: Path,
    *,
    dags_folder: Path,
    dag_ids: list[str],
    extra_env: Mapping[str, str],
    spread_tasks: Collection[str] = (),
    timeout: float = 240,
) -> AirflowAPI:
    """PostgreSQL, Redis, then scheduler, dag-processor, triggerer, api-server and two Celery workers.

    Returns once the API server is healthy, both workers are ready and every DAG of ``dag_ids`` is parsed.

    Every component binds 127.0.0.1 or nothing: workers and triggerer skip their log servers (which
    always bind all interfaces); the API server reads task logs from the shared local log folder instead.

    :param extra_env: added to every component's environment (connections, variables).
    :param spread_tasks: mapped tasks (``dag_id.task_id``) whose instances are dealt over the workers' own
        queues in turn (map index 0 to the first worker, 1 to the second, ...), so that each worker runs
        some of them whatever Celery would have done; every other task goes to the shared ``default`` queue.
    """
    database_url = start_postgres(procs, workdir)
    broker_url = start_redis(procs, workdir)
    home = workdir / "airflow"
    env = airflow_env(
        home,
        api_port=free_port(),
        dags_folder=dags_folder,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database_url,
        AIRFLOW__CELERY__BROKER_URL=broker_url,
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+{database_url}",
        AIRFLOW__CELERY__WORKER_CONCURRENCY=str(WORKER_CONCURRENCY),
        # One message reserved per free slot, so a busy worker does not hoard tasks the other could run.
        AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER="1",
        # Queued and running task instances (deferred ones hold no slot): every worker slot, and as many waiting.
        AIRFLOW__CORE__PARALLELISM=str(2 * WORKER_CONCURRENCY * len(WORKERS)),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        SINCH_E2E_WORKER_QUEUES=",".join(WORKERS),
        SINCH_E2E_SPREAD_TASKS=",".join(spread_tasks),
        **extra_env,
    )
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS)
    migrate_db(procs, env)

    procs.start(
        "api-server", [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", env["AIRFLOW__API__PORT"], "-w", "1"], env=env
    )
    procs.start("scheduler", [AIRFLOW, "scheduler"], env=env)
    procs.start("dag-processor", [AIRFLOW, "dag-processor"], env=env)
    procs.start("triggerer", [AIRFLOW, "triggerer", "--skip-serve-logs"], env=env)
    for name in WORKERS:
        worker_env = {
            **env,
            "SINCH_E2E_HOSTNAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_identity.hostname",
        }
        procs.start(
            name,
            [
                AIRFLOW,
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--queues",
                f"default,{name}",
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ],
            env=worker_env,
        )

    api = AirflowAPI(f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}")
    procs.wait_until("the API server", api.healthy, timeout=timeout)
    for name in WORKERS:
        procs.wait_until(f"{name} to be ready", lambda n=name: " ready." in procs.log_text(n), timeout=timeout)
    for dag_id in dag_ids:
        procs.wait_until(
            f"the dag-processor to parse {dag_id} (import errors: see the dag-processor log)",
            lambda d=dag_id: api.dag_exists(d),
            timeout=timeout,
        )
    return api
