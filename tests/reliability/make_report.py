"""Regenerate ``docs/reliability.md`` from a run of the reliability suite.

Usage (from the repository root, with the Airflow 3 venv)::

    .venv/bin/python tests/reliability/make_report.py

It writes the document's prose (below) with empty sections, then runs ``pytest tests/reliability`` with
``SINCH_RELIABILITY_WRITE=1``: each module's last test renders what its tests observed into its section.
Sections hold no timings or ports, so an unchanged provider gives an unchanged document; without the
variable, the same tests fail when the committed document no longer matches.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reliability.report import DOC, WRITE_ENV  # noqa: E402

SECTIONS = ("fault-matrix", "operator-faults", "bad-input", "secrets", "credential-boundary", "exactly-once", "load")

TEMPLATE = """\
# Reliability and security

What the provider survives, measured by `tests/reliability` against the Fax API simulator on
127.0.0.1 (its fault injection, rate limits and OAuth2 token endpoint). Every table below is generated
from what the tests observed, not written by hand: run `.venv/bin/python tests/reliability/make_report.py`
to regenerate it, and the tests fail when this file no longer matches the provider. The suite runs in
about two minutes on Airflow 3.3.2 and on 2.10.5 (`.venv-2.10.5/bin/python -m pytest tests/reliability`).

## 1. Fault matrix

Each cell is one hook call (`list_faxes`, `get_fax`, `download_fax` to a path, `send_fax` with a PDF,
and a Conversation API text message, `conversation.send_text`, whose request Sinch's Python SDK builds)
with one fault on the request it makes. For `list_faxes` the fault hits page 2 of 2, after page 1 was
already handed out. "Attempts" counts the requests the faulted call made (1 = not retried). The
connection has `timeout` 1 s and `max_retries` 3; OAuth2 only for the expired-token row.

What the numbers say: 429 is retried for every method, honouring `Retry-After` (a POST too: Sinch
refused it before doing anything). 502, 503, 504, read timeouts and connections broken mid-response are
retried for GETs (a download starts again and skips the bytes it already wrote); a POST is never repeated
on them, and its error says Sinch may have created the fax or sent the message. 500, 4xx and invalid
JSON are not retried and end in the typed error named in the table. No cell loses a fax, delivers one
(or a message) twice, or leaves a partial file.

<!-- fault-matrix:begin -->
<!-- fault-matrix:end -->

### The same faults at the task level

Each task type meets one fault on its first request; a task whose attempt fails is run again as try 2
(Airflow's retry) with no fault. "Requests" counts the requests of attempt 1 to the faulted endpoint. The
sends show the operator's retry dedupe at work: after a reset or an unreadable answer Sinch did create the
fax, and the retry finds it by its task-key label instead of sending it again.

<!-- operator-faults:begin -->
<!-- operator-faults:end -->

## 2. Bad input

Every input below is refused before any request reaches the simulator, with an error whose message
names the field (checked by the test), and never contains the key secret.

<!-- bad-input:begin -->
<!-- bad-input:end -->

## 3. Secrets

The connection uses a distinctive key secret. A wrapper in front of the simulator records every
`Authorization` header and every issued token, so the scan looks for exactly what crossed the wire: the
secret, `key_id:secret`, the Basic header value and each access token. Places scanned: stdout/stderr
(Airflow 3's task loggers write there), every log record at DEBUG, every file under
`$AIRFLOW_HOME/logs` (empty under `dag.test()` on Airflow 3, which logs to stdout), every XCom of the run,
the rendered template fields stored for it, the text of the exception a failing task raised, the
simulator's own access and error logs, and the bytes of the metadata database.

<!-- secrets:begin -->
<!-- secrets:end -->

Not covered here: the API server's UI and REST answers (connection form, task logs served over HTTP),
which the browser test in `tests/e2e` scans; and log shipping to remote handlers, which this repository
does not configure.

### Credential boundary

Credentials go only to the hosts the connection names: its API host, its OAuth2 token URL and
`https://*.sinch.com`, over plain http only to loopback. One policy (`CredentialPolicy` in
`hooks/_http.py`) decides, judging each URL as urllib3 will send it, in the auth object just before a
header is added, so the token request, every retry and every redirect hop are covered. A redirect keeps a
credential only to the same scheme, host and port; the expired-token retry never follows a redirect.
Every form of a secret (the value, `id:secret`, its Basic base64, their URL-quoted forms, each token
issued) is scrubbed from error messages, `test_connection` results and trigger events, and registered
with Airflow's secrets masker. Each row below is one of the findings of an attacker-style review, tried
against capture servers on a second loopback address.

<!-- credential-boundary:begin -->
<!-- credential-boundary:end -->

## 4. Exactly-once delivery

`ListFaxesOperator(incremental=True)` is run by a hypothesis property test over generated faxes and
schedules. The simulator serves a store with its own clock: faxes become visible up to `settle_lag`
after their `createTime` (the operator's documented assumption), may stay IN_PROGRESS for hours, are
listed most-recently-updated first (so a fax finishing between two page requests jumps to a page already
read), and at most 4 per page whatever `pageSize` asks. Schedules: 7, 15 or 60 minute intervals starting
at an odd microsecond, run on time, as a catch-up or in any order; runs that meet an unfinished fax fail
and are retried later, some attempts die half-way through the listing (a 403), and some successful runs
are cleared and run again. The output of a run is its last successful attempt. A second property
concentrates on crowded hourly windows with faxes finishing mid-listing.

<!-- exactly-once:begin -->
<!-- exactly-once:end -->

## 5. Load

<!-- load:begin -->
<!-- load:end -->

Without `rate_limit`, the same workload also succeeds (every 429 is retried with backoff), but the 20
tasks hit the limit together and about half as many requests again are refused with 429: set
`rate_limit` to the key's Sinch rate limit divided by the number of worker processes sharing the key.

## Defects the suite found, fixed in the provider

- A GET whose body broke after the headers (connection reset mid-response) was not retried: `request()`
  now repeats idempotent requests whose body broke, up to `max_retries`.
- `download_fax` gave up on a broken or truncated download: it now fetches the file again, skipping the
  bytes already written, so append-only object-store writers work too.
- `download_fax` to an unwritable destination sent the request first (a folder destination downloaded
  the whole file before failing) and raised a bare `OSError`: the destination is now checked before the
  request, and the error names `destination`.
- Errors of a failed POST advised "try again later", which can send a fax twice: they now say the POST
  was not repeated and Sinch may have created the fax.
- `list_faxes` lost a fax when the list changed order between page requests (an incremental run then
  delivered its window without it): it now pages through again when fewer faxes were listed than Sinch
  counts (`totalItems`).
- Twenty concurrent tasks sharing a key made about 50% more requests than needed against a rate limit:
  the connection's `rate_limit` extra now paces every hook of a worker process sharing the key.
- The simulator ignored an empty store passed to it (`store or FaxStore(...)`).
"""


def main() -> int:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(TEMPLATE)
    env = {**os.environ, WRITE_ENV: "1"}
    command = [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    text = DOC.read_text()
    empty = [name for name in SECTIONS if f"<!-- {name}:begin -->\n<!-- {name}:end -->" in text]
    if result.returncode != 0 or empty:
        print(f"pytest exited {result.returncode}; sections not written: {empty}", file=sys.stderr)
        return 1
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
