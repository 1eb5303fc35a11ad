"""Thread-safe fax and service state of the simulator, with deterministic seeding.

Faxes are kept sorted by ``createTime`` so range queries are two bisections, even with 100,000
seeded faxes. A fax is a slotted record rendered to the API's JSON shape only when it is read.
"""

from __future__ import annotations

import gc
import hashlib
import random
import threading
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from airflow_provider_sinch.simulator.config import SINCH_TEST_NUMBER, SimulatorConfig
from airflow_provider_sinch.simulator.filters import format_ms, to_ms
from airflow_provider_sinch.simulator.pdf import check_sized_pdf, fax_pdf, iter_bytes, iter_sized_pdf

DIRECTIONS = ("OUTBOUND", "INBOUND")
STATUSES = ("QUEUED", "IN_PROGRESS", "COMPLETED", "FAILURE")
FINAL_STATUSES = ("COMPLETED", "FAILURE")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters

_COUNTRY_PREFIXES = (("+44", "GB"), ("+46", "SE"), ("+49", "DE"), ("+33", "FR"), ("+61", "AU"), ("+1", "US"))
_US_AREA_CODES = (
    "212", "213", "303", "305", "312", "404", "415", "503", "512", "602",
    "617", "646", "702", "713", "718", "720", "773", "808", "858", "917", "206", "202",
)  # fmt: skip
_SEEDED_ERRORS = (
    ("CALL_ERROR", 17, "Busy"),
    ("CALL_ERROR", 16, "Ring Timeout"),
    ("CALL_ERROR", 30, "No answer from a fax machine."),
    ("FAX_ERROR", 6, "There was an error communicating with the far side."),
    ("FAX_ERROR", 48, "No answer (The Receiving Machine May Be Out Of Paper)"),
    ("FAX_ERROR", 131, "Incomplete transmission"),
    ("DOCUMENT_CONVERSION_ERROR", 4, "There was a problem in converting and merging files to the output "
     "file format. Contact support."),
)  # fmt: skip
FAILING_NUMBER_ERROR = ("CALL_ERROR", 17, "Busy")

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
_OUTBOUND_PAGE_PRICE = 0.07
_SERVICE_CREATED_MS = 1_705_311_000_000  # 2024-01-15T09:30:00Z


def make_ulid(ms: int, randomness: int) -> str:
    """Encode a 48-bit millisecond time and 80 random bits as a 26-character ULID."""
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | (randomness & ((1 << 80) - 1))
    return "".join([_CROCKFORD_PAIRS[(value >> shift) & 0x3FF] for shift in range(120, -1, -10)])


def country_of(number: str) -> str | None:
    """ISO 3166-1 alpha-2 country of an E.164 number, for the prefixes the simulator uses."""
    for prefix, country in _COUNTRY_PREFIXES:
        if number.startswith(prefix):
            return country
    return None


class FaxRecord:
    """One fax as stored; ``FaxStore`` renders it to the API's ``Fax`` JSON object."""

    __slots__ = (
        "completed_ms",
        "create_ms",
        "direction",
        "error",
        "extra",
        "file_bytes",
        "file_size",
        "from_number",
        "has_file",
        "id",
        "order_key",
        "pages",
        "pending",
        "price",
        "service_id",
        "status",
        "to_number",
    )

    def __init__(
        self,
        fax_id: str,
        direction: str,
        status: str,
        from_number: str,
        to_number: str,
        create_ms: int,
        pages: int,
        service_id: str,
        order_key: int,
    ) -> None:
        self.id = fax_id
        self.direction = direction
        self.status = status
        self.from_number = from_number
        self.to_number = to_number
        self.create_ms = create_ms
        self.pages = pages
        self.service_id = service_id
        self.order_key = order_key
        self.completed_ms: int | None = None
        self.error: tuple[str, int, str] | None = None
        self.extra: dict[str, Any] | None = None
        self.file_bytes: bytes | None = None
        self.file_size: int | None = None
        self.has_file = True
        self.price: str | None = None
        # (start_ms, duration_ms, final_status) while a sent fax moves through its states.
        self.pending: tuple[int, int, str] | None = None


