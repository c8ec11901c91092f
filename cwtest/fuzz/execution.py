"""One request sent, and what the faults check keeps of it.

``Execution`` is a request with its answer, the service calls it made and what the classifier
made of them; ``remember`` keeps, per service endpoint, the first valid request that reached it
(a ``Representative``), which the faults check sends again with a fault injected. The engine runs
the checks and the search (``cwtest.fuzz.search``) explores; both use these, so they live below
both (no import cycle between the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cwtest.fuzz.classify import Observation
from cwtest.results import Request, Response
from cwtest.simulator.records import Call


@dataclass(frozen=True)
class Representative:
    """The first valid request that reached a service endpoint: the faults check sends it again."""

    request: Request
    call: Call
    #: Hypothesis' choice sequence for it (None: the smoke call's request, minimal already).
    choices: tuple[Any, ...] | None
    #: Set when the request failed after this call (a finding's place, ``file:line``, or its kind):
    #: its calls are replayed under faults only when no valid request succeeded (issue 17: the first
    #: failure must not hide what the faults find in the calls before it).
    failed_at: str | None = None


Representatives = dict[tuple[str, str], Representative]


@dataclass
class Execution:
    """One request sent: what it was, what came back, the calls it made, and what that means."""

    request: Request
    response: Response
    calls: list[Call]
    observations: list[Observation] = field(default_factory=list)
    #: A failure of this request passed through a stand-in (not a finding; not a representative).
    blocked: bool = False


class TargetStopped(Exception):
    """The target can take no more requests (its workflow hung or died): the run ends there."""


#: Findings of a request that still answered as it meant to: it can stand for its calls in the faults check.
ANSWERED = ("swallowed-exception", "blocking-call", "background-exception")


def remember(representatives: Representatives, execution: Execution, choices: tuple[Any, ...] | None) -> None:
    """Keep the first valid request that reached each service endpoint: the faults check replays it.

    A request that failed (a finding; not a stand-in, a hang or a death) is kept too, marked with
    where it failed (``failed_at``), for the endpoints its calls reached before the failure; a
    request that succeeded replaces it."""
    if execution.blocked or execution.response.status is None:
        return
    # a swallowed exception, a blocked loop or a failed background task left the answer as it was:
    # the request still succeeded for the faults check
    failures = [o for o in execution.observations if o.kind not in ANSWERED]
    failed = bool(failures) or execution.response.status >= 500
    failed_at = None
    if failed:
        first = failures[0] if failures else None
        failed_at = (first.location or first.kind) if first is not None else f"a {execution.response.status} answer"
    for call in execution.calls:
        if call.status is None or call.status >= 400:
            continue
        key = (call.service, call.path)
        existing = representatives.get(key)
        if existing is None or (existing.failed_at is not None and not failed):
            representatives[key] = Representative(execution.request, call, choices, failed_at)
