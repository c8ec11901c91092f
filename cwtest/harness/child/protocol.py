"""The messages between cwtest (the parent) and the workflow's process (the child), declared once.

One JSON object per line on the event socket, ``{"type": NAME, field: value, ...}``. Every
message type is a class below: its name (``TYPE``), its direction (``DIRECTION``) and its fields
with their types; a field with a default is optional. ``MESSAGES`` lists them all. Both sides
import this module (the child as ``_cwtest_child.protocol``, the parent as
``cwtest.harness.child.protocol``), so a type the child can send is a type the parent decodes.

======================  =========  ===========================================================
message                 direction  meaning
======================  =========  ===========================================================
``hello``               child      the child runs (pid, interpreter); warnings of its setup
``warning``             child      a later setup warning (no loopback relay to the runtime)
``ready``               child      the app is served (which FastAPI object, and all of them)
``boot-failure``        child      the workflow did not boot (a boot finding's kind and detail)
``finding``             child      an attempt to leave the sandbox, the first at a place and
                                   then at counts that are powers of two
``exception``           child      an exception escaped the app while it answered a request
``egress``              child      an outbound request or connection: where to, from which line,
                                   and who answered it (information, never a finding)
``swallowed``           child      an exception a broad ``except`` of the workflow caught during a
                                   request (where raised, where caught)
``blocked``             child      the event loop ran one callback of a request longer than the
                                   threshold (the workflow's line, the call below it)
``log``                 child      the workflow logged a record at WARNING or above during a request
``done``                child      a request and the work it scheduled (background tasks, tasks it
                                   started) are over; everything about it was sent before
``stacks``              child      the stacks of the threads and tasks (asked, or at the CPU limit)
``counts``              child      the exact count of every finding so far (asked)
``stacks``              parent     send the stacks now (before a timeout kill)
``counts``              parent     send the exact counts now
======================  =========  ===========================================================

``encode`` turns a declared message into one line; ``decode`` parses a line and checks it against
the declaration of its type and direction: a line over ``MAX_LINE``, a line that is not a JSON
object, an unknown type, a missing, unknown or mistyped field raises ``ProtocolError`` whose text is
a one-line reason. A decoded message is a frozen object of its class (lists become tuples).

The child shares its process with the workflow, so whatever it sends can be forged: the parent
treats a message as the workflow's own words, and a line that breaks this protocol as a
``protocol`` finding, never as an error of cwtest's.

Standard library only, Python 3.8+: the child imports it on the workflow's interpreter. The
annotations stay strings (``from __future__ import annotations``), resolved on a class's first
decode. Field types are ``str``, ``int``, ``bool``, ``Optional``, ``Literal``, ``Sequence`` (a
list on the wire, a tuple once decoded), fixed ``Tuple``, ``Dict[str, str]`` and records.
"""

from __future__ import annotations

import json
from collections import abc
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Dict,
    Iterator,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

if TYPE_CHECKING:
    from typing import dataclass_transform
else:  # typing has it from 3.11 on; type checkers only need the name
    def dataclass_transform(**_kwargs):
        return lambda cls: cls

M = TypeVar("M", bound="Message")
R = TypeVar("R", bound="Record")

#: The child's side: what it sends.
CHILD = "child"
#: The parent's side: the commands it sends.
PARENT = "parent"
#: The longest line either side accepts (a message is small: stacks are trimmed, texts capped).
MAX_LINE = 1 << 20
#: The reason for a line over ``MAX_LINE`` (one reason, whatever the length).
TOO_LONG = "a line of more than %d bytes" % MAX_LINE

_MISSING = object()


