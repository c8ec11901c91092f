"""Stacks as cwtest shows them: the workflow's own frames, where it was, and what an exception was.

A frame is ``(filename, lineno, function)``. ``trim`` keeps the part of a stack that concerns the
workflow (from its first frame on, this package's frames out); ``location`` is ``file:line`` of
the innermost workflow frame, the key findings are counted and deduplicated by.

``exception_report`` is the one description of an escaped exception: the child sends it as an
``exception`` message, and the in-process fuzz target (``cwtest.fuzz.target``) builds the same
report, so both targets decode it into the same ``ExceptionInfo``. ``collect_stacks`` answers the
parent's ``stacks`` command (before a timeout kill) and the CPU limit's signal.

Standard library only, Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import builtins
import linecache
import os
import sys
import sysconfig
import threading
import traceback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    Frame = Tuple[str, int, str]

#: The workflow's file (absolute); the child sets it once, from its config.
WORKFLOW = ""
#: This package's directory: its frames are never the workflow's.
HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: The functions of the child's own threads (the command loop, the relays): not the workflow's.
OWN_THREADS = ("listen_parent", "accept", "pump", "watch")
_MESSAGE_LIMIT = 2000
#: Placeholder env values cwtest injected -> the variable (the child sets it from its config): a
#: failure that shows one in its exception or the failing frame's locals is cwtest's doing.
PLACEHOLDERS: Dict[str, str] = {}
_real: Dict[str, str] = {}
_STDLIB: Optional[str] = None


def frames_of(frame: Any) -> List[Frame]:
    """(filename, lineno, function) from the outermost frame to ``frame``."""
    out = []
    while frame is not None:
        out.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    out.reverse()
    return out


def is_ours(filename: str) -> bool:
    return filename.startswith(HERE)


def is_workflow(filename: str, workflow: Optional[str] = None) -> bool:
    """``filename`` is the workflow's file (compared as given, then with symlinks resolved)."""
    workflow = WORKFLOW if workflow is None else workflow
    if not workflow:
        return False
    if filename == workflow:
        return True
    for name in (filename, workflow):
        if name not in _real:
            _real[name] = os.path.realpath(name)
    return _real[filename] == _real[workflow]


def trim(frames: List[Frame]) -> List[Frame]:
    """The part of a stack that concerns the workflow: from its first frame on, ours out.

    When the workflow has no frame in the stack (a library acting alone), the last 12 frames.
    """
    frames = [f for f in frames if not is_ours(f[0])]
    first = next((i for i, f in enumerate(frames) if f[0] == WORKFLOW), None)
    frames = frames[first:] if first is not None else frames[-12:]
    if len(frames) > 24:
        frames = frames[:6] + [("...", 0, "%d frames" % (len(frames) - 12))] + frames[-6:]
    return frames


def location(frames: List[Frame], workflow: Optional[str] = None) -> Optional[str]:
    """``file:line`` of the innermost workflow frame, or None."""
    for filename, lineno, _name in reversed(frames):
        if is_workflow(filename, workflow):
            return "%s:%d" % (filename, lineno)
    return None


def render(frames: List[Frame]) -> List[str]:
    return ["%s:%d in %s" % f for f in frames]


def exception_report(exc: BaseException, workflow: Optional[str] = None) -> Dict[str, Any]:
    """The fields of an ``exception`` message for ``exc`` (``protocol.ExceptionReport``).

    Of an exception group, its first leaf. ``frames`` are the workflow's frames and the innermost
    one (where a library raised it) with their source lines; ``mro`` the class hierarchy as
    ``<top-level package>.<name>``, so the parent tells the client's own errors apart without
    importing anything; ``via`` the packages it passed through below the workflow.
    """
    group = getattr(builtins, "BaseExceptionGroup", None)
    while group is not None and isinstance(exc, group) and exc.exceptions:
        exc = exc.exceptions[0]
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [(f.filename, f.lineno or 0, f.name) for f in tb]
    mine = [i for i, f in enumerate(frames) if is_workflow(f[0], workflow)]
    kept = [frames[i] for i in mine]
    if frames and (not kept or kept[-1] != frames[-1]):
        kept.append(frames[-1])
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    shown = kept or frames[-3:]
    via: List[str] = []
    for f in frames[mine[-1] + 1:] if mine else frames:
        name = package_of(f[0])
        if name not in via:
            via.append(name)
    return {"exc_type": type(exc).__name__, "message": text[-_MESSAGE_LIMIT:], "location": location(frames, workflow),
            "standins": standins(exc, workflow),
            "stack": render(shown),
            "frames": [(f[0], f[1], f[2], (linecache.getline(f[0], f[1]) or "").strip()) for f in shown],
            "mro": ["%s.%s" % (c.__module__.split(".")[0], c.__name__) for c in type(exc).__mro__],
            "via": via}


