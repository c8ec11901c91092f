"""Where a lint run spends its time, by stage: set ``CWLINT_TIMINGS=1`` (or a ``.json`` path).

Off by default, and then free: nothing here is imported and no function is wrapped. When the
variable is set, the runner calls :func:`install` before it lints, which wraps, once:

- ``read``: reading and decoding files (the runner times it itself);
- ``parse``: ``engine._parse`` (LibCST's parser);
- ``walk``: the traversal itself, minus the visitor methods it calls;
- ``analysis``: the shared analyses riding the walk (``context.Imports``/``Clients``) and
  every function and method defined in ``cwlint.analysis`` (scopes, env reads, ...);
- ``rules``: rule visitor methods, minus the analyses and positions they ask for;
- ``positions``: every node's offsets (``cwlint.positions``), computed on the first report;
- ``suppress``: ``# noqa`` parsing and CW001;
- ``fix``: applying edits and the fix loop, minus the re-lints it runs (counted above).

Stages nest: time is charged to the innermost stage only, so the stages add up to the
total. The wrappers cost about a microsecond per visitor call, so a timed run is slower
than an untimed one; compare stages with each other, not with untimed totals.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import pkgutil
import sys
import time
from collections.abc import Callable
from types import FunctionType, ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
STAGES = ("read", "parse", "walk", "analysis", "rules", "positions", "suppress", "fix")


class Timer:
    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.files = 0
        self._stack: list[list[Any]] = []  # [stage, started]

    def push(self, stage: str) -> None:
        now = time.perf_counter()
        if self._stack:
            top = self._stack[-1]
            self.totals[top[0]] = self.totals.get(top[0], 0.0) + now - top[1]
        self._stack.append([stage, now])

    def pop(self) -> None:
        now = time.perf_counter()
        stage, started = self._stack.pop()
        self.totals[stage] = self.totals.get(stage, 0.0) + now - started
        if self._stack:
            self._stack[-1][1] = now

    def take(self) -> dict[str, float]:
        """The totals so far, reset (for a worker's share of a run)."""
        out, self.totals = self.totals, {}
        if self.files:
            out["files"] = float(self.files)
            self.files = 0
        return out


TIMER = Timer()


def timed(stage: str, function: F) -> F:
    push, pop = TIMER.push, TIMER.pop

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        push(stage)
        try:
            return function(*args, **kwargs)
        finally:
            pop()

    wrapper.__cwlint_timed__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class stage:  # lower case: a context manager used like a function
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        TIMER.push(self.name)

    def __exit__(self, *exc: object) -> None:
        TIMER.pop()


_PROXIES: dict[tuple[type, str], type] = {}


def _proxy(visitor: object, stage_name: str) -> object:
    """An object with the visitor's visit_/leave_ methods, each charged to ``stage_name``."""
    kind = type(visitor)
    proxy_type = _PROXIES.get((kind, stage_name))
    if proxy_type is None:
        namespace: dict[str, Any] = {"__slots__": ("_target",)}
        for attr in dir(kind):
            if attr.startswith(("visit_", "leave_")):
                namespace[attr] = _forward(attr, stage_name)
        proxy_type = _PROXIES[(kind, stage_name)] = type(f"Timed{kind.__name__}", (), namespace)
    proxy = proxy_type()
    proxy._target = visitor
    return proxy


def _forward(attr: str, stage_name: str) -> Callable[[Any, Any], Any]:
    push, pop = TIMER.push, TIMER.pop

    def method(self: Any, node: Any) -> Any:
        push(stage_name)
        try:
            return getattr(self._target, attr)(node)
        finally:
            pop()

    return method


def _wrap_analysis() -> None:
    """Charge every function and method defined in cwlint.analysis to ``analysis``."""
    try:
        import cwlint.analysis as package
    except ImportError:  # pragma: no cover - the package always exists
        return
    originals: dict[int, Callable[..., Any]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in list(vars(module).items()):
            if isinstance(value, FunctionType) and value.__module__ == module.__name__:
                wrapped = timed("analysis", value)
                originals[id(value)] = wrapped
                setattr(module, name, wrapped)
            elif inspect.isclass(value) and value.__module__ == module.__name__:
                for attr, member in list(vars(value).items()):
                    if isinstance(member, FunctionType) and not attr.startswith("__") or attr == "__init__" and isinstance(member, FunctionType):
                        setattr(value, attr, timed("analysis", member))
    # Names already imported elsewhere (``from cwlint.analysis.x import f``) point at the old
    # functions: rebind them too.
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("cwlint.") and isinstance(module, ModuleType):
            for name, value in list(vars(module).items()):
                replacement = originals.get(id(value))
                if replacement is not None and replacement is not value:
                    setattr(module, name, replacement)


def install() -> None:
    """Wrap the engine's stages (called by the runner when timings are on; twice is once)."""
    from cwlint import engine

    if getattr(engine._parse, "__cwlint_timed__", False):
        return
    _wrap_analysis()
    engine._parse = timed("parse", engine._parse)
    engine._suppress = timed("suppress", engine._suppress)
    engine.apply_edits = timed("fix", engine.apply_edits)
    original_fix = engine.fix_source
    engine.fix_source = timed("fix", original_fix)
    # Positions: every node's offsets, computed by FileContext on the first report.
    from cwlint import context

    context.node_offsets = timed("positions", context.node_offsets)
    plain_walk = engine.walk

    def walk(module: Any, visitors: Any, ancestors: Any) -> None:
        visitors = list(visitors)
        proxies = [
            _proxy(v, "analysis" if type(v).__module__ == "cwlint.context" else "rules") for v in visitors
        ]
        TIMER.files += 1
        with stage("walk"):
            plain_walk(module, proxies, ancestors)

    engine.walk = walk


def report(totals: dict[str, float], wall: float) -> None:
    """Print the stages (CWLINT_TIMINGS=1) or write them as JSON (CWLINT_TIMINGS=path.json)."""
    target = os.environ.get("CWLINT_TIMINGS", "")
    files = int(totals.pop("files", 0))
    stages = {k: totals.get(k, 0.0) for k in STAGES if k in totals}
    data = {"wall": wall, "files": files, "stages": stages}
    if target.endswith(".json"):
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        return
    measured = sum(stages.values()) or 1.0
    sys.stderr.write(f"cwlint timings: {files} file(s) linted, {wall * 1000:.0f} ms wall\n")
    for name, seconds in stages.items():
        sys.stderr.write(f"  {name:<10} {seconds * 1000:9.1f} ms  {seconds / measured:6.1%}\n")