@dataclass(frozen=True)
class FaxQuery:
    """Filters of ``GET /faxes``; bounds are inclusive epoch milliseconds."""

    lower_ms: int | None = None
    upper_ms: int | None = None
    direction: str | None = None
    status: str | None = None
    to_prefix: str | None = None
    from_prefix: str | None = None
    service_id: str | None = None
    from_country: str | None = None
    to_country: str | None = None


def _now_ms() -> int:
    return int(time.time() * 1000)


class FaxStore:
    """Thread-safe in-memory faxes and services, seeded deterministically from the config.

    Reads return fresh ``dict`` copies in the API's JSON shape (camelCase keys), so callers can
    mutate them freely. Times are stored with millisecond precision, like the real API's output.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._lock = threading.RLock()
        self._times: list[int] = []  # create_ms, parallel to _records, sorted
        self._records: list[FaxRecord] = []
        self._by_id: dict[str, FaxRecord] = {}
        self._pending: set[str] = set()
        self._version = 0
        self._cache: dict[tuple[Any, ...], list[FaxRecord]] = {}
        rng = random.Random(f"{self.config.seed}:project")
        self.project_numbers: tuple[str, ...] = tuple(self._us_number(rng) for _ in range(3))
        created_ms = _SERVICE_CREATED_MS  # fixed, so the service ID depends on the seed only
        self.default_service_id = make_ulid(created_ms, rng.getrandbits(80))
        self._services: dict[str, dict[str, Any]] = {
            self.default_service_id: {
                "id": self.default_service_id,
                "name": "Default service",
                "incomingWebhookUrl": "https://example.com/sinch/incoming-fax",
                "webhookContentType": "multipart/form-data",
                "defaultForProject": True,
                "defaultFrom": self.project_numbers[0],
                "numberOfRetries": 3,
                "retryDelaySeconds": 60,
                "imageConversionMethod": "HALFTONE",
                "saveOutboundFaxDocuments": True,
                "saveInboundFaxDocuments": True,
                "scanIncomingBarcodes": False,
                "inProgressNotifications": False,
                "projectId": self.config.project_id,
                "resolution": "FINE",
                "createdAt": format_ms(created_ms),
                "updatedAt": format_ms(created_ms),
            }
        }
        if self.config.seed_faxes:
            self.seed_faxes(self.config.seed_faxes)

    # ----------------------------------------------------------------- seeding

    @staticmethod
    def _us_number(rng: random.Random) -> str:
        draw = rng.random
        area = _US_AREA_CODES[int(draw() * len(_US_AREA_CODES))]
        return f"+1{area}{200 + int(draw() * 800)}{int(draw() * 10_000):04d}"

    @classmethod
    def _external_number(cls, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.8:
            return cls._us_number(rng)
        digits = int(rng.random() * 10_000_000)
        if roll < 0.86:
            return f"+44207{digits:07d}"
        if roll < 0.91:
            return f"+468{digits:07d}"
        if roll < 0.96:
            return f"+4930{digits + 10_000_000}"
        return f"+331{digits + 40_000_000}"

    def _order_key(self, fax_id: str) -> int:
        digest = hashlib.blake2b(f"{self.config.seed}:{fax_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def seed_faxes(
        self,
        count: int,
        *,
        period_ms: int | None = None,
        end: datetime | None = None,
        seed: int | None = None,
    ) -> None:
        """Add ``count`` seeded faxes spread over the period ending at ``end`` (default: config, now).

        About three in four are INBOUND. Most are COMPLETED, some FAILURE with a documented error,
        and a few IN_PROGRESS in the last minutes (these stay IN_PROGRESS until ``update_fax``).
        Roughly one in forty shares its ``createTime`` with another fax, to exercise window
        boundaries. The same seed, count, period and end give the same faxes.
        """
        if count <= 0:
            return
        # Creating 100k small objects triggers many full GC passes that find nothing to free.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._seed(count, period_ms, end, seed)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _seed(self, count: int, period_ms: int | None, end: datetime | None, seed: int | None) -> None:
        cfg = self.config
        rng = random.Random(cfg.seed if seed is None else seed)
        end_ms = to_ms(end or cfg.seed_end or datetime.now().astimezone())
        span = period_ms if period_ms is not None else int(cfg.seed_period.total_seconds() * 1000)
        recent = 0 if count < 10 else min(5, 2 + count // 20_000)
        draw = rng.random
        span = max(1, span)
        times = sorted(end_ms - int(draw() * span) for _ in range(count - recent))
        # Ties: copy the previous createTime onto about 2.5 % of the faxes.
        for i in range(1, len(times)):
            if draw() < 0.025:
                times[i] = times[i - 1]
        times.extend(end_ms - int(draw() * 300_000) for _ in range(recent))
        project_numbers = self.project_numbers
        service_id = self.default_service_id
        new: list[FaxRecord] = []
        n_own = len(project_numbers)
        for index, create_ms in enumerate(times):
            in_progress = index >= count - recent
            inbound = draw() < 0.75
            external = self._external_number(rng)
            own = project_numbers[int(draw() * n_own)]
            pages = 1 + min(9, int(rng.expovariate(0.45)))
            fax_id = make_ulid(create_ms, rng.getrandbits(80))
            rec = FaxRecord(
                fax_id,
                "INBOUND" if inbound else "OUTBOUND",
                "COMPLETED",
                external if inbound else own,
                own if inbound else external,
                create_ms,
                pages,
                service_id,
                rng.getrandbits(64),
            )
            roll = draw()
            if in_progress:
                rec.status = "IN_PROGRESS"
                rec.has_file = not inbound
            elif roll < 0.08:
                rec.status = "FAILURE"
                rec.error = _SEEDED_ERRORS[int(draw() * len(_SEEDED_ERRORS))]
                rec.completed_ms = create_ms + 20_000 + int(draw() * 160_000)
                rec.has_file = not inbound
                rec.price = "0.0000"
            else:
                rec.completed_ms = create_ms + pages * (15_000 + int(draw() * 30_000))
                rec.has_file = roll > 0.1  # a few with content not kept
                rec.price = self._price(rec)
            new.append(rec)
        with self._lock:
            for rec in new:
                if rec.id in self._by_id:  # practically impossible with 80 random bits
                    continue
                self._by_id[rec.id] = rec
            merged = sorted(
                [*self._records, *(r for r in new if self._by_id[r.id] is r)],
                key=lambda r: r.create_ms,
            )
            self._records = merged
            self._times = [r.create_ms for r in merged]
            self._changed()

    @staticmethod
    def _price(rec: FaxRecord) -> str:
        if rec.direction == "INBOUND" or rec.to_number == SINCH_TEST_NUMBER or rec.status != "COMPLETED":
            return "0.0000"
        return f"{rec.pages * _OUTBOUND_PAGE_PRICE:.4f}"

    # ---------------------------------------------------------------- mutation

    def _changed(self) -> None:
        self._version += 1
        self._cache.clear()

    def _insert(self, rec: FaxRecord) -> None:
        if rec.id in self._by_id:
            raise ValueError(f"fax {rec.id} already exists")
        at = bisect_right(self._times, rec.create_ms)
        self._times.insert(at, rec.create_ms)
        self._records.insert(at, rec)
        self._by_id[rec.id] = rec
        self._changed()

    def _remove_from_index(self, rec: FaxRecord) -> None:
        lo = bisect_left(self._times, rec.create_ms)
        hi = bisect_right(self._times, rec.create_ms)
        for i in range(lo, hi):
            if self._records[i] is rec:
                del self._times[i]
                del self._records[i]
                return

    def add_fax(
        self,
        direction: str = "INBOUND",
        create_time: datetime | None = None,
        status: str = "COMPLETED",
        from_number: str | None = None,
        to_number: str | None = None,
        pages: int = 1,
        file_bytes: bytes | None = None,
        file_size: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a fax and return it as the API renders it.

        :param create_time: aware datetime (naive = UTC), truncated to milliseconds; default now.
        :param file_bytes: the exact content served by the download endpoints.
        :param file_size: serve a generated valid PDF of exactly this many bytes, streamed, never
            held in memory (e.g. ``100 * 1024 * 1024``).
        :param extra: more ``Fax`` fields in API spelling (``labels``, ``serviceId``, ``id``,
            ``hasFile``, ``completedTime``, ``errorType``, ``errorCode``, ``errorMessage``, ...);
            they override what the simulator would render.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        create_ms = to_ms(create_time) if create_time is not None else _now_ms()
        fax_id = str(extra.pop("id", None) or make_ulid(create_ms, random.getrandbits(80)))
        own = self.project_numbers[0]
        default_external = "+14155552222"
        rec = FaxRecord(
            fax_id,
            direction,
            status,
            from_number or (default_external if direction == "INBOUND" else own),
            to_number or (own if direction == "INBOUND" else default_external),
            create_ms,
            max(1, int(pages)),
            str(extra.pop("serviceId", None) or self.default_service_id),
            self._order_key(fax_id),
        )
        if status in FINAL_STATUSES:
            rec.completed_ms = create_ms + 30_000 * rec.pages
            rec.price = self._price(rec)
        if status == "FAILURE":
            rec.error = FAILING_NUMBER_ERROR
        with self._lock:
            self._apply(rec, {"file_bytes": file_bytes, "file_size": file_size, **extra}, creating=True)
            self._insert(rec)
            return self._render(rec)

    def update_fax(self, fax_id: str, **fields: Any) -> dict[str, Any]:
        """Change a stored fax and return it rendered; raises ``KeyError`` for an unknown ID.

        Accepts ``status``, ``direction``, ``from_number``, ``to_number``, ``pages``,
        ``create_time``, ``file_bytes``, ``file_size`` and any ``Fax`` field in API spelling
        (``hasFile``, ``completedTime``, ``errorType``...; ``None`` removes an extra field). Setting
        ``status`` stops the automatic transitions of a sent fax; a final status without a
        ``completedTime`` gets the current time.
        """
        with self._lock:
            self._settle(_now_ms())
            rec = self._by_id[fax_id]
            self._apply(rec, fields, creating=False)
            self._changed()
            return self._render(rec)

    def _apply(self, rec: FaxRecord, fields: dict[str, Any], *, creating: bool) -> None:
        fields = dict(fields)
        if "create_time" in fields and not creating:
            create_ms = to_ms(fields.pop("create_time"))
            self._remove_from_index(rec)
            rec.create_ms = create_ms
            at = bisect_right(self._times, create_ms)
            self._times.insert(at, create_ms)
            self._records.insert(at, rec)
        if "status" in fields:
            status = fields.pop("status")
            if status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}")
            rec.status = status
            rec.pending = None
            self._pending.discard(rec.id)
            if status in FINAL_STATUSES:
                if rec.completed_ms is None:
                    rec.completed_ms = max(_now_ms(), rec.create_ms)
                if status == "FAILURE" and rec.error is None:
                    rec.error = FAILING_NUMBER_ERROR
                if status == "COMPLETED":
                    rec.error = None
                rec.price = self._price(rec)
            else:
                rec.completed_ms = None
                rec.price = None
        if "direction" in fields:
            direction = fields.pop("direction")
            if direction not in DIRECTIONS:
                raise ValueError(f"direction must be one of {DIRECTIONS}")
            rec.direction = direction
        for key, attr in (("from_number", "from_number"), ("to_number", "to_number")):
            if key in fields:
                setattr(rec, attr, fields.pop(key))
        if "pages" in fields:
            rec.pages = max(1, int(fields.pop("pages")))
        if "serviceId" in fields:
            rec.service_id = str(fields.pop("serviceId"))
        file_bytes = fields.pop("file_bytes", None)
        file_size = fields.pop("file_size", None)
        if file_bytes is not None:
            rec.file_bytes, rec.file_size, rec.has_file = bytes(file_bytes), None, True
        elif file_size is not None:
            check_sized_pdf(rec.id, int(file_size))
            rec.file_bytes, rec.file_size, rec.has_file = None, int(file_size), True
        if "hasFile" in fields:
            rec.has_file = bool(fields.pop("hasFile"))
        if "completedTime" in fields:
            value = fields.pop("completedTime")
            if isinstance(value, datetime):
                rec.completed_ms = to_ms(value)
                fields["completedTime"] = None  # drop an earlier verbatim value
            else:
                rec.completed_ms = None
                fields["completedTime"] = value  # a string is rendered verbatim; None removes it
        error_keys = ("errorType", "errorCode", "errorMessage")
        if any(k in fields for k in error_keys):
            current = rec.error or FAILING_NUMBER_ERROR
            values = [fields.pop(k, current[i]) for i, k in enumerate(error_keys)]
            rec.error = None if all(v is None for v in values) else (values[0], values[1], values[2])
        if fields:
            merged = dict(rec.extra or {})
            for key, value in fields.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            rec.extra = merged or None

    def add_sent_fax(
        self,
        *,
        to_number: str,
        from_number: str,
        pages: int,
        service_id: str,
        file_bytes: bytes | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """Create an OUTBOUND fax as ``POST /faxes`` does; it moves through its states over time."""
        now = _now_ms()
        cfg = self.config
        fax_id = make_ulid(now, random.getrandbits(80))
        rec = FaxRecord(
            fax_id, "OUTBOUND", "QUEUED", from_number, to_number, now, pages, service_id, self._order_key(fax_id)
        )
        rec.file_bytes = file_bytes
        rec.has_file = False
        rec.extra = fields or None
        final = "FAILURE" if to_number in cfg.failing_numbers else "COMPLETED"
        rec.pending = (now, int(cfg.transition_seconds * 1000), final)
        with self._lock:
            self._insert(rec)
            self._pending.add(rec.id)
            self._settle(now)
            return self._render(rec)

    def delete_file(self, fax_id: str) -> bool:
        """Drop a fax's content (``DELETE .../file``); ``False`` when the fax is unknown."""
        with self._lock:
            rec = self._by_id.get(fax_id)
            if rec is None:
                return False
            rec.has_file = False
            rec.file_bytes = None
            rec.file_size = None
            self._changed()
            return True

    def clear(self) -> None:
        """Remove every fax (services stay)."""
        with self._lock:
            self._times, self._records, self._by_id = [], [], {}
            self._pending.clear()
            self._changed()

    # ------------------------------------------------------------- transitions

    def _settle(self, now_ms: int) -> None:
        """Advance sent faxes: QUEUED for the first quarter, then IN_PROGRESS, then final."""
        if not self._pending:
            return
        changed = False
        for fax_id in list(self._pending):
            rec = self._by_id.get(fax_id)
            if rec is None or rec.pending is None:
                self._pending.discard(fax_id)
                continue
            start, duration, final = rec.pending
            elapsed = now_ms - start
            if elapsed >= duration:
                rec.status = final
                rec.completed_ms = start + duration
                rec.has_file = True
                rec.error = FAILING_NUMBER_ERROR if final == "FAILURE" else None
                rec.price = self._price(rec)
                rec.pending = None
                self._pending.discard(fax_id)
                changed = True
            elif elapsed >= duration / 4 and rec.status == "QUEUED":
                rec.status = "IN_PROGRESS"
                rec.has_file = True
                changed = True
        if changed:
            self._changed()

    # ------------------------------------------------------------------- reads

    def get(self, fax_id: str) -> dict[str, Any] | None:
        """The fax rendered as the API returns it, or ``None``."""
        with self._lock:
            self._settle(_now_ms())
            rec = self._by_id.get(fax_id)
            return None if rec is None else self._render(rec)

    def all_faxes(self) -> list[dict[str, Any]]:
        """Every fax, oldest first."""
        with self._lock:
            self._settle(_now_ms())
            return [self._render(r) for r in self._records]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def query(self, q: FaxQuery, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """One page (1-based) of the faxes matching ``q`` in list order, and the total count."""
        with self._lock:
            self._settle(_now_ms())
            key = (q, self._version)
            ordered = self._cache.get(key)
            if ordered is None:
                ordered = self._order(self._match(q))
                if len(self._cache) >= 16:
                    self._cache.clear()
                self._cache[key] = ordered
            start = (page - 1) * page_size
            return [self._render(r) for r in ordered[start : start + page_size]], len(ordered)

    def _match(self, q: FaxQuery) -> list[FaxRecord]:
        lo = 0 if q.lower_ms is None else bisect_left(self._times, q.lower_ms)
        hi = len(self._times) if q.upper_ms is None else bisect_right(self._times, q.upper_ms)
        records: Iterable[FaxRecord] = self._records[lo:hi]
        if q.direction is not None:
            records = [r for r in records if r.direction == q.direction]
        if q.status is not None:
            records = [r for r in records if r.status == q.status]
        if q.service_id is not None:
            records = [r for r in records if r.service_id == q.service_id]
        if q.to_prefix:
            to_prefix = q.to_prefix
            records = [r for r in records if r.to_number.startswith(to_prefix)]
        if q.from_prefix:
            from_prefix = q.from_prefix
            records = [r for r in records if r.from_number.startswith(from_prefix)]
        if q.from_country:
            records = [r for r in records if country_of(r.from_number) == q.from_country]
        if q.to_country:
            records = [r for r in records if country_of(r.to_number) == q.to_country]
        return list(records)

    def _order(self, records: list[FaxRecord]) -> list[FaxRecord]:
        if not self.config.shuffle:
            return sorted(records, key=lambda r: (r.create_ms, r.id), reverse=True)
        # A fixed pseudo-random rank per fax: any two faxes keep their relative order in every
        # query, so pages of one query never overlap or skip while the data is unchanged.
        ordered = sorted(records, key=lambda r: (r.order_key, r.id))
        newest_first = all(a.create_ms >= b.create_ms for a, b in pairwise(ordered))
        if len(ordered) > 1 and newest_first and ordered[0].create_ms != ordered[-1].create_ms:
            ordered.append(ordered.pop(0))  # never hand out newest-first by chance
        return ordered

    # --------------------------------------------------------------- services

    def services(self) -> list[dict[str, Any]]:
        """All services of the project."""
        with self._lock:
            return [dict(s) for s in self._services.values()]

    def get_service(self, service_id: str) -> dict[str, Any] | None:
        """One service or ``None``."""
        with self._lock:
            service = self._services.get(service_id)
            return None if service is None else dict(service)

    # ------------------------------------------------------------------- files

    def open_file(self, fax_id: str) -> tuple[int, Iterator[bytes]] | None:
        """``(size, chunks)`` of a fax's content, or ``None`` if the fax or its file is absent."""
        with self._lock:
            self._settle(_now_ms())
            rec = self._by_id.get(fax_id)
            if rec is None or not rec.has_file:
                return None
            if rec.file_size is not None:
                return rec.file_size, iter_sized_pdf(rec.id, rec.file_size)
            data = rec.file_bytes if rec.file_bytes is not None else fax_pdf(rec.id, rec.pages)
            return len(data), iter_bytes(data)

    def file_bytes(self, fax_id: str) -> bytes | None:
        """The whole content of a fax's file (for tests; avoid on huge files)."""
        opened = self.open_file(fax_id)
        return None if opened is None else b"".join(opened[1])

    # --------------------------------------------------------------- rendering

    def _render(self, rec: FaxRecord) -> dict[str, Any]:
        fax: dict[str, Any] = {
            "id": rec.id,
            "direction": rec.direction,
            "from": rec.from_number,
            "to": rec.to_number,
            "numberOfPages": rec.pages,
            "status": rec.status,
            "createTime": format_ms(rec.create_ms),
        }
        if rec.completed_ms is not None:
            fax["completedTime"] = format_ms(rec.completed_ms)
        if rec.price is not None:
            fax["price"] = {"amount": rec.price, "currencyCode": "USD"}
        if rec.direction == "OUTBOUND":
            if rec.status in FINAL_STATUSES:
                fax["pagesSentSuccessfully"] = rec.pages if rec.status == "COMPLETED" else 0
            fax.update(
                headerText="",
                headerPageNumbers=True,
                headerTimeZone="America/New_York",
                retryDelaySeconds=60,
                maxRetries=3,
                retryCount=0,
                imageConversionMethod="HALFTONE",
                resolution="FINE",
            )
        if rec.error is not None and rec.status == "FAILURE":
            fax["errorType"], fax["errorCode"], fax["errorMessage"] = rec.error
        fax["hasFile"] = rec.has_file
        from_country, to_country = country_of(rec.from_number), country_of(rec.to_number)
        if from_country:
            fax["fromCountry"] = from_country
        if to_country:
            fax["toCountry"] = to_country
        fax["projectId"] = self.config.project_id
        fax["serviceId"] = rec.service_id
        if rec.extra:
            fax.update(rec.extra)
        return fax
