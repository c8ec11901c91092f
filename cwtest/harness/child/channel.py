"""The child's end of the event socket: send a declared message; report an attempt once per place.

``send`` takes a ``protocol.Message`` (never a dict: a test scans this package for that), encodes
it and writes the line; once the parent is gone, messages are dropped. ``finding`` reports an
attempt to leave the sandbox: the first at each place (the workflow's line, or the detail when
the workflow has no frame in the stack), then only at counts that are powers of two; ``counts``
has the exact numbers, for the parent's ``counts`` command.

While the child does something on its own behalf (sending, relaying, binding its socket) the
thread is *internal*: the audit hook ignores what it sees then (``enter``/``leave``).

Standard library only, Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import socket
import sys
import threading

from . import protocol, stacks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

#: The longest detail of a finding (a URL or a path the workflow chose can be any length).
DETAIL_LIMIT = 4000

_local = threading.local()
_lock = threading.Lock()
_sock: Optional[socket.socket] = None
_seen: Dict[Tuple[str, str], int] = {}
_seen_lock = threading.Lock()


def enter() -> None:
    """The thread works for the child now: the audit hook ignores it until ``leave``."""
    _local.internal = getattr(_local, "internal", 0) + 1


def leave() -> None:
    _local.internal -= 1


def is_internal() -> bool:
    return getattr(_local, "internal", 0) > 0


def connect(path: str) -> socket.socket:
    """Connect to the parent's event socket; every later ``send`` writes there."""
    global _sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    _sock = sock
    return sock


def send(message: protocol.Message) -> None:
    """One line to the parent; silently dropped once the parent is gone (or the line is too long)."""
    global _sock
    if _sock is None:
        return
    enter()
    try:
        data = protocol.encode(message)
        with _lock:
            _sock.sendall(data)
    except protocol.ProtocolError:
        pass
    except OSError:
        _sock = None
    finally:
        leave()


def finding(kind: protocol.AttemptKind, detail: str, frames: Optional[List[Any]] = None) -> None:
    """Report an attempt; each (kind, workflow line) or (kind, detail) once, then counts at powers of 2."""
    if frames is None:
        frames = stacks.frames_of(sys._getframe(1))
    frames = stacks.trim(frames)
    where = stacks.location(frames)
    if len(detail) > DETAIL_LIMIT:
        detail = detail[:DETAIL_LIMIT] + "..."
    key = (kind, where) if where else (kind, detail)
    with _seen_lock:
        count = _seen.get(key, 0) + 1
        _seen[key] = count
    if count & (count - 1):
        return  # not a power of two: counted, not sent
    send(protocol.Finding(kind=kind, detail=detail, location=where, stack=stacks.render(frames), count=count,
                          key=key))


def counts() -> protocol.Counts:
    """The exact count of every finding so far."""
    with _seen_lock:
        return protocol.Counts(counts=list(_seen.items()))