class ProtocolError(ValueError):
    """A line that is not a declared message; ``str(error)`` is a one-line reason."""


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Record:
    """A frozen value with declared, typed fields, built by keyword; messages and their parts.

    A subclass declares its fields as annotations (a default makes one optional), like a frozen
    dataclass, without a dataclass's cost at import (the child imports this before the workflow).
    """

    _fields: ClassVar[Tuple[Tuple[str, str, Any], ...]] = ()
    _hints: ClassVar[Optional[Dict[str, Any]]] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = list(cls._fields)
        for name, hint in cls.__dict__.get("__annotations__", {}).items():
            if str(hint).startswith("ClassVar"):
                continue
            fields.append((name, str(hint), cls.__dict__.get(name, _MISSING)))
        cls._fields = tuple(fields)
        cls._hints = None

    def __init__(self, **values: Any) -> None:
        for name, _hint, default in self._fields:
            if name in values:
                value = values.pop(name)
            elif default is _MISSING:
                raise TypeError("%s: the field %r is required" % (type(self).__name__, name))
            else:
                value = default
            object.__setattr__(self, name, value)
        if values:
            raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(values))))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("%s is frozen" % type(self).__name__)

    def __delattr__(self, name: str) -> None:
        raise AttributeError("%s is frozen" % type(self).__name__)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.as_json() == other.as_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (n, getattr(self, n)) for n, _, _ in self._fields))

    def as_json(self) -> Dict[str, Any]:
        """The fields as JSON values (records as objects, tuples as lists)."""
        return {name: _plain(getattr(self, name)) for name, _hint, _default in self._fields}

    @classmethod
    def from_json(cls: Type[R], data: Any, where: str = "") -> R:
        """A record from its JSON object, checked against the declaration (``ProtocolError``)."""
        where = where or cls.__name__
        if not isinstance(data, dict):
            raise ProtocolError("%s: expected an object, got %s" % (where, _kind(data)))
        hints = _resolve(cls)
        values = {}
        for name, _hint, default in cls._fields:
            if name in data:
                values[name] = _check(data[name], hints[name], "%s.%s" % (where, name))
            elif default is _MISSING:
                raise ProtocolError("%s: the field %r is missing" % (where, name))
        unknown = sorted(set(data) - {name for name, _, _ in cls._fields})
        if unknown:
            raise ProtocolError("%s: unknown field %s" % (where, ", ".join(repr(_short(u)) for u in unknown[:3])))
        return cls(**values)


class Message(Record):
    """A line on the event socket: a record with a type name and a direction."""

    TYPE: ClassVar[str] = ""
    DIRECTION: ClassVar[str] = ""


# --- parts of messages ------------------------------------------------------------------------


class ThreadStack(Record):
    thread: str
    location: Optional[str] = None
    stack: Sequence[str] = ()


class TaskStack(Record):
    task: str
    location: Optional[str] = None
    stack: Sequence[str] = ()


# --- child -> parent ----------------------------------------------------------------------------

#: The kinds of ``finding`` (attempts to leave the sandbox; ``cwtest.harness.findings.KINDS``).
#: ``network`` is only what no workflow needs: a raw or packet socket, a Unix socket outside the run
#: (connections and requests to anywhere are ``egress``: information, never a finding).
AttemptKind = Literal["network", "fs-write", "process", "bind", "native-syscall"]
#: Who answered an outbound request: the parent's outside world (a mock, a cassette, a recording
#: run performing it), nobody (``refused``: the client's own connection error), or, below HTTP,
#: the sandbox (``contained``: a connection or lookup the kernel refused).
EgressAnswer = Literal["mock", "cassette", "recorded", "refused", "contained"]
#: The kinds of ``boot-failure``.
BootKind = Literal["syntax-error", "import-crash", "missing-dependency", "no-app", "no-server", "boot-crash"]

class Hello(Message):
    TYPE = "hello"
    DIRECTION = CHILD
    pid: int
    python: str
    executable: str
    warnings: Sequence[str] = ()


class SetupWarning(Message):
    TYPE = "warning"
    DIRECTION = CHILD
    text: str


class Ready(Message):
    TYPE = "ready"
    DIRECTION = CHILD
    app: str
    apps: Sequence[str]


class BootFailure(Message):
    TYPE = "boot-failure"
    DIRECTION = CHILD
    kind: BootKind
    detail: str
    location: Optional[str] = None
    stack: Sequence[str] = ()
    exc_type: Optional[str] = None
    module: Optional[str] = None  #: missing-dependency: the module that was not found


class Finding(Message):
    """An attempt to leave the sandbox, sent for its 1st, 2nd, 4th, 8th... occurrence at one place."""

    TYPE = "finding"
    DIRECTION = CHILD
    kind: AttemptKind
    detail: str
    location: Optional[str] = None
    stack: Sequence[str] = ()
    count: int
    #: (kind, location) or, without a workflow frame, (kind, detail): what ``counts`` counts by
    key: Tuple[str, str]


