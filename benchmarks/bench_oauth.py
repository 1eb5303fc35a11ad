"""OAuth2 token reuse: token requests per 1,000 API calls within one token lifetime (1 hour).

- ours, one hook: 1,000 calls through one ``SinchHook(auth_type="oauth2")``;
- ours, 100 hooks: 100 tasks of 10 calls in one worker process, each task with its own hook (the
  process-wide token cache is what they share);
- naive: the same 100 tasks with a bare ``requests.Session`` that fetches a token at the start of each
  task, as hand-written client-credentials code does.
"""

from __future__ import annotations

import sys

import _common as c


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    tasks, calls_per_task = (10, 10) if args.quick else (100, 10)
    calls = tasks * calls_per_task
    report = c.Report("oauth", f"(6) OAuth2 token reuse: {calls:,} API calls within one token lifetime")

    from airflow_provider_sinch.hooks._http import TOKEN_CACHE
    from airflow_provider_sinch.hooks.sinch import SinchHook

    with c.Simulator(seed=6, seed_faxes=50, token_ttl=3600) as sim:
        c.set_sinch_connection(sim.url, auth_url=sim.token_url)
        page = {"pageSize": 1}

        def tokens_for(run: object) -> tuple[int, int, float]:
            TOKEN_CACHE.clear()
            sim.reset()
            tokens_before = sim.token_requests()
            (seconds,) = c.interleaved(1, run=run)["run"]  # type: ignore[arg-type]
            api_calls = sim.count(c.FAXES_PATH, "GET", status=200)
            return sim.token_requests() - tokens_before, api_calls, seconds

        def one_hook() -> None:
            hook = SinchHook(auth_type="oauth2")
            for _ in range(calls):
                hook.request_json("GET", hook.fax.url("faxes"), params=page)
            hook.close()

        def many_hooks() -> None:
            for _ in range(tasks):
                hook = SinchHook(auth_type="oauth2")
                for _ in range(calls_per_task):
                    hook.request_json("GET", hook.fax.url("faxes"), params=page)
                hook.close()

        def naive() -> None:
            for _ in range(tasks):
                with c.bare_session() as session:
                    token = session.post(sim.token_url, data={"grant_type": "client_credentials"}, timeout=30)
                    token.raise_for_status()
                    session.auth = None
                    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                    for _ in range(calls_per_task):
                        session.get(f"{sim.url}{c.FAXES_PATH}", params=page, timeout=30).raise_for_status()

        results = {name: tokens_for(run) for name, run in (("one", one_hook), ("many", many_hooks), ("naive", naive))}

    for name, (tokens, api_calls, seconds) in results.items():
        label = {"one": "ours, one hook", "many": f"ours, {tasks} hooks", "naive": f"naive, {tasks} tasks"}[name]
        report.detail(f"{label}: {tokens} token request(s) for {api_calls} API calls in {seconds:.2f} s")
    one, many, naive_tokens = results["one"][0], results["many"][0], results["naive"][0]
    report.add(
        c.Row(
            f"token requests per {calls:,} calls: one hook",
            str(one),
            f"{naive_tokens} (token per task)",
            c.ratio(one, naive_tokens),
            "1",
            one == 1,
        )
    )
    report.add(
        c.Row(
            f"token requests per {calls:,} calls: {tasks} hooks, one worker",
            str(many),
            f"{naive_tokens} (token per task)",
            c.ratio(many, naive_tokens),
            "1",
            many == 1,
        )
    )
    return report.finish(args)


if __name__ == "__main__":
    sys.exit(main())
