"""The simulated runtime's HTTP protocol, as an ASGI app (Starlette, not FastAPI).

Routes are those the real ``codewords-client`` calls (research A3, G). Starlette rather than
FastAPI on purpose: ``import codewords_client`` patches ``FastAPI.__init__`` in the whole process
(research A8), adding middleware and exception handlers; a simulator built on FastAPI would
answer differently in a process that imported the client. Starlette is not patched.

A service call is answered in this order, and recorded whatever the outcome:

1. authentication (401), then the catalog: unknown service (404, or the unknown-service
   handler), unknown path (404), inputs that break the contract (422 naming the key);
2. the test's script for the service, if it has an answer;
3. the service's simulated behaviour, whose answer is checked against the catalog's schema.

Errors use ``{"detail": ...}`` like the runtime, plus the vendor's own error shape on the routes
that vendor SDKs call, so that an SDK raises its usual exception with a readable message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cwlint.catalog import Service, Variant
from cwtest.simulator.background import RequestRecord
from cwtest.simulator.records import Call, ServiceRequest, masked_headers
from cwtest.simulator.script import (
    FAULT_NAMES,
    Answer,
    Delay,
    DropConnection,
    HttpError,
    Malformed,
    Reply,
    Unsuccessful,
    as_answer,
)
from cwtest.simulator.services import behaviour_for
from cwtest.simulator.streaming import stream_of
from cwtest.simulator.validation import Problem, check_inputs, unknown_path_message, unknown_service_message

if TYPE_CHECKING:
    from cwtest.simulator.runtime import SimulatedRuntime

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: The longest a long poll (``/result``) or a log stream is held open, like the client's 110 s.
MAX_WAIT = 110.0
POLL_INTERVAL = 0.02


class ConnectionDropped(Exception):
    """Raised after a partial answer so that the server closes the connection mid-response."""


class _DropFilter(logging.Filter):
    """Keeps uvicorn from logging a deliberately dropped connection as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


logging.getLogger("uvicorn.error").addFilter(_DropFilter())


