"""Credential boundary: the key, its secret and tokens go only to the hosts the connection names.

Every case aims a credential at a capture server on a second loopback address, 127.0.0.2 (http, and https
with a certificate the connection is told to trust, as an attacker's host with a valid certificate would
be), by one of the routes an attacker-style review found. The capture server records every header that
reaches it; each case asserts that no credential in any form did. The download and input cases check
that files land only where they are put, and bad values fail with an error naming the field.
The table in ``docs/reliability.md`` is rendered from what was observed.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_sinch._validation import validate_e164
from airflow_provider_sinch.clients.fax.vocabulary import validate_fax_id
from airflow_provider_sinch.exceptions import (
    SinchAuthError,
    SinchConnectionConfigError,
    SinchInsecureTransportError,
    SinchInvalidRequestError,
)
from airflow_provider_sinch.hooks._http import TOKEN_CACHE
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.operators.fax import DownloadFaxOperator, FaxSelectionError, SendFaxOperator
from airflow_provider_sinch.simulator.tls import ensure_self_signed_cert
from airflow_provider_sinch.triggers.fax import FaxTrigger
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, sinch_conn_json
from tests.reliability.report import check_or_write_section, table
from tests.scripted_server import Reply, ScriptedServer, Seen

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.reliability.conftest import RecordedSimulator

API = f"/v3/projects/{PROJECT_ID}/"
TOKEN = "tok-0123456789-abcdefghij-credential-boundary"
FAX_ID = "01KBOUNDARY00000000000000001"
BASIC = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
#: Every form of a credential that must not appear anywhere the tests look.
FORMS = (KEY_SECRET, BASIC, f"{KEY_ID}:{KEY_SECRET}", quote(KEY_SECRET, safe=""), quote(BASIC, safe=""), TOKEN)
ROWS: dict[str, list[str]] = {}


@dataclass(frozen=True)
class Capture:
    """The servers on 127.0.0.2 and what reached them."""

    http: ScriptedServer
    https: ScriptedServer
    ca_bundle: str

    @property
    def seen(self) -> list[Seen]:
        return [*self.http.seen, *self.https.seen]

    def credentials(self) -> list[str]:
        """Every Authorization header, and every credential form in any header or body, that arrived here."""
        found = []
        for seen in self.seen:
            text = " ".join(f"{k}: {v}" for k, v in seen.headers.items()) + seen.body.decode("latin-1")
            if any(name.lower() == "authorization" for name in seen.headers):
                found.append(f"{seen.method} {seen.path}: Authorization")
            found += [f"{seen.method} {seen.path}: {form[:6]}..." for form in FORMS if form in text]
        return found

    def clear(self) -> None:
        self.http.seen.clear()
        self.https.seen.clear()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    tls = ensure_self_signed_cert(tmp_path_factory.mktemp("capture-tls"), ["127.0.0.2"])
    expired = Reply(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="token expired"'})
    with ScriptedServer("127.0.0.2") as http, ScriptedServer("127.0.0.2", tls=tls) as https:
        for server in (http, https):
            server.default("/", expired)
        yield Capture(http, https, str(tls[0]))


@pytest.fixture
def origin() -> Iterator[ScriptedServer]:
    """The connection's own host on 127.0.0.1, scripted per case; its token endpoint issues ``TOKEN``."""
    TOKEN_CACHE.clear()
    with ScriptedServer() as server:
        server.default("/oauth2/token", Reply(200, {"access_token": TOKEN, "expires_in": 3600}))
        yield server
    TOKEN_CACHE.clear()


def connect(monkeypatch: pytest.MonkeyPatch, host: str, **extra: Any) -> SinchHook:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(host, **extra))
    return SinchHook()


def record(name: str, finding: str, attack: str, outcome: str, capture: Capture) -> None:
    leaked = capture.credentials()
    ROWS[name] = [finding, attack, outcome, "none" if not leaked else "; ".join(leaked)]
    assert not leaked, f"credentials reached 127.0.0.2: {leaked}"


def outcome_of(error: BaseException) -> str:
    """The error as the table shows it: type and message, ports elided (the table must not change per run)."""
    text = re.sub(r"(127\.0\.0\.[12]):\d+", r"\1:port", str(error))
    return f"{type(error).__name__}: {text[:200]}".replace("\n", " ")


