"""Request records: provisioned ids, background runs, their results and their logs.

The client provisions an id (``POST /provision-request``), runs with it (``X-Provisioned-Request-Id``
or ``/run_async``), then long-polls ``/result/{id}``, reads ``/request/{id}`` and streams
``/logs/{id}``. The record's JSON uses the runtime's camelCase keys that the docs' TypeScript
examples read (``responseJson``, ``responseStatus``, ``createdAt``).

Waiting is done by polling a thread-safe record, not with asyncio events, so the same runtime
works served by uvicorn in a thread and in-process under any event loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Status = Literal["provisioned", "running", "completed", "failed"]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class RequestRecord:
    request_id: str
    created_at: str
    service: str | None = None
    path: str | None = None
    status: Status = "provisioned"
    in_background: bool = False
    request_json: Any = None
    response_json: Any = None
    response_status: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    def as_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "serviceId": self.service,
            "path": self.path,
            "status": self.status,
            "inBackground": self.in_background,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "requestJson": self.request_json,
            "responseJson": self.response_json,
            "responseStatus": self.response_status,
        }


class RequestStore:
    """All request records of a run; ids are sequential, so a run is repeatable."""

    def __init__(self) -> None:
        self._records: dict[str, RequestRecord] = {}
        self._lock = threading.Lock()
        self._last_stamp = datetime(2000, 1, 1, tzinfo=UTC)

    def _stamp(self) -> str:
        """Now, but strictly after the previous stamp: ``after=`` filtering relies on order."""
        with self._lock:
            now = max(datetime.now(UTC), self._last_stamp + timedelta(microseconds=1))
            self._last_stamp = now
        return _iso(now)

    def provision(self, request_id: str | None = None) -> RequestRecord:
        """A new record, under ``request_id`` when the caller brought its own."""
        created = self._stamp()
        with self._lock:
            record = RequestRecord(request_id=request_id or f"req_sim{len(self._records) + 1:06d}",
                                   created_at=created)
            self._records[record.request_id] = record
        return record

    def get(self, request_id: str) -> RequestRecord | None:
        with self._lock:
            return self._records.get(request_id)

    def attach(self, request_id: str | None, service: str, path: str, inputs: Any, background: bool) -> RequestRecord:
        """The record a run writes to: the one named (created if it is unknown), else a new one."""
        record = self.get(request_id) if request_id else None
        if record is None:
            record = self.provision(request_id)
        started = self._stamp()
        with self._lock:
            record.service, record.path, record.request_json = service, path, inputs
            record.in_background = background
            record.status = "running"
            record.started_at = started
        self.log(record, "info", f"running {service}/{path}")
        return record

    def finish(self, record: RequestRecord, status: int | None, response: Any) -> None:
        ok = status is not None and 200 <= status < 400
        self.log(record, "info" if ok else "error", f"finished with status {status}")
        completed = self._stamp()
        with self._lock:
            record.response_status, record.response_json = status, response
            record.completed_at = completed
            record.status = "completed" if ok else "failed"

    def log(self, record: RequestRecord, level: str, message: str) -> None:
        entry = {"createdAt": self._stamp(), "level": level, "message": message, "requestId": record.request_id}
        with self._lock:
            record.logs.append(entry)

    def logs_after(self, record: RequestRecord, after: str | None) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(record.logs)
        return [e for e in entries if after is None or e["createdAt"] > after]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
