"""Watching the workflow while it answers: the request in flight, the exceptions its broad handlers
swallow, the work it leaves running after the answer, what it logs, and a blocked event loop.

Shared by the sandboxed child (``serve.wrap``) and the in-process fuzz target
(``cwtest.fuzz.target``), so that both see the same things; each gives a ``sink`` that takes the
``protocol`` messages (the child sends them to the parent, the in-process target keeps them).

* **The request in flight** is a ``RequestState`` in a context variable (``CURRENT``), set around
  the app's call (``begin``/``end``). Tasks the request starts copy the context, so what they do is
  the request's too; the parent numbers its requests (the ``x-cwtest-request`` header, taken out
  before the app sees the request) and every message about one carries its number.
* **Swallowed exceptions.** The workflow is compiled by ``compile_workflow``: every broad ``except``
  clause (bare, ``Exception``, ``BaseException``, or a tuple holding one) gets a first statement,
  ``_cwtest_caught(N)``, on the clause's own line. Its body runs only when that clause matched, so
  the clause that caught an exception is known from the source, without guessing: no type is
  resolved, and a ``finally``, a ``with`` that suppresses it or a clause that did not match is never
  mistaken for a catch (Python 3.12's ``sys.monitoring`` reports ``EXCEPTION_HANDLED`` for all of
  those, before the clauses are matched, and only process-wide). It costs nothing until a handler
  runs, on every Python from 3.8. What was caught is sent at the request's end (``swallowed``), once
  per exception: where it was raised, and the clause that caught it last (an exception re-raised
  and caught further out, or turned into another one, was swallowed there).
* **Work after the answer.** A task factory records the tasks a request starts; ``end`` waits for
  them (at most ``wait`` seconds) and reports an exception nobody retrieved (``phase="task"``); an
  exception a ``BackgroundTasks`` function raises escapes the app after the final body
  (``phase="background"``). ``done`` is sent last.
* **Records** the workflow's own code logs at WARNING or above during a request (``log``): a note
  when nothing was swallowed.
* **A blocked loop** (``Watchdog``): every callback the loop's thread runs is timed (``Handle._run``);
  a thread samples the loop thread's stack (``sys._current_frames``) when one runs longer than the
  threshold, and the request's ``blocked`` message names the workflow's line on it, the call below
  and the longest block.

Standard library only, Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import ast
import contextvars
import sys
import threading
import time

from . import protocol, stacks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    Sink = Callable[[protocol.Message], None]

#: The request header the parent numbers its requests with (removed before the app sees it).
REQUEST_HEADER = b"x-cwtest-request"
#: The name of the hook the instrumented handlers call (a builtin: the workflow's globals stay its own).
HOOK = "_cwtest_caught"
#: The most exceptions, blocks and log records kept per request.
PER_REQUEST = 50
CURRENT: contextvars.ContextVar[Optional[RequestState]] = contextvars.ContextVar("cwtest_request", default=None)
#: Every instrumented clause: (file, line, clause text); the hook's argument indexes it.
HANDLERS: List[Tuple[str, int, str]] = []
_BROAD = ("Exception", "BaseException")


class RequestState:
    """One request being answered: its number, and what was seen while it ran."""

    def __init__(self, number: int, sink: Sink, workflow: Optional[str] = None) -> None:
        self.number = number
        self.sink = sink
        #: The workflow's file (None: the child's ``stacks.WORKFLOW``).
        self.workflow = workflow
        self.swallowed: Dict[int, List[Any]] = {}  # id(exc) -> [exc, handler index, count]
        self.tasks: List[Any] = []
        self.logged: Dict[str, Dict[str, Any]] = {}  # location -> a ``log`` message's fields
        self.blocks: Dict[str, List[Any]] = {}  # location -> [milliseconds, count, fields]

    def catch(self, exc: BaseException, index: int) -> None:
        entry = self.swallowed.get(id(exc))
        if entry is not None:
            entry[1] = index  # re-raised and caught further out: swallowed there
            entry[2] += 1
        elif len(self.swallowed) < PER_REQUEST:
            self.swallowed[id(exc)] = [exc, index, 1]

    def log(self, record: Any) -> None:
        if not stacks.is_workflow(record.pathname, self.workflow) or len(self.logged) >= PER_REQUEST:
            return
        where = "%s:%d" % (record.pathname, record.lineno)
        if where in self.logged:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        self.logged[where] = {"level": record.levelname, "logger": record.name, "message": text[:300],
                              "location": where}

    def block(self, milliseconds: int, fields: Dict[str, Any]) -> None:
        key = fields.get("location") or fields.get("call") or "?"
        entry = self.blocks.get(key)
        if entry is None:
            if len(self.blocks) < PER_REQUEST:
                self.blocks[key] = [milliseconds, 1, fields]
            return
        entry[1] += 1
        if milliseconds > entry[0]:
            entry[0], entry[2] = milliseconds, fields

    def flush(self) -> None:
        """Send what the request left: swallowed exceptions, blocks, log records (before ``done``)."""
        entries = list(self.swallowed.values())
        # An exception turned into another one (its cause or context) was swallowed where that one was.
        for entry in entries:
            for later in entries:
                if later is not entry and _in_chain(entry[0], later[0]):
                    entry[1] = later[1]
        sent: Dict[Tuple[str, str, int], Dict[str, Any]] = {}  # a ``swallowed`` message's fields
        for exc, index, count in entries:
            file, line, clause = HANDLERS[index]
            report = stacks.exception_report(exc, self.workflow)
            key = (report["exc_type"], report["location"] or "", index)
            if key in sent:
                continue
            doc = getattr(exc, "doc", None)
            report.update(caught="%s:%d" % (file, line), clause=clause, count=count,
                          doc=doc[:300] if isinstance(doc, str) else None)
            sent[key] = report
        for fields in sent.values():
            self.sink(protocol.Swallowed(request=self.number, **fields))
        for milliseconds, count, fields in self.blocks.values():
            self.sink(protocol.Blocked(request=self.number, milliseconds=milliseconds, count=count, **fields))
        for fields in self.logged.values():
            self.sink(protocol.Log(request=self.number, **fields))
        self.swallowed.clear()


def _in_chain(exc: BaseException, outer: BaseException) -> bool:
    seen = 0
    current = outer.__cause__ or outer.__context__
    while current is not None and seen < 20:
        if current is exc:
            return True
        seen += 1
        current = current.__cause__ or current.__context__
    return False


# --- a request ----------------------------------------------------------------------------------


def take_number(scope: Dict[str, Any]) -> Optional[int]:
    """The parent's number for this request (its header, removed from the scope), or None."""
    headers = scope.get("headers") or []
    number = None
    kept = []
    for name, value in headers:
        if name.lower() == REQUEST_HEADER:
            try:
                number = int(value)
            except ValueError:
                pass
        else:
            kept.append((name, value))
    if number is not None:
        scope["headers"] = kept
    return number


