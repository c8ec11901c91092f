"""Judging one request: what its answer and the service calls it made mean.

The smoke call and every request of the search go through :func:`classify`, so a rule about
answers lives in one place. For the request's check (``smoke``, ``fuzz``, ``invalid``,
``faults``), in order of how telling they are:

* an exception that escaped the workflow is ``unhandled-exception`` (``memory`` for a
  ``MemoryError``), unless the check is ``faults`` and it is the client's own error propagating
  unchanged (``tolerated``: ``httpx.HTTPError``, the vendor SDKs' ``APIError``, requests' errors;
  or one raised by the client library's own code, ``client_packages``);
* no answer: ``timeout`` when the workflow hung (the target stopped it), ``crash`` when it died
  (both reported whichever check sent the request: the workflow cannot answer any more), else
  ``no-response``;
* a 5xx without an escaped exception is ``server-error``, except (notes, not findings) one
  passed on from a service call that answered 5xx, or cwtest's own 599 for an outbound request it
  did not send; under ``faults`` a 5xx is the expected reaction;
* a 2xx whose body breaks the documented response model is ``response-model`` (``smoke``,
  ``fuzz``, ``faults``); an ``invalid`` request accepted with a 2xx is counted, not reported:
  custom types and validators make the document looser than the app;
* every service call the simulator refused (422) is ``service-contract``, with the key it named,
  when the ``contract`` check is on; a call to an endpoint the catalog lacks (its 404) is a note.

Each :class:`Observation` carries the signature failures are deduplicated by: exception type and
workflow line; route and status; route and schema path; service, path and key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cwtest.openapi import Route, response_problem_detail
from cwtest.outbound import unsent_outbound
from cwtest.results import ExceptionInfo, Request, Response, RouteStats
from cwtest.simulator.records import Call

#: Observation kinds, most telling first: the first one of a request is the one a search chases.
PRIORITY = ("unhandled-exception", "memory", "timeout", "crash", "no-response", "server-error", "response-model",
            "service-contract")


@dataclass(frozen=True)
class Observation:
    """One way one request failed a check, with the signature failures are deduplicated by."""

    kind: str
    signature: tuple[str, ...]
    message: str
    exception: ExceptionInfo | None = None
    key: str | None = None
    location: str | None = None
    stack: tuple[str, ...] = ()


@dataclass(frozen=True)
class Judge:
    """What :func:`classify` needs beyond the request: the document and the run's options."""

    document: dict[str, Any]
    checks: frozenset[str]
    tolerated: tuple[str, ...]
    client_packages: tuple[str, ...]

    def classify(self, route: Route, check: str, request: Request, response: Response, calls: list[Call],
                 fault: str | None, stats: RouteStats) -> list[Observation]:
        """The observations for one request, most telling first; notes go to ``stats``."""
        found: list[Observation] = []
        if check == "smoke" or check in self.checks:
            found += self._answer(route, check, request, response, calls, fault, stats)
        elif response.stopped is not None:  # a hang or a death is a finding whatever the check
            found += [o for o in self._answer(route, check, request, response, calls, fault, stats)
                      if o.kind in ("timeout", "crash")]
        for call in calls:
            unknown = _unknown_endpoint(call)
            if unknown:
                stats.notes_once(f"{call.service}{'/' + call.path if call.path else ''}: the simulator does not "
                                 f"know this endpoint ({unknown}), so it answered 404 and the code past that call "
                                 f"did not run; script an answer (runtime.script) to go further")
        if "contract" in self.checks:
            for call in calls:
                for key, message in contract_problems(call):
                    found.append(Observation("service-contract", ("service-contract", call.service, call.path, key),
                                             message, key=key))
        found.sort(key=lambda o: PRIORITY.index(o.kind))
        return found

    def _answer(self, route: Route, check: str, request: Request, response: Response, calls: list[Call],
                fault: str | None, stats: RouteStats) -> list[Observation]:
        found: list[Observation] = []
        for exc in response.exceptions:
            if check == "faults" and self.is_clients_own(exc):
                stats.tolerate(fault, exc)
                continue
            where = exc.location or (f"{exc.frames[-1].file}:{exc.frames[-1].line}" if exc.frames else "?")
            kind = "memory" if exc.type.endswith("MemoryError") else "unhandled-exception"
            found.append(Observation(kind, ("exception", exc.type, where), f"{exc.type}: {exc.message}", exc,
                                     location=exc.location,
                                     stack=tuple(f"{f.file}:{f.line} in {f.function}" for f in exc.frames)))
        status = response.status
        if status is None and not response.exceptions:
            if response.stopped == "hung":
                found.append(Observation("timeout", ("timeout", route.name), response.error or "the workflow hung",
                                         location=response.location, stack=tuple(response.stack)))
            elif response.stopped == "died":
                found.append(Observation("crash", ("crash", route.name), response.error or "the workflow died"))
            else:
                found.append(Observation("no-response", ("no-response", route.name),
                                         f"no answer: {response.error or 'the connection broke'}"))
        elif status is not None and status >= 500 and not response.exceptions and check != "faults":
            upstream = [c for c in calls if c.status is not None and c.status >= 500]
            if upstream:
                stats.notes_once(f"{check}: {status} passed on from {upstream[0].service} (answered "
                                 f"{upstream[0].status}); not a finding")
            elif unsent_outbound(status, excerpt(response)):
                stats.notes_once(f"{check}: {status} passed on from an outbound request cwtest did not send "
                                 f"(see the outbound-http finding); not a finding")
            else:
                found.append(Observation("server-error", ("server-error", route.name, str(status)),
                                         f"{route.name} answered {status}: {excerpt(response)}"))
        if check == "invalid" and status is not None and 200 <= status < 300:
            stats.accepted_invalid += 1
            if request.defect:
                stats.accepted_defects.add(request.defect)
        if check in ("smoke", "fuzz", "faults"):
            problem = response_problem_detail(self.document, route.method, route.template, status, response.body,
                                              response.text)
            if problem is not None:
                path, rule, message = problem
                found.append(Observation("response-model", ("response-model", route.name, path, rule),
                                         f"the {status} body breaks the response model at {message}"))
        return found

    def is_clients_own(self, exc: ExceptionInfo) -> bool:
        """The client's own error propagating under a fault: tolerated, or raised inside a call to
        the client library (its package is among those the exception passed through below the
        workflow's frames, or holds the innermost frame)."""
        if any(exc.is_a(name) for name in self.tolerated):
            return True
        if any(package in exc.via for package in self.client_packages):
            return True
        if not exc.frames:
            return False
        parts = exc.frames[-1].file.replace("\\", "/").split("/")
        return any(package in parts for package in self.client_packages)


