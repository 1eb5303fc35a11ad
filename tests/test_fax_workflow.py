"""DownloadFaxOperator, SendFaxOperator and the fax example DAGs against the simulator on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import shutil
import tracemalloc
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sinch._compat import AIRFLOW_V_3
from airflow_provider_sinch.exceptions import SinchDownloadError, SinchFaxFailedError, SinchNotFoundError
from airflow_provider_sinch.hooks.sinch import SinchHook
from airflow_provider_sinch.operators.fax import (
    TASK_KEY_LABEL,
    DownloadFaxOperator,
    FaxSelectionError,
    SendFaxOperator,
)
from airflow_provider_sinch.simulator import SINCH_TEST_NUMBER, SimulatorConfig, SimulatorServer
from airflow_provider_sinch.triggers.fax import FaxTrigger
from tests.conftest import KEY_ID, KEY_SECRET, PROJECT_ID, ROOT, sinch_conn_json, xcom_return_value

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2.10
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

UTC = timezone.utc
FAXES = f"/v3/projects/{PROJECT_ID}/faxes"
FAILING_NUMBER = "+15005550001"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        key_id=KEY_ID, key_secret=KEY_SECRET, project_id=PROJECT_ID, transition_seconds=0.3, seed=7
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def store(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    sim.store.clear()
    sim.faults.clear()
    sim.reset_requests()
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url))
    return sim.store


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the hook POSTs: the JSON body, or the form fields and the files' names and contents."""
    calls: list[dict[str, Any]] = []
    real = SinchHook.request

    def spy(self: SinchHook, method: str, path_or_url: str, **kwargs: Any) -> Any:
        if method == "POST":
            files = []
            for _, (name, fh, content_type) in kwargs.get("files") or []:
                files.append((name, fh.read(), content_type))
                fh.seek(0)
            calls.append({"json": kwargs.get("json"), "data": kwargs.get("data"), "files": files})
        return real(self, method, path_or_url, **kwargs)

    monkeypatch.setattr(SinchHook, "request", spy)
    return calls


def pdf(text: str) -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n%%EOF\n"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def file_requests(sim: SimulatorServer, fax_id: str, method: str) -> int:
    return sim.request_count(path_prefix=f"{FAXES}/{fax_id}/file", method=method)


def fake_context(try_number: int = 1, map_index: int = -1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="dag", run_id="manual__1", task_id="send", map_index=map_index, try_number=try_number)
    return {"ti": ti, "dag_run": SimpleNamespace(start_date=datetime.now(tz=UTC) - timedelta(minutes=1))}


# -- DownloadFaxOperator -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["url", "path", "object_storage_path"])
def test_download_stores_verified_pdf_with_checksum_file(
    sim: SimulatorServer, store: Any, tmp_path: Path, form: str
) -> None:
    content = pdf("fax one") * 1000
    fax = store.add_fax(file_bytes=content)
    if form == "object_storage_path":
        from airflow_provider_sinch._compat import object_storage_path

        destination: Any = object_storage_path(str(tmp_path / "archive"))
    else:
        destination = (tmp_path / "archive").as_uri() if form == "url" else str(tmp_path / "archive")
    result = DownloadFaxOperator(task_id="dl", fax_id=fax["id"], destination=destination, chunk_size=4096).execute({})

    stored = tmp_path / "archive" / f"{fax['id']}.pdf"
    digest = hashlib.sha256(content).hexdigest()
    assert stored.read_bytes() == content
    assert result == {
        "fax_id": fax["id"],
        "path": stored.as_uri(),
        "bytes": len(content),
        "sha256": digest,
        "skipped": False,
        "deleted_from_sinch": False,
    }
    json.dumps(result)
    assert (tmp_path / "archive" / f"{fax['id']}.pdf.sha256").read_text() == f"{digest}  {fax['id']}.pdf\n"
    assert files_in(tmp_path) == [f"{fax['id']}.pdf", f"{fax['id']}.pdf.sha256"], "no temporary file left"


