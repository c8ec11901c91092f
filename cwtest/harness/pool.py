"""Booted workflows shared across the items and tests of one pytest process (imports no pytest).

Booting a workflow costs about a second (its environment is cached, its imports are not), so the
``boot``, ``fuzz`` and ``faults`` items of a workflow, and every hand-written test that asks
``cw_workflow`` for it, share one sandboxed process per pytest process (per xdist worker: nothing
is shared between workers, each has its own simulators, sockets and processes). A workflow is
keyed by its resolved path and the outbound mocks it was booted with; its simulator is reset
before each item and each test, so scripts, calls, pages and stored values never leak from one to
the next. What the workflow keeps in its own module globals does persist: ask for a process of
your own with ``cw_workflow(path, fresh=True)``.

At most ``capacity`` workflows stay booted (the least recently used is stopped first): items run
file by file, so a run over hundreds of workflows keeps a handful of processes, not hundreds.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwtest.results import NO_BODY, Finding

if TYPE_CHECKING:
    from cwtest.harness.workflow import BootedWorkflow
    from cwtest.results import Response

MockSpec = tuple[str, str | None, str]  # (url prefix, method, response as canonical JSON)


@dataclass
class Settings:
    """The plugin's options, resolved once per pytest process."""

    enabled: bool = False
    seed: int = 0
    examples: int = 50
    sandbox: str = "auto"
    shrink_time: float = 10.0
    timeout: float = 60.0
    cache_dir: Path | None = None
    readonly_database: bool = False
    layer: Any = None
    #: Workflows kept booted at once.
    capacity: int = 4
    #: CPU seconds a pooled process may use over its life (it serves many items).
    cpu: int = 600
    #: Also run a route item's checks on a copy with cwlint's safe fixes when the item found
    #: something (``cwtest.harness.lint_fix``; the ``cwtest_lint_fix`` ini option turns it off).
    lint_fix: bool = True
    #: Seconds a callback of a request may hold the event loop (``--cwtest-block-threshold``).
    block_threshold: float = 0.1


class BootFailed(Exception):
    """The workflow did not boot; the message is the harness's report."""


@dataclass
class _Entry:
    key: tuple[Path, tuple[MockSpec, ...]]
    booted: BootedWorkflow
    stack: contextlib.ExitStack
    #: ``cw_workflow`` handles holding it now: never stopped to make room while held.
    users: int = 0

    @property
    def alive(self) -> bool:
        return self.booted.dead is None and self.booted.process.alive()


