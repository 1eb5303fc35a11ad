"""Operators for Sinch's Fax API."""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf

from airflow_provider_sinch._compat import BaseOperator, object_storage_path
from airflow_provider_sinch._time import UTC, format_create_time, to_utc
from airflow_provider_sinch._validation import DEFAULT_CONN_ID, is_template, short_repr
from airflow_provider_sinch.clients.fax.vocabulary import (
    DOWNLOAD_CHUNK,
    RETENTION,
    SEND_OPTIONS,
    TERMINAL_FAX_STATUSES,
    FaxSelectionError,
    check_fax_selection,
    fax_id_of,
    project_fields,
    sort_newest_first,
    validate_content_url,
    validate_file_name,
    validate_number,
    validate_resolution,
)
from airflow_provider_sinch.exceptions import (
    SinchDownloadError,
    SinchError,
    SinchFaxFailedError,
    SinchNotFoundError,
)
from airflow_provider_sinch.hooks.base import SinchHookMixin

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from fsspec import AbstractFileSystem

    from airflow_provider_sinch._compat import Context

__all__ = [
    "DownloadFaxOperator",
    "FaxSelectionError",
    "ListFaxesOperator",
    "SendFaxOperator",
    "check_fax_selection",
    "fax_id_of",
    "project_fields",
]


class _Default:
    """Marks an argument the caller did not pass (its default depends on other arguments)."""

    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Any = _Default()