def test_download_to_any_fsspec_protocol_and_from_a_fax_dict(sim: SimulatorServer, store: Any) -> None:
    import fsspec

    fax = store.add_fax(file_bytes=pdf("memory"))
    op = DownloadFaxOperator(task_id="dl", fax_id=fax, destination="memory://faxes/in", filename="fax-{fax_id}.pdf")
    result = op.execute({})
    fs = fsspec.filesystem("memory")
    assert fs.cat_file(f"/faxes/in/fax-{fax['id']}.pdf") == pdf("memory")
    assert result["path"] == f"memory:///faxes/in/fax-{fax['id']}.pdf"
    assert op.execute({})["skipped"] is True


def test_truncated_download_leaves_no_file_and_fails_clearly(
    sim: SimulatorServer, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SINCH_DEFAULT", sinch_conn_json(sim.url, max_retries=1))
    fax = store.add_fax(file_bytes=pdf("truncated") * 5000)
    sim.faults.truncate_download_next(2)  # the first try and the hook's one retry
    op = DownloadFaxOperator(
        task_id="dl", fax_id=fax["id"], destination=str(tmp_path), delete_from_sinch_after_download=True
    )
    with pytest.raises(SinchDownloadError, match=rf"Download of fax {fax['id']} .*no file was kept"):
        op.execute({})
    assert files_in(tmp_path) == []
    assert file_requests(sim, fax["id"], "DELETE") == 0, "nothing deleted from Sinch after a failed download"
    sim.faults.clear()
    assert op.execute({})["bytes"] == len(pdf("truncated") * 5000), "a retry of the task succeeds"


def test_rerun_skips_a_verified_copy_and_repairs_a_damaged_one(
    sim: SimulatorServer, store: Any, tmp_path: Path
) -> None:
    fax = store.add_fax(file_bytes=pdf("idempotent"))
    op = DownloadFaxOperator(task_id="dl", fax_id=fax["id"], destination=str(tmp_path))
    first = op.execute({})
    sim.reset_requests()

    again = op.execute({})
    assert again == {**first, "skipped": True}
    assert file_requests(sim, fax["id"], "GET") == 0, "a verified copy is not downloaded again"

    (tmp_path / f"{fax['id']}.pdf").write_bytes(b"damaged")
    repaired = op.execute({})
    assert repaired == {**first, "skipped": False}
    assert (tmp_path / f"{fax['id']}.pdf").read_bytes() == pdf("idempotent")
    assert file_requests(sim, fax["id"], "GET") == 1

    (tmp_path / f"{fax['id']}.pdf.sha256").unlink()
    assert op.execute({})["skipped"] is False, "without its checksum file a copy is not trusted"


def test_delete_from_sinch_only_after_the_stored_copy_is_verified(
    sim: SimulatorServer, store: Any, tmp_path: Path
) -> None:
    fax = store.add_fax(file_bytes=pdf("delete me"))
    stored = tmp_path / f"{fax['id']}.pdf"
    seen_at_delete: list[bool] = []
    op = DownloadFaxOperator(
        task_id="dl", fax_id=fax["id"], destination=str(tmp_path), delete_from_sinch_after_download=True
    )
    real_delete = op.hook.fax.delete_fax_content

    def delete_and_record(fax_id: str) -> None:
        seen_at_delete.append(stored.exists() and (tmp_path / f"{fax['id']}.pdf.sha256").exists())
        real_delete(fax_id)

    op.hook.fax.delete_fax_content = delete_and_record  # type: ignore[method-assign]
    result = op.execute({})
    assert result["deleted_from_sinch"] is True
    assert seen_at_delete == [True], "the copy and its checksum were stored before the delete"
    methods = [(r.method, r.path) for r in sim.requests if r.path.startswith(f"{FAXES}/{fax['id']}/file")]
    assert methods == [("GET", f"{FAXES}/{fax['id']}/file"), ("DELETE", f"{FAXES}/{fax['id']}/file")]
    assert store.get(fax["id"])["hasFile"] is False

    # A re-run (e.g. after a delete that timed out) skips the download and the delete is idempotent.
    again = DownloadFaxOperator(
        task_id="dl", fax_id=fax["id"], destination=str(tmp_path), delete_from_sinch_after_download=True
    ).execute({})
    assert again["skipped"] is True
    assert again["deleted_from_sinch"] is True


def test_copy_that_differs_after_commit_is_not_deleted_from_sinch(
    sim: SimulatorServer, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_sinch.operators import fax as fax_module

    fax = store.add_fax(file_bytes=pdf("verify"))
    monkeypatch.setattr(fax_module, "_hash_stored", lambda fs, path, chunk: (1, "0" * 64))
    op = DownloadFaxOperator(
        task_id="dl", fax_id=fax["id"], destination=str(tmp_path), delete_from_sinch_after_download=True
    )
    with pytest.raises(SinchDownloadError, match="NOT deleted from Sinch"):
        op.execute({})
    assert file_requests(sim, fax["id"], "DELETE") == 0
    assert store.get(fax["id"])["hasFile"] is True


def test_download_of_100_mb_keeps_memory_flat(sim: SimulatorServer, store: Any, tmp_path: Path) -> None:
    fax = store.add_fax(file_size=100 * 1024 * 1024)
    op = DownloadFaxOperator(task_id="dl", fax_id=fax["id"], destination=str(tmp_path))
    assert op.hook.settings  # connection parsing is not what is measured
    tracemalloc.start()
    try:
        result = op.execute({})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["bytes"] == 100 * 1024 * 1024
    assert (tmp_path / f"{fax['id']}.pdf").stat().st_size == 100 * 1024 * 1024
    assert peak < 16 * 1024 * 1024, f"peak Python memory {peak / 1e6:.1f} MB while streaming 100 MB"


def test_a_failing_write_fails_the_download_and_stops_its_writer_thread(sim: SimulatorServer, store: Any) -> None:
    """Chunks are written and hashed in a second thread: its error must reach the caller, and it must end."""
    import errno
    import io
    import threading

    class FullDisk(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() >= 3 * 64 * 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    fax = store.add_fax(file_size=8 * 1024 * 1024)
    hook = SinchHook()
    with pytest.raises(OSError, match="No space left on device"):
        hook.fax.download_fax(fax["id"], FullDisk(), chunk_size=64 * 1024)
    assert not [t for t in threading.enumerate() if t.name == "sinch-download-writer"]
    written = io.BytesIO()
    result = hook.fax.download_fax(fax["id"], written, chunk_size=64 * 1024)
    expected = store.file_bytes(fax["id"])
    assert written.getvalue() == expected
    assert result["sha256"] == hashlib.sha256(expected).hexdigest()
    assert result["bytes"] == len(written.getvalue()) == 8 * 1024 * 1024
    hook.close()


def test_download_errors(sim: SimulatorServer, store: Any, tmp_path: Path) -> None:
    with pytest.raises(FaxSelectionError, match="is not a Sinch fax ID"):
        DownloadFaxOperator(task_id="bad", fax_id="../etc/passwd", destination=str(tmp_path))
    with pytest.raises(FaxSelectionError, match="destination is empty"):
        DownloadFaxOperator(task_id="bad", fax_id="01ABC", destination="")
    templated = DownloadFaxOperator(task_id="later", fax_id="{{ params.fax }}", destination=str(tmp_path))
    templated.fax_id = "not a fax id!"  # as if the template had rendered to that
    with pytest.raises(FaxSelectionError, match="is not a Sinch fax ID"):
        templated.execute({})
    with pytest.raises(SinchNotFoundError):
        DownloadFaxOperator(task_id="gone", fax_id="01UNKNOWN", destination=str(tmp_path)).execute({})
    with pytest.raises(FaxSelectionError, match="Cannot open memory:// storage with connection 'aws_default'"):
        DownloadFaxOperator(
            task_id="conn", fax_id="01ABC", destination="memory://x/", destination_conn_id="aws_default"
        ).execute({})
    assert files_in(tmp_path) == []


# -- SendFaxOperator -----------------------------------------------------------------------------------


def test_send_json_with_content_url_returns_fax_ids_in_recipient_order(
    sim: SimulatorServer, store: Any, posts: list[dict[str, Any]]
) -> None:
    op = SendFaxOperator(
        task_id="send",
        to=[SINCH_TEST_NUMBER, "+14155550100"],
        content_urls="https://example.com/invoice.pdf",
        header_text="Invoice",
        labels={"invoice": "42"},
        max_retries=2,
    )
    fax_ids = op.execute(fake_context())
    [post] = posts
    assert post["json"]["to"] == [SINCH_TEST_NUMBER, "+14155550100"]
    assert post["json"]["contentUrl"] == "https://example.com/invoice.pdf"
    assert not post["files"]
    faxes = [store.get(fax_id) for fax_id in fax_ids]
    assert [f["to"] for f in faxes] == [SINCH_TEST_NUMBER, "+14155550100"]
    assert faxes[0]["headerText"] == "Invoice"
    assert faxes[0]["maxRetries"] == 2
    assert faxes[0]["labels"]["invoice"] == "42"
    assert len(faxes[0]["labels"][TASK_KEY_LABEL]) == 32


def test_send_multipart_with_local_and_object_storage_files(
    sim: SimulatorServer, store: Any, tmp_path: Path, posts: list[dict[str, Any]]
) -> None:
    import fsspec

    local = tmp_path / "cover.txt"
    local.write_text("Cover letter")
    fsspec.filesystem("memory").pipe_file("/outbox/report.pdf", pdf("report"))
    fax_ids = SendFaxOperator(
        task_id="send",
        to=SINCH_TEST_NUMBER,
        files=[str(local), "memory://outbox/report.pdf"],
        from_number="+14155550199",
    ).execute({})
    [post] = posts
    assert post["json"] is None
    assert ("to", SINCH_TEST_NUMBER) in post["data"]
    assert post["files"] == [
        ("cover.txt", b"Cover letter", "text/plain"),
        ("report.pdf", pdf("report"), "application/pdf"),
    ]
    fax = store.get(fax_ids[0])
    assert fax["from"] == "+14155550199"
    assert fax["numberOfPages"] == 2, "the simulator received both documents"

    single = SendFaxOperator(task_id="send", to=SINCH_TEST_NUMBER, files="memory://outbox/report.pdf").execute({})
    store.update_fax(single[0], hasFile=True)  # as once it is sent
    assert store.file_bytes(single[0]) == pdf("report")


def test_send_validates_numbers_at_parse_time_with_the_run_time_message() -> None:
    with pytest.raises(FaxSelectionError, match=r"to='4155550100' is not an E\.164 phone number"):
        SendFaxOperator(task_id="bad", to="4155550100", content_urls="https://example.com/a.pdf")
    with pytest.raises(FaxSelectionError, match=r"from_number='\+0123' is not an E\.164"):
        SendFaxOperator(task_id="bad", to=SINCH_TEST_NUMBER, from_number="+0123", content_urls="https://x.y/a")
    with pytest.raises(FaxSelectionError, match="at least one document"):
        SendFaxOperator(task_id="bad", to=SINCH_TEST_NUMBER)
    with pytest.raises(FaxSelectionError, match="Unknown send option"):
        SendFaxOperator(task_id="bad", to=SINCH_TEST_NUMBER, content_urls="https://x.y/a", options={"colour": "red"})
    later = SendFaxOperator(task_id="later", to="{{ params.to }}", content_urls="https://example.com/a.pdf")
    later.to = "4155550100"  # as if the template had rendered to that
    with pytest.raises(FaxSelectionError, match=r"to='4155550100' is not an E\.164 phone number"):
        later.execute({})


def test_wait_for_completion_success(sim: SimulatorServer, store: Any) -> None:
    op = SendFaxOperator(
        task_id="send",
        to=SINCH_TEST_NUMBER,
        content_urls="https://x.y/a.pdf",
        wait_for_completion=True,
        poll_interval=0.1,
    )
    fax_ids = op.execute({})
    assert store.get(fax_ids[0])["status"] == "COMPLETED"


def test_wait_for_completion_fails_with_sinch_error_details(sim: SimulatorServer, store: Any) -> None:
    op = SendFaxOperator(
        task_id="send",
        to=[SINCH_TEST_NUMBER, FAILING_NUMBER],
        content_urls="https://x.y/a.pdf",
        wait_for_completion=True,
        poll_interval=0.1,
    )
    with pytest.raises(SinchFaxFailedError, match=r"1 of 2 faxes failed: fax \w+: CALL_ERROR 17 \(Busy\)") as info:
        op.execute({})
    [failure] = info.value.failures
    assert failure["errorType"] == "CALL_ERROR"
    assert failure["errorCode"] == 17
    assert failure["errorMessage"] == "Busy"
    assert FAILING_NUMBER not in str(info.value), "no phone number in the error that lands in the task log"


async def _first_event(trigger: FaxTrigger) -> Any:
    async for event in trigger.run():
        return event
    return None


@pytest.mark.parametrize("recipients", [[SINCH_TEST_NUMBER], [SINCH_TEST_NUMBER, FAILING_NUMBER]])
def test_deferred_wait_gives_the_same_answer_as_the_worker_wait(
    sim: SimulatorServer, store: Any, recipients: list[str]
) -> None:
    import asyncio

    def outcome(deferrable: bool) -> tuple[str, Any]:
        op = SendFaxOperator(
            task_id="send",
            to=recipients,
            content_urls="https://x.y/a.pdf",
            wait_for_completion=True,
            deferrable=deferrable,
            poll_interval=0.1,
        )
        try:
            if not deferrable:
                return "returned", len(op.execute({}))
            with pytest.raises(TaskDeferred) as deferred:
                op.execute({})
            trigger = deferred.value.trigger
            assert isinstance(trigger, FaxTrigger)
            assert deferred.value.method_name == "execute_complete"
            json.dumps(trigger.serialize()[1])
            event = asyncio.run(_first_event(trigger))
            return "returned", len(op.execute_complete({}, event.payload))
        except SinchFaxFailedError as exc:
            return "failed", [(f["errorType"], f["errorCode"], f["errorMessage"]) for f in exc.failures]

    assert outcome(deferrable=False) == outcome(deferrable=True)


def test_retry_reuses_the_fax_an_earlier_try_sent(sim: SimulatorServer, store: Any) -> None:
    def send(try_number: int, map_index: int = -1) -> list[str]:
        op = SendFaxOperator(task_id="send", to=[SINCH_TEST_NUMBER], content_urls="https://x.y/a.pdf")
        return op.execute(fake_context(try_number, map_index))

    first = send(1)
    assert send(2) == first, "a retry finds the fax by its task key label"
    assert sim.request_count(path_prefix=FAXES, method="POST") == 1
    other = send(2, map_index=3)
    assert other != first, "another mapped task instance has its own key"
    assert sim.request_count(path_prefix=FAXES, method="POST") == 2
    no_dedupe = SendFaxOperator(
        task_id="send", to=SINCH_TEST_NUMBER, content_urls="https://x.y/a.pdf", dedupe_retries=False
    ).execute(fake_context(2))
    assert no_dedupe != first
    assert TASK_KEY_LABEL not in (store.get(no_dedupe[0]).get("labels") or {})


# -- Example DAGs --------------------------------------------------------------------------------------


def run_dag_file(dag_id: str, dags_folder: Path, logical_date: datetime | None = None, **kwargs: Any) -> Any:
    """Copy an example DAG into the dags folder, parse it there and ``dag.test()`` it (see conftest)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag

    shutil.copy(ROOT / "example_dags" / f"{dag_id}.py", dags_folder / f"{dag_id}.py")
    dag_bag = DagBag(dag_folder=str(dags_folder / f"{dag_id}.py"))
    assert not dag_bag.import_errors, dag_bag.import_errors
    dag = dag_bag.get_dag(dag_id)
    assert dag is not None
    if logical_date is not None:
        kwargs["logical_date" if AIRFLOW_V_3 else "execution_date"] = logical_date
    return dag.test(**kwargs)


def test_example_download_dag_stores_every_new_inbound_fax(
    airflow_db: Path,
    dags_folder: Path,
    sim: SimulatorServer,
    store: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SINCH_FAX_ARCHIVE", tmp_path.as_uri())
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    start = now.replace(minute=now.minute - now.minute % 15) - timedelta(minutes=30)  # window [start-5m, start+10m)
    wanted = [
        store.add_fax(create_time=start - timedelta(minutes=4), file_bytes=pdf("a")),
        store.add_fax(create_time=start + timedelta(minutes=9, seconds=59), file_bytes=pdf("b")),
    ]
    store.add_fax(create_time=start + timedelta(minutes=1), status="FAILURE")
    store.add_fax(create_time=start + timedelta(minutes=2), hasFile=False)
    store.add_fax(create_time=start + timedelta(minutes=3), direction="OUTBOUND")
    store.add_fax(create_time=start + timedelta(minutes=10), file_bytes=pdf("next window"))

    logical_date = start + timedelta(minutes=15)  # a manual run's data interval ends at its logical date
    dag_run = run_dag_file("example_sinch_fax_download", dags_folder, logical_date=logical_date)
    assert (dag_run.data_interval_start, dag_run.data_interval_end) == (start, start + timedelta(minutes=15))
    assert dag_run.state == "success"
    folder = tmp_path / logical_date.strftime("%Y-%m-%d")
    assert files_in(tmp_path) == sorted(n for f in wanted for n in (f"{f['id']}.pdf", f"{f['id']}.pdf.sha256"))
    assert (folder / f"{wanted[1]['id']}.pdf").read_bytes() == pdf("b")
    summary = xcom_return_value("example_sinch_fax_download", dag_run.run_id, "summarise")
    assert summary == {"stored": 2, "already_stored": 0, "bytes": len(pdf("a")) + len(pdf("b"))}


def test_example_send_dag_sends_to_the_test_number_and_waits_deferred(
    airflow_db: Path,
    dags_folder: Path,
    sim: SimulatorServer,
    store: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Delivered at once, so the trigger's first poll ends the wait (the example polls every 30 s).
    monkeypatch.setattr(store.config, "transition_seconds", 0.0)
    monkeypatch.setenv("AIRFLOW_VAR_SINCH_FAX_ARCHIVE", tmp_path.as_uri())
    with caplog.at_level("INFO"):
        dag_run = run_dag_file("example_sinch_fax_send", dags_folder)
    assert dag_run.state == "success"
    assert "running trigger in line" in caplog.text, "the wait was deferred to the trigger"
    fax_ids = xcom_return_value("example_sinch_fax_send", dag_run.run_id, "report")
    [fax] = [store.get(fax_id) for fax_id in fax_ids]
    assert fax["to"] == SINCH_TEST_NUMBER
    assert fax["status"] == "COMPLETED"
    assert fax["labels"]["source"] == "airflow-example"
    [document] = (tmp_path / "outbox").iterdir()
    assert document.read_text().startswith("Hello from Apache Airflow.")
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert KEY_SECRET not in logs
    assert SINCH_TEST_NUMBER not in logs, "phone numbers are never logged"


@pytest.mark.skipif(not AIRFLOW_V_3, reason="AssetWatcher and event triggers need Airflow 3")
def test_example_asset_dag_parses_serialises_and_downloads_given_faxes(
    airflow_db: Path,
    dags_folder: Path,
    sim: SimulatorServer,
    store: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SINCH_FAX_ARCHIVE", tmp_path.as_uri())
    fax = store.add_fax(file_bytes=pdf("asset"))
    dag_run = run_dag_file("example_sinch_fax_asset", dags_folder, run_conf={"fax_ids": [fax["id"]]})
    assert dag_run.state == "success"
    assert (tmp_path / "inbound" / f"{fax['id']}.pdf").read_bytes() == pdf("asset")
