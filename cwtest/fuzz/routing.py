"""httpx routed for the in-process targets, by the sandboxed child's own code.

While at least one ``InProcessTarget`` is open, ``cwtest.harness.child.outbound.install_httpx``
patches httpx's transports with ``ROUTER``: a request for a target's runtime host goes to that
target's ``runtime.app`` (over ASGI; a sync client's through an event loop in a thread of its
own), every other request is answered by the targets' outside worlds (``cwtest.outbound``) or
refused with ``httpx.ConnectError``, exactly as in the sandbox. The last target to close puts
httpx back. (requests, urllib and aiohttp are routed in the sandbox only: patching them in the
test process would change them for everything else it runs.)
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import httpx

from cwtest.harness.child import outbound, stacks
from cwtest.outbound import OutsideRequest
from cwtest.results import StandIn

if TYPE_CHECKING:
    from cwtest.fuzz.target import InProcessTarget


class _Runtime:
    """The answerer ``outbound.install_httpx`` asks for one target's runtime requests."""

    def __init__(self, router: _Router, target: InProcessTarget) -> None:
        self.router = router
        self.target = target

    @property
    def workflow(self) -> str | None:
        """The workflow's file: the line of each runtime request is found in its frames."""
        return str(self.target.workflow_file) if self.target.workflow_file else None

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return await self.target._to_runtime(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self.router.bridge_loop().run(self.target._to_runtime(request))


class _Router:
    """Routes httpx while at least one target is open (``outbound.install_httpx``), by runtime host.

    An outbound request cannot say which open target made it: it is answered by the mocks of all
    of them and recorded on each (one target is open at a time in practice).
    """

    def __init__(self) -> None:
        self.targets: dict[str, InProcessTarget] = {}
        self.lock = threading.Lock()
        self.patch: outbound.Patch | None = None
        self.bridge: _BridgeLoop | None = None

    def add(self, target: InProcessTarget) -> None:
        with self.lock:
            self.targets[target.runtime_host] = target
            if self.patch is None:
                self.patch = outbound.install_httpx(httpx, self)

    def remove(self, target: InProcessTarget) -> None:
        with self.lock:
            self.targets.pop(target.runtime_host, None)
            if not self.targets and self.patch is not None:
                self.patch.uninstall()
                self.patch = None
                if self.bridge is not None:
                    self.bridge.stop()
                    self.bridge = None

    def bridge_loop(self) -> _BridgeLoop:
        with self.lock:
            if self.bridge is None:
                self.bridge = _BridgeLoop()
            return self.bridge

    # --- what outbound.install_httpx asks -------------------------------------------------------

    def runtime(self, request: httpx.Request) -> _Runtime | None:
        target = self.targets.get(request.url.host)
        return _Runtime(self, target) if target is not None else None

    def runtime_hosts(self) -> tuple[str, ...]:
        return tuple(self.targets)

    def outside(self, client: str, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
                frames: list[Any]) -> Any:
        request = OutsideRequest(client, method, url, tuple(headers), body)
        answer = None
        for target in list(self.targets.values()):
            answer = target.world.answer(request)
            if answer is not None:
                break
        where = stacks.location(stacks.trim(frames), next(iter(self.targets.values())).workflow_file
                                if self.targets else None)
        outbound._where.location = where
        for target in list(self.targets.values()):
            target.external.append({"method": method, "url": url,
                                    "answer": answer.source if answer is not None else "refused"})
            if answer is None:
                target._standins.append(StandIn("egress", f"{method} {url}", where))
        if answer is None:
            return None
        return (answer.status, answer.reason, list(answer.headers), answer.body, answer.source)

    async def outside_async(self, *args: Any) -> Any:
        return self.outside(*args)


class _BridgeLoop:
    """An event loop in a thread of its own, for sync httpx clients calling the in-process runtime."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cwtest-fuzz-bridge", daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)


#: The one router of this process (httpx is patched once, for every open target).
ROUTER = _Router()
