"""The Fax API client over the transport: ``SinchHook().fax``.

Listing and searching run the I/O-free operations of :mod:`~airflow_provider_sinch.clients.fax.core` with
the hook's session; downloads stream to disk or object storage, and sends go as JSON or multipart.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import requests

from airflow_provider_sinch.clients.fax import FaxAPI, core
from airflow_provider_sinch.clients.fax.core import Batch, Call, Emit
from airflow_provider_sinch.clients.fax.vocabulary import (
    DEFAULT_MATCH_LIMIT,
    DOWNLOAD_CHUNK,
    MAX_PAGE_SIZE,
    SEND_OPTIONS,
    validate_content_url,
    validate_fax_id,
    validate_number,
    validate_resolution,
)
from airflow_provider_sinch.exceptions import SinchDownloadError, SinchError, SinchResponseError
from airflow_provider_sinch.hooks._policy import backoff_seconds, reason

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable
    from datetime import datetime, timedelta

    from airflow_provider_sinch.hooks.sinch import SinchHook

R = TypeVar("R")
#: A download asks for the PDF unencoded, so its size can be checked against Content-Length.
PDF_ACCEPT = {"Accept": "application/pdf", "Accept-Encoding": "identity"}


class FaxClient(FaxAPI):
    """Sinch's Fax API v3 for one project: list, search, get, download, delete content and send faxes.

    ``https://fax.api.sinch.com/v3/projects/{project_id}/`` (the connection's host replaces the host).
    Sinch lists only the prior week without a ``createTime`` filter and documents no list order; the
    listing and "latest" methods handle both.
    """

    hook: SinchHook

    def probe(self) -> str:
        """List one fax (through the one query builder of every listing): a read-only check of key and project."""
        next(self.list_fax_pages(self.list_params(), page_size=1))
        return "ok (listed faxes)"

    # -- running the I/O-free operations ---------------------------------------------------------------

    def execute(self, call: Call) -> Any:
        """One request of an operation, with the hook's session; the parsed JSON answer."""
        return self.hook.request_json(call.method, self.url(call.path), params=call.params)

    def run(self, steps: Generator[core.Step, Any, R]) -> Generator[Any, None, R]:
        """Drive an operation: answer its calls, yield what it emits, return its result."""
        reply = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(step, Emit):
                yield from step.items
                reply = None
            elif isinstance(step, Batch):
                reply = [self._attempt(call) for call in step.calls]
            else:
                reply = self.execute(step)

    def _attempt(self, call: Call) -> Any:
        try:
            return self.execute(call)
        except SinchError as exc:
            return exc

    def complete(self, steps: Generator[core.Step, Any, R]) -> R:
        """Drive an operation to its end and return its result (what it emits is dropped)."""
        run = self.run(steps)
        while True:
            try:
                next(run)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    # -- listing and searching -------------------------------------------------------------------------

    def list_params(self, **filters: Any) -> dict[str, str]:
        """The validated query of a listing (see :func:`core.list_params`)."""
        return core.list_params(**filters)

    def list_fax_pages(self, params: Mapping[str, str], *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Yield the raw list-faxes responses page by page (1-based), stopping at ``totalPages``."""
        return self.run(core.list_pages(params, page_size))

    def list_faxes(
        self,
        *,
        direction: str | None = None,
        status: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        service_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield every fax matching the filters, over all pages, each ``id`` once.

        ``created_after``/``created_before`` (datetime or ISO string, UTC) form the half-open window
        ``[created_after, created_before)``, sent as Sinch's ``createTime>``/``createTime<`` filters in whole
        seconds (the lower bound floored, the upper one ceiled) and enforced exactly on the answers, so a fax
        exactly on a boundary belongs to one window only. Without either, Sinch returns only the prior week.
        ``from_number``/``to_number`` match as prefixes.

        If fewer faxes were listed than Sinch counts (``totalItems``), the list changed order while it was
        paged, and it is paged through again (up to ``core.LISTING_PASSES`` times), yielding only new IDs. A
        fax moves only when it changes, so one missed by the last pass was yielded, as it was then, by an
        earlier one.
        """
        return self.run(
            core.list_faxes(
                direction=direction,
                status=status,
                from_number=from_number,
                to_number=to_number,
                service_id=service_id,
                created_after=created_after,
                created_before=created_before,
                page_size=page_size,
            )
        )

    def latest_faxes(
        self,
        limit: int,
        *,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        first_span: timedelta | None = None,
        growth: int = 4,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Return the ``limit`` newest faxes matching ``filters``, newest first, whatever the server order.

        Sinch lists only the prior week without a ``createTime`` filter and does not document its order,
        so this searches backwards in time from ``created_before`` (default now) with windows that grow
        ``growth``-fold (1 h, 4 h, 16 h, ...) down to ``created_after`` (default: the 13-month retention).
        A window holding more than one page is halved, newer half first, instead of paged through. The
        number of requests grows with how far back the newest faxes are, not with the account's size.

        :param limit: how many faxes (>= 1).
        :param filters: ``direction``, ``status``, ``from_number``, ``to_number``, ``service_id``.
        """
        extra = {"first_span": first_span} if first_span is not None else {}
        steps = core.latest_faxes(
            limit, created_after=created_after, created_before=created_before, growth=growth, **extra, **filters
        )
        return self.complete(steps)

    def find_matching_faxes(
        self, *, fax_ids: Iterable[str] | None = None, limit: int | None = DEFAULT_MATCH_LIMIT, **filters: Any
    ) -> list[dict[str, Any]]:
        """The faxes a wait is looking for, or ``[]`` while it is not over (see :func:`core.find_matching_faxes`)."""
        return self.complete(core.find_matching_faxes(fax_ids=fax_ids, limit=limit, **filters))

    def get_fax(self, fax_id: str) -> dict[str, Any]:
        """Return one fax by its ID."""
        return self.complete(core.get_fax(fax_id))

    # -- content ---------------------------------------------------------------------------------------

    def delete_fax_content(self, fax_id: str) -> None:
        """Delete the stored content (PDF) of a fax; the fax record stays."""
        self.hook.request("DELETE", self.url(f"faxes/{quote(validate_fax_id(fax_id), safe='')}/file"))

    def download_fax(
        self,
        fax_id: str,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        chunk_size: int = DOWNLOAD_CHUNK,
    ) -> dict[str, Any]:
        """Stream a fax's PDF to a path or a binary file object, in chunks; return its size and SHA-256.

        For a path, the file is written under a temporary name in the same folder and renamed only when
        complete and its size matches ``Content-Length``; on any failure nothing is left behind. For a file
        object, the caller owns cleanup on failure.
        """
        url = self.url(f"faxes/{quote(validate_fax_id(fax_id), safe='')}/file")
        if not isinstance(destination, (str, os.PathLike)):
            return self._stream_to(url, destination, fax_id, chunk_size)
        target = Path(destination)
        fd, tmp_name = _part_file(target)  # before the request: an unwritable destination costs no download
        try:
            with os.fdopen(fd, "wb") as fh:
                result = self._stream_to(url, fh, fax_id, chunk_size)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return {**result, "path": str(target)}

    def _stream_to(self, url: str, fh: IO[bytes], fax_id: str, chunk_size: int) -> dict[str, Any]:
        """GET ``url`` into ``fh``; a body that breaks off is requested again, up to ``max_retries`` times.

        ``fh`` is only appended to (object-store writers cannot seek): a repeated download skips the bytes
        an earlier attempt already wrote.
        """
        attempt = 0
        writer = _HashingWriter(fh)
        try:
            while True:
                response = self.hook.request("GET", url, stream=True, headers=PDF_ACCEPT)
                expected = response.headers.get("Content-Length")
                skip = writer.size
                try:
                    with response:
                        for chunk in response.iter_content(chunk_size=chunk_size):
                            if skip:
                                cut = min(skip, len(chunk))
                                chunk, skip = chunk[cut:], skip - cut
                            if chunk:
                                writer.write(chunk)
                    break
                except requests.RequestException as exc:
                    attempt += 1
                    if attempt > self.hook.settings.max_retries:
                        raise SinchDownloadError(
                            f"Download of fax {fax_id} broke after {writer.size} bytes ({reason(exc)}), {attempt} "
                            "times; no file was kept. Run the task again to retry."
                        ) from None
                    wait = backoff_seconds(attempt)
                    self.hook.log.warning(
                        "Download of fax %s broke after %d bytes (%s); retry %d in %.2f s",
                        fax_id,
                        writer.size,
                        reason(exc),
                        attempt,
                        wait,
                    )
                    time.sleep(wait)
        finally:
            writer.close()  # every chunk written (or the writer's error raised) before anyone reads fh
        size = writer.size
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise SinchDownloadError(
                f"Download of fax {fax_id} ended after {size} of {expected} bytes; no file was kept. "
                "Run the task again to retry."
            )
        return {"fax_id": fax_id, "bytes": size, "sha256": writer.sha256}

    # -- sending ---------------------------------------------------------------------------------------

    def send_fax(
        self,
        to: str | list[str],
        *,
        files: list[Any] | None = None,
        content_urls: str | list[str] | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Send a fax to one or more numbers; return the created faxes (one per recipient, each with an ``id``).

        :param to: E.164 number(s), validated before anything is sent.
        :param files: local paths, ``(filename, bytes_or_binary_file)`` tuples or binary file objects;
            sent as multipart/form-data parts.
        :param content_urls: http(s) URL(s) Sinch fetches and faxes.
        :param options: Sinch's fax options in snake case: ``from_number``, ``header_text``,
            ``cover_page_id``, ``cover_page_data``, ``labels``, ``callback_url``, ``max_retries``,
            ``resolution``, ... (see ``SEND_OPTIONS``).

        The POST is never repeated on a timeout or a 5xx (Sinch may have created the fax); a 429 is.
        """
        recipients = [to] if isinstance(to, str) else list(to or [])
        if not recipients:
            raise ValueError("to is empty: give at least one E.164 number, e.g. '+14155552671'.")
        for number in recipients:
            validate_number(number)
        urls = [content_urls] if isinstance(content_urls, str) else list(content_urls or [])
        for url in urls:
            validate_content_url(url)
        if not files and not urls:
            raise ValueError("Give files or content_urls: a fax needs at least one document.")
        unknown = sorted(set(options) - set(SEND_OPTIONS))
        if unknown:
            raise ValueError(f"Unknown send_fax option(s) {unknown}; allowed: {sorted(SEND_OPTIONS)}.")
        fields = {SEND_OPTIONS[k]: v for k, v in options.items() if v is not None}
        if "from" in fields:
            validate_number(fields["from"], field="from_number")
        if "resolution" in fields:
            fields["resolution"] = validate_resolution(fields["resolution"])
        opened: list[IO[bytes]] = []
        try:
            parts = _file_parts(files or [], opened)
            if parts and "coverPageData" not in fields:
                body = self._send_multipart(recipients, parts, urls, fields)
            else:
                # JSON: no files, or cover page data, which Sinch documents for JSON only (neither SDK sends it
                # as multipart): the files then go base64-encoded, as Sinch's JSON body takes them.
                payload: dict[str, Any] = {"to": recipients[0] if len(recipients) == 1 else recipients}
                if urls:
                    payload["contentUrl"] = urls[0] if len(urls) == 1 else urls
                if parts:
                    payload["files"] = [
                        encode_file_for_json(_read_all(data), _file_type(name)) for name, data, _ in parts
                    ]
                payload.update(fields)
                body = self.hook.request_json("POST", self.url("faxes"), json=payload)
        finally:
            for fh in opened:
                fh.close()
        return sent_faxes(body)

    def _send_multipart(
        self, recipients: list[str], parts: list[tuple[str, Any, str]], urls: list[str], fields: dict[str, Any]
    ) -> Any:
        data: list[tuple[str, str]] = [("to", number) for number in recipients]
        if urls:
            data.append(("contentUrl", ",".join(urls)))
        for name, value in fields.items():
            if isinstance(value, Mapping):
                data.extend((f"{name}[{k}]", str(v)) for k, v in value.items())
            elif isinstance(value, bool):
                data.append((name, "true" if value else "false"))
            else:
                data.append((name, str(value)))
        return self.hook.request_json("POST", self.url("faxes"), data=data, files=[("file", part) for part in parts])


def encode_file_for_json(content: bytes, file_type: str = "PDF") -> dict[str, str]:
    """A ``files`` item of the JSON send body: base64 content and Sinch's ``fileType``."""
    return {"file": base64.b64encode(content).decode("ascii"), "fileType": file_type.upper()}


def sent_faxes(body: Any) -> list[dict[str, Any]]:
    """The faxes of a send response: ``{"faxes": [...]}`` (two or more recipients), one fax, or a bare list.

    Sinch answers one recipient with a Fax object and several with ``{"faxes": [...]}`` (Node
    ``FaxesApi.send`` reads ``responseData.faxes``; .NET ``SendFaxResponse.Faxes``); a bare list is read
    leniently. Anything else raises :class:`SinchResponseError` naming its shape, never its content.
    """
    if isinstance(body, dict) and "faxes" in body:
        faxes, shape = body["faxes"], "an object whose 'faxes' is"
    elif isinstance(body, dict):
        faxes, shape = [body], "a fax object"
    else:
        faxes, shape = body, "a body that is"
    if not isinstance(faxes, list) or not faxes:
        kind = "an empty list" if isinstance(faxes, list) else f"a JSON {_json_kind(faxes)}"
        raise SinchResponseError(
            f"Sinch answered the send with {shape} {kind}, not the created faxes; check the faxes list before "
            "sending again (the faxes may have been created).",
            status_code=200,
        )
    bad = [index for index, fax in enumerate(faxes) if not isinstance(fax, dict) or not fax.get("id")]
    if bad:
        raise SinchResponseError(
            f"Sinch answered the send with {len(faxes)} item(s), of which {len(bad)} (at {bad[:5]}) are not a fax "
            "with an id; check the faxes list before sending again (the faxes may have been created).",
            status_code=200,
        )
    return faxes


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


_CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
#: Sinch's JSON ``fileType`` for a file name's extension.
_FILE_TYPES = {".pdf": "PDF", ".docx": "DOCX", ".tif": "TIF", ".tiff": "TIF", ".jpg": "JPG", ".jpeg": "JPG",
               ".txt": "TXT", ".html": "HTML", ".htm": "HTML", ".png": "PNG"}  # fmt: skip


def _content_type(name: str) -> str:
    return _CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def _file_type(name: str) -> str:
    return _FILE_TYPES.get(Path(name).suffix.lower(), "PDF")


def _file_parts(files: list[Any], opened: list[IO[bytes]]) -> list[tuple[str, Any, str]]:
    """``(filename, content, content type)`` of each document; files opened here are added to ``opened``."""
    parts: list[tuple[str, Any, str]] = []
    for index, item in enumerate(files):
        if isinstance(item, (str, os.PathLike)):
            opened.append(open(item, "rb"))  # noqa: SIM115 - the caller closes it
            parts.append((Path(item).name, opened[-1], _content_type(str(item))))
        elif isinstance(item, tuple) and len(item) == 2:
            name, content = item
            parts.append((str(name), content, _content_type(str(name))))
        elif hasattr(item, "read"):
            name = Path(getattr(item, "name", f"document-{index}.pdf")).name
            parts.append((name, item, _content_type(name)))
        else:
            raise ValueError(
                f"files[{index}] is a {type(item).__name__}; give a path, (filename, bytes) or a binary file object."
            )
    return parts


def _read_all(content: Any) -> bytes:
    return content.read() if hasattr(content, "read") else bytes(content)


class _HashingWriter:
    """Write chunks to a file and hash them in a second thread, overlapping both with the network reads.

    SHA-256 runs at about the speed of a loopback download, so hashing in the reading thread halves the
    throughput; hashlib and file writes release the GIL. At most ``depth`` chunks wait in between, so
    memory stays bounded. ``size`` counts the bytes handed over; ``close`` waits until they are written
    and raises the writer's error (a full disk, a failed upload part), if any.
    """

    def __init__(self, fh: IO[bytes], depth: int = 4) -> None:
        self.fh = fh
        self.size = 0
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sinch-download-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:  # after an error, drain the queue so write() never blocks forever
                try:
                    self.fh.write(chunk)
                    self._digest.update(chunk)
                except BaseException as exc:
                    self._error = exc

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def _part_file(target: Path) -> tuple[int, str]:
    """Create the temporary file a download is written to, next to ``target``; an OSError names ``destination``."""
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, f"is a folder; give a file path such as {str(target / 'fax.pdf')!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise OSError(exc.errno, f"destination={str(target)!r} cannot be written: {exc.strerror or exc}") from None
