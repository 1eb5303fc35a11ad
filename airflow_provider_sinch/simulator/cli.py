"""``sinch-fax-simulator``: run the Sinch Fax API simulator from the command line."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_sinch.simulator.config import SimulatorConfig

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The environment variable the key secret is read from when neither flag gives it.
SECRET_ENV = "SINCH_SIMULATOR_KEY_SECRET"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="sinch-fax-simulator",
        description="Serve a local simulator of Sinch's Fax API v3 (with its quirks) for development and tests.",
    )
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=8080, help="port to bind, 0 for a free one (default 8080)")
    net.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (plain HTTP with test credentials: only inside a private network)",
    )
    net.add_argument(
        "--access-log", action="store_true", help="log method, path and status of each request (nothing else)"
    )
    net.add_argument(
        "--tls-dir",
        default=None,
        help="serve https with a self-signed certificate kept in this folder (created if missing); clients "
        "trust its sinch-simulator.pem through the connection's ca_bundle extra",
    )
    net.add_argument(
        "--tls-hostname",
        action="append",
        default=[],
        help="a host name the certificate must name (repeatable), e.g. the docker-compose service name",
    )
    net.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])

    creds = parser.add_argument_group("credentials")
    creds.add_argument("--key-id", default=defaults.key_id)
    creds.add_argument(
        "--key-secret",
        default=None,
        help=f"the key secret; visible to every local user in the process list, so prefer --key-secret-file or "
        f"the {SECRET_ENV} environment variable (default {defaults.key_secret})",
    )
    creds.add_argument("--key-secret-file", default=None, help="read the key secret from this file (one line)")
    creds.add_argument("--project-id", default=defaults.project_id)
    creds.add_argument(
        "--conversation-app-id",
        action="append",
        default=None,
        metavar="APP_ID",
        help=f"a Conversation API app of the project (repeatable; default {', '.join(defaults.conversation_app_ids)})",
    )
    creds.add_argument("--token-ttl", type=float, default=defaults.token_ttl, help="access token lifetime, seconds")

    data = parser.add_argument_group("data")
    data.add_argument("--seed", type=int, default=defaults.seed)
    data.add_argument("--seed-faxes", type=int, default=0, help="number of faxes to seed")
    data.add_argument("--seed-period-days", type=float, default=396, help="seeded faxes span this many days up to now")
    data.add_argument("--no-shuffle", action="store_true", help="list faxes newest first instead of shuffled")
    data.add_argument("--transition-seconds", type=float, default=defaults.transition_seconds)
    data.add_argument(
        "--lenient",
        action="store_true",
        help="also read createTime>=/createTime<= query keys (an encoded '=' in the key, which no Sinch client "
        "sends) as range filters; by default they are ignored, as the real API would",
    )
    data.add_argument(
        "--failing-number",
        action="append",
        default=None,
        metavar="E164",
        help=f"sends to this number fail (repeatable; default {', '.join(defaults.failing_numbers)})",
    )

    limits = parser.add_argument_group("rate limits")
    limits.add_argument("--rate-limit", type=float, default=None, help="Basic auth requests per second")
    limits.add_argument("--oauth-rate-limit", type=float, default=None, help="Bearer requests per second")
    limits.add_argument("--retry-after-on-429", action="store_true", help="send Retry-After with rate-limit 429s")

    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests to fail (0-1)")
    faults.add_argument("--fail-status", type=int, default=503, help="status of injected failures (default 503)")
    faults.add_argument("--fail-next", type=int, default=0, help="fail the first N requests")
    faults.add_argument("--fail-retry-after", type=float, default=None, help="Retry-After of injected failures")
    faults.add_argument("--fail-seed", type=int, default=None, help="seed of --fail-rate (default --seed)")
    faults.add_argument("--fault-path-prefix", default=None, help="inject faults only on paths with this prefix")
    faults.add_argument("--latency", type=float, default=0.0, help="add this many seconds to every request")
    faults.add_argument("--reset-connection-next", type=int, default=0, help="drop the first N responses midway")
    faults.add_argument("--truncate-download-next", type=int, default=0, help="truncate the first N downloads")
    faults.add_argument("--invalid-json-next", type=int, default=0, help="corrupt the first N JSON responses")
    return parser


def key_secret(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str:
    """The key secret: ``--key-secret``, else ``--key-secret-file``, else ``$SINCH_SIMULATOR_KEY_SECRET``."""
    if args.key_secret:
        return str(args.key_secret)
    if args.key_secret_file:
        secret = Path(args.key_secret_file).read_text().strip()
        if not secret:
            raise ValueError(f"--key-secret-file {args.key_secret_file} is empty")
        return secret
    return environ.get(SECRET_ENV) or SimulatorConfig().key_secret


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the ``SimulatorConfig`` for parsed arguments."""
    defaults = SimulatorConfig()
    return SimulatorConfig(
        key_id=args.key_id,
        key_secret=key_secret(args),
        project_id=args.project_id,
        seed=args.seed,
        seed_faxes=args.seed_faxes,
        seed_period=timedelta(days=args.seed_period_days),
        shuffle=not args.no_shuffle,
        token_ttl=args.token_ttl,
        basic_rate_limit=args.rate_limit,
        oauth_rate_limit=args.oauth_rate_limit,
        retry_after_on_429=args.retry_after_on_429,
        transition_seconds=args.transition_seconds,
        failing_numbers=tuple(args.failing_number) if args.failing_number else defaults.failing_numbers,
        lenient=args.lenient,
        conversation_app_ids=tuple(args.conversation_app_id or defaults.conversation_app_ids),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sinch-fax-simulator``; serves until interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not _is_loopback(args.host) and not args.allow_remote:
        parser.error(
            f"--host {args.host} is not a loopback address; pass --allow-remote to expose it (e.g. inside a "
            "docker-compose network), with --tls-dir so clients can send credentials over https"
        )
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error("--fail-rate must be between 0 and 1")
    try:
        config = config_from_args(args)
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read the key secret: {exc}")

    import uvicorn

    from airflow_provider_sinch.simulator.app import SimulatorApp
    from airflow_provider_sinch.simulator.server import bind_socket, uvicorn_config

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.access_log:
        logging.getLogger("airflow_provider_sinch.simulator.access").setLevel(logging.INFO)
    app = SimulatorApp(config, access_log=args.access_log)
    prefix = args.fault_path_prefix
    fail = {"status": args.fail_status, "path_prefix": prefix, "retry_after": args.fail_retry_after}
    if args.fail_next:
        app.faults.fail_next(args.fail_next, **fail)
    if args.fail_rate:
        app.faults.fail_fraction(args.fail_rate, seed=args.fail_seed, **fail)
    if args.latency:
        app.faults.latency(args.latency, path_prefix=prefix)
    if args.reset_connection_next:
        app.faults.reset_connection_next(args.reset_connection_next, path_prefix=prefix)
    if args.truncate_download_next:
        app.faults.truncate_download_next(args.truncate_download_next, path_prefix=prefix)
    if args.invalid_json_next:
        app.faults.invalid_json_next(args.invalid_json_next, path_prefix=prefix)

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"sinch-fax-simulator: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    ssl: dict[str, str | None] = {"ssl_certfile": None, "ssl_keyfile": None}
    scheme = "http"
    if args.tls_dir:
        from airflow_provider_sinch.simulator.tls import ensure_self_signed_cert

        cert, key = ensure_self_signed_cert(args.tls_dir, [*args.tls_hostname, args.host])
        ssl, scheme = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}, "https"
        print(f"TLS certificate (trust it with the connection's ca_bundle extra): {cert}", flush=True)
    server = uvicorn.Server(uvicorn_config(app, log_level=args.log_level, **ssl))
    # The socket already listens, so clients that read this line can connect right away.
    print(
        f"Sinch Fax API simulator listening on {scheme}://{host}:{port} "
        f"(project {args.project_id}, {len(app.store)} faxes)",
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
