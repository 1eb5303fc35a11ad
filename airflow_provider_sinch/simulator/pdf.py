"""Small valid PDFs, generated on demand, and PDFs of an exact size streamed in chunks.

Seeded faxes carry no stored content: their PDF is rebuilt from the fax ID on each download, so
100,000 seeded faxes cost no memory for files. Large files (``file_size``) are streamed from a fixed
pseudo-random block, so a 100 MB fax never sits in memory either.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_FILLER_END = b"\nendstream\nendobj\n"
_CHUNK = 256 * 1024


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf_parts(lines_per_page: Sequence[Sequence[str]], filler_len: int) -> tuple[bytes, bytes]:
    """Return the bytes before and after an optional filler stream of ``filler_len`` bytes.

    ``prefix + filler + suffix`` is a complete PDF whose cross-reference table points at the right
    offsets; with ``filler_len == 0`` there is no filler object and ``suffix`` holds the tail.
    """
    n_pages = len(lines_per_page)
    font_obj = 3 + 2 * n_pages
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(lines_per_page):
        content_obj = 4 + 2 * i
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 {font_obj} 0 R >> >> /Contents {content_obj} 0 R >>"
            ).encode()
        )
        ops = ["BT", "/F1 16 Tf", "72 720 Td"]
        for j, line in enumerate(lines):
            if j:
                ops.append("0 -24 Td")
            ops.append(f"({_escape(line)}) Tj")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1", "replace")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")

    out = bytearray(_HEADER)
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    if filler_len:
        offsets.append(len(out))
        out += b"%d 0 obj\n<< /Length %d >>\nstream\n" % (len(objects) + 1, filler_len)
        suffix = bytearray(_FILLER_END)
        xref_at = len(out) + filler_len + len(_FILLER_END)
    else:
        suffix = bytearray()
        xref_at = len(out)
    count = len(offsets) + 1
    suffix += b"xref\n0 %d\n0000000000 65535 f \n" % count
    for offset in offsets:
        suffix += b"%010d 00000 n \n" % offset
    suffix += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref_at)
    return bytes(out), bytes(suffix)


def fax_pdf(fax_id: str, pages: int) -> bytes:
    """Build a small valid PDF with ``pages`` pages (at least one) that names the fax."""
    pages = max(1, pages)
    lines = [[f"Sinch Fax API simulator - fax {fax_id}", f"Page {i + 1} of {pages}"] for i in range(pages)]
    prefix, suffix = _pdf_parts(lines, 0)
    return prefix + suffix


@lru_cache(maxsize=1)
def _filler_block() -> bytes:
    # Incompressible and deterministic, like scanned page images.
    return hashlib.shake_256(b"sinch-fax-simulator filler").digest(_CHUNK)


def _sized_parts(fax_id: str, size: int) -> tuple[bytes, int, bytes]:
    lines = [[f"Sinch Fax API simulator - fax {fax_id}", f"File of {size} bytes"]]
    filler = max(1, size - sum(map(len, _pdf_parts(lines, 1))))
    for _ in range(8):
        prefix, suffix = _pdf_parts(lines, filler)
        missing = size - (len(prefix) + filler + len(suffix))
        if missing == 0:
            return prefix, filler, suffix
        filler += missing
        if filler < 1:
            break
    raise ValueError(f"file_size {size} is too small for a valid PDF (minimum {min_sized_pdf(fax_id)})")


def min_sized_pdf(fax_id: str) -> int:
    """Smallest ``file_size`` accepted for a generated file of the given fax."""
    lines = [[f"Sinch Fax API simulator - fax {fax_id}", "File of 1000 bytes"]]
    return sum(map(len, _pdf_parts(lines, 1))) + 1


def check_sized_pdf(fax_id: str, size: int) -> None:
    """Raise ``ValueError`` when no valid PDF of exactly ``size`` bytes can be generated."""
    _sized_parts(fax_id, size)


def iter_sized_pdf(fax_id: str, size: int, chunk_size: int = _CHUNK) -> Iterator[bytes]:
    """Yield a valid PDF of exactly ``size`` bytes in chunks, without building it in memory."""
    prefix, filler, suffix = _sized_parts(fax_id, size)
    yield prefix
    block = _filler_block()
    step = min(chunk_size, len(block))
    while filler > 0:
        n = min(step, filler)
        yield block[:n]
        filler -= n
    yield suffix


def iter_bytes(data: bytes, chunk_size: int = _CHUNK) -> Iterator[bytes]:
    """Yield ``data`` in chunks of at most ``chunk_size`` bytes."""
    view = memoryview(data)
    for start in range(0, len(data), chunk_size):
        yield bytes(view[start : start + chunk_size])


def count_pdf_pages(data: bytes) -> int:
    """Count pages in a PDF the cheap way (``/Type /Page`` objects); at least 1."""
    count = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    count += data.count(b"/Type/Page") - data.count(b"/Type/Pages")
    return max(1, count)
