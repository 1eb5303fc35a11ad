"""Latest 10 faxes of accounts holding 100, 10,000 and 100,000 faxes over 13 months.

- ours: ``ListFaxesOperator(limit=10).execute({})``, a backward search with growing windows;
- naive: page through everything created in the last 13 months (pageSize 1000), sort, keep 10.

The simulator lists faxes in a shuffled order, as Sinch documents none. Both must return the same 10.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import _common as c


def naive_latest(sim: c.Simulator, limit: int) -> list[dict[str, Any]]:
    params = {"createTime>": c.iso_s(c.now() - timedelta(days=c.RETENTION_DAYS))}
    with c.bare_session() as session:
        faxes = c.bare_list_pages(session, sim.url, params)
    return sorted(faxes, key=lambda f: (f["createTime"], f["id"]), reverse=True)[:limit]


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    sizes = (100, 2_000) if args.quick else (100, 10_000, 100_000)
    ours_runs = 2 if args.quick else 5
    report = c.Report("latest", f"(3) Latest 10 faxes over 13 months (medians; ours {ours_runs} runs)")

    from airflow_provider_sinch.operators.fax import ListFaxesOperator

    for size in sizes:
        naive_runs = 1 if args.quick or size > 10_000 else 3
        with c.Simulator(seed=size, seed_faxes=size, seed_period_days=c.RETENTION_DAYS) as sim:
            c.set_sinch_connection(sim.url)
            result: dict[str, list[str]] = {}
            counts: dict[str, int] = {}

            def ours(sim: c.Simulator = sim, result: dict[str, list[str]] = result) -> None:
                faxes = ListFaxesOperator(task_id="latest", limit=10).execute({})
                result["ours"] = [f["id"] for f in faxes]

            def naive(sim: c.Simulator = sim, result: dict[str, list[str]] = result) -> None:
                result["naive"] = [f["id"] for f in naive_latest(sim, 10)]

            for name, run in (("ours", ours), ("naive", naive)):
                sim.reset()
                run()
                counts[name] = sim.count(c.FAXES_PATH, "GET")
            if result["ours"] != result["naive"]:
                raise SystemExit(f"{size} faxes: ours and naive disagree on the latest 10")
            times = c.interleaved(ours_runs, ours=ours)
            times.update(c.interleaved(naive_runs, naive=naive))
        med = {name: c.median(values) for name, values in times.items()}
        report.detail(
            f"{size:,} faxes: ours {counts['ours']} requests, {med['ours'] * 1000:.0f} ms; naive {counts['naive']} "
            f"requests, {med['naive'] * 1000:.0f} ms ({naive_runs} runs); same 10 faxes: yes"
        )
        report.add(
            c.Row(
                f"latest 10 of {size:,}: requests",
                str(counts["ours"]),
                f"{counts['naive']} (page through all)",
                c.ratio(counts["ours"], counts["naive"]),
                "<= 25",
                counts["ours"] <= 25,
            )
        )
        report.add(
            c.Row(
                f"latest 10 of {size:,}: time (ms)",
                f"{med['ours'] * 1000:.0f}",
                f"{med['naive'] * 1000:.0f}",
                c.ratio(med["ours"], med["naive"]),
                "-",
                None,
            )
        )
    return report.finish(args)


if __name__ == "__main__":
    sys.exit(main())