def begin(number: int, sink: Sink, workflow: Optional[str] = None) -> Tuple[RequestState, Any]:
    """Enter a request: (its state, the token ``end`` resets the context variable with)."""
    state = RequestState(number, sink, workflow)
    return state, CURRENT.set(state)


async def end(state: RequestState, token: Any, wait: float) -> None:
    """Leave a request: wait for the tasks it started (at most ``wait`` seconds), report their
    exceptions nobody retrieved, send what it left, then ``done``."""
    import asyncio

    pending = [t for t in state.tasks if not t.done()]
    if pending and wait > 0:
        try:
            await asyncio.wait(pending, timeout=wait)
        except Exception:
            pass
    for task in state.tasks:
        if not task.done() or task.cancelled() or not getattr(task, "_log_traceback", True):
            continue
        exc = task.exception()  # retrieved: reported here rather than logged when it is collected
        if isinstance(exc, Exception):
            report = stacks.exception_report(exc, state.workflow)
            if report["location"] is not None:
                state.sink(protocol.ExceptionReport(request=state.number, phase="task", **report))
    dog = _watchdogs.get(threading.get_ident())
    if dog is not None and dog.running and dog.flagged == dog.running:
        dog.claim(state)  # the block is this very callback's, which also answered: the request's
    state.flush()
    state.sink(protocol.Done(request=state.number, pending=sum(1 for t in state.tasks if not t.done())))
    state.tasks = []
    try:
        CURRENT.reset(token)
    except ValueError:  # another context (the app switched tasks): it ends with it
        pass