@dataclass
class Pool:
    settings: Settings
    entries: OrderedDict[tuple[Path, tuple[MockSpec, ...]], _Entry] = field(default_factory=OrderedDict)
    #: A boot failure is remembered for the rest of the run: the items after it skip instead of
    #: paying for the same failure again.
    failures: dict[tuple[Path, tuple[MockSpec, ...]], str] = field(default_factory=dict)
    boots: int = 0
    #: Scratch copy -> the original workflow (``acquire_fixed``), and each original's copy (None:
    #: cwlint has no safe fix for it).
    sources: dict[Path, Path] = field(default_factory=dict)
    copies: dict[Path, Any] = field(default_factory=dict)
    _scratch: Any = None

    def harness(self, mocks: tuple[MockSpec, ...] = ()) -> Any:
        from cwtest.harness.runner import ExternalResponse, Harness
        from cwtest.harness.sandbox import Limits

        harness = Harness(sandbox=self.settings.sandbox, timeout=self.settings.timeout,
                          limits=Limits(cpu=self.settings.cpu), seed=self.settings.seed,
                          block_threshold=self.settings.block_threshold)
        for url, method, response in mocks:
            harness.mock_external(url, ExternalResponse(**json_loads(response)), method=method)
        return harness

    def acquire(self, path: Path, mocks: tuple[MockSpec, ...] = ()) -> _Entry:
        """The booted workflow for (path, mocks), booting it if needed; raises BootFailed."""
        key = (path.resolve(), tuple(sorted(mocks, key=lambda m: (m[0], m[1] or ""))))
        if key in self.failures:
            raise BootFailed(self.failures[key])
        entry = self.entries.get(key)
        if entry is not None and not entry.alive:
            self.release(key)
            entry = None
        if entry is None:
            idle = [k for k, e in self.entries.items() if e.users == 0]
            while len(self.entries) >= self.settings.capacity and idle:
                self.release(idle.pop(0))  # least recently used first
            entry = self._boot(key)
            self.entries[key] = entry
        self.entries.move_to_end(key)
        return entry

    def acquire_fixed(self, path: Path, mocks: tuple[MockSpec, ...] = ()) -> tuple[_Entry, Any] | None:
        """The booted copy of ``path`` with cwlint's safe fixes (``cwtest.harness.lint_fix``) and the
        ``FixedCopy``, or None when cwlint has no safe fix for it; raises BootFailed."""
        import tempfile

        from cwtest.harness.lint_fix import fixed_copy

        path = path.resolve()
        if path not in self.copies:
            self.copies[path] = copy = fixed_copy(path)
            if copy is not None:
                if self._scratch is None:
                    self._scratch = tempfile.TemporaryDirectory(prefix="cwtest-lint-fix-")
                    Path(self._scratch.name).chmod(0o755)
                folder = Path(self._scratch.name) / str(len(self.copies))
                folder.mkdir(mode=0o755)
                file = folder / path.name
                file.write_text(copy.text, encoding="utf-8")
                file.chmod(0o644)
                copy.scratch = file.resolve()
                self.sources[copy.scratch] = path
        copy = self.copies[path]
        if copy is None:
            return None
        return self.acquire(copy.scratch, mocks), copy

    def _boot(self, key: tuple[Path, tuple[MockSpec, ...]]) -> _Entry:
        path, mocks = key
        stack = contextlib.ExitStack()
        harness = self.harness(mocks)
        self.boots += 1
        original = self.sources.get(path)
        try:
            booted = stack.enter_context(harness.boot(original or path, source=path if original else None))
        except RuntimeError as exc:
            stack.close()
            self.failures[key] = str(exc)
            raise BootFailed(str(exc)) from None
        except BaseException:
            stack.close()
            raise
        return _Entry(key, booted, stack)

    def fresh(self, path: Path, mocks: tuple[MockSpec, ...] = ()) -> _Entry:
        """A booted workflow of its own (not pooled); the caller closes ``entry.stack``."""
        return self._boot((path.resolve(), mocks))

    def release(self, key: tuple[Path, tuple[MockSpec, ...]]) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            entry.stack.close()

    def close(self) -> None:
        while self.entries:
            self.release(next(iter(self.entries)))
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def mock_spec(url: str, response: Any, method: str | None = None) -> MockSpec:
    """A hashable form of ``mock_external(url, response)`` (the pool's key, the harness's argument)."""
    from cwtest.harness.runner import ExternalResponse

    if not isinstance(response, ExternalResponse):
        if isinstance(response, bytes):
            response = ExternalResponse(content=response)
        elif isinstance(response, str):
            response = ExternalResponse(text=response)
        else:
            response = ExternalResponse(json=response)
    fields = {"status": response.status, "json": response.json, "text": response.text,
              "content": response.content.decode("latin-1") if response.content is not None else None,
              "headers": dict(response.headers)}
    return (url, method.upper() if method else None, json_dumps(fields))


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def json_loads(text: str) -> dict[str, Any]:
    import json

    fields = json.loads(text)
    if fields.get("content") is not None:
        fields["content"] = fields["content"].encode("latin-1")
    return fields