class DroppedResponse(Response):
    """Starts a 200 that promises more body than it sends, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"response": "', "more_body": True})
        raise ConnectionDropped("cwtest: connection dropped on purpose (DropConnection)")


# --- error bodies in the style of the route ----------------------------------------------------

_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
                    429: "rate_limit_error", 529: "overloaded_error"}


#: The answer header that marks cwtest's stand-ins (``cwtest.harness.child.outbound.STANDIN_HEADER``).
STANDIN_HEADER = "x-cwtest-standin"


def error_style(service: Service | None, variant: Variant | None) -> str:
    """``runtime`` (``{"detail"}``) or the vendor whose SDK calls this route."""
    if variant is None or variant.format != "vendor":
        return "runtime"
    if variant.path.endswith("messages"):
        return "anthropic"
    if variant.path.endswith("scrape"):
        return "firecrawl"
    if variant.path.endswith("mcp"):
        return "jsonrpc"
    return "openai"


def error_body(style: str, status: int, detail: Any, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    message = detail if isinstance(detail, str) else json.dumps(detail)
    if style == "openai":
        body["error"] = {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                         "param": None, "code": None}
    elif style == "anthropic":
        body["type"] = "error"
        body["error"] = {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}
    elif style == "firecrawl":
        body["success"] = False
        body["error"] = message
    elif style == "jsonrpc":
        # An MCP client reads a JSON-RPC error from a non-2xx JSON body (id unknown at this level).
        body.update(jsonrpc="2.0", id=None, error={"code": -32600 if status < 500 else -32603, "message": message})
    return body


# --- the answer to one service call --------------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    """An answer and where it came from, before it is turned into HTTP."""

    answer: Answer
    style: str
    variant: Variant | None
    service: Service | None
    problems: tuple[Problem, ...] = ()
    #: True when the answer came from the service's behaviour (and so must fit the schema).
    simulated: bool = False
    #: True when the answer came from the test's script (so a fault in it is an injected one).
    scripted: bool = False
    #: For the 404 of a service or path the catalog lacks: ``<service> <path>``.
    gap: str = ""

    @property
    def fault(self) -> str | None:
        return FAULT_NAMES.get(type(self.answer)) if self.scripted else None

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(p.message for p in self.problems)


class ServiceCalls:
    """Resolves, renders and records service calls for one runtime."""

    def __init__(self, runtime: SimulatedRuntime) -> None:
        self.runtime = runtime
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}

    async def resolve(self, request: ServiceRequest) -> Resolved:
        runtime = self.runtime
        service = runtime.catalog.get(request.service)
        if service is None:
            scripted = runtime.scripts.answer_for(request)
            if scripted is not None:
                return Resolved(scripted, "runtime", None, None, scripted=True)
            handled = runtime.on_unknown_service(request) if runtime.on_unknown_service else None
            if handled is not None:
                return Resolved(as_answer(handled), "runtime", None, None, scripted=True)
            return Resolved(HttpError(404, unknown_service_message(request.service, runtime.catalog)),
                            "runtime", None, None, gap=f"{request.service} {request.path}".strip())
        variant = service.variant(request.path, request.has_body)
        if variant is None:
            scripted = runtime.scripts.answer_for(request)
            if scripted is not None:
                return Resolved(scripted, "runtime", None, service, scripted=True)
            return Resolved(HttpError(404, unknown_path_message(service, request.path, request.has_body)),
                            "runtime", None, service, gap=f"{service.id} {request.path}".strip())
        style = error_style(service, variant)
        problems = check_inputs(service, variant, request.inputs)
        if problems:
            detail = "\n".join(p.message for p in problems)
            return Resolved(HttpError(422, detail), style, variant, service, tuple(problems))
        scripted = runtime.scripts.answer_for(request)
        if scripted is not None:
            return Resolved(scripted, style, variant, service, scripted=True)
        return await self.simulate(request, service, variant, style)

    async def simulate(self, request: ServiceRequest, service: Service, variant: Variant, style: str) -> Resolved:
        answer = await behaviour_for(service, variant)(request, service, variant, self.runtime.context)
        return Resolved(answer, style, variant, service, simulated=True)

    def check_answer(self, resolved: Resolved, body: Any) -> str | None:
        """A simulator bug, if a simulated answer breaks the catalog's response schema."""
        variant, service = resolved.variant, resolved.service
        if not resolved.simulated or variant is None or service is None or variant.response is None:
            return None
        if body is None and isinstance(resolved.answer, Reply) and resolved.answer.status in (202, 204):
            return None  # an answer without a body (an MCP notification accepted) has no shape to check
        key = (service.id, variant.name)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator(variant.response.json_schema)
        error = next(iter(self._validators[key].iter_errors(body)), None)
        return None if error is None else f"{service.id}/{variant.name}: {error.message}"

    def render(self, resolved: Resolved, inputs: Any = None) -> tuple[int | None, Any, Response]:
        """Status, recorded body and the HTTP response of an answer that is not a Delay.

        ``inputs`` are the request's: a vendor call with ``stream: true`` gets its 200 answer as
        server-sent events (the record keeps the whole answer).
        """
        answer = resolved.answer
        if isinstance(answer, Reply):
            bug = self.check_answer(resolved, answer.json)
            if bug is not None:
                body = error_body("runtime", 500, f"cwtest simulator bug: its answer breaks the catalog: {bug}")
                return 500, body, JSONResponse(body, 500)
            if answer.json is None and answer.status in (202, 204):
                return answer.status, None, Response(status_code=answer.status, headers=dict(answer.headers))
            events = stream_of(resolved.variant, inputs, answer.json) if answer.status == 200 else None
            if events is not None:
                return 200, answer.json, StreamingResponse(events, media_type="text/event-stream",
                                                           headers=dict(answer.headers))
            return answer.status, answer.json, JSONResponse(answer.json, answer.status, headers=dict(answer.headers))
        if isinstance(answer, HttpError):
            errors = [p.as_error() for p in resolved.problems] or None
            body = error_body(resolved.style, answer.status, answer.detail, errors)
            headers = {}
            if resolved.gap:
                # a service or path the catalog lacks: cwtest stands in here, and a failure that
                # passes through this answer (its exception carries the response) is not the workflow's
                headers[STANDIN_HEADER] = f"gap {resolved.gap}"
            return answer.status, body, JSONResponse(body, answer.status, headers=headers)
        if isinstance(answer, Unsuccessful):
            body = {"success": False, "error": answer.error}
            return 200, body, JSONResponse(body)
        if isinstance(answer, Malformed):
            text = answer.body.decode("utf-8", "replace")
            return 200, text, Response(answer.body, 200, media_type=answer.content_type)
        if isinstance(answer, DropConnection):
            return None, None, DroppedResponse()
        raise TypeError(f"not an answer: {answer!r}")

    async def run_recorded(self, request: ServiceRequest, call: Call) -> tuple[int | None, Any]:
        """Resolve, wait out any delay and record a call nobody holds a connection for.

        For background runs and the calls a service makes on another's behalf (devx_mcp's
        ``discover_library_services``); a dropped connection is recorded as a 502.
        """
        started = time.perf_counter()
        resolved, wait = await self.settle(request, await self.resolve(request))
        if wait:
            await asyncio.sleep(wait)
        fault = "delay" if wait else resolved.fault
        status: int | None
        if isinstance(resolved.answer, DropConnection):
            status, body = 502, {"detail": "the connection to the service dropped"}
        else:
            status, body, _ = self.render(resolved)
        self.runtime.log.complete(call, status=status, response=body, latency=time.perf_counter() - started,
                                  problems=resolved.messages, fault=fault, variant=_name(resolved.variant),
                                  problem_kinds=tuple(p.kind for p in resolved.problems))
        return status, body

    async def execute(self, parent: ServiceRequest, service: str, inputs: Any) -> tuple[int | None, Any]:
        """A call of ``service`` (its root path) made for ``parent``, recorded like any other."""
        request = ServiceRequest(service=service, path="", method="POST", inputs=inputs, headers=parent.headers,
                                 has_body=inputs is not None, base_url=parent.base_url)
        return await self.run_recorded(request, self.runtime.log.open(request))

    async def settle(self, request: ServiceRequest, resolved: Resolved) -> tuple[Resolved, float]:
        """Unwrap a Delay into what follows it; returns the seconds to wait first."""
        answer, wait = resolved.answer, 0.0
        while isinstance(answer, Delay):
            wait += answer.seconds
            if answer.then is not None:
                answer = answer.then
            elif resolved.service is not None and resolved.variant is not None:
                simulated = await self.simulate(request, resolved.service, resolved.variant, resolved.style)
                return replace(simulated, scripted=resolved.scripted), wait
            else:
                answer = HttpError(404, unknown_service_message(request.service, self.runtime.catalog))
        return replace(resolved, answer=answer), wait


