"""Listing throughput: every fax of 13 months (10,000) through SinchHook.list_faxes vs the alternatives.

- ours: ``list(SinchHook().fax.list_faxes(created_after=...))``, a new hook per run;
- bare: a plain ``requests.Session`` page loop with the same query and page size (the practical limit);
- http provider: ``HttpOperator(method="GET", pagination_function=...)``, what users write today
  (installed for the benchmarks only).

Each run starts a new client; runs alternate between the candidates; the table shows medians.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any

import _common as c


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    count, runs = (1_000, 2) if args.quick else (10_000, 7)
    report = c.Report("listing", f"(2) Listing throughput: {count:,} faxes, all pages (medians of {runs} runs)")
    has_http = c.use_http_provider()

    from airflow_provider_sinch.hooks.sinch import SinchHook

    seed_end = c.now() - timedelta(minutes=1)
    created_after = seed_end - timedelta(days=c.RETENTION_DAYS + 1)
    with c.Simulator(seed=7, seed_faxes=count, seed_end=seed_end, seed_period_days=c.RETENTION_DAYS) as sim:
        c.set_sinch_connection(sim.url)
        c.set_http_connection(sim.url)
        params = {"createTime>": c.iso_s(created_after)}
        got: dict[str, int] = {}

        def ours() -> None:
            hook = SinchHook()
            got["ours"] = len(list(hook.fax.list_faxes(created_after=created_after)))
            hook.close()

        def bare() -> None:
            with c.bare_session() as session:
                got["bare"] = len(c.bare_list_pages(session, sim.url, params))

        candidates: dict[str, Any] = {"ours": ours, "bare": bare}
        if has_http:
            from airflow.providers.http.operators.http import HttpOperator

            def next_page(response: Any) -> dict[str, Any] | None:
                body = response.json()
                return {"data": {"page": body["page"] + 1}} if body["page"] < body["totalPages"] else None

            def http() -> None:
                operator = HttpOperator(
                    task_id="list_faxes",
                    http_conn_id="bench_http",
                    method="GET",
                    endpoint=c.FAXES_PATH.lstrip("/"),
                    data={**params, "page": 1, "pageSize": 1000},
                    pagination_function=next_page,
                    response_filter=lambda responses: [fax for r in responses for fax in r.json()["faxes"]],
                )
                got["http"] = len(operator.execute(context={}))

            candidates["http"] = http

        requests_per_run: dict[str, int] = {}
        for name, run in candidates.items():  # warm-up: server caches, imports, .pyc; and request counts
            sim.reset()
            run()
            requests_per_run[name] = sim.count(c.FAXES_PATH, "GET")
            if got[name] != count:
                raise SystemExit(f"{name} listed {got[name]} faxes, expected {count}")
        cpu: dict[str, list[float]] = {}
        times = c.interleaved(runs, cpu, **candidates)

    med = {name: c.median(values) for name, values in times.items()}
    for name, values in times.items():
        report.detail(
            f"{name}: median {med[name]:.3f} s ({count / med[name]:,.0f} faxes/s), "
            f"min {min(values):.3f} s, max {max(values):.3f} s, {requests_per_run[name]} requests per run; "
            f"client CPU {c.median(cpu[name]):.3f} s"
        )
    ratio = med["ours"] / med["bare"]
    if ratio > 1.10:
        extra = c.median(cpu["ours"]) - c.median(cpu["bare"])
        report.detail(
            f"over target: ours spends {extra * 1000:.0f} ms more client CPU per run than bare "
            f"({extra / count * 1e6:.1f} us per fax: the createTime window check and de-duplication), and the "
            f"wall-time gap is {(med['ours'] - med['bare']) * 1000:.0f} ms; on a busy machine (1-minute load "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs) a process waits for a CPU in proportion to the "
            "CPU it needs, which widens the gap"
        )
    report.add(
        c.Row(
            f"list {count:,} faxes: ours vs bare requests.Session (s)",
            f"{med['ours']:.3f} s / {requests_per_run['ours']} req",
            f"{med['bare']:.3f} s / {requests_per_run['bare']} req",
            f"{ratio:.2f}",
            "<= 1.10",
            ratio <= 1.10,
        )
    )
    if has_http:
        report.add(
            c.Row(
                f"list {count:,} faxes: ours vs HttpOperator + pagination_function (s)",
                f"{med['ours']:.3f} s / {requests_per_run['ours']} req",
                f"{med['http']:.3f} s / {requests_per_run['http']} req",
                c.ratio(med["ours"], med["http"]),
                "-",
                None,
            )
        )
    else:
        report.detail("http provider unavailable: HttpOperator baseline skipped")
    return report.finish(args)


if __name__ == "__main__":
    sys.exit(main())