class ExceptionReport(Message):
    """An exception that escaped the app (``stacks.exception_report`` builds its fields)."""

    TYPE = "exception"
    DIRECTION = CHILD
    exc_type: str  #: the class's bare name
    message: str  #: ``format_exception_only``'s text, its last 2,000 characters
    location: Optional[str] = None
    stack: Sequence[str] = ()
    #: (file, line, function, source line): the workflow's frames, and the innermost one
    frames: Sequence[Tuple[str, int, str, str]] = ()
    mro: Sequence[str] = ()  #: the class and its bases as "<top-level package>.<name>"
    via: Sequence[str] = ()  #: the packages it passed through below the workflow
    method: Optional[str] = None  #: the request being answered
    path: Optional[str] = None
    #: cwtest's stand-ins the exception passed through: (kind, detail, location), kind one of
    #: ``egress`` (an outbound request nobody answered), ``gap`` (a simulator 404 for a path its
    #: catalog lacks), ``placeholder`` (a placeholder env value in the exception or the failing
    #: frame's locals; detail: the variable)
    standins: Sequence[Tuple[str, str, str]] = ()
    #: The number of the request it happened in (the ``x-cwtest-request`` header the parent sent).
    request: Optional[int] = None
    #: None: while answering; ``background``: in a ``BackgroundTasks`` function, after the answer was
    #: sent; ``task``: in an asyncio task the request started and nobody awaited
    phase: Optional[Literal["background", "task"]] = None


class Swallowed(Message):
    """An exception caught by a broad handler of the workflow (``except Exception``, ``except
    BaseException``, a bare ``except``) while a request was answered: where it was raised (the fields of
    ``stacks.exception_report``), where it was caught, and how often in that request."""

    TYPE = "swallowed"
    DIRECTION = CHILD
    request: int
    exc_type: str
    message: str
    location: Optional[str] = None  #: where it was raised: the innermost workflow frame
    stack: Sequence[str] = ()
    frames: Sequence[Tuple[str, int, str, str]] = ()
    mro: Sequence[str] = ()
    via: Sequence[str] = ()
    standins: Sequence[Tuple[str, str, str]] = ()
    caught: str  #: ``file:line`` of the ``except`` clause that caught it last
    clause: str  #: that clause's text (``except Exception as exc``)
    count: int = 1
    #: a ``JSONDecodeError``'s document, its first 300 characters (was it an LLM's text?)
    doc: Optional[str] = None


class Blocked(Message):
    """The event loop's thread ran one callback of a request longer than the threshold."""

    TYPE = "blocked"
    DIRECTION = CHILD
    request: int
    milliseconds: int  #: the longest such callback of the request at this place
    count: int = 1  #: how many callbacks of the request blocked at this place
    location: Optional[str] = None  #: the innermost workflow frame on the sampled stack
    source: str = ""  #: its line's text
    call: str = ""  #: the call below it: a library frame, or the line's text (a C function)
    stack: Sequence[str] = ()
    #: cwtest's own code (its routing of an outbound request) was below the workflow's line
    cwtest: bool = False


class Log(Message):
    """The workflow logged a record at WARNING or above while a request was answered."""

    TYPE = "log"
    DIRECTION = CHILD
    request: int
    level: str
    logger: str
    message: str
    location: Optional[str] = None


class Done(Message):
    """A request is over, with the work it scheduled: sent after everything else about it."""

    TYPE = "done"
    DIRECTION = CHILD
    request: int
    pending: int = 0  #: tasks it started that were still running when the child stopped waiting


class Egress(Message):
    """An outbound request (``client``: httpx, requests, urllib, aiohttp) or, below HTTP, a connection
    or a name lookup (``client``: socket; ``method``: TCP, UDP or DNS; ``url``: host:port)."""

    TYPE = "egress"
    DIRECTION = CHILD
    client: str
    method: str
    url: str
    answer: EgressAnswer
    location: Optional[str] = None  #: the innermost workflow frame; None: library frames only
    stack: Sequence[str] = ()  #: only on the first report from a place


class Stacks(Message):
    TYPE = "stacks"
    DIRECTION = CHILD
    reason: str  #: the command's reason ("timeout"), or "cpu" at the CPU limit
    threads: Sequence[ThreadStack] = ()
    tasks: Sequence[TaskStack] = ()


class Counts(Message):
    TYPE = "counts"
    DIRECTION = CHILD
    counts: Sequence[Tuple[Tuple[str, str], int]] = ()  #: (key, count) of every finding