# --- HTTP handlers -----------------------------------------------------------------------------

def _key_of(request: Request, allow_x_api_key: bool) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        return auth[7:].strip() if auth.lower().startswith("bearer ") else auth.strip()
    if allow_x_api_key:
        return request.headers.get("x-api-key")
    return None


def build_app(runtime: SimulatedRuntime) -> Starlette:
    """The ASGI app of one runtime: serve it with uvicorn, or call it in-process."""
    calls = ServiceCalls(runtime)
    runtime.context.execute = calls.execute

    def unauthorized(request: Request, style: str, allow_x_api_key: bool) -> Response | None:
        key = _key_of(request, allow_x_api_key)
        if key is not None and secrets.compare_digest(key.encode(), runtime.api_key.encode()):
            return None
        how = "Authorization: <key> or Bearer <key>" + (", or x-api-key" if allow_x_api_key else "")
        detail = f"missing API key: send {how}" if key is None else "invalid API key"
        return JSONResponse(error_body(style, 401, detail), 401)

    def exchange(request: Request, response: Response) -> Response:
        runtime.log.exchange(request.method, request.url.path, response.status_code)
        return response

    async def service_request(request: Request, in_background: bool, request_id: str | None) -> tuple[ServiceRequest, Response | None]:
        service_id = request.path_params["service_id"]
        path = request.path_params.get("path", "").strip("/")
        raw = b"" if request.method == "GET" else await request.body()
        inputs: Any = None
        problem: Response | None = None
        if raw:
            try:
                inputs = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                inputs = raw.decode("utf-8", "replace")
                problem = JSONResponse({"detail": f"the request body is not JSON: {exc}"}, 400)
        sreq = ServiceRequest(
            service=service_id, path=path, method=request.method, inputs=inputs,
            headers=masked_headers(request.headers.items()), has_body=bool(raw),
            in_background=in_background, request_id=request_id, base_url=str(request.base_url).rstrip("/"),
        )
        return sreq, problem

    def vendor_route(service_id: str, path: str, has_body: bool) -> tuple[str, bool]:
        service = runtime.catalog.get(service_id)
        variant = service.variant(path.strip("/"), has_body) if service else None
        style = error_style(service, variant)
        # Anthropic's SDK and Composio's (which the client points at run/composio with the
        # CodeWords key as its api_key) both send the key as x-api-key.
        return style, style == "anthropic" or service_id == "composio"

    async def run(request: Request) -> Response:
        path = request.path_params.get("path", "")
        style, allow_x = vendor_route(request.path_params["service_id"], path, request.method != "GET")
        denied = unauthorized(request, style, allow_x)
        if denied is not None:
            return exchange(request, denied)
        provisioned = request.headers.get("x-provisioned-request-id")
        sreq, problem = await service_request(request, False, provisioned)
        call = runtime.log.open(sreq)
        record = runtime.requests.attach(provisioned, sreq.service, sreq.path, sreq.inputs, False) if provisioned else None
        started = time.perf_counter()
        if problem is not None:
            runtime.log.complete(call, status=400, response=json.loads(bytes(problem.body)), latency=0.0)
            return exchange(request, problem)
        resolved = await calls.resolve(sreq)
        resolved, wait = await calls.settle(sreq, resolved)
        fault = "delay" if wait else resolved.fault
        if wait:
            # Recorded before the wait, so a test sees the pending call while the client times out.
            call = runtime.log.complete(call, fault=fault, variant=_name(resolved.variant))
            if await _wait_unless_disconnected(request, wait):
                runtime.log.complete(call, latency=time.perf_counter() - started, fault=fault,
                                     client_disconnected=True, variant=_name(resolved.variant))
                if record is not None:
                    runtime.requests.finish(record, None, None)
                return exchange(request, Response(status_code=499))
        status, body, response = calls.render(resolved, sreq.inputs)
        runtime.log.complete(call, status=status, response=body, latency=time.perf_counter() - started,
                             problems=resolved.messages, fault=fault, variant=_name(resolved.variant),
                                  problem_kinds=tuple(p.kind for p in resolved.problems))
        if record is not None:
            runtime.requests.finish(record, status, body)
        return exchange(request, response)

    async def run_async(request: Request) -> Response:
        denied = unauthorized(request, "runtime", False)
        if denied is not None:
            return exchange(request, denied)
        provisioned = request.headers.get("x-provisioned-request-id")
        sreq, problem = await service_request(request, True, None)
        if problem is not None:
            return exchange(request, problem)
        if runtime.catalog.get(sreq.service) is None and not runtime.scripts.scripted(sreq.service) \
                and runtime.on_unknown_service is None:
            body = {"detail": unknown_service_message(sreq.service, runtime.catalog)}
            return exchange(request, JSONResponse(body, 404))
        record = runtime.requests.attach(provisioned, sreq.service, sreq.path, sreq.inputs, True)
        sreq = replace(sreq, request_id=record.request_id)
        call = runtime.log.open(sreq)
        runtime.background(_run_in_background(sreq, call, record))
        return exchange(request, JSONResponse({"request_id": record.request_id}))

    async def _run_in_background(sreq: ServiceRequest, call: Call, record: RequestRecord) -> None:
        status, body = await calls.run_recorded(sreq, call)
        runtime.requests.finish(record, status, body)

    async def provision(request: Request) -> Response:
        denied = unauthorized(request, "runtime", False)
        if denied is not None:
            return exchange(request, denied)
        return exchange(request, JSONResponse({"request_id": runtime.requests.provision().request_id}))

    def known_record(request: Request) -> RequestRecord | Response:
        denied = unauthorized(request, "runtime", False)
        if denied is not None:
            return denied
        record = runtime.requests.get(request.path_params["request_id"])
        if record is None:
            return JSONResponse({"detail": f'no request "{request.path_params["request_id"]}"'}, 404)
        return record

    async def result(request: Request) -> Response:
        record = known_record(request)
        if isinstance(record, Response):
            return exchange(request, record)
        try:
            timeout = min(float(request.query_params.get("timeout", "0")), MAX_WAIT)
        except ValueError:
            return exchange(request, JSONResponse({"detail": "timeout must be a number of seconds"}, 400))
        deadline = time.monotonic() + timeout
        while not record.finished and time.monotonic() < deadline:
            if await request.is_disconnected():
                return exchange(request, Response(status_code=499))
            await asyncio.sleep(POLL_INTERVAL)
        if not record.finished:
            body = {"detail": f"request {record.request_id} is still {record.status}"}
            return exchange(request, JSONResponse(body, 408))
        return exchange(request, JSONResponse(record.as_json()))

    async def details(request: Request) -> Response:
        record = known_record(request)
        if isinstance(record, Response):
            return exchange(request, record)
        return exchange(request, JSONResponse(record.as_json()))

    async def logs(request: Request) -> Response:
        record = known_record(request)
        if isinstance(record, Response):
            return exchange(request, record)

        async def lines() -> AsyncIterator[bytes]:
            after = request.query_params.get("after")
            deadline = time.monotonic() + MAX_WAIT
            while time.monotonic() < deadline:
                finished = record.finished
                for entry in runtime.requests.logs_after(record, after):
                    after = entry["createdAt"]
                    yield (json.dumps(entry) + "\n").encode()
                if finished or await request.is_disconnected():
                    return
                await asyncio.sleep(POLL_INTERVAL)

        return exchange(request, StreamingResponse(lines(), media_type="application/x-ndjson"))

    async def create_upload(request: Request) -> Response:
        denied = unauthorized(request, "runtime", False)
        if denied is not None:
            return exchange(request, denied)
        filename = request.query_params.get("filename")
        if not filename:
            return exchange(request, JSONResponse({"detail": "filename is required (?filename=NAME)"}, 400))
        slot = runtime.files.reserve(filename)
        base = str(request.base_url).rstrip("/")
        download = f"{base}/files/{slot.token}/{quote(filename)}"
        return exchange(request, JSONResponse({"upload_uri": f"{download}?signature={slot.signature}",
                                               "download_uri": download, "upload_headers": slot.headers}))

    async def file(request: Request) -> Response:
        token, filename = request.path_params["token"], request.path_params["filename"]
        if request.method == "PUT":
            content = await request.body()
            refused = runtime.files.upload(token, request.query_params.get("signature", ""), content,
                                           masked_headers(request.headers.items()))
            if refused is not None:
                return exchange(request, JSONResponse({"detail": refused}, 403))
            return exchange(request, Response(status_code=200))
        stored = runtime.files.download(token, filename)
        if stored is None:
            return exchange(request, JSONResponse({"detail": "no such file"}, 404))
        content, media = stored
        return exchange(request, Response(content, media_type=media))

    async def index(request: Request) -> Response:
        return JSONResponse({"service": "cwtest simulated CodeWords runtime",
                             "services": runtime.catalog.ids})

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/provision-request", provision, methods=["POST"]),
        Route("/run/{service_id}", run, methods=ALL_METHODS),
        Route("/run/{service_id}/{path:path}", run, methods=ALL_METHODS),
        Route("/run_async/{service_id}", run_async, methods=["POST"]),
        Route("/run_async/{service_id}/{path:path}", run_async, methods=["POST"]),
        Route("/result/{request_id}", result, methods=["GET"]),
        Route("/request/{request_id}", details, methods=["GET"]),
        Route("/logs/{request_id}", logs, methods=["GET"]),
        Route("/file", create_upload, methods=["POST"]),
        Route("/files/{token}/{filename:path}", file, methods=["GET", "PUT"]),
    ]
    return Starlette(routes=routes)


def _name(variant: Variant | None) -> str | None:
    return variant.name if variant is not None else None


async def _wait_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep ``seconds``; True if the caller hung up first (a timed-out client)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return False