def contract_problems(call: Call) -> list[tuple[str, str]]:
    """(key, message) for each catalog problem the simulator found in a call (its 422)."""
    if not call.problems:
        return []
    where = f"{call.service}/{call.path}" if call.path else call.service
    errors = call.response.get("errors") if isinstance(call.response, dict) else None
    out = []
    if isinstance(errors, list) and len(errors) == len(call.problems):
        for error, message in zip(errors, call.problems):
            loc = error.get("loc") if isinstance(error, dict) else None
            key = ".".join(str(p) for p in loc) if loc else _quoted_key(message)
            out.append((key, f"{where}: {message}"))
        return out
    return [(_quoted_key(m), f"{where}: {m}") for m in call.problems]


def _unknown_endpoint(call: Call) -> str | None:
    """The simulator's 404 for a service or path its catalog lacks (not a contract break: a gap)."""
    if call.status != 404 or not isinstance(call.response, dict):
        return None
    detail = str(call.response.get("detail", ""))
    return detail if " has no path " in detail or detail.startswith("no service ") else None


def _quoted_key(message: str) -> str:
    start = message.find('"')
    end = message.find('"', start + 1)
    return message[start + 1:end] if 0 <= start < end else message[:40]


def excerpt(response: Response, limit: int = 300) -> str:
    """The answer's ``detail`` or text, on one line, cut at ``limit`` characters."""
    body = response.body
    if isinstance(body, dict) and "detail" in body:
        body = body["detail"]
    text = body if isinstance(body, str) else (response.text or "")
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."