def standins(exc: BaseException, workflow: Optional[str] = None) -> List[Tuple[str, str, str]]:
    """cwtest's stand-ins ``exc`` passed through: (kind, detail, location).

    Walks the exception, its causes and contexts and the exceptions it keeps as attributes: an
    exception ``outbound.mark`` marked (a
    request or connection nobody answered), an HTTP error whose response carries the simulator's
    ``x-cwtest-standin`` header (a path its catalog lacks), and a placeholder env value in an
    exception's text or in the locals of the failing frames (the innermost one and the innermost
    workflow frame).
    """
    found: List[Tuple[str, str, str]] = []
    seen: List[int] = []
    queue: List[BaseException] = [exc]
    while queue and len(seen) < 20:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.append(id(current))
        marked = getattr(current, "_cwtest_standin", None)
        if isinstance(marked, tuple) and len(marked) == 3 and marked not in found:
            found.append((str(marked[0]), str(marked[1]), str(marked[2])))
        response = getattr(current, "response", None)
        headers = getattr(response, "headers", None)
        try:
            gap = headers.get("x-cwtest-standin") if headers is not None else None
        except Exception:
            gap = None
        if isinstance(gap, str) and gap:
            kind, _, detail = gap.partition(" ")
            entry = (kind, detail, "")
            if entry not in found:
                found.append(entry)
        if PLACEHOLDERS:
            try:
                text = str(current)
            except Exception:
                text = ""
            for name in _placeholders_in(text):
                entry = ("placeholder", name, "")
                if entry not in found:
                    found.append(entry)
            for name in _placeholders_in_locals(current, workflow):
                entry = ("placeholder", name, "")
                if entry not in found:
                    found.append(entry)
        # the cause and context, and exceptions kept as attributes (pymysql's ``original_exception``,
        # urllib's ``reason``): a framework that re-raises in another ``except`` block replaces
        # ``__context__``, the attributes survive
        linked = [current.__cause__, current.__context__]
        try:
            linked += [v for v in vars(current).values() if isinstance(v, BaseException)]
        except TypeError:
            pass
        queue.extend(e for e in linked if e is not None)
    return found


def _placeholders_in(text: str) -> List[str]:
    return [name for value, name in PLACEHOLDERS.items() if value and value in text]


def _placeholders_in_locals(exc: BaseException, workflow: Optional[str]) -> List[str]:
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    chosen = frames[-1:] + [f for f in reversed(frames) if is_workflow(f.f_code.co_filename, workflow)][:1]
    names: List[str] = []
    for frame in chosen:
        try:
            values = list(frame.f_locals.values())
        except Exception:
            continue
        for value in values:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                for name in _placeholders_in(value):
                    if name not in names:
                        names.append(name)
    return names


def package_of(path: str, stdlib: Optional[str] = None) -> str:
    """The top-level package of a source file: ``codewords_client`` for ``.../site-packages/
    codewords_client/redis.py``, ``json`` for the standard library's ``json/decoder.py``, the
    module's name for anything else."""
    path = path.replace("\\", "/")
    parts = path.split("/")
    root = _stdlib_root() if stdlib is None else stdlib.replace("\\", "/").rstrip("/") + "/"
    marker = next((m for m in ("site-packages", "dist-packages") if m in parts[:-1]), None)
    if marker:
        name = parts[parts.index(marker) + 1]
    elif path.startswith(root):
        name = path[len(root):].split("/")[0]
    else:
        name = os.path.basename(path)
    return name[:-3] if name.endswith(".py") else name


def _stdlib_root() -> str:
    global _STDLIB
    if _STDLIB is None:
        _STDLIB = sysconfig.get_paths()["stdlib"].replace("\\", "/").rstrip("/") + "/"
    return _STDLIB


def collect_stacks(loop: Any = None) -> Dict[str, Any]:
    """The ``threads`` and ``tasks`` fields of a ``stacks`` message: where every thread and task is.

    The child's own threads are left out, and tasks without a workflow frame.
    """
    threads = []
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        frames = frames_of(frame)
        if any(is_ours(f[0]) and f[2] in OWN_THREADS for f in frames) or names.get(ident, "").startswith("cwtest-"):
            continue  # the child's own threads (the event socket, the watchdog, the outside pool)
        trimmed = trim(frames)
        threads.append({"thread": names.get(ident, str(ident)), "location": location(trimmed),
                        "stack": render(trimmed)})
    tasks = []
    if loop is not None:
        import asyncio

        all_tasks: List[Any] = []
        for _attempt in range(3):
            try:
                all_tasks = list(asyncio.all_tasks(loop))
                break
            except RuntimeError:  # the set changed while it was copied
                all_tasks = []
        for task in all_tasks:
            try:
                frames = coroutine_frames(task.get_coro())
            except Exception:
                continue
            if any(f[0] == WORKFLOW for f in frames):
                trimmed = trim(frames)
                tasks.append({"task": task.get_name(), "location": location(trimmed), "stack": render(trimmed)})
    return {"threads": threads, "tasks": tasks}


def coroutine_frames(coro: Any) -> List[Frame]:
    """The frames of a suspended coroutine and of everything it awaits, outermost first.

    ``Task.get_stack()`` stops at the task's own coroutine; a request handler is many awaits
    below it (uvicorn, Starlette's middleware, FastAPI's routing).
    """
    frames = []
    seen = 0
    while coro is not None and seen < 200:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return frames
