"""The outside world of a workflow: who answers its requests to anything but the simulated runtime.

A workflow's outbound requests never leave the sandbox. The child forwards each one (httpx,
requests, urllib, aiohttp; ``cwtest.harness.child.outbound``) to the parent, where one
``OutsideWorld`` per workflow decides, in this order:

1. a **mock** (``mock_external(prefix, response)``, ``--mock-external``): the longest URL prefix
   wins; each prefix counts its hits (the report shows one line per prefix);
2. a **cassette** (``cwtest.cassette``): a recorded answer for the same method and URL;
3. in a **recording** run (``cwtest record``), the request is performed from the parent (the
   sandbox still has no network) and its answer written to the cassette;
4. else it is **refused**: the workflow's client raises its own connection error, as with no
   network. A refused request is information (egress), never a finding; a failure it causes is
   inconclusive, never the workflow's bug.

The policy lives here, in the trusted parent: the child only carries requests and answers. The
in-process fuzz target asks the same object directly (``cwtest.fuzz.routing``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cwtest.harness.child.outbound import ANSWER_HEADER, CLIENT_HEADER, URL_HEADER, find_mock

if TYPE_CHECKING:
    from cwtest.cassette import Cassette

__all__ = ["ExternalResponse", "OutsideAnswer", "OutsideRequest", "OutsideWorld", "external_response", "outside_app"]


@dataclass(frozen=True)
class ExternalResponse:
    """What an intercepted outbound request is answered with (``mock_external``)."""

    status: int = 200
    json: Any = None
    text: str | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        """The body's bytes and the headers (with a content type for JSON and text)."""
        headers = dict(self.headers)
        if self.content is not None:
            return self.content, headers
        if self.text is not None:
            headers.setdefault("content-type", "text/plain; charset=utf-8")
            return self.text.encode(), headers
        headers.setdefault("content-type", "application/json")
        return json.dumps(self.json).encode(), headers


def external_response(response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes) -> ExternalResponse:
    """A dict or list is a 200 JSON body, a str a text body, bytes a raw body."""
    if isinstance(response, ExternalResponse):
        return response
    if isinstance(response, bytes):
        return ExternalResponse(content=response)
    if isinstance(response, str):
        return ExternalResponse(text=response)
    return ExternalResponse(json=response)


@dataclass(frozen=True)
class OutsideRequest:
    """One outbound request as the child forwarded it."""

    client: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class OutsideAnswer:
    """An answer to an outbound request, and who gave it: ``mock``, ``cassette`` or ``recorded``."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    source: str
    reason: str = ""


@dataclass(frozen=True)
class _Mock:
    url: str
    method: str | None
    response: ExternalResponse


class OutsideWorld:
    """Answers a workflow's outbound requests: mocks, then a cassette, then (recording) the network."""

    def __init__(self, *, cassette: Cassette | None = None,
                 perform: Callable[[OutsideRequest], OutsideAnswer] | None = None) -> None:
        self._mocks: list[_Mock] = []
        self.cassette = cassette
        #: In a recording run: performs a request for real (from the parent) and returns its answer.
        self.perform = perform
        #: URL prefix -> how many requests its mock answered.
        self.mock_hits: dict[str, int] = {}
        self._lock = threading.Lock()

    def mock(self, url: str, response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes,
             method: str | None = None) -> None:
        with self._lock:
            self._mocks.append(_Mock(url, method, external_response(response)))

    @property
    def mocks(self) -> list[tuple[str, str | None, ExternalResponse]]:
        return [(m.url, m.method, m.response) for m in self._mocks]

    def answer(self, request: OutsideRequest) -> OutsideAnswer | None:
        """The answer to ``request``, or None: refused (the client raises its connection error)."""
        with self._lock:
            mock = find_mock(self._mocks, request.method, request.url)
            if mock is not None:
                self.mock_hits[mock.url] = self.mock_hits.get(mock.url, 0) + 1
        if mock is not None:
            body, headers = mock.response.encoded()
            return OutsideAnswer(mock.response.status, tuple(headers.items()), body, "mock")
        if self.cassette is not None:
            found = self.cassette.play(request)
            if found is not None:
                return found
        if self.perform is not None:
            answer = self.perform(request)
            if self.cassette is not None:
                self.cassette.record(request, answer)
            return answer
        return None


async def http_body(scope: dict[str, Any], receive: Any, send: Any) -> bytes | None:
    """An ASGI app's common start: answer the lifespan protocol (None), or read a request's whole
    body (``b""`` when it has none); None too for any other scope."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return None
    if scope["type"] != "http":
        return None
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def outside_app(world: OutsideWorld) -> Any:
    """The ASGI app the parent serves on ``ctl/outside.sock``: the child's forwarded requests in,
    ``world``'s answers out (``x-cwtest-answer``: who answered, ``refused`` when nobody did)."""
    import asyncio

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await http_body(scope, receive, send)
        if body is None:
            return
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        url = next((v for k, v in raw if k == URL_HEADER), "")
        client = next((v for k, v in raw if k == CLIENT_HEADER), "")
        headers = tuple((k, v) for k, v in raw if k not in (URL_HEADER, CLIENT_HEADER, "content-length"))
        request = OutsideRequest(client, scope["method"], url, headers, body)
        try:
            answer = await asyncio.to_thread(world.answer, request)
        except Exception as exc:  # noqa: BLE001 - a recording that failed: the workflow sees a refusal
            answer = None
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = "nothing answers it"
        if answer is None:
            payload = json.dumps({"detail": error}).encode()
            await send({"type": "http.response.start", "status": 502, "headers": [
                (b"content-type", b"application/json"), (ANSWER_HEADER.encode(), b"refused"),
                (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        out = [(k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in answer.headers
               if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", ANSWER_HEADER)]
        out += [(ANSWER_HEADER.encode(), answer.source.encode()), (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})

    return app