class CwWorkflow:
    """What ``cw_workflow(path)`` returns: a booted, sandboxed workflow for one test.

    * ``client``: an ``httpx.Client`` bound to the app (``client.post("/", json=...)``);
    * ``runtime``: its ``SimulatedRuntime`` (script answers and faults, read ``calls()``), reset
      for this test;
    * ``mock_external(url, response)``: answer the workflow's outbound httpx requests to ``url``
      (a prefix); call it before the first request: the mocks are part of the sandboxed process's
      configuration, so the workflow boots (or is taken from the pool) with them;
    * ``send(method, path, json_body)``: one request as the fuzzer sends it, returning a
      ``Response`` with the exceptions that escaped (what the generated regression tests use);
    * ``findings()``: what the workflow tried that the sandbox reports (outbound requests,
      connections, writes, processes), since this test started.

    The workflow boots on first use of ``client``, ``runtime``, ``send`` or ``schema``.
    """

    def __init__(self, pool: Pool, path: Path, *, fresh: bool = False,
                 mocks: Mapping[str, Any] | None = None) -> None:
        self._pool = pool
        self.path = path
        self._fresh = fresh
        self._mocks: list[MockSpec] = [mock_spec(url, response) for url, response in (mocks or {}).items()]
        self._entry: _Entry | None = None
        self._counts: dict[tuple[str, ...], int] = {}
        #: A mock was added to the running process: it no longer matches its pool key.
        self._tainted = False

    # --- before boot --------------------------------------------------------------------------

    def mock_external(self, url: str, response: Any, method: str | None = None) -> CwWorkflow:
        if self._entry is None:
            self._mocks.append(mock_spec(url, response, method))
            return self
        self._entry.booted.mock_external(url, response, method=method)
        self._tainted = True
        return self

    # --- the booted workflow ------------------------------------------------------------------

    def _booted(self) -> _Entry:
        if self._entry is None:
            mocks = tuple(self._mocks)
            entry = self._pool.fresh(self.path, mocks) if self._fresh else self._pool.acquire(self.path, mocks)
            entry.users += 1
            entry.booted.runtime.reset()
            self._entry = entry
            self._counts = entry.booted.counts()
            process = getattr(entry.booted, "process", None)
            self._egress_mark = len(process.events.items) if process is not None else 0
        return self._entry

    @property
    def client(self) -> Any:
        return self._booted().booted.client

    @property
    def runtime(self) -> Any:
        return self._booted().booted.runtime

    @property
    def target(self) -> BootedWorkflow:
        """The booted workflow, as the fuzzer drives it (``cwtest.harness.workflow``)."""
        return self._booted().booted

    @property
    def schema(self) -> dict[str, Any]:
        return self.target.schema

    @property
    def url(self) -> str:
        """The base URL ``client`` uses (the app is on a Unix socket; this host name is a label)."""
        return str(self.client.base_url)

    def send(self, method: str, path: str, json_body: Any = NO_BODY, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
             files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
        """One request; ``json_body`` omitted sends none (``None`` sends JSON ``null``)."""
        return self.target.send(method, path, json_body, headers, query=query, form=form, files=files)

    def findings(self) -> list[Finding]:
        """Sandbox findings (kind, message, location, stack, count) raised since this test started."""
        if self._entry is None:
            return []
        return new_findings(self._entry.booted, self._counts)

    def egress(self) -> list[dict[str, Any]]:
        """The outbound requests and connections since this test started, grouped by host and method
        (``host``, ``method``, ``client``, ``count``, ``location``, ``answers``, ``library``):
        information, never findings; a request nothing answered has ``answers == {"refused": n}``."""
        if self._entry is None:
            return []
        from cwtest.harness.child import protocol
        from cwtest.harness.collect import group_egress

        booted = self._entry.booted
        booted.process.request_counts(timeout=0.5)  # a round trip: everything sent before it has arrived
        return group_egress(booted.process.events.of(protocol.Egress, start=getattr(self, "_egress_mark", 0)))

    def close(self) -> None:
        if self._entry is not None:
            self._entry.users -= 1
            if self._fresh:
                self._entry.stack.close()
            elif self._tainted:  # its mocks are this test's: no other test may get it
                self._pool.release(self._entry.key)
            elif self._entry.alive:
                self._entry.booted.runtime.reset()
            self._entry = None


def new_findings(target: BootedWorkflow, before: dict[tuple[str, ...], int]) -> list[Finding]:
    """The sandbox findings whose count grew since ``before`` (exact counts, asked of the child)."""
    after = target.counts()
    out: list[Finding] = []
    for key, count in after.items():
        grown = count - before.get(key, 0)
        if grown <= 0:
            continue
        event = target.finding_event(key)
        if event is None:  # counted, never sent (not a power of two yet when it was first seen)
            out.append(Finding(key[0], "", count=grown))
            continue
        out.append(Finding(event.kind, event.detail, event.location, list(event.stack), count=grown))
    return out
