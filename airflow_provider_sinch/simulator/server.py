"""Run the simulator with uvicorn in a background thread, for tests and embedding."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn

from airflow_provider_sinch.simulator.app import RecordedRequest, SimulatorApp
from airflow_provider_sinch.simulator.config import SimulatorConfig

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_provider_sinch.simulator.faults import FaultInjector
    from airflow_provider_sinch.simulator.store import FaxStore


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; with ``port=0`` the OS picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_config(
    app: SimulatorApp,
    *,
    log_level: str = "warning",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> uvicorn.Config:
    """The uvicorn settings shared by the thread runner and the CLI.

    ``log_config=None`` leaves the host process's logging alone. uvicorn's own access log is off
    for good (it shows client addresses and query strings); ``SimulatorApp(access_log=True)``
    logs method, path and status instead.
    """
    return uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=2,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


class SimulatorServer:
    """The simulator served by uvicorn on a background thread.

    ::

        with SimulatorServer(SimulatorConfig(seed_faxes=100)) as sim:
            requests.get(f"{sim.url}/v3/projects/test-project/faxes", auth=("test-key-id", "test-key-secret"))

    :param config: simulator settings (default ``SimulatorConfig()``).
    :param host: address to bind; loopback by default.
    :param port: port to bind; 0 picks a free one.
    :param log_level: uvicorn's log level.
    :param access_log: log ``METHOD path status`` per request (logger
        ``airflow_provider_sinch.simulator.access``, INFO).
    :param tls_dir: serve https with a self-signed certificate kept in this folder (created if missing);
        ``ca_bundle`` is then the file a client trusts.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        access_log: bool = False,
        tls_dir: str | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.ca_bundle: str | None = None
        self._ssl: dict[str, str | None] = {"ssl_certfile": None, "ssl_keyfile": None}
        if tls_dir is not None:
            from airflow_provider_sinch.simulator.tls import ensure_self_signed_cert

            cert, key = ensure_self_signed_cert(tls_dir, [host])
            self.ca_bundle = str(cert)
            self._ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        self.host = host
        self.port = port
        self.app = SimulatorApp(self.config, access_log=access_log)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        """Bind, start serving in a daemon thread and wait until uvicorn accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(self.app, log_level=self._log_level, **self._ssl))
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported by start() or stop()
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"sinch-fax-simulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread (open connections are closed)."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        self._thread = None
        self._server = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ accessors

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``: the connection's host."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ca_bundle else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint (``url + "/oauth2/token"``)."""
        return self.url + "/oauth2/token"

    @property
    def api_base(self) -> str:
        """``url + "/v3/projects/<project_id>"``."""
        return f"{self.url}/v3/projects/{self.config.project_id}"

    @property
    def store(self) -> FaxStore:
        """The fax state (thread-safe)."""
        return self.app.store

    @property
    def faults(self) -> FaultInjector:
        """Fault injection rules."""
        return self.app.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """Recorded requests, oldest first."""
        return self.app.requests

    def request_count(self, path_prefix: str | None = None, method: str | None = None) -> int:
        """Number of recorded requests whose path starts with ``path_prefix`` and method matches."""
        return self.app.request_count(path_prefix, method)

    def reset_requests(self) -> None:
        """Forget recorded requests."""
        self.app.reset_requests()

    @property
    def ignored_requests(self) -> list[RecordedRequest]:
        """Requests that sent a query parameter the simulator (as the real API) ignored, oldest first."""
        return self.app.ignored_requests

    @property
    def token_requests(self) -> int:
        """Number of successful ``POST /oauth2/token`` calls."""
        return self.app.token_requests

    def expire_tokens(self) -> None:
        """Make every issued access token expired now."""
        self.app.expire_tokens()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return f"<SimulatorServer {self.url} {state}>"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("SimulatorServer cannot be pickled")
