"""State that lives for one simulated run: web pages to scrape and the key-value store.

Both are plain, thread-safe Python objects so that a test can fill and inspect them directly
while the server runs in another thread.
"""

from __future__ import annotations

import mimetypes
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cwtest.simulator.generate import paragraph, sentence


def normalize_url(url: str) -> str:
    """The key a page is stored under: no trailing slash, no fragment."""
    return url.split("#", 1)[0].rstrip("/")


@dataclass(frozen=True)
class Page:
    """A web page as firecrawl and the Chrome extension return it."""

    url: str
    markdown: str
    html: str
    title: str
    status_code: int = 200


def _markdown_to_html(markdown: str) -> str:
    lines = []
    for line in markdown.splitlines():
        if line.startswith("# "):
            lines.append(f"<h1>{line[2:]}</h1>")
        elif line.strip():
            lines.append(f"<p>{line}</p>")
    return "<html><body>" + "".join(lines) + "</body></html>"


class Pages:
    """Pages a test registered; any other URL gets a generated page, the same for the same seed."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._pages: dict[str, Page] = {}
        self._lock = threading.Lock()

    def add(self, url: str, markdown: str | None = None, *, html: str | None = None,
            title: str | None = None, status_code: int = 200) -> Page:
        """Register what ``url`` shows; re-adding a URL changes the page (a website that changed)."""
        if markdown is None and html is None:
            raise ValueError("a page needs markdown or html")
        markdown = markdown if markdown is not None else ""
        title = title or next((ln[2:] for ln in markdown.splitlines() if ln.startswith("# ")), url)
        page = Page(url, markdown, html if html is not None else _markdown_to_html(markdown), title, status_code)
        with self._lock:
            self._pages[normalize_url(url)] = page
        return page

    def remove(self, url: str) -> None:
        with self._lock:
            self._pages.pop(normalize_url(url), None)

    def registered(self, url: str) -> Page | None:
        with self._lock:
            return self._pages.get(normalize_url(url))

    def get(self, url: str) -> Page:
        page = self.registered(url)
        if page is not None:
            return page
        rng = random.Random(f"{self._seed}:page:{normalize_url(url)}")
        title = sentence(rng, 4).rstrip(".")
        markdown = f"# {title}\n\n{paragraph(rng, 3)}\n\n{paragraph(rng, 2)}\n"
        return Page(url, markdown, _markdown_to_html(markdown), title)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


class KeyValueStore:
    """``redis_coordinator``'s get/set form: string values with an optional TTL in seconds.

    ``clock`` is injectable so that a test can expire a key without sleeping.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._values: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.Lock()

    def set(self, key: str, value: str, ttl: int | None = None) -> None:
        expires = self.clock() + ttl if ttl is not None else None
        with self._lock:
            self._values[key] = (value, expires)

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._values.get(key)
            if entry is None:
                return None
            value, expires = entry
            if expires is not None and self.clock() >= expires:
                del self._values[key]
                return None
            return value

    def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires; None when it never does or does not exist."""
        with self._lock:
            entry = self._values.get(key)
        if entry is None or entry[1] is None:
            return None
        return max(0.0, entry[1] - self.clock())

    def snapshot(self) -> dict[str, str]:
        """Every live key and its value."""
        with self._lock:
            keys = list(self._values)
        return {key: value for key in keys if (value := self.get(key)) is not None}

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


#: Python's own table of types, without the machine's /etc/mime.types, so that every machine
#: asks for the same Content-Type.
_TYPES = mimetypes.MimeTypes()


def content_type_of(filename: str) -> str:
    return _TYPES.guess_type(filename)[0] or "application/octet-stream"


#: What 0.3.4 (and 0.4.11 without ``upload_headers``) sends on every presigned PUT, lower-cased.
LEGACY_PUT_HEADERS = {"content-type": "application/octet-stream", "x-amz-acl": "public-read"}
#: The custom header each upload slot asks for (with a value of its own), like a signed S3 header.
SLOT_HEADER = "x-amz-meta-cwtest-upload"


@dataclass(frozen=True)
class Upload:
    """A file a workflow uploaded through ``POST /file`` and the presigned PUT."""

    filename: str
    content: bytes
    #: The PUT's headers (0.3.4 always sends ``x-amz-acl: public-read``; 0.4.11 sends ``upload_headers``).
    headers: dict[str, str]
    #: The ``upload_headers`` that ``POST /file`` answered for this slot.
    upload_headers: dict[str, str] = field(default_factory=dict)
    #: True when the PUT sent the legacy pair instead of ``upload_headers`` (a client that ignores
    #: them, such as 0.3.4); ``missing_headers`` then names what it left out or changed.
    legacy: bool = False
    missing_headers: tuple[str, ...] = ()


@dataclass
class _Slot:
    token: str
    signature: str
    filename: str
    #: The headers the PUT must carry (sent to the client as ``upload_headers``).
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str | None = None


class FileStore:
    """Upload slots, like presigned S3 URLs: the PUT needs the signature, the GET does not.

    Each slot also asks for headers (``upload_headers``): a content type from the file name and
    a custom ``x-amz-meta-`` header with a value of its own, checked on the PUT like headers an S3
    presign signed. A PUT that sends exactly the legacy pair instead (``Content-Type:
    application/octet-stream``, ``x-amz-acl: public-read``: what a client that ignores
    ``upload_headers`` sends) is accepted and recorded as ``legacy`` unless ``accept_legacy`` is
    False; any other PUT that lacks or changes an asked header is refused (403).
    """

    def __init__(self, accept_legacy: bool = True) -> None:
        self.accept_legacy = accept_legacy
        self._slots: dict[str, _Slot] = {}
        self._uploads: list[Upload] = []
        self._lock = threading.Lock()

    def reserve(self, filename: str) -> _Slot:
        headers = {"Content-Type": content_type_of(filename), SLOT_HEADER: secrets.token_hex(8)}
        slot = _Slot(secrets.token_hex(8), secrets.token_hex(16), filename, headers)
        with self._lock:
            self._slots[slot.token] = slot
        return slot

    def upload(self, token: str, signature: str, content: bytes, headers: dict[str, str]) -> str | None:
        """Store a PUT's bytes; returns why it was refused (a 403), or None when stored."""
        with self._lock:
            slot = self._slots.get(token)
            if slot is None or not secrets.compare_digest(slot.signature, signature):
                return "invalid upload signature"
            sent = {name.lower(): value.strip() for name, value in headers.items()}
            missing = tuple(name for name, value in slot.headers.items() if sent.get(name.lower()) != value)
            legacy = bool(missing) and all(sent.get(k) == v for k, v in LEGACY_PUT_HEADERS.items())
            if missing and not (legacy and self.accept_legacy):
                asked = ", ".join(f"{name}: {slot.headers[name]}" for name in missing)
                if legacy:
                    return (f"legacy upload refused: the PUT sent x-amz-acl: public-read and Content-Type: "
                            f"application/octet-stream instead of the upload_headers ({asked})")
                return f"the PUT lacks or changes signed upload_headers: {asked}"
            slot.content = content
            slot.content_type = sent.get("content-type")
            self._uploads.append(Upload(slot.filename, content, headers, dict(slot.headers), legacy, missing))
        return None

    def store(self, filename: str, content: bytes) -> str:
        """Keep bytes the simulator produced itself; returns the path they are served at."""
        slot = self.reserve(filename)
        slot.content = content
        return f"/files/{slot.token}/{filename}"

    def download(self, token: str, filename: str) -> tuple[bytes, str] | None:
        """The file's bytes and content type: the PUT's, like S3, else one guessed from the name."""
        with self._lock:
            slot = self._slots.get(token)
        if slot is None or slot.filename != filename or slot.content is None:
            return None
        return slot.content, slot.content_type or content_type_of(filename)

    def uploads(self) -> list[Upload]:
        with self._lock:
            return list(self._uploads)

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()
            self._uploads.clear()
