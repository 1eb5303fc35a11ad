"""Start and stop the processes of an end-to-end deployment.

Every long-running process is started in a session of its own (``setsid``), so that stopping it
reaches everything it forked (uvicorn workers, celery pool processes, task supervisors): the whole
process group gets its stop signal, then SIGKILL after a grace period. Output goes to one log file per
process; a failing test shows the tails of those logs, with the secrets the test knows redacted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path
    from types import TracebackType


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@dataclass
class Service:
    """One long-running process (and its process group) of the deployment."""

    name: str
    argv: Sequence[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    stop_signal: signal.Signals = signal.SIGTERM
    #: Infrastructure (databases, brokers) is stopped after everything else, which still uses it.
    stop_last: bool = False
    #: A command expected to exit (``ProcessSupervisor.run``), not a server that must stay up.
    one_shot: bool = False
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pgid(self) -> int:
        return self.popen.pid  # a session leader's group ID is its own PID

    def alive(self) -> bool:
        return self.popen.poll() is None

    def group_alive(self) -> bool:
        """Whether any process of the group is left (zombies of reparented children count too)."""
        self.popen.poll()
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)


class ProcessSupervisor:
    """Owns every process an e2e test starts and stops them all, also when the test fails.

    ::

        with ProcessSupervisor(log_dir, secrets=[KEY_SECRET]) as procs:
            procs.start("redis", ["redis-server", ...], env=env, stop_last=True)
            ...

    :param log_dir: one ``<name>.log`` per process is written here.
    :param secrets: strings replaced by ``***`` in the log tails this class returns.
    :param stop_timeout: seconds between the stop signal and SIGKILL.
    """

    def __init__(self, log_dir: Path, *, secrets: Iterable[str] = (), stop_timeout: float = 10.0) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.secrets = [s for s in secrets if s]
        self.stop_timeout = stop_timeout
        self.services: dict[str, Service] = {}
        atexit.register(self.stop_all)  # e.g. an interrupted run that skips fixture teardown

    # ------------------------------------------------------------------ starting

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_last: bool = False,
        one_shot: bool = False,
    ) -> Service:
        """Start ``argv`` in a new session with its output in ``<log_dir>/<name>.log``."""
        if name in self.services and self.services[name].alive():
            raise RuntimeError(f"{name} is already running")
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, argv, log_path, popen, stop_signal=stop_signal, stop_last=stop_last, one_shot=one_shot)
        self.services[name] = service
        return service

    def run(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], timeout: float, cwd: Path | None = None
    ) -> None:
        """Run a one-shot command to completion (in its own session too); raise with its log tail if it fails."""
        service = self.start(name, argv, env=env, cwd=cwd, one_shot=True)
        try:
            rc = service.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(service)
            raise RuntimeError(f"{name} did not finish in {timeout:.0f} s\n{self.log_tail(name)}") from None
        if rc != 0:
            raise RuntimeError(f"{name} exited with {rc}\n{self.log_tail(name)}")

    # ------------------------------------------------------------------ waiting

    def wait_until(self, what: str, condition: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> None:
        """Poll ``condition`` until true; fail early if a started process died meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.all_log_tails()}")
            time.sleep(interval)

    def wait_for_port(self, name: str, port: int, *, timeout: float) -> None:
        self.wait_until(f"{name} to listen on 127.0.0.1:{port}", lambda: port_open(port), timeout=timeout)

    def check_alive(self) -> None:
        """Raise, with the log tail, if a long-running process has exited."""
        for service in self.services.values():
            if not service.one_shot and not service.alive():
                raise RuntimeError(
                    f"{service.name} exited with {service.popen.returncode}\n{self.log_tail(service.name)}"
                )

    # ------------------------------------------------------------------ stopping

    def stop(self, *services: Service) -> None:
        """Signal the groups, wait up to ``stop_timeout`` for them to empty, then SIGKILL what is left."""
        for service in services:
            service.signal_group(service.stop_signal)
        started = time.monotonic()
        deadline = started + self.stop_timeout
        pending = [s for s in services if s.group_alive()]
        while pending and time.monotonic() < deadline:
            time.sleep(0.2)
            for service in [s for s in pending if not s.group_alive()]:
                pending.remove(service)
                if time.monotonic() - started > 5:
                    print(f"{service.name} took {time.monotonic() - started:.0f} s to stop")
        for service in services:
            if service.group_alive():
                print(
                    f"{service.name} still running {self.stop_timeout:.0f} s after {service.stop_signal.name}: SIGKILL"
                )
                service.signal_group(signal.SIGKILL)
        for service in services:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.popen.wait(timeout=5)

    def stop_all(self) -> None:
        """Stop everything still running: applications first, then the infrastructure they use."""
        running = [s for s in self.services.values() if s.group_alive()]
        self.stop(*[s for s in running if not s.stop_last])
        self.stop(*[s for s in running if s.stop_last])

    def __enter__(self) -> ProcessSupervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()
        atexit.unregister(self.stop_all)

    # ------------------------------------------------------------------ logs

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def log_text(self, name: str) -> str:
        """The whole log of one process, secrets redacted."""
        path = self.services[name].log_path
        return self.redact(path.read_text(errors="replace")) if path.exists() else ""

    def log_tail(self, name: str, lines: int = 40, width: int = 400) -> str:
        """The last lines of a process's log, each cut to ``width`` characters (Airflow's lines are long)."""
        tail = [line[:width] for line in self.log_text(name).splitlines()[-lines:]]
        return f"----- last {len(tail)} lines of {name}.log -----\n" + "\n".join(tail)

    def all_log_tails(self, lines: int = 12) -> str:
        return "\n".join(self.log_tail(name, lines) for name, s in self.services.items() if not s.one_shot)
