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
  passed on from a service call that answered 5xx; under ``faults`` a 5xx is the expected
  reaction (the workflow answered a deliberate error: passed);
* **attribution follows the cause**: a failure that passed through one of cwtest's stand-ins is
  never a finding. An exception whose chain holds a stand-in (an outbound request nobody answered,
  a catalog gap, a placeholder env value), or whose frames hold the line of an unanswered request,
  and any failure of a request whose body cwtest guessed or after a free-text LLM answer to a
  prompt that asks for another shape; and a 5xx without an exception (a deliberate error answer)
  in a request where cwtest stood in for anything: ``stats.block`` records the stand-in, and the
  engine makes the route inconclusive with the step that unblocks it;
* a 2xx whose body breaks the documented response model is ``response-model`` (``smoke``,
  ``fuzz``, ``faults``); an ``invalid`` request accepted with a 2xx is counted, not reported:
  custom types and validators make the document looser than the app;
* every service call the simulator refused (422) is ``service-contract``, with the key it named,
  when the ``contract`` check is on; a call to an endpoint the catalog lacks (its 404) is a note.

Each :class:`Observation` carries the signature failures are deduplicated by: exception type and
workflow line; route and status; route and schema path; service, path and key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwtest.openapi import Route, response_problem_detail
from cwtest.results import ExceptionInfo, Request, Response, RouteStats, StandIn, display_path
from cwtest.simulator.records import Call

#: Observation kinds, most telling first: the first one of a request is the one a search chases.
PRIORITY = ("unhandled-exception", "memory", "timeout", "crash", "no-response", "server-error",
            "background-exception", "swallowed-exception", "response-model", "blocking-call", "service-contract")
#: Blocks that happen once in a run, whatever the workflow does per request: building an SSL context
#: (cwtest shares them per configuration; ~80 ms each), importing a module. Not findings.
WARMUPS = ("ssl.py:", "<frozen importlib._bootstrap", "importlib/__init__.py:")
#: A thread being started (an executor's first worker, ``asyncio.to_thread``): the loop thread waits
#: for it to run, which a busy machine can make long; a cost per worker, not a blocking call.
THREAD_START = re.compile(r"threading\.py:\d+ in start$|concurrent/futures/thread\.py:\d+ in _adjust_thread_count$")
#: cwtest's own files: in-process, the simulator answers on the workflow's loop.
CWTEST_DIR = str(Path(__file__).resolve().parents[1]) + os.sep
#: What a broad ``except`` must not swallow: programming errors, not a failing service's errors
#: (a ``JSONDecodeError`` only on an LLM's text: see ``programming_error``).
PROGRAMMING_ERRORS = ("NameError", "TypeError", "AttributeError", "KeyError", "IndexError", "UnboundLocalError",
                      "pydantic.ValidationError", "pydantic_core.ValidationError")


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
    #: A ``blocking-call``'s block, in milliseconds (the report gives the longest seen).
    milliseconds: int = 0