class ListFaxesOperator(SinchHookMixin, BaseOperator):
    """List faxes into XCom: by default the 10 newest, whatever the API's order and however old.

    Returns a JSON-serialisable list of fax dicts (Sinch's field names), newest first (``createTime``
    then ``id``). Never file content.

    Modes:

    - **latest** (default): the ``limit`` newest faxes matching the filters, searched backwards from
      ``created_before`` (default now) to ``created_after`` (default the 13-month retention). Sinch's own
      list returns only the prior week without a time filter; this finds older faxes too, with a number of
      requests that grows with how far back it must look, not with how many faxes the account holds.
    - **window**: ``limit=None`` returns every match in ``[created_after, created_before)``.
    - **incremental** (``incremental=True``): for scheduled polling. Every fax created in the run's data
      interval, shifted back by ``settle_lag`` (``[start - lag, end - lag)``, half-open, so consecutive runs
      tile time with no gap and no overlap and a fax exactly on a boundary goes to one run). If a fax of
      the window is still QUEUED or IN_PROGRESS, the operator polls again every ``settle_poll_interval``
      seconds until all are final, and fails after ``settle_timeout`` without returning anything, so a task
      retry delivers the window complete. Each fax is delivered to downstream tasks exactly once across
      runs, catch-up and backfills included. ``status`` is applied after the wait, so a fax that ends
      COMPLETED is not lost by being IN_PROGRESS when first seen.

    :param sinch_conn_id: the ``sinch`` connection.
    :param direction: ``INBOUND`` or ``OUTBOUND`` (templated).
    :param status: ``QUEUED``, ``IN_PROGRESS``, ``COMPLETED`` or ``FAILURE`` (templated).
    :param from_number: prefix of the sender's number (templated).
    :param to_number: prefix of the recipient's number (templated).
    :param service_id: only faxes of this fax service (templated).
    :param created_after: window start, inclusive; datetime or ISO string, UTC (templated).
    :param created_before: window end, exclusive; datetime or ISO string, UTC (templated).
    :param limit: how many of the newest faxes (templated); ``None`` for every match. Default 10, and
        ``None`` in incremental mode.
    :param fields: keep only these fax fields (``id`` is always kept) so the XCom stays small (templated).
    :param incremental: poll the run's data interval exactly once (see above).
    :param settle_lag: how far the incremental window trails the data interval.
    :param settle_timeout: how long to wait for faxes of the window to reach a final status.
    :param settle_poll_interval: seconds between polls while waiting.
    """

    template_fields: Sequence[str] = (
        "direction",
        "status",
        "from_number",
        "to_number",
        "service_id",
        "created_after",
        "created_before",
        "limit",
        "fields",
    )
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        sinch_conn_id: str = DEFAULT_CONN_ID,
        direction: str | None = None,
        status: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | str | None = _DEFAULT,
        fields: list[str] | None = None,
        incremental: bool = False,
        settle_lag: timedelta = timedelta(minutes=10),
        settle_timeout: timedelta = timedelta(minutes=30),
        settle_poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if incremental:
            if limit is not _DEFAULT and limit is not None:
                raise FaxSelectionError(
                    f"limit={limit!r} cannot be used with incremental=True: every fax of the window is delivered."
                )
            if created_after is not None or created_before is not None:
                raise FaxSelectionError(
                    "created_after/created_before cannot be used with incremental=True: the window is the "
                    "run's data interval shifted back by settle_lag."
                )
            limit = None
        elif limit is _DEFAULT:
            limit = 10
        if settle_lag < timedelta(0):
            raise FaxSelectionError(f"settle_lag={settle_lag!r} must not be negative.")
        self.sinch_conn_id = sinch_conn_id
        self.direction = direction
        self.status = status
        self.from_number = from_number
        self.to_number = to_number
        self.service_id = service_id
        self.created_after = created_after
        self.created_before = created_before
        self.limit = limit
        self.fields = fields
        self.incremental = incremental
        self.settle_lag = settle_lag
        self.settle_timeout = settle_timeout
        self.settle_poll_interval = settle_poll_interval
        check_fax_selection(**self._selection())

    def _selection(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "status": self.status,
            "limit": self.limit,
            "created_after": self.created_after,
            "created_before": self.created_before,
            "fields": self.fields,
        }

    def execute(self, context: Context) -> list[dict[str, Any]]:
        selection = check_fax_selection(**self._selection())
        filters = {
            "direction": selection["direction"],
            "from_number": self.from_number or None,
            "to_number": self.to_number or None,
            "service_id": self.service_id or None,
        }
        if self.incremental:
            faxes = self._poll_interval(context, filters, selection["status"])
        else:
            faxes = self._select(filters, selection)
        faxes = sort_newest_first(faxes)
        self.log.info("Returning %d faxes (%d Sinch API requests)", len(faxes), self.hook.request_count)
        return project_fields(faxes, selection["fields"])

    def _select(self, filters: dict[str, Any], selection: dict[str, Any]) -> list[dict[str, Any]]:
        after, before, limit = selection["created_after"], selection["created_before"], selection["limit"]
        filters = {**filters, "status": selection["status"]}
        if limit is not None:
            self.log.info("Searching the %d newest faxes created before %s", limit, _fmt(before) or "now")
            return self.hook.fax.latest_faxes(limit, created_after=after, created_before=before, **filters)
        after = after or (before or datetime.now(tz=UTC)) - RETENTION
        self.log.info("Listing every fax created in [%s, %s)", _fmt(after), _fmt(before) or "now")
        return list(self.hook.fax.list_faxes(created_after=after, created_before=before, **filters))

    def _poll_interval(self, context: Context, filters: dict[str, Any], status: str | None) -> list[dict[str, Any]]:
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        run_type = str(getattr(context.get("dag_run"), "run_type", "") or "").lower()
        scheduled = run_type.endswith(("scheduled", "backfill"))
        window_start = window_end = None
        if start is not None and end is not None:
            window_start, window_end = to_utc(start) - self.settle_lag, to_utc(end) - self.settle_lag
        if window_start is None or window_end is None or window_start >= window_end:
            if scheduled:
                # Airflow 3 turns a cron string into CronTriggerTimetable, whose runs cover no time: every
                # scheduled run would deliver nothing and faxes would silently never reach the DAG.
                raise FaxSelectionError(
                    "incremental=True got no data interval (or a zero-length one) on a scheduled run, so it "
                    "would never deliver a fax. Schedule the DAG with a timetable that has data intervals, "
                    "e.g. schedule=CronDataIntervalTimetable('*/15 * * * *', timezone='UTC') or a timedelta."
                )
            # A manual run on Airflow 3 has no or a zero-length data interval: it covers no time of its own.
            self.log.info("This run has no data interval to poll (a manual run): no faxes to deliver")
            return []
        now = datetime.now(tz=UTC)
        if window_end > now:
            raise FaxSelectionError(
                f"The window [{_fmt(window_start)}, {_fmt(window_end)}) ends in the future; faxes could still "
                "arrive in it after this run. Run it after the data interval ends (scheduled runs do)."
            )
        self.log.info("Polling faxes created in [%s, %s)", _fmt(window_start), _fmt(window_end))
        deadline = time.monotonic() + self.settle_timeout.total_seconds()
        while True:
            faxes = list(self.hook.fax.list_faxes(created_after=window_start, created_before=window_end, **filters))
            pending = [fax for fax in faxes if fax.get("status") not in TERMINAL_FAX_STATUSES]
            if not pending:
                break
            if time.monotonic() >= deadline:
                raise SinchError(
                    f"{len(pending)} of {len(faxes)} faxes created in [{_fmt(window_start)}, {_fmt(window_end)}) "
                    f"are still QUEUED or IN_PROGRESS after settle_timeout={self.settle_timeout}; nothing was "
                    "delivered. A retry of this task delivers the window once they are final."
                )
            self.log.info(
                "%d of %d faxes still in progress; polling again in %.0f s",
                len(pending),
                len(faxes),
                self.settle_poll_interval,
            )
            time.sleep(self.settle_poll_interval)
        if status is not None:
            faxes = [fax for fax in faxes if fax.get("status") == status]
        return faxes


