"""A tiny HTTP server on 127.0.0.1 that answers from a script, for narrow hook tests.

The simulator covers realistic behaviour; this server gives exact control over single answers
(a 401 with ``WWW-Authenticate: ... expired``, a ``Retry-After`` date, a slow reply) and records
every request it received.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers requests to a path prefix from a queue of :class:`Reply`; a default answers the rest."""

    def __init__(self, host: str = "127.0.0.1", *, tls: tuple[Path, Path] | None = None) -> None:
        """:param host: the loopback address to bind; :param tls: ``(cert, key)`` to serve https with."""
        self.seen: list[Seen] = []
        self.scripts: dict[str, deque[Reply | Callable[[Seen], Reply]]] = {}
        self.defaults: dict[str, Reply | Callable[[Seen], Reply]] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                reply = server._next(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _next(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            path = seen.path.split("?", 1)[0]
            for prefix in sorted(self.scripts, key=len, reverse=True):
                if path.startswith(prefix) and self.scripts[prefix]:
                    item = self.scripts[prefix].popleft()
                    return item(seen) if callable(item) else item
            for prefix in sorted(self.defaults, key=len, reverse=True):
                if path.startswith(prefix):
                    item = self.defaults[prefix]
                    return item(seen) if callable(item) else item
        return Reply(404, {"code": "404", "error": "Not Found", "message": "no script"})

    def script(self, prefix: str, *replies: Reply | Callable[[Seen], Reply]) -> None:
        """Queue replies for requests whose path starts with ``prefix``."""
        with self.lock:
            self.scripts.setdefault(prefix, deque()).extend(replies)

    def default(self, prefix: str, reply: Reply | Callable[[Seen], Reply]) -> None:
        """Answer requests under ``prefix`` with ``reply`` once their script is used up."""
        self.defaults[prefix] = reply

    def requests_to(self, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("?", 1)[0].startswith(prefix)]

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