@dataclass(frozen=True)
class Judge:
    """What :func:`classify` needs beyond the request: the document and the run's options."""

    document: dict[str, Any]
    checks: frozenset[str]
    tolerated: tuple[str, ...]
    client_packages: tuple[str, ...]
    #: The simulator's catalog: which answers are guesses (``shape_known = false``).
    catalog: Any = None

    def classify(self, route: Route, check: str, request: Request, response: Response, calls: list[Call],
                 fault: str | None, stats: RouteStats) -> list[Observation]:
        """The observations for one request, most telling first; notes go to ``stats``."""
        found: list[Observation] = []
        standins = request_standins(request, response, calls, self.catalog)
        if check == "smoke" or check in self.checks:
            found += self._answer(route, check, request, response, calls, fault, stats, standins)
        elif response.stopped is not None:  # a hang or a death is a finding whatever the check
            found += [o for o in self._answer(route, check, request, response, calls, fault, stats, standins)
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
                fault: str | None, stats: RouteStats, standins: list[StandIn]) -> list[Observation]:
        found: list[Observation] = []
        status = response.status
        for exc in response.exceptions:
            if check == "faults" and self.is_clients_own(exc):
                stats.tolerate(fault, exc)
                continue
            cause = passed_through(exc, standins)
            if cause is not None:
                stats.block(check, cause)
                continue
            where = exc.location or (f"{exc.frames[-1].file}:{exc.frames[-1].line}" if exc.frames else "?")
            kind = "memory" if exc.type.endswith("MemoryError") else "unhandled-exception"
            message = f"{exc.type}: {exc.message}"
            if exc.phase is not None and kind != "memory":
                kind = "background-exception"
                work = "a BackgroundTasks function" if exc.phase == "background" else "a task the request started"
                message = f"{exc.type} in {work}, after the {status} answer: {exc.message}"
            found.append(Observation(kind, ("exception", exc.type, where), message, exc,
                                     location=exc.location,
                                     stack=tuple(f"{f.file}:{f.line} in {f.function}" for f in exc.frames)))
        if status is not None and 200 <= status < 300 and check in ("smoke", "fuzz"):
            found += self._swallowed(route, check, response, calls, stats, standins)
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
            elif standins:  # a deliberate error answer after cwtest stood in for something
                stats.block(check, standins[0])
            else:
                found.append(Observation("server-error", ("server-error", route.name, str(status)),
                                         f"{route.name} answered {status}: {excerpt(response)}"))
        if check == "invalid" and status is not None and 200 <= status < 300:
            stats.accepted_invalid += 1
            if request.defect:
                stats.accepted_defects.add(request.defect)
        for block in response.blocks:
            if block.cwtest or any(line.startswith(CWTEST_DIR) for line in block.stack):
                stats.notes_once(f"{check}: the event loop was held {block.milliseconds} ms in cwtest's own code (its "
                                 f"routing of an outbound request, or the in-process simulator); not a finding")
                continue
            warmup = next((marker for marker in WARMUPS if any(marker in line for line in block.stack)), None)
            if warmup is None and any(THREAD_START.search(line) for line in block.stack):
                warmup = "a thread's start"
            if warmup is not None:
                stats.notes_once(f"{check}: {display_path(block.location)} held the event loop {block.milliseconds} ms "
                                 f"in {warmup} (a warm-up: an SSL context, which cwtest shares; a module imported "
                                 f"once; a worker thread started); not a finding")
                continue
            if block.location is None:
                stats.notes_once(f"{check}: the event loop was held {block.milliseconds} ms in {block.call} with no "
                                 f"frame of the workflow's on the stack; not a finding")
                continue
            found.append(Observation("blocking-call", ("blocking-call", route.name, block.location),
                                     f"{route.name} held the event loop {block.milliseconds} ms in `{block.source}`"
                                     + (f" ({block.call})" if block.call != block.source else ""),
                                     location=block.location, stack=block.stack, milliseconds=block.milliseconds))
        if response.pending:
            stats.notes_once(f"{check}: {response.pending} task(s) a request started still ran when cwtest stopped "
                             f"waiting for them (the request's deadline); not judged")
        if check in ("smoke", "fuzz", "faults"):
            problem = response_problem_detail(self.document, route.method, route.template, status, response.body,
                                              response.text)
            if problem is not None:
                path, rule, message = problem
                found.append(Observation("response-model", ("response-model", route.name, path, rule),
                                         f"the {status} body breaks the response model at {message}"))
        return found

    def _swallowed(self, route: Route, check: str, response: Response, calls: list[Call], stats: RouteStats,
                   standins: list[StandIn]) -> list[Observation]:
        """Programming errors a broad ``except`` of the workflow swallowed while the request got a 2xx;
        a record the workflow logged at WARNING or above without one is a note."""
        found = []
        for exc in response.swallowed:
            if not programming_error(exc, calls):
                continue
            cause = passed_through(exc, standins)
            if cause is not None:
                stats.notes_once(f"{check}: a {exc.type} caught at {display_path(exc.caught)} passed through cwtest's "
                                 f"stand-in ({cause.kind}: {cause.detail}); not a finding")
                continue
            caught = display_path(exc.caught)
            if exc.location and exc.caught and exc.location.rsplit(":", 1)[0] == exc.caught.rsplit(":", 1)[0]:
                caught = "line " + exc.caught.rsplit(":", 1)[1]
            text = exc.message if len(exc.message) <= 80 else exc.message[:77] + "..."
            # the report adds where it was raised (``location``); the engine, on how many requests
            message = (f"{exc.type}: {text} (swallowed: caught by `{exc.clause}` at {caught}; {route.name} "
                       f"answered {response.status})")
            found.append(Observation("swallowed-exception", ("swallowed", exc.type, exc.location or "?",
                                                             exc.caught or "?"), message, exc,
                                     location=exc.location,
                                     stack=tuple(f"{f.file}:{f.line} in {f.function}" for f in exc.frames)))
        if not found and response.logs:
            stats.notes_once(f"{check}: the workflow logged {response.logs[0]} while answering "
                             f"{response.status} (no exception was caught: a note, not a finding)")
        return found

    def is_clients_own(self, exc: ExceptionInfo) -> bool:
        """The client's own error propagating under a fault: tolerated, or raised inside a call to
        the client library (its package is among those the exception passed through below the
        workflow's frames, or holds the innermost frame)."""
        if any(exc.is_a(name) for name in self.tolerated):
            return True
        if any(name.endswith(".APIError") for name in exc.mro):  # a vendor SDK's own error (every Stainless
            return True                                          # SDK: perplexity, groq, composio_client...)
        if any(package in exc.via for package in self.client_packages):
            return True
        if not exc.frames:
            return False
        parts = exc.frames[-1].file.replace("\\", "/").split("/")
        return any(package in parts for package in self.client_packages)