def track_tasks(loop: Any) -> None:
    """Record every task a request starts (its context holds the request), once per loop."""
    if getattr(loop, "_cwtest_tracked", False):
        return
    import asyncio

    previous = loop.get_task_factory()

    def factory(loop: Any, coro: Any, **kwargs: Any) -> Any:
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        state = CURRENT.get()
        if state is not None and len(state.tasks) < 10 * PER_REQUEST:
            state.tasks.append(task)
        return task

    loop.set_task_factory(factory)
    try:
        loop._cwtest_tracked = True
    except AttributeError:
        pass


# --- swallowed exceptions: the workflow compiled with a hook in its broad handlers ---------------------


def caught(index: int) -> None:
    """The hook: the first statement of every broad ``except`` clause of the workflow."""
    state = CURRENT.get()
    if state is None:
        return
    try:
        exc = sys.exc_info()[1]
        if exc is not None:
            state.catch(exc, index)
    except Exception:
        pass


def is_broad(node: Optional[ast.expr]) -> bool:
    """A bare ``except``, ``Exception``, ``BaseException`` (``builtins.`` or not), or a tuple holding one."""
    if node is None:
        return True
    if isinstance(node, ast.Name):
        return node.id in _BROAD
    if isinstance(node, ast.Attribute):
        return node.attr in _BROAD and isinstance(node.value, ast.Name) and node.value.id == "builtins"
    if isinstance(node, ast.Tuple):
        return any(is_broad(e) for e in node.elts)
    return False


class _Instrument(ast.NodeTransformer):
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        self.generic_visit(node)
        if is_broad(node.type):
            index = len(HANDLERS)
            line = self.lines[node.lineno - 1].strip() if node.lineno <= len(self.lines) else "except"
            HANDLERS.append((self.path, node.lineno, line.rstrip(":").strip()[:120]))
            call = ast.Expr(ast.Call(func=ast.Name(id=HOOK, ctx=ast.Load()), args=[ast.Constant(value=index)],
                                     keywords=[]))
            ast.copy_location(call, node)
            node.body.insert(0, ast.fix_missing_locations(call))
        return node


def compile_workflow(data: bytes, path: str) -> Any:
    """The workflow's code, its broad handlers calling the hook (a ``SyntaxError`` as ``compile``'s)."""
    import builtins
    import importlib.util

    text = importlib.util.decode_source(data)
    tree = compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    tree = _Instrument(path, text).visit(tree)
    if not hasattr(builtins, HOOK):
        setattr(builtins, HOOK, caught)
    return compile(tree, path, "exec", dont_inherit=True)


# --- records the workflow logs --------------------------------------------------------------------


def install_log_hook() -> None:
    """See every record at WARNING or above that reaches a logger's handlers during a request
    (``Logger.handle``, patched once: no handler is added, so ``basicConfig`` behaves as before)."""
    import logging

    original = logging.Logger.handle
    if getattr(original, "_cwtest", False):
        return

    def handle(self: Any, record: Any) -> Any:
        if record.levelno >= logging.WARNING:
            state = CURRENT.get()
            if state is not None:
                try:
                    state.log(record)
                except Exception:
                    pass
        return original(self, record)

    handle._cwtest = True  # type: ignore[attr-defined]
    logging.Logger.handle = handle  # type: ignore[method-assign]


# --- a blocked event loop --------------------------------------------------------------------------

_watchdogs: Dict[int, Watchdog] = {}
_original_run: Any = None