def _fmt(value: datetime | None) -> str | None:
    return format_create_time(value) if value is not None else None


# -- Download and send ---------------------------------------------------------------------------------

#: The label ``SendFaxOperator`` adds so a retry of the same task instance finds the faxes it already sent.
TASK_KEY_LABEL = "airflow_task_key"


def resolve_storage(target: Any, conn_id: str | None = None) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and path of an ``ObjectStoragePath``, a URL or a local path.

    URLs go through Airflow's ``ObjectStoragePath`` (so ``conn_id`` supplies credentials for ``s3://``,
    ``gs://``, ... as the providers register them). A scheme no Airflow provider registers (``memory://``,
    ``sftp://``, ...) falls back to plain fsspec, as does ``file://`` on Airflow 2.10 when
    universal-pathlib >= 0.3 is installed (its ObjectStoragePath rejects every scheme there).
    """
    if not isinstance(target, (str, os.PathLike)) or hasattr(target, "fs"):
        storage_path: Any = target  # an ObjectStoragePath: filesystem and credentials already attached
        return storage_path.fs, storage_path.path
    url = os.fspath(target)
    if "://" not in url:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), os.path.abspath(os.path.expanduser(url))
    try:
        path = object_storage_path(url, conn_id=conn_id)
        return path.fs, path.path
    except (ValueError, TypeError) as exc:
        if conn_id:
            raise FaxSelectionError(
                f"Cannot open {url.split('://', 1)[0]}:// storage with connection {conn_id!r} ({exc}). Is the "
                "provider of that storage installed? On Airflow 2.10, pin universal-pathlib<0.3."
            ) from None
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(url)
        return fs, fs_path


def _is_local(fs: AbstractFileSystem) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def _hash_stored(fs: AbstractFileSystem, path: str, chunk_size: int) -> tuple[int, str]:
    """Size and SHA-256 of a stored file, read in chunks (memory stays flat)."""
    digest = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class DownloadFaxOperator(SinchHookMixin, BaseOperator):
    """Download the PDF of one fax to object storage, verified and idempotent; return where and what.

    The PDF is streamed in chunks (memory stays flat, 100 MB faxes included) to a temporary name next
    to the destination, ``.<name>.<random>.part``, and moved to its final name only when complete and
    its size matches Sinch's ``Content-Length``; on any failure the temporary file is removed and no
    file is left behind. Then ``<name>.sha256`` is written next to it (``sha256sum`` format, so
    ``sha256sum -c`` checks it).

    Idempotent: when the file and its ``.sha256`` already exist and the file's SHA-256 (recomputed by
    reading the stored copy, no Sinch request) matches the recorded one, nothing is downloaded and the
    result says ``"skipped": True``. A stored copy without a checksum file, or one that does not match
    it, is downloaded again. A fax's content never changes, so a verified copy stored under its ID is
    that fax's content.

    With ``delete_from_sinch_after_download=True`` the fax's content is deleted from Sinch only after
    the stored copy was read back and its SHA-256 matched the downloaded bytes; a re-run after a
    failed delete skips the download and retries the delete.

    Returns ``{"fax_id", "path", "bytes", "sha256", "skipped", "deleted_from_sinch"}`` (``path`` is a
    URL such as ``file:///data/faxes/ID.pdf``).

    :param fax_id: the fax ID, or a fax dict with an ``id`` (templated). Works with dynamic task mapping:
        ``DownloadFaxOperator.partial(destination=...).expand(fax_id=list_faxes.output)``.
    :param destination: the folder: an ``ObjectStoragePath``, a URL (``file:///data/faxes/``,
        ``s3://bucket/faxes/``, any fsspec protocol installed) or a local path (templated).
    :param filename: file name inside ``destination``; ``{fax_id}`` is replaced by the fax ID (templated).
    :param destination_conn_id: Airflow connection for a URL ``destination`` (e.g. ``aws_default``).
    :param delete_from_sinch_after_download: delete the content from Sinch once the stored copy is verified.
    :param overwrite: download again even if a verified copy is stored.
    :param chunk_size: bytes per read while streaming and hashing.
    :param sinch_conn_id: the ``sinch`` connection.
    """

    template_fields: Sequence[str] = ("fax_id", "destination", "filename")
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        fax_id: str | dict[str, Any],
        destination: Any,
        filename: str = "{fax_id}.pdf",
        destination_conn_id: str | None = None,
        delete_from_sinch_after_download: bool = False,
        overwrite: bool = False,
        chunk_size: int = DOWNLOAD_CHUNK,
        sinch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fax_id = fax_id
        self.destination = destination
        self.filename = filename
        self.destination_conn_id = destination_conn_id
        self.delete_from_sinch_after_download = delete_from_sinch_after_download
        self.overwrite = overwrite
        self.chunk_size = chunk_size
        self.sinch_conn_id = sinch_conn_id
        if not is_template(fax_id):
            fax_id_of(fax_id)
        if not is_template(filename):
            _file_name(filename, "")
        if chunk_size < 1:
            raise FaxSelectionError(f"chunk_size={chunk_size!r} must be at least 1 byte.")
        if destination in (None, ""):
            raise FaxSelectionError("destination is empty: give a folder, e.g. 'file:///data/faxes/'.")

    def execute(self, context: Context) -> dict[str, Any]:
        fax_id = fax_id_of(self.fax_id)
        name = _file_name(self.filename, fax_id)
        fs, folder = resolve_storage(self.destination, self.destination_conn_id)
        path = posixpath.join(folder, name)
        url = fs.unstrip_protocol(path)
        if fs.isdir(path):  # a symlink to a folder too: the download would be moved into it
            raise FaxSelectionError(
                f"{url} is a folder, not a file: fax {fax_id} cannot be stored there. Remove it, or choose another "
                "destination or filename."
            )
        stored = None if self.overwrite else self._verified_copy(fs, path)
        if stored is not None:
            self.log.info("Fax %s is already stored at %s with a matching SHA-256: skipped", fax_id, url)
            result = {"fax_id": fax_id, "path": url, **stored, "skipped": True}
        else:
            result = {**self._download(fs, path, fax_id), "path": url, "skipped": False}
            self.log.info("Stored fax %s at %s: %d bytes, SHA-256 %s", fax_id, url, result["bytes"], result["sha256"])
        result["deleted_from_sinch"] = False
        if self.delete_from_sinch_after_download:
            if stored is None:
                self._verify_commit(fs, path, result)
            try:
                self.hook.fax.delete_fax_content(fax_id)
            except SinchNotFoundError:
                self.log.info("Fax %s content was already deleted from Sinch", fax_id)
            else:
                self.log.info("Deleted the content of fax %s from Sinch after verifying the stored copy", fax_id)
            result["deleted_from_sinch"] = True
        return result

    def _verified_copy(self, fs: AbstractFileSystem, path: str) -> dict[str, Any] | None:
        """Size and SHA-256 of the stored copy if its ``.sha256`` file vouches for it, else None."""
        try:
            if not fs.exists(path) or not fs.exists(f"{path}.sha256"):
                return None
            recorded = fs.cat_file(f"{path}.sha256").decode("ascii", "replace").split()
            size, digest = _hash_stored(fs, path, self.chunk_size)
        except FileNotFoundError:
            return None
        if not recorded or recorded[0].lower() != digest:
            self.log.warning("The stored copy does not match its .sha256 file: downloading it again")
            return None
        return {"bytes": size, "sha256": digest}

    def _download(self, fs: AbstractFileSystem, path: str, fax_id: str) -> dict[str, Any]:
        """Stream to a temporary name, move it to ``path`` when complete, then write the ``.sha256`` file."""
        parent, name = posixpath.split(path)
        if _is_local(fs):
            fs.makedirs(parent, exist_ok=True)
        with _temporary(fs, path) as temp:
            with fs.open(temp, "wb") as fh:
                # The hook's streaming: chunked, SHA-256 on the way, size checked against Content-Length.
                result = self.hook.fax.download_fax(fax_id, fh, chunk_size=self.chunk_size)
                if _is_local(fs):
                    fh.flush()
                    os.fsync(fh.fileno())
            _commit(fs, temp, path)
        _write_new_file(fs, f"{path}.sha256", f"{result['sha256']}  {name}\n".encode())
        try:
            info = fs.info(path)
        except FileNotFoundError:
            info = {}
        if info.get("type") != "file" or info.get("size") != result["bytes"]:
            raise SinchDownloadError(
                f"Fax {fax_id} was downloaded but is not a file of {result['bytes']} bytes at "
                f"{fs.unstrip_protocol(path)} after it was moved there; run the task again."
            )
        return result

    def _verify_commit(self, fs: AbstractFileSystem, path: str, result: dict[str, Any]) -> None:
        """Read the stored copy back before anything irreversible; raise if it differs from the download."""
        size, digest = _hash_stored(fs, path, self.chunk_size)
        if (size, digest) != (result["bytes"], result["sha256"]):
            raise SinchDownloadError(
                f"The stored copy of fax {result['fax_id']} ({size} bytes) differs from the download "
                f"({result['bytes']} bytes); its content was NOT deleted from Sinch. Run the task again."
            )


def _file_name(template: Any, fax_id: str) -> str:
    """The file name for a fax: ``template``, a plain name inside the destination, with ``{fax_id}`` filled in.

    A validated fax ID holds only letters, digits, ``-`` and ``_``, so filling it in keeps the name plain.
    """
    return validate_file_name(template).replace("{fax_id}", fax_id)


def _temp_name(path: str) -> str:
    parent, name = posixpath.split(path)
    return posixpath.join(parent, f".{name}.{uuid.uuid4().hex[:12]}.part")


def _commit(fs: AbstractFileSystem, temp: str, path: str) -> None:
    """Move a complete temporary file to ``path``, replacing a file or a link there, never moving into a folder.

    A local rename replaces a symlink itself rather than writing through it, and fails on a folder; other
    filesystems' ``mv`` may move into a folder, so a folder at ``path`` is refused first.
    """
    if _is_local(fs):
        os.replace(temp, path)
        return
    if fs.isdir(path):
        raise FaxSelectionError(f"{fs.unstrip_protocol(path)} is a folder, not a file; remove it or choose a new name.")
    fs.mv(temp, path)


def _write_new_file(fs: AbstractFileSystem, path: str, content: bytes) -> None:
    """Write ``content`` to ``path`` by a temporary file and a rename: never through an existing symlink."""
    with _temporary(fs, path) as temp:
        with fs.open(temp, "wb") as fh:
            fh.write(content)
        _commit(fs, temp, path)


@contextlib.contextmanager
def _temporary(fs: AbstractFileSystem, path: str) -> Iterator[str]:
    """A temporary name next to ``path`` for the block to write and move into place; removed if the block fails."""
    temp = _temp_name(path)
    try:
        yield temp
    except BaseException:
        with contextlib.suppress(Exception):
            if fs.exists(temp):
                fs.rm(temp)
        raise


def fax_failures(faxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``id``, ``errorType``, ``errorCode`` and ``errorMessage`` of every fax in status FAILURE."""
    return [
        {key: fax.get(key) for key in ("id", "status", "errorType", "errorCode", "errorMessage")}
        for fax in faxes
        if fax.get("status") == "FAILURE"
    ]


def raise_for_failed_faxes(faxes: list[dict[str, Any]]) -> None:
    """Raise :class:`SinchFaxFailedError` with Sinch's error type, code and message if any fax FAILed."""
    failures = fax_failures(faxes)
    if not failures:
        return
    reasons = "; ".join(
        f"fax {f['id']}: {f['errorType'] or 'FAILURE'} {f['errorCode'] if f['errorCode'] is not None else ''} "
        f"({f['errorMessage'] or 'no message'})".replace("  ", " ")
        for f in failures
    )
    raise SinchFaxFailedError(f"{len(failures)} of {len(faxes)} faxes failed: {reasons}", failures)


def task_key(context: Context) -> str | None:
    """A stable, opaque key of the running task instance (same on every try), or None outside a task."""
    ti = context.get("ti")
    if ti is None:
        return None
    map_index = getattr(ti, "map_index", -1)
    raw = f"{ti.dag_id}\x1f{ti.run_id}\x1f{ti.task_id}\x1f{-1 if map_index is None else map_index}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class SendFaxOperator(SinchHookMixin, BaseOperator):
    """Send a fax to one or more numbers; return the created fax IDs, optionally waiting for delivery.

    Documents come from ``files`` (local paths, ``ObjectStoragePath`` objects or URLs of any fsspec
    protocol, sent as multipart/form-data) and/or ``content_urls`` (fetched by Sinch). Every number is
    checked to be E.164 before anything is sent (at DAG parse time for literal values).

    With ``wait_for_completion=True`` the task waits until every fax is COMPLETED or FAILURE and fails
    with :class:`~airflow_provider_sinch.exceptions.SinchFaxFailedError`, carrying Sinch's
    ``errorType``, ``errorCode`` and ``errorMessage``, if one FAILed. With ``deferrable=True`` (default
    from ``[operators] default_deferrable``) the wait runs in the triggerer
    (:class:`~airflow_provider_sinch.triggers.fax.FaxTrigger`), with the same check as the in-worker wait.

    Retries: the hook never repeats the POST on a timeout or a 5xx (Sinch may have created the fax).
    An Airflow task retry runs ``execute`` again; with ``dedupe_retries=True`` (default) every fax
    carries the label ``airflow_task_key`` (an opaque hash of DAG ID, run ID, task ID and map index),
    and a retry first lists the OUTBOUND faxes to each number created since the DAG run started and
    reuses the ones with this task's key instead of sending again. A cleared task is a new try of the
    same task instance, so it does not re-send either: trigger a new DAG run to send again. The check
    cannot see a fax Sinch has not listed yet; for a hard guarantee use ``retries=0``.

    :param to: E.164 number or list of numbers (templated).
    :param files: documents to send: paths, URLs or ``ObjectStoragePath`` (templated).
    :param content_urls: URL(s) Sinch downloads and faxes (templated).
    :param from_number: the sender number (E.164), else the fax service's default (templated).
    :param header_text: text in the page header (templated).
    :param cover_page_id: ID of a cover page of the fax service (templated).
    :param cover_page_data: values for the cover page fields (templated).
    :param labels: string key/value labels stored with the fax (templated).
    :param callback_url: URL Sinch posts the outcome to (templated).
    :param max_retries: how many times Sinch redials a busy or failing number (Sinch's ``maxRetries``).
    :param resolution: ``FINE`` or ``SUPERFINE``.
    :param service_id: the fax service to send with (templated).
    :param options: any other option of ``SinchHook.send_fax`` in snake case, e.g.
        ``{"retry_delay_seconds": 120, "header_page_numbers": False}`` (templated).
    :param files_conn_id: Airflow connection for URL ``files`` (e.g. ``aws_default``).
    :param wait_for_completion: wait until every fax is COMPLETED or FAILURE; fail on FAILURE.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between status checks while waiting.
    :param wait_timeout: give up waiting after this long (the task fails; the faxes are not cancelled).
    :param dedupe_retries: label faxes with the task instance's key and reuse them on a retry.
    :param sinch_conn_id: the ``sinch`` connection.
    """

    template_fields: Sequence[str] = (
        "to",
        "files",
        "content_urls",
        "from_number",
        "header_text",
        "cover_page_id",
        "cover_page_data",
        "labels",
        "callback_url",
        "service_id",
        "options",
    )
    template_fields_renderers = {"labels": "json", "cover_page_data": "json", "options": "json"}
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        to: str | list[str],
        files: Any = None,
        content_urls: str | list[str] | None = None,
        from_number: str | None = None,
        header_text: str | None = None,
        cover_page_id: str | None = None,
        cover_page_data: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        callback_url: str | None = None,
        max_retries: int | None = None,
        resolution: str | None = None,
        service_id: str | None = None,
        options: dict[str, Any] | None = None,
        files_conn_id: str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        wait_timeout: timedelta = timedelta(hours=1),
        dedupe_retries: bool = True,
        sinch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.files = files
        self.content_urls = content_urls
        self.from_number = from_number
        self.header_text = header_text
        self.cover_page_id = cover_page_id
        self.cover_page_data = cover_page_data
        self.labels = labels
        self.callback_url = callback_url
        self.max_retries = max_retries
        self.resolution = resolution
        self.service_id = service_id
        self.options = options
        self.files_conn_id = files_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.dedupe_retries = dedupe_retries
        self.sinch_conn_id = sinch_conn_id
        if poll_interval <= 0 or wait_timeout <= timedelta(0):
            raise FaxSelectionError(f"poll_interval={poll_interval!r} and wait_timeout={wait_timeout!r} must be > 0.")
        self._check_arguments()

    def _check_arguments(self) -> list[str] | None:
        """Validate what is already known; return the recipients once they are (same message at parse and run time)."""
        recipients: list[str] | None = None
        if not is_template(self.to):
            recipients = [self.to] if isinstance(self.to, str) else list(self.to or [])
            if not recipients:
                raise FaxSelectionError("to is empty: give at least one E.164 number, e.g. '+14155552671'.")
            if any(is_template(number) for number in recipients):
                recipients = None
            else:
                for number in recipients:
                    validate_number(number, "to")
        if self.from_number is not None and not is_template(self.from_number):
            validate_number(self.from_number, "from_number")
        if self.resolution is not None and not is_template(self.resolution):
            validate_resolution(self.resolution)
        no_files = self.files is None or (isinstance(self.files, (list, tuple)) and not self.files)
        no_urls = self.content_urls is None or self.content_urls in ("", [])
        if no_files and no_urls:
            raise FaxSelectionError("Give files or content_urls: a fax needs at least one document.")
        for name in ("labels", "cover_page_data", "options"):
            value = getattr(self, name)
            if value is not None and not is_template(value) and not isinstance(value, dict):
                raise FaxSelectionError(
                    f"{name} is a {type(value).__name__} ({short_repr(value)}), not a dict of names to values. A "
                    "template renders to a string: template the values inside a dict instead, e.g. "
                    f"{name}={{'ref': '{{{{ run_id }}}}'}}, or set render_template_as_native_obj=True on the DAG."
                )
        if isinstance(self.options, dict):
            unknown = sorted(set(self.options) - set(SEND_OPTIONS))
            if unknown:
                raise FaxSelectionError(f"Unknown send option(s) {unknown}; allowed: {sorted(SEND_OPTIONS)}.")
        files = self.files if isinstance(self.files, (list, tuple)) else [self.files]
        for index, item in enumerate(files):
            if item is not None and not is_template(item) and not isinstance(item, (str, os.PathLike)):
                raise FaxSelectionError(
                    f"files[{index}] is a {type(item).__name__}; give a path, a URL or an ObjectStoragePath."
                )
        if not no_urls and not is_template(self.content_urls):
            urls = [self.content_urls] if isinstance(self.content_urls, str) else self.content_urls
            if not isinstance(urls, (list, tuple)):
                raise FaxSelectionError(f"content_urls is a {type(urls).__name__}; give a URL or a list of URLs.")
            for url in urls:
                if not is_template(url):
                    validate_content_url(url)
        return recipients

    def _send_options(self, key: str | None) -> dict[str, Any]:
        options = dict(self.options or {})
        explicit = {
            "from_number": self.from_number,
            "header_text": self.header_text,
            "cover_page_id": self.cover_page_id,
            "cover_page_data": self.cover_page_data,
            "callback_url": self.callback_url,
            "max_retries": self.max_retries,
            "resolution": self.resolution,
            "service_id": self.service_id,
        }
        options.update({name: value for name, value in explicit.items() if value not in (None, "")})
        labels = {str(k): str(v) for k, v in (self.labels or {}).items()}
        if key is not None:
            labels[TASK_KEY_LABEL] = key
        if labels:
            options["labels"] = labels
        return options

    def execute(self, context: Context) -> list[str]:
        recipients = self._check_arguments()
        if recipients is None:  # only possible if a template rendered to another template
            raise FaxSelectionError(f"to={self.to!r} did not render to E.164 numbers.")
        key = task_key(context) if self.dedupe_retries else None
        already = self._sent_by_earlier_try(context, recipients, key) if key is not None else {}
        pending = [number for number in dict.fromkeys(recipients) if number not in already]
        sent: dict[str, str] = dict(already)
        if already:
            self.log.info("Reusing %d faxes sent by an earlier try of this task: %s", len(already), already.values())
        if pending:
            sent.update(self._send(pending, key))
        fax_ids = [sent[number] for number in dict.fromkeys(recipients)]
        self.log.info("Faxes: %s", ", ".join(fax_ids))
        if not self.wait_for_completion:
            return fax_ids
        if self.deferrable:
            from airflow_provider_sinch.triggers.fax import FaxTrigger  # airflow.triggers stays out of parsing

            self.defer(
                trigger=FaxTrigger(
                    criteria={"fax_ids": fax_ids}, sinch_conn_id=self.sinch_conn_id, poll_interval=self.poll_interval
                ),
                method_name="execute_complete",
                timeout=self.wait_timeout,
            )
        raise_for_failed_faxes(self._wait(fax_ids))
        self.log.info("All %d faxes COMPLETED", len(fax_ids))
        return fax_ids

    def _send(self, recipients: list[str], key: str | None) -> dict[str, str]:
        """POST the fax (once, never repeated by the hook on an ambiguous failure); number -> fax ID."""
        options = self._send_options(key)
        items = self.files if isinstance(self.files, (list, tuple)) else ([self.files] if self.files else [])
        with contextlib.ExitStack() as stack:
            files = []
            for item in items:
                fs, path = resolve_storage(item, self.files_conn_id)
                files.append((posixpath.basename(path), stack.enter_context(fs.open(path, "rb"))))
            faxes = self.hook.fax.send_fax(recipients, files=files or None, content_urls=self.content_urls, **options)
        by_number = {str(fax.get("to")): str(fax.get("id")) for fax in faxes}
        if set(by_number) != set(recipients) and len(faxes) == len(recipients):
            by_number = {number: str(fax.get("id")) for number, fax in zip(recipients, faxes, strict=True)}
        missing = [number for number in recipients if number not in by_number]
        if missing:
            raise SinchError(
                f"Sinch created {len(faxes)} faxes for {len(recipients)} recipients; check the faxes list."
            )
        return by_number

    def _sent_by_earlier_try(self, context: Context, recipients: list[str], key: str) -> dict[str, str]:
        """Faxes an earlier try of this task instance sent (found by the task key label): number -> fax ID."""
        ti = context.get("ti")
        if ti is None or (getattr(ti, "try_number", 1) or 1) <= 1:
            return {}
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None)
        since = to_utc(started) - timedelta(minutes=5) if started else datetime.now(tz=UTC) - timedelta(days=1)
        found: dict[str, str] = {}
        for number in dict.fromkeys(recipients):
            for fax in self.hook.fax.list_faxes(direction="OUTBOUND", to_number=number, created_after=since):
                if fax.get("to") == number and (fax.get("labels") or {}).get(TASK_KEY_LABEL) == key:
                    found[number] = str(fax.get("id"))
        return found

    def _wait(self, fax_ids: list[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.wait_timeout.total_seconds()
        while True:
            faxes = self.hook.fax.find_matching_faxes(fax_ids=fax_ids)
            if faxes:
                return faxes
            if time.monotonic() >= deadline:
                raise SinchError(
                    f"Faxes {', '.join(fax_ids)} are not COMPLETED or FAILURE after wait_timeout={self.wait_timeout}; "
                    "they were not cancelled."
                )
            self.log.info("Waiting for %d faxes; checking again in %.3g s", len(fax_ids), self.poll_interval)
            time.sleep(self.poll_interval)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[str]:
        """Resume after :class:`FaxTrigger` fired: the same check as the in-worker wait."""
        if not event or event.get("status") != "success":
            message = (event or {}).get("message") or "the trigger ended without an event"
            raise SinchError(f"Waiting for the faxes failed: {message}")
        fax_ids = [str(fax_id) for fax_id in event["fax_ids"]]
        faxes = self.hook.fax.find_matching_faxes(fax_ids=fax_ids)
        if not faxes:
            raise SinchError(f"Faxes {', '.join(fax_ids)} are not final any more; run the task again.")
        raise_for_failed_faxes(faxes)
        self.log.info("All %d faxes COMPLETED", len(fax_ids))
        return fax_ids