# -- 1. scheme-relative paths ---------------------------------------------------------------------------


def test_1_scheme_relative_path_is_refused(
    capture: Capture, origin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture.clear()
    hook = connect(monkeypatch, origin.url)
    with pytest.raises(SinchConnectionConfigError) as plain:
        hook.request("GET", f"//127.0.0.2:{capture.http.port}/x")
    # With Sinch's default host, the same path would resolve to https://127.0.0.2:port/x.
    default_host = connect(monkeypatch, "", ca_bundle=capture.ca_bundle)
    with pytest.raises(SinchConnectionConfigError):
        default_host.request("GET", f"//127.0.0.2:{capture.https.port}/x")
    assert capture.seen == []
    record("1", "1. scheme-relative path", "request('GET', '//127.0.0.2:port/x')", outcome_of(plain.value), capture)


# -- 2. a backslash splits the parsers --------------------------------------------------------------------


def test_2_backslash_in_a_url_is_refused(capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    capture.clear()
    hook = connect(monkeypatch, "", ca_bundle=capture.ca_bundle)  # https://fax.api.sinch.com
    with pytest.raises(SinchConnectionConfigError) as raised:
        hook.request("GET", f"https://127.0.0.2:{capture.https.port}\\@fax.api.sinch.com/v3/x")
    assert capture.seen == []
    record(
        "2", "2. backslash in a URL", "request('GET', 'https://127.0.0.2:port\\@fax.api.sinch.com/...')",
        outcome_of(raised.value), capture,
    )  # fmt: skip


def test_2_a_redirect_that_changes_origin_drops_basic_auth(
    capture: Capture, origin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture.clear()
    origin.script(f"{API}faxes/{FAX_ID}", Reply(302, b"", {"Location": f"{capture.http.url}/steal"}))
    hook = connect(monkeypatch, origin.url)
    with pytest.raises(SinchAuthError) as raised:  # the capture server's 401
        hook.fax.get_fax(FAX_ID)
    assert len(capture.http.seen) == 1, "the redirect is followed, without the credential"
    record(
        "2b", "2. (redirect hop)", "302 to http://127.0.0.2:port/steal, Basic auth", outcome_of(raised.value), capture
    )


# -- 3. a redirect carries the OAuth2 token away ----------------------------------------------------------


def test_3_expired_token_retry_never_follows_a_redirect(
    capture: Capture, origin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture.clear()
    origin.script(f"{API}faxes/{FAX_ID}", Reply(302, b"", {"Location": f"{capture.http.url}/steal"}))
    hook = connect(monkeypatch, origin.url, auth_type="oauth2", auth_url=f"{origin.url}/oauth2/token")
    with pytest.raises(SinchAuthError) as raised:
        hook.fax.get_fax(FAX_ID)
    assert len(capture.http.seen) == 1, "one request, stripped of its token; no retry with a new one"
    assert len(origin.requests_to("/oauth2/token")) == 1, "no token was fetched for the other host"
    record(
        "3", "3. redirect + expired-token retry",
        "302 to http://127.0.0.2:port, which answers 401 'token expired'", outcome_of(raised.value), capture,
    )  # fmt: skip


# -- 4. a backslash in auth_url ----------------------------------------------------------------------------


def test_4_backslash_in_auth_url_is_refused(
    capture: Capture, origin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture.clear()
    port = origin.url.rsplit(":", 1)[1]
    auth_url = f"http://127.0.0.2:{capture.http.port}\\@127.0.0.1:{port}/oauth2/token"
    hook = connect(monkeypatch, origin.url, auth_type="oauth2", auth_url=auth_url)
    with pytest.raises(SinchInsecureTransportError) as raised:
        hook.fax.get_fax(FAX_ID)
    assert capture.seen == []
    assert origin.seen == []
    record("4", "4. backslash in auth_url", "auth_url='http://127.0.0.2:port\\@127.0.0.1:port/oauth2/token'",
           outcome_of(raised.value), capture)  # fmt: skip


# -- 5. an echoed Authorization header --------------------------------------------------------------------


def _echo(seen: Seen) -> Reply:
    """A 400 whose message repeats the Authorization header as sent, decoded and URL-quoted."""
    header = seen.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    decoded = base64.b64decode(value).decode(errors="replace") if scheme == "Basic" else value
    message = f"Invalid header {header} (value {decoded}, quoted {quote(value, safe='')})"
    return Reply(400, {"code": 400, "status": "INVALID_ARGUMENT", "message": message, "details": [{"echo": header}]})


@pytest.mark.parametrize("auth", ["basic", "oauth2"])
def test_5_an_echoed_header_is_scrubbed_everywhere(
    capture: Capture, origin: ScriptedServer, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    capture.clear()
    origin.default(API, _echo)
    extra = {"auth_type": "oauth2", "auth_url": f"{origin.url}/oauth2/token"} if auth == "oauth2" else {}
    hook = connect(monkeypatch, origin.url, **extra)
    with pytest.raises(SinchInvalidRequestError) as raised:
        hook.fax.get_fax(FAX_ID)
    places = {
        "error message": str(raised.value),
        "error attributes": f"{raised.value.sinch_message} {raised.value.details}",
        "test_connection": hook.test_connection()[1],
        "FaxTrigger event": str(_first_event(FaxTrigger(criteria={"fax_ids": [FAX_ID]}, poll_interval=0.01))),
    }
    for place, text in places.items():
        assert "***" in text, f"{place}: the echo was expected there: {text}"
        leaked = [form[:6] for form in FORMS if form in text]
        assert not leaked, f"{place} holds a credential form: {text}"
    record(
        f"5-{auth}", f"5. echoed Authorization ({auth})",
        "the server echoes the header (as sent, decoded, URL-quoted) in a 400", outcome_of(raised.value), capture,
    )  # fmt: skip


def _first_event(trigger: FaxTrigger) -> Any:
    import asyncio

    async def first() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(first())


# -- 6. a directory at the download target ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "symlink to a directory"])
def test_6_a_directory_at_the_target_is_refused(
    sim: RecordedSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, capture: Capture
) -> None:
    capture.clear()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    sim.server.store.add_fax(id=FAX_ID, file_bytes=b"%PDF-1.4 boundary")
    target = tmp_path / "faxes" / f"{FAX_ID}.pdf"
    target.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if kind == "directory":
        target.mkdir()
    else:
        target.symlink_to(elsewhere, target_is_directory=True)
    operator = DownloadFaxOperator(task_id="download", fax_id=FAX_ID, destination=str(tmp_path / "faxes"))
    with pytest.raises(FaxSelectionError) as raised:
        operator.execute({})
    assert "is a folder" in str(raised.value)
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name], "no .part or .sha256 left"
    assert target.is_dir()
    record(f"6-{kind}", "6. directory at the download target", f"<destination>/<fax id>.pdf is a {kind}",
           outcome_of(raised.value).replace(str(tmp_path), "<tmp>"), capture)  # fmt: skip


# -- 7. validators and a trailing newline ----------------------------------------------------------------


def test_7_validators_match_whole_strings(capture: Capture) -> None:
    capture.clear()
    for check, value in ((validate_e164, "+14155552671\n"), (validate_fax_id, "ABC\n")):
        with pytest.raises(ValueError, match="is not"):
            check(value)
    with pytest.raises(FaxSelectionError) as raised:
        SendFaxOperator(task_id="send", to="+14155552671\n", content_urls="https://example.com/a.pdf")
    record("7", "7. trailing newline in an ID or number", "to='+14155552671\\n', fax_id='ABC\\n'",
           outcome_of(raised.value), capture)  # fmt: skip


# -- lower: downloads and inputs --------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["../x-{fax_id}.pdf", "/tmp/x-{fax_id}.pdf", "sub/{fax_id}.pdf", ".."])
def test_filename_is_a_plain_name(filename: str, capture: Capture) -> None:
    capture.clear()
    with pytest.raises(FaxSelectionError, match="not a plain file name") as raised:
        DownloadFaxOperator(task_id="d", fax_id=FAX_ID, destination="/data/faxes", filename=filename)
    record(f"filename {filename}", "filename outside destination", f"filename={filename!r}",
           outcome_of(raised.value), capture)  # fmt: skip


def test_the_checksum_file_is_never_written_through_a_symlink(
    sim: RecordedSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capture: Capture
) -> None:
    capture.clear()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    sim.server.store.add_fax(id=FAX_ID, file_bytes=b"%PDF-1.4 boundary")
    folder = tmp_path / "faxes"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite")
    (folder / f"{FAX_ID}.pdf.sha256").symlink_to(victim)
    result = DownloadFaxOperator(task_id="download", fax_id=FAX_ID, destination=str(folder)).execute({})
    checksum = folder / f"{FAX_ID}.pdf.sha256"
    assert victim.read_text() == "do not overwrite"
    assert not checksum.is_symlink()
    assert checksum.read_text().split()[0] == result["sha256"]
    assert (folder / f"{FAX_ID}.pdf").read_bytes() == b"%PDF-1.4 boundary"
    record("sha256 symlink", "checksum file through a symlink", "<fax id>.pdf.sha256 is a symlink to another file",
           "the symlink is replaced by a new file; its target is untouched", capture)  # fmt: skip


@pytest.mark.parametrize("field", ["labels", "cover_page_data", "options"])
def test_templated_dicts_that_render_to_strings_fail_naming_the_field(field: str, capture: Capture) -> None:
    capture.clear()
    operator = SendFaxOperator(
        task_id="send", to="+14155552671", content_urls="https://example.com/a.pdf", **{field: "{{ params.x }}"}
    )
    setattr(operator, field, '{"ref": "42"}')  # what rendering the template gives
    with pytest.raises(FaxSelectionError, match=f"^{field} is a str") as raised:
        operator.execute({})
    record(f"templated {field}", "templated dict renders to a string", f"{field}='{{{{ params.x }}}}'",
           outcome_of(raised.value), capture)  # fmt: skip


def test_content_urls_must_be_http(capture: Capture, origin: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    capture.clear()
    with pytest.raises(FaxSelectionError, match="not an http") as raised:
        SendFaxOperator(task_id="send", to="+14155552671", content_urls="file:///etc/passwd")
    with pytest.raises(ValueError, match="not an http"):
        connect(monkeypatch, origin.url).fax.send_fax(
            "+14155552671", content_urls=["https://a.io/x", "file:///etc/passwd"]
        )
    assert origin.seen == []
    record("content url", "non-http content URL", "content_urls='file:///etc/passwd'", outcome_of(raised.value),
           capture)  # fmt: skip


def test_the_simulator_takes_its_secret_from_the_environment_or_a_file(tmp_path: Path, capture: Capture) -> None:
    capture.clear()
    executable = Path(sys.executable).with_name("sinch-fax-simulator")
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-0123456789\n")
    for how, args, env in (
        ("env", [], {"SINCH_SIMULATOR_KEY_SECRET": "from-the-env-0123456789"}),
        ("file", ["--key-secret-file", str(secret_file)], {}),
    ):
        secret = "from-the-env-0123456789" if how == "env" else "from-a-file-0123456789"
        process = subprocess.Popen(
            [str(executable), "--port", "0", "--project-id", PROJECT_ID, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env},
        )
        try:
            line = process.stdout.readline() if process.stdout else ""
            url = line.split("listening on ", 1)[1].split()[0]
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
            assert secret not in cmdline
            ok = requests.get(f"{url}{API}faxes", auth=("test-key-id", secret), timeout=10)
            wrong = requests.get(f"{url}{API}faxes", auth=("test-key-id", "test-key-secret"), timeout=10)
            assert (ok.status_code, wrong.status_code) == (200, 401), how
        finally:
            process.terminate()
            process.wait(timeout=10)
    record("simulator secret", "simulator secret on the command line",
           "SINCH_SIMULATOR_KEY_SECRET / --key-secret-file instead of --key-secret",
           "read from there; absent from /proc/PID/cmdline", capture)  # fmt: skip


def test_credential_boundary_table_is_current() -> None:
    expected = 20
    if len(ROWS) != expected:
        pytest.skip("the whole credential-boundary suite did not run in this session")
    rows = [ROWS[key] for key in sorted(ROWS, key=_order)]
    body = (
        f"{len(rows)} cases. Capture servers on 127.0.0.2 (http, and https with a certificate the connection "
        "trusts) recorded every header that reached them; the last column is what they saw of any credential "
        "(the key secret, `id:secret`, its Basic base64, their URL-quoted forms, an OAuth2 token).\n\n"
        + table(["finding", "attempt", "outcome", "credentials at 127.0.0.2"], rows)
    )
    check_or_write_section("credential-boundary", body)


def _order(key: str) -> tuple[int, str]:
    return (int(key[0]), key) if key[0].isdigit() else (9, key)
