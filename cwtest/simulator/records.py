"""What the simulator saw: typed, immutable records that tests read and assert on.

The server thread appends; a test reads snapshots. Records never hold a credential whole: headers
that carry one are masked as they are recorded, so printing a record, a failure diff or a report
cannot leak the key the workflow used.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

#: Headers whose values are credentials (lower-case, as ASGI delivers them).
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})


def mask(value: str) -> str:
    """At most the first 4 characters and at most a quarter of the value, then an ellipsis."""
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic", "token"):
        return f"{scheme} {mask(rest)}"
    keep = min(4, len(value) // 4)
    return value[:keep] + "…"


def masked_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request headers as a dict, lower-cased names, credentials masked."""
    return {
        name.lower(): mask(value) if name.lower() in SECRET_HEADERS else value for name, value in headers
    }


@dataclass(frozen=True)
class ServiceRequest:
    """A call to ``/run/{service}/{path}`` (or ``/run_async``) as a script function receives it."""

    service: str
    path: str
    method: str
    inputs: Any
    headers: Mapping[str, str]
    has_body: bool
    in_background: bool = False
    request_id: str | None = None
    #: Where the simulator was reached, for answers that hold URLs of its own (images, files).
    base_url: str = ""

    @property
    def correlation_id(self) -> str | None:
        return self.headers.get("x-correlation-id")


@dataclass(frozen=True)
class Call:
    """One service call and what the simulator answered.

    ``status`` is None while a delayed answer is pending and stays None when the connection was
    dropped or the caller gave up first (``client_disconnected``).
    """

    seq: int
    service: str
    path: str
    method: str
    inputs: Any
    headers: Mapping[str, str]
    correlation_id: str | None
    request_id: str | None
    in_background: bool
    variant: str | None = None
    status: int | None = None
    response: Any = None
    latency: float | None = None
    #: The catalog problems that made the answer a 422, one readable line each.
    problems: tuple[str, ...] = ()
    #: Each problem's kind (``renamed``, ``unknown``, ``missing``, ``type``, ``allowed``), in order:
    #: what ties it to the cwlint rule that finds it statically (``validation.LINT_CODES``).
    problem_kinds: tuple[str, ...] = ()
    #: The scripted fault that shaped the answer ("http_error", "delay", "drop", ...), if any.
    fault: str | None = None
    client_disconnected: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Exchange:
    """Any HTTP request the simulator served (protocol endpoints included), for timing and polls."""

    method: str
    path: str
    status: int


class CallLog:
    """Thread-safe log of calls; a call is recorded on arrival and completed in place.

    ``seq`` keeps counting across ``clear()``, so a call still in flight when a test resets the
    log can never overwrite a newer call.
    """

    def __init__(self) -> None:
        self._calls: dict[int, Call] = {}
        self._exchanges: list[Exchange] = []
        self._next = 0
        self._lock = threading.Lock()

    def open(self, request: ServiceRequest) -> Call:
        with self._lock:
            call = Call(
                seq=self._next,
                service=request.service,
                path=request.path,
                method=request.method,
                inputs=request.inputs,
                headers=dict(request.headers),
                correlation_id=request.correlation_id,
                request_id=request.request_id,
                in_background=request.in_background,
            )
            self._next += 1
            self._calls[call.seq] = call
            return call

    def complete(self, call: Call, **changes: Any) -> Call:
        done = replace(call, **changes)
        with self._lock:
            if call.seq in self._calls:
                self._calls[call.seq] = done
        return done

    def exchange(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._exchanges.append(Exchange(method, path, status))

    def calls(self, service: str | None = None, path: str | None = None) -> list[Call]:
        with self._lock:
            snapshot = list(self._calls.values())
        return [
            c for c in snapshot
            if (service is None or c.service == service) and (path is None or c.path == path.strip("/"))
        ]

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._exchanges.clear()

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls())
