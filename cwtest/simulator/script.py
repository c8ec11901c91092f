"""Scripted answers and faults: how a test decides what a service says.

The vocabulary follows respx, which users of httpx already know: a script has a fixed answer
(``respond``, like ``return_value``), or a ``side_effect`` that is either a queue of answers
(``queue``) or a function of the request (``using``). Unlike respx, an exhausted queue or a
function returning None falls back to the fixed answer, and then to the service's own
simulated behaviour, so a test scripts only the calls it cares about.

Faults are answers too: :class:`HttpError`, :class:`Delay`, :class:`Malformed`,
:class:`Unsuccessful` and :class:`DropConnection`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cwtest.simulator.records import ServiceRequest


@dataclass(frozen=True)
class Reply:
    """A normal answer: this JSON with this status."""

    json: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpError:
    """An HTTP error with a JSON ``{"detail": ...}`` body, as the runtime sends them.

    0.4.11 puts ``detail`` into the exception message (``"429: rate limited"``); 0.3.4 uses
    httpx's own message. Statuses below 400 are refused: 3xx behaves differently between the
    client versions (research A6) and is not an error to 0.4.11 at all.
    """

    status: int = 500
    detail: Any = "simulated failure"

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"HttpError status must be 4xx or 5xx, got {self.status}")


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before answering with ``then`` (the normal answer when None).

    Past the client's timeout this is a timeout fault. The wait ends early when the caller
    disconnects, so a test never waits out a delay nobody listens to.
    """

    seconds: float
    then: Answer | None = None


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is not the JSON it claims to be."""

    body: bytes = b'{"response": "truncated'
    content_type: str = "application/json"


@dataclass(frozen=True)
class Unsuccessful:
    """A 200 that reports failure the way library services do: ``{"success": false, ...}``."""

    error: str = "simulated failure"


@dataclass(frozen=True)
class DropConnection:
    """The connection closes in the middle of the answer (the client sees a protocol error)."""


Fault = HttpError | Delay | Malformed | Unsuccessful | DropConnection
Answer = Reply | Fault
#: A script function: the request in, an answer (or a plain JSON dict) or None (no opinion) out.
AnswerFunction = Callable[[ServiceRequest], "Answer | dict[str, Any] | None"]

FAULT_NAMES: dict[type, str] = {
    HttpError: "http_error",
    Delay: "delay",
    Malformed: "malformed",
    Unsuccessful: "unsuccessful",
    DropConnection: "drop",
}


def as_answer(value: Answer | dict[str, Any] | list[Any]) -> Answer:
    """Plain JSON is shorthand for a 200 :class:`Reply`."""
    if isinstance(value, (Reply, HttpError, Delay, Malformed, Unsuccessful, DropConnection)):
        return value
    return Reply(value)


class ServiceScript:
    """What one service (optionally one path of it) answers; see the module docstring."""

    def __init__(self, service: str, path: str | None) -> None:
        self.service = service
        self.path = path
        self._fixed: Answer | None = None
        self._queue: deque[Answer] = deque()
        self._function: AnswerFunction | None = None
        self._lock = threading.Lock()

    def respond(self, json: Any = None, *, status: int = 200, answer: Answer | None = None) -> ServiceScript:
        """Answer every call with this JSON (or this answer object, a fault included)."""
        with self._lock:
            self._fixed = answer if answer is not None else Reply(json, status)
        return self

    def fail(self, fault: Fault) -> ServiceScript:
        """Answer every call with a fault."""
        return self.respond(answer=fault)

    def queue(self, *answers: Answer | dict[str, Any]) -> ServiceScript:
        """Answer the next calls with these, one each, in order; then fall back."""
        with self._lock:
            self._queue.extend(as_answer(a) for a in answers)
        return self

    def using(self, function: AnswerFunction) -> ServiceScript:
        """Ask ``function`` for every answer; None from it means "fall back"."""
        with self._lock:
            self._function = function
        return self

    def reset(self) -> None:
        with self._lock:
            self._fixed, self._function = None, None
            self._queue.clear()

    def snapshot(self) -> tuple[Answer | None, AnswerFunction | None, tuple[Answer, ...]]:
        """The script's whole state, for :meth:`restore`: a tool that scripts a fault for a while
        (``cwtest.fuzz``) puts a test's own script back afterwards."""
        with self._lock:
            return self._fixed, self._function, tuple(self._queue)

    def restore(self, state: tuple[Answer | None, AnswerFunction | None, tuple[Answer, ...]]) -> None:
        with self._lock:
            self._fixed, self._function = state[0], state[1]
            self._queue = deque(state[2])

    @property
    def pending(self) -> int:
        """How many queued answers are still unused."""
        return len(self._queue)

    def next_answer(self, request: ServiceRequest) -> Answer | None:
        """The scripted answer for this request, or None to use the simulated behaviour."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            function, fixed = self._function, self._fixed
        if function is not None:
            produced = function(request)
            if produced is not None:
                return as_answer(produced)
        return fixed


class Scripts:
    """All scripts of one runtime, found by service and, more specifically, by path."""

    def __init__(self) -> None:
        self._scripts: dict[tuple[str, str | None], ServiceScript] = {}
        self._lock = threading.Lock()

    def get(self, service: str, path: str | None = None) -> ServiceScript:
        key = (service, None if path is None else path.strip("/"))
        with self._lock:
            if key not in self._scripts:
                self._scripts[key] = ServiceScript(*key)
            return self._scripts[key]

    def scripted(self, service: str) -> bool:
        with self._lock:
            return any(s == service for s, _ in self._scripts)

    def answer_for(self, request: ServiceRequest) -> Answer | None:
        with self._lock:
            by_path = self._scripts.get((request.service, request.path))
            by_service = self._scripts.get((request.service, None))
        for script in (by_path, by_service):
            if script is not None:
                answer = script.next_answer(request)
                if answer is not None:
                    return answer
        return None

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