# --- parent -> child ----------------------------------------------------------------------------


class StacksCommand(Message):
    TYPE = "stacks"
    DIRECTION = PARENT
    reason: str


class CountsCommand(Message):
    TYPE = "counts"
    DIRECTION = PARENT


#: Every message type, each declared once above.
MESSAGES = (Hello, SetupWarning, Ready, BootFailure, Finding, ExceptionReport, Swallowed, Blocked, Log, Done, Egress,
            Stacks, Counts, StacksCommand, CountsCommand)
_BY_KEY = {(m.DIRECTION, m.TYPE): m for m in MESSAGES}


def encode(message: Message) -> bytes:
    """One line (with its newline) for a declared message."""
    cls = type(message)
    if _BY_KEY.get((cls.DIRECTION, cls.TYPE)) is not cls:
        raise ProtocolError("%s is not a declared message" % cls.__name__)
    data = {"type": cls.TYPE}
    data.update(message.as_json())
    line = (json.dumps(data, default=repr, ensure_ascii=False) + "\n").encode("utf-8", "replace")
    if len(line) > MAX_LINE:
        raise ProtocolError("a %s message of %d bytes is over the %d-byte limit" % (cls.TYPE, len(line), MAX_LINE))
    return line


def decode(line: bytes, direction: str) -> Message:
    """The message of one line (without its newline) sent by ``direction`` (``CHILD`` or ``PARENT``)."""
    if len(line) > MAX_LINE:
        raise ProtocolError(TOO_LONG)
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError("a line that is not JSON (%s): %s" % (exc, _short(line))) from None
    if not isinstance(data, dict):
        raise ProtocolError("a line that is not a JSON object: %s" % _short(line))
    name = data.pop("type", None)
    if not isinstance(name, str):
        raise ProtocolError("a message without a type: %s" % _short(line))
    cls = _BY_KEY.get((direction, name))
    if cls is None:
        raise ProtocolError("an unknown message type %r" % _short(name))
    return cls.from_json(data, name)


def messages(direction: str) -> Iterator[Type[Message]]:
    """The message types ``direction`` sends."""
    return (m for m in MESSAGES if m.DIRECTION == direction)


def choices(cls: Type[Record], field: str) -> Sequence[str]:
    """The values a ``Literal`` field allows (``choices(Finding, "kind")``)."""
    return tuple(getattr(_resolve(cls)[field], "__args__", ()))


# --- checking a value against its declared type -------------------------------------------------


def _resolve(cls: Type[Record]) -> Dict[str, Any]:
    """The field types of ``cls``, resolved once (the annotations are strings until then)."""
    if cls._hints is None:
        namespace = globals()
        hints = {}
        for klass in reversed(cls.__mro__):
            for name, hint in klass.__dict__.get("__annotations__", {}).items():
                if not str(hint).startswith("ClassVar"):
                    hints[name] = eval(hint, namespace) if isinstance(hint, str) else hint  # our own annotations
        cls._hints = hints
    return cls._hints


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it is of type ``hint`` (lists become tuples, objects records), else ``ProtocolError``."""
    origin = getattr(hint, "__origin__", None)
    args: Tuple[Any, ...] = getattr(hint, "__args__", ())
    if hint is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _check(value, options[0], where)
    if origin is Literal:
        if value not in args:
            raise ProtocolError("%s: %s is not one of %s" % (where, _short(repr(value)), ", ".join(args)))
        return value
    if origin is abc.Sequence or origin is tuple:
        if not isinstance(value, list):
            raise ProtocolError("%s: expected a list, got %s" % (where, _kind(value)))
        if origin is abc.Sequence or (len(args) == 2 and args[1] is Ellipsis):
            return tuple(_check(v, args[0], "%s[%d]" % (where, i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ProtocolError("%s: expected %d items, got %d" % (where, len(args), len(value)))
        return tuple(_check(v, a, "%s[%d]" % (where, i)) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError("%s: expected an object, got %s" % (where, _kind(value)))
        return {_check(k, args[0], where): _check(v, args[1], "%s[%r]" % (where, _short(k))) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value, where)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ProtocolError("%s: expected %s, got %s" % (where, getattr(hint, "__name__", hint), _kind(value)))


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_json()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 80) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "..."