class Watchdog:
    """Times every callback the loop's thread runs; a thread samples the loop thread's stack when
    one runs longer than ``threshold`` seconds. The request the callback belonged to (its context)
    gets the block, reported by the loop's thread itself when the callback ends, before any answer
    it was holding back is sent."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.thread = 0
        self.running = 0  # the sequence number of the callback running now (0: none)
        self.started = 0.0
        self.seq = 0
        self.flagged = 0
        self.sample: List[Any] = []
        self.cpu = 0.0  # the loop thread's CPU time when the running callback started
        #: The loop thread's scheduler state when the block was seen ("S"/"D": waiting in a system call)
        self.state = ""
        self.native = 0  # its id for the kernel (/proc/self/task/<id>)
        self.stopped = False

    def start(self) -> None:
        """Watch the calling thread's loop (call it on the loop's thread)."""
        global _original_run
        import asyncio

        if _original_run is None:
            _original_run = asyncio.events.Handle._run
            # a patch of asyncio.Handle on purpose: time each callback the loop runs
            asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign, assignment]
        self.thread = threading.get_ident()
        self.native = getattr(threading, "get_native_id", lambda: 0)()
        _watchdogs[self.thread] = self
        threading.Thread(target=self.watch, daemon=True, name="cwtest-watchdog").start()

    def stop(self) -> None:
        self.stopped = True
        if _watchdogs.get(self.thread) is self:
            del _watchdogs[self.thread]

    def watch(self) -> None:
        interval = max(self.threshold / 4, 0.005)
        while not self.stopped:
            time.sleep(interval)
            running = self.running
            if running and running != self.flagged and time.perf_counter() - self.started > self.threshold:
                frame = sys._current_frames().get(self.thread)
                if frame is not None and self.running == running:
                    self.sample = stacks.frames_of(frame)
                    self.state = self.thread_state()
                    self.flagged = running
                del frame

    def finish(self, handle: Any) -> None:
        context = getattr(handle, "_context", None)
        state = context.get(CURRENT) if context is not None else None
        if state is not None:
            self.claim(state)

    def claim(self, state: RequestState) -> None:
        """Give the flagged callback's block (so far) to ``state``, once: when the thread was waiting in
        a system call (sleeping, reading a socket), or used the CPU for longer than the threshold. A
        callback that took long only because other processes had the CPU (a busy machine) is neither."""
        sample, self.sample = self.sample, []
        cpu = time.thread_time() - self.cpu
        if sample and (self.state in ("S", "D", "") or cpu >= self.threshold):
            state.block(int((time.perf_counter() - self.started) * 1000), describe_block(sample, state.workflow))

    def thread_state(self) -> str:
        """The loop thread's state for the kernel (``R`` running or runnable, ``S`` sleeping, ``D`` in
        uninterruptible I/O); "" when /proc cannot say."""
        try:
            with open("/proc/self/task/%d/stat" % self.native, "rb") as handle:
                data = handle.read()
            return data[data.rindex(b")") + 2:][:1].decode()
        except (OSError, ValueError):
            return ""


def _timed_run(handle: Any) -> Any:
    dog = _watchdogs.get(threading.get_ident())
    if dog is None:
        return _original_run(handle)
    dog.seq += 1
    seq = dog.seq
    dog.started = time.perf_counter()
    dog.cpu = time.thread_time()
    dog.running = seq
    try:
        return _original_run(handle)
    finally:
        dog.running = 0
        if dog.flagged == seq:
            try:
                dog.finish(handle)
            except Exception:
                pass


def describe_block(frames: List[Any], workflow: Optional[str] = None) -> Dict[str, Any]:
    """The fields of a ``blocked`` message for a stack sampled during a block: the innermost
    workflow frame, its line's text, and the call below it."""
    import linecache

    first = next((i for i, f in enumerate(frames) if stacks.is_workflow(f[0], workflow)), len(frames))
    ours = any(stacks.is_ours(f[0]) for f in frames[first:])
    frames = [f for f in frames if not stacks.is_ours(f[0])]
    mine = [i for i, f in enumerate(frames) if stacks.is_workflow(f[0], workflow)]
    if not mine:
        below = frames[-1] if frames else ("?", 0, "?")
        return {"location": None, "source": "", "stack": stacks.render(frames[-8:]), "cwtest": ours,
                "call": "%s (%s:%d)" % (below[2], stacks.package_of(below[0]), below[1])}
    last = mine[-1]
    file, line, _name = frames[last]
    source = (linecache.getline(file, line) or "").strip()
    if last + 1 < len(frames):
        below = frames[last + 1]
        inner = frames[-1]
        call = "%s.%s" % (stacks.package_of(below[0]), below[2])
        if inner is not below:
            call += ", in %s.%s" % (stacks.package_of(inner[0]), inner[2])
    else:
        call = source  # a function without a Python frame (time.sleep, a C extension's call)
    return {"location": "%s:%d" % (file, line), "source": source, "call": call[:300], "cwtest": ours,
            "stack": stacks.render(frames[mine[0]:][-24:])}
