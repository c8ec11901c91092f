"""Reading a file into text the linter can work on, and writing it back unchanged in form.

A file is read as bytes and decoded by hand (never with universal newlines), so CRLF, a BOM, a
PEP 263 encoding and the file's mode survive a ``--fix`` exactly. Anything that stops a file
from being read becomes a :class:`FileProblem`, which the engine reports as one CW9xx finding.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat

from cwlint.records import Record

DEFAULT_MAX_FILE_SIZE = 1_000_000
_NEWLINE = re.compile(r"\r\n|\r|\n")


class FileProblem(Exception):
    """A file the linter cannot read as Python source; ``code`` is its CW9xx code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SourceFile(Record):
    """A file's text as the linter sees it, and how to write it back in the same form."""

    __slots__ = ("path", "text", "encoding", "bom")

    def __init__(self, path: str, text: str, encoding: str = "utf-8", bom: bool = False) -> None:
        self.path = path  #: as the user named it (or --stdin-filename)
        self.text = text  #: decoded, without the BOM
        self.encoding = encoding
        self.bom = bom

    @property
    def newline(self) -> str:
        match = _NEWLINE.search(self.text)
        return match.group() if match else "\n"

    def encode(self, text: str | None = None) -> bytes:
        data = (self.text if text is None else text).encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def line_starts(text: str) -> list[int]:
    """Offsets at which each line starts (lines split as LibCST and CPython split them)."""
    return [0] + [m.end() for m in _NEWLINE.finditer(text)]


def _first_two_lines(data: bytes) -> bytes:
    """What ``tokenize.detect_encoding`` reads: up to the second ``\n``."""
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    return data if second < 0 else data[: second + 1]


def decode(data: bytes, path: str) -> SourceFile:
    """Decode source bytes as CPython would, honouring a BOM and a PEP 263 declaration."""
    if b"\0" in data[:8192]:
        raise FileProblem("CW904", "binary file (contains NUL bytes), not Python source")
    if data.startswith(codecs.BOM_UTF8) or b"coding" in _first_two_lines(data):
        import tokenize  # a BOM or a PEP 263 declaration (which says "coding"): ask CPython's reader

        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            if "unknown encoding" in str(exc):
                raise FileProblem("CW903", f"cannot decode: {exc}") from None
            encoding = "utf-8"  # invalid UTF-8 in the first lines: say which byte, below
    else:
        encoding = "utf-8"  # what detect_encoding says of every other file
    bom = encoding == "utf-8-sig"
    if bom:
        encoding = "utf-8"
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        declared = "declared " if encoding != "utf-8" or b"coding" in data[:200] else ""
        raise FileProblem(
            "CW903",
            f"not valid {declared}{encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start}"
            " (add a PEP 263 '# -*- coding: ... -*-' line or re-save as UTF-8)",
        ) from None
    except LookupError:
        raise FileProblem("CW903", f"unknown encoding {encoding!r} in the coding declaration") from None
    return SourceFile(path=path, text=text, encoding=encoding, bom=bom)


def too_large(size: int, max_size: int) -> FileProblem:
    """CW905 for a file of ``size`` bytes (on disk, or a buffer's UTF-8) over ``max-file-size``."""
    return FileProblem("CW905", f"skipped: {size:,} bytes is over the {max_size:,}-byte limit (max-file-size)")


def read_bytes(path: str, max_size: int = DEFAULT_MAX_FILE_SIZE) -> bytes:
    """The file's bytes, or a FileProblem: CW905 over ``max_size``, CW906 when unreadable."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem("CW906", "not a regular file")
        if max_size and info.st_size > max_size:
            raise too_large(info.st_size, max_size)
        with open(path, "rb") as handle:
            return handle.read()
    except FileProblem:
        raise
    except OSError as exc:
        raise FileProblem("CW906", f"cannot read: {exc.strerror or exc}") from None


def read(path: str, max_size: int = DEFAULT_MAX_FILE_SIZE) -> SourceFile:
    return decode(read_bytes(path, max_size), path)


def _create_beside(target: str) -> tuple[int, str]:
    """A new private file (0600) beside ``target``, as ``tempfile.mkstemp`` makes one, without
    importing tempfile (with random and shutil, several ms of a run that writes a cache entry)."""
    folder, base = os.path.split(target)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.cwlint")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def write_atomic(path: str, data: bytes) -> None:
    """Replace (or create) ``path`` with ``data`` atomically, keeping its permissions."""
    target = os.path.realpath(path)  # write through a symlink, never over it
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file keeps the temporary file's private 0600
    fd, tmp = _create_beside(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
