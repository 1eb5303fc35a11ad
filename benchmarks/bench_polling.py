"""Scheduled polling cost: requests per incremental run with 100,000 historical faxes and 5 new ones.

- ours: ``ListFaxesOperator(incremental=True).execute(context)`` with a one-hour data interval holding
  5 new faxes (the window trails the interval by the default 10-minute settle lag);
- naive: every run re-lists the 13 months (pageSize 1000) and keeps the faxes of the interval.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import _common as c


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    history, runs, naive_runs = (2_000, 3, 1) if args.quick else (100_000, 10, 1)
    report = c.Report("polling", f"(4) Scheduled polling: {history:,} historical faxes, 5 new in the interval")

    from airflow_provider_sinch.operators.fax import ListFaxesOperator

    start = c.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    end = start + timedelta(hours=1)
    lag = timedelta(minutes=10)
    window_start, window_end = start - lag, end - lag
    # History ends before the window, so the interval holds exactly the 5 faxes added below.
    with c.Simulator(seed=4, seed_faxes=history, seed_end=window_start - timedelta(hours=1)) as sim:
        c.set_sinch_connection(sim.url)
        new = {
            sim.add_fax(create_time=window_start + timedelta(minutes=7 + 11 * i), direction="INBOUND")["id"]
            for i in range(5)
        }
        context = {"data_interval_start": start, "data_interval_end": end}

        sim.reset()
        faxes = ListFaxesOperator(task_id="poll", incremental=True, settle_lag=lag).execute(context)
        ours_requests = sim.count(c.FAXES_PATH, "GET")
        if {f["id"] for f in faxes} != new:
            raise SystemExit(f"incremental run returned {len(faxes)} faxes, not the 5 new ones")

        def ours() -> None:
            ListFaxesOperator(task_id="poll", incremental=True, settle_lag=lag).execute(context)

        def naive() -> None:
            params = {"createTime>": c.iso_s(c.now() - timedelta(days=c.RETENTION_DAYS))}
            with c.bare_session() as session:
                every = c.bare_list_pages(session, sim.url, params)
            lo, hi = c.iso_ms(window_start), c.iso_ms(window_end)
            found = [f for f in every if lo <= f["createTime"] < hi]
            assert {f["id"] for f in found} == new

        sim.reset()
        times = c.interleaved(runs, ours=ours)
        per_run = sim.count(c.FAXES_PATH, "GET") / runs
        sim.reset()
        times.update(c.interleaved(naive_runs, naive=naive))
        naive_requests = sim.count(c.FAXES_PATH, "GET") // naive_runs

    med = {name: c.median(values) for name, values in times.items()}
    report.detail(
        f"ours: {ours_requests} request(s) in the first run, {per_run:.1f} per run over {runs} runs, "
        f"median {med['ours'] * 1000:.0f} ms; returned exactly the 5 new faxes"
    )
    report.detail(f"naive: {naive_requests} requests per run, {med['naive'] * 1000:.0f} ms")
    report.add(
        c.Row(
            f"incremental run, {history:,} history + 5 new: requests",
            f"{per_run:g}",
            f"{naive_requests} (re-list 13 months)",
            c.ratio(per_run, naive_requests),
            "1-2",
            1 <= per_run <= 2,
        )
    )
    report.add(
        c.Row(
            f"incremental run, {history:,} history + 5 new: time (ms)",
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
