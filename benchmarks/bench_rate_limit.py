"""8 concurrent pollers against a simulator that allows R requests per second (token bucket, HTTP 429).

Each poller is a thread with its own client that pages through the same window of faxes at a small
page size, as 8 scheduled tasks of one worker would. The simulator answers 429 without ``Retry-After``
(Sinch does not promise one). Ideal wall time: the requests the pollers need / R.

- ours: ``SinchHook(auth_type="oauth2").list_faxes(..., page_size=...)`` per poller;
- http provider: ``HttpOperator(method="GET", pagination_function=...)`` per poller, Basic auth, with its
  defaults (no retries), and with ``retry_args`` (tenacity: exponential backoff from 0.5 s, 6 attempts),
  what a user who met the 429s writes next.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import _common as c

POLLERS = 8


def run_pollers(poll: Any) -> tuple[float, int]:
    """Run ``POLLERS`` pollers at once; return the wall time and how many failed."""
    start = time.perf_counter()
    with ThreadPoolExecutor(POLLERS) as pool:
        futures = [pool.submit(poll) for _ in range(POLLERS)]
        failed = sum(1 for f in futures if f.exception() is not None)
    return time.perf_counter() - start, failed


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    faxes, page_size, rate = (30, 10, 10.0) if args.quick else (500, 10, 50.0)
    pages = math.ceil(faxes / page_size)
    needed = POLLERS * pages
    ideal = needed / rate
    report = c.Report(
        "rate_limit",
        f"(7) {POLLERS} concurrent pollers, {pages} pages each, limit R = {rate:g} req/s (ideal {ideal:.1f} s)",
    )
    has_http = c.use_http_provider()

    from airflow_provider_sinch.hooks._http import TOKEN_CACHE
    from airflow_provider_sinch.hooks.sinch import SinchHook

    seed_end = c.now() - timedelta(minutes=30)
    created_after = seed_end - timedelta(days=30)
    config = {"oauth_rate_limit": rate, "basic_rate_limit": rate, "retry_after_on_429": False}
    results: dict[str, dict[str, Any]] = {}

    with c.Simulator(seed=8, seed_faxes=faxes, seed_end=seed_end, seed_period_days=29, **config) as sim:
        c.set_sinch_connection(sim.url, auth_url=sim.token_url)
        c.set_http_connection(sim.url)

        def ours() -> None:
            hook = SinchHook(auth_type="oauth2")
            got = len(list(hook.fax.list_faxes(created_after=created_after, page_size=page_size)))
            hook.close()
            if got != faxes:
                raise RuntimeError(f"listed {got} faxes, expected {faxes}")

        candidates: dict[str, Any] = {"ours": ours}
        if has_http:
            from airflow.providers.http.operators.http import HttpOperator

            def next_page(response: Any) -> dict[str, Any] | None:
                body = response.json()
                return {"data": {"page": body["page"] + 1}} if body["page"] < body["totalPages"] else None

            def http() -> None:
                operator = HttpOperator(
                    task_id="poll",
                    http_conn_id="bench_http",
                    method="GET",
                    endpoint=c.FAXES_PATH.lstrip("/"),
                    data={"createTime>": c.iso_s(created_after), "page": 1, "pageSize": page_size},
                    pagination_function=next_page,
                    response_filter=lambda responses: [fax for r in responses for fax in r.json()["faxes"]],
                )
                got = len(operator.execute(context={}))
                if got != faxes:
                    raise RuntimeError(f"listed {got} faxes, expected {faxes}")

            def http_retry() -> None:
                import tenacity
                from airflow.exceptions import AirflowException

                operator = HttpOperator(
                    task_id="poll",
                    http_conn_id="bench_http",
                    method="GET",
                    endpoint=c.FAXES_PATH.lstrip("/"),
                    data={"createTime>": c.iso_s(created_after), "page": 1, "pageSize": page_size},
                    pagination_function=next_page,
                    response_filter=lambda responses: [fax for r in responses for fax in r.json()["faxes"]],
                    retry_args={
                        "wait": tenacity.wait_exponential(multiplier=0.5, max=30),
                        "stop": tenacity.stop_after_attempt(6),
                        "retry": tenacity.retry_if_exception_type(AirflowException),
                    },
                )
                got = len(operator.execute(context={}))
                if got != faxes:
                    raise RuntimeError(f"listed {got} faxes, expected {faxes}")

            candidates["http"] = http
            candidates["http_retry"] = http_retry

        for name, poll in candidates.items():
            TOKEN_CACHE.clear()
            time.sleep(1.0)  # let the bucket refill between candidates
            sim.reset()
            wall, failed = run_pollers(poll)
            statuses = sim.statuses(c.FAXES_PATH)
            results[name] = {
                "wall": wall,
                "failed": failed,
                "ok": statuses.get("200", 0),
                "429": statuses.get("429", 0),
            }

    labels = {"ours": "ours (oauth2)", "http": "HttpOperator (basic)", "http_retry": "HttpOperator + retry_args"}
    for name, r in results.items():
        report.detail(
            f"{labels[name]}: wall {r['wall']:.2f} s = {r['wall'] / ideal:.2f} x ideal; {r['ok']} requests answered "
            f"200 (needed {needed}), {r['429']} answered 429; {r['failed']} of {POLLERS} pollers failed"
        )

    report.detail(
        f"the simulator's bucket starts full (R = {rate:g} requests), so the floor is ({needed} - {rate:g}) / R = "
        f"{(needed - rate) / rate:.1f} s: wall / ideal can be just under 1"
    )

    def wall_text(r: dict[str, Any]) -> str:
        if r["failed"]:
            return f"{r['failed']}/{POLLERS} failed"
        return f"{r['wall'] / ideal:.2f} ({r['wall']:.1f} s)"

    ours_r = results["ours"]
    for name in ("http", "http_retry"):
        other = results.get(name)
        label = labels[name]
        report.add(
            c.Row(
                f"{POLLERS} pollers at R={rate:g}/s: wall / ideal ({ideal:.1f} s) vs {label}",
                wall_text(ours_r),
                wall_text(other) if other else "n/a",
                c.ratio(ours_r["wall"], other["wall"]) if other and not other["failed"] else "-",
                "-",
                None,
            )
        )
    report.add(
        c.Row(
            f"{POLLERS} pollers at R={rate:g}/s: failed tasks",
            f"{ours_r['failed']} of {POLLERS}",
            f"{results['http']['failed']} of {POLLERS} (HttpOperator)" if "http" in results else "n/a",
            "-",
            "0",
            ours_r["failed"] == 0,
        )
    )
    return report.finish(args)


if __name__ == "__main__":
    sys.exit(main())
