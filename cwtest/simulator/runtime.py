"""``SimulatedRuntime``: one simulated CodeWords runtime, its state, its scripts and its records.

This is the object tests hold. It is an ASGI app (``runtime.app``) for in-process use, and a
context manager that serves that app on a free loopback port::

    with SimulatedRuntime(connected_apps={"slack"}) as runtime:
        env = runtime.env()          # CODEWORDS_RUNTIME_URI, CODEWORDS_API_KEY (and RUNTIME_URI)
        ...run the workflow with env...
        [call] = runtime.calls("pipedream")

Everything a run accumulates (calls, request records, files, key-value store, Redis keys,
scripts, pages) belongs to the runtime; ``reset()`` empties it between two tests.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from cwlint.catalog import Catalog, default_catalog
from cwtest.simulator.app import build_app
from cwtest.simulator.background import RequestStore
from cwtest.simulator.mcp import ToolScript, ToolScripts
from cwtest.simulator.records import Call, CallLog, Exchange, ServiceRequest
from cwtest.simulator.redis_server import RedisCredentials, RedisServer, RedisViolation
from cwtest.simulator.script import Answer, Scripts, ServiceScript
from cwtest.simulator.server import ServerThread
from cwtest.simulator.services import ServiceContext
from cwtest.simulator.state import FileStore, KeyValueStore, Pages, Upload

#: Decides what a service id the catalog does not know answers; None means "not found" (404).
UnknownServiceHandler = Callable[[ServiceRequest], "Answer | dict[str, Any] | None"]


def new_api_key() -> str:
    """A throwaway key that no secret scanner mistakes for a real ``cwk-`` key."""
    return f"cwtest-{secrets.token_hex(16)}"


class SimulatedRuntime:
    """A simulated CodeWords runtime; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        seed: int = 0,
        connected_apps: Iterable[str] = (),
        catalog: Catalog | None = None,
        on_unknown_service: UnknownServiceHandler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        legacy_uploads: bool = True,
    ) -> None:
        self.api_key = api_key or new_api_key()
        self.seed = seed
        self.connected_apps = frozenset(a.strip().lower() for a in connected_apps if a.strip())
        self.catalog = catalog or default_catalog()
        self.on_unknown_service = on_unknown_service
        self.pages = Pages(seed)
        self.kv = KeyValueStore(clock)
        #: ``legacy_uploads=False`` refuses a PUT that ignores ``upload_headers`` (0.3.4's), as a
        #: platform that no longer signs the legacy headers would.
        self.files = FileStore(accept_legacy=legacy_uploads)
        self.scripts = Scripts()
        self.tools = ToolScripts()
        self.log = CallLog()
        self.requests = RequestStore()
        self.namespace = f"cwtest:{secrets.token_hex(4)}"
        self._redis = RedisServer()
        self._redis_credentials: RedisCredentials | None = None
        self._redis_lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.context = ServiceContext(
            seed=seed, pages=self.pages, kv=self.kv, connected_apps=self.connected_apps,
            redis_credentials=self.redis_credentials, store_file=self._store_file,
            catalog=self.catalog, tools=self.tools,
        )
        #: The ASGI app: serve it, or call it in-process with ``httpx.ASGITransport``.
        self.app = build_app(self)
        self._server = ServerThread(self.app, host, port)

    # --- serving ---------------------------------------------------------------------------

    def start(self) -> SimulatedRuntime:
        """Serve on the loopback port (a free one by default); returns self."""
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._redis.stop()
        self._redis_credentials = None

    def __enter__(self) -> SimulatedRuntime:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to put in ``CODEWORDS_RUNTIME_URI`` (no path, no trailing slash)."""
        return self._server.url

    def env(self) -> dict[str, str]:
        """The variables a workflow needs to reach this runtime, sync client (``RUNTIME_URI``) included."""
        return {"CODEWORDS_RUNTIME_URI": self.url, "RUNTIME_URI": self.url, "CODEWORDS_API_KEY": self.api_key}

    def background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a background request on the serving loop, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- steering --------------------------------------------------------------------------

    def script(self, service: str, path: str | None = None) -> ServiceScript:
        """The script of a service (of one of its paths when given); see ``script.py``."""
        return self.scripts.get(service, path)

    def tool(self, name: str) -> ToolScript:
        """The script of one of devx_mcp's tools (``respond``, ``fail``, ``using``); see ``mcp.py``."""
        return self.tools.get(name)

    def reset(self) -> None:
        """Forget every call, request, file, script, page and stored value of the run."""
        self.log.clear()
        self.requests.clear()
        self.files.clear()
        self.scripts.clear()
        self.tools.clear()
        self.pages.clear()
        self.kv.clear()
        if self._redis_credentials is not None:
            self._redis.reset(self.namespace)

    # --- reading ---------------------------------------------------------------------------

    def calls(self, service: str | None = None, path: str | None = None) -> list[Call]:
        """Recorded service calls, oldest first, optionally of one service (and path)."""
        return self.log.calls(service, path)

    def exchanges(self) -> list[Exchange]:
        """Every HTTP request served, protocol endpoints included."""
        return self.log.exchanges()

    def uploads(self) -> list[Upload]:
        return self.files.uploads()

    # --- redis_client() --------------------------------------------------------------------

    def redis_credentials(self) -> RedisCredentials:
        """This run's Redis user, starting redis-server on first use (blocking)."""
        with self._redis_lock:
            if self._redis_credentials is None:
                self._redis_credentials = self._redis.create_user(self.namespace)
            return self._redis_credentials

    def redis_keys(self) -> dict[str, Any]:
        """What the run stored in its Redis namespace."""
        return self._redis.keys(self.namespace) if self._redis_credentials else {}

    def redis_violations(self) -> list[RedisViolation]:
        """Commands of this run that Redis refused: keys outside the namespace, admin commands."""
        if self._redis_credentials is None:
            return []
        return self._redis.violations(self._redis_credentials.user)

    def _store_file(self, filename: str, content: bytes, base_url: str) -> str:
        return (base_url or self.url) + self.files.store(filename, content)