def programming_error(exc: ExceptionInfo, calls: list[Call]) -> bool:
    """One of ``PROGRAMMING_ERRORS``, or a ``JSONDecodeError`` on an LLM's text (its document is in
    the answer of an LLM call of the request)."""
    if any(exc.is_a(name) for name in PROGRAMMING_ERRORS):
        return True
    if exc.is_a("json.JSONDecodeError") and exc.doc:
        head = exc.doc.strip()[:80]
        return bool(head) and any(_llm_call(call) and any(head in text for text in _strings(call.response))
                                  for call in calls)
    return False


def _strings(value: Any, depth: int = 0) -> list[str]:
    """Every string in a JSON value (an LLM's text is one, somewhere in its answer)."""
    if isinstance(value, str):
        return [value]
    if depth > 8:
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v, depth + 1)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, depth + 1)]
    return []


def _llm_call(call: Call) -> bool:
    return (call.path == "" and isinstance(call.inputs, dict) and "prompt" in call.inputs) or \
        call.path.endswith(("chat/completions", "messages", "responses", "generateContent"))


def request_standins(request: Request, response: Response, calls: list[Call], catalog: Any = None) -> list[StandIn]:
    """What cwtest stood in for during one request: the target's (outbound requests and connections
    nobody answered), a guessed body, catalog gaps, free-text LLM answers and answers of a shape the
    catalog does not know among its calls."""
    found = list(response.standins)
    if request.guessed:
        found.insert(0, StandIn("guessed-body", request.guessed))
    for call in calls:
        where = f"{call.service}{' ' + call.path if call.path else ''}"
        if _unknown_endpoint(call):
            found.append(StandIn("gap", f"{call.service} {call.path}".strip()))
        elif free_text_answer(call):
            found.append(StandIn("free-text", where))
        elif guessed_answer(call, catalog):
            found.append(StandIn("guessed-answer", where))
    return found


def guessed_answer(call: Call, catalog: Any) -> bool:
    """A simulated answer from a schema that says nothing of what a caller reads (``shape_known =
    false``), as opposed to a scripted or a faulted one."""
    if catalog is None or call.status is None or not 200 <= call.status < 300 or call.fault or not call.variant:
        return False
    service = catalog.get(call.service)
    variant = next((v for v in service.variants if v.name == call.variant), None) if service else None
    return bool(variant is not None and variant.response is not None and not variant.response.shape_known)


def passed_through(exc: ExceptionInfo, standins: list[StandIn]) -> StandIn | None:
    """The stand-in an escaped exception passed through, or None: one in its chain; an unanswered
    request made at one of its frames' lines; a guessed body or a free-text LLM answer in its request."""
    if exc.standins:  # the missing server or answer first: a placeholder in its message is its symptom
        order = {"egress": 0, "gap": 1, "placeholder": 2}
        return sorted(exc.standins, key=lambda s: order.get(s.kind, 3))[0]
    lines = {f"{frame.file}:{frame.line}" for frame in exc.frames}
    for standin in standins:
        if standin.kind == "egress" and standin.location and standin.location in lines:
            return standin
    return next((s for s in standins if s.kind in ("guessed-body", "free-text", "gap", "guessed-answer")), None)


_JSON_WORDS = ("json", "key", "field", "format")


def free_text_answer(call: Call) -> bool:
    """An LLM call answered in free text (no schema cwtest could fit: no ``response_format`` schema,
    tools or ``example_output``) to a prompt that asks for a shape (it mentions JSON)."""
    inputs = call.inputs
    if not isinstance(inputs, dict) or call.status is None or call.status >= 400 or call.fault:
        return False
    if call.path == "" and "prompt" in inputs:
        if inputs.get("example_output") is not None:
            return False
        text = str(inputs.get("prompt", ""))
    elif call.path.endswith(("chat/completions", "messages", "responses")):
        fmt = inputs.get("response_format") or (inputs.get("text") or {}).get("format") or {}
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema" or inputs.get("tools") \
                or inputs.get("functions"):
            return False
        parts = [inputs.get("system"), inputs.get("input"), inputs.get("instructions")]
        parts += [m.get("content") for m in inputs.get("messages") or [] if isinstance(m, dict)]
        text = " ".join(str(p) for p in parts if p)
    else:
        return False
    return "json" in text.lower()


def contract_problems(call: Call) -> list[tuple[str, str]]:
    """(key, message) for each catalog problem the simulator found in a call (its 422)."""
    if not call.problems:
        return []
    where = f"{call.service}/{call.path}" if call.path else call.service
    errors = call.response.get("errors") if isinstance(call.response, dict) else None
    out = []
    if isinstance(errors, list) and len(errors) == len(call.problems):
        for error, message in zip(errors, call.problems, strict=True):
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
