"""The result cache: ``.cwlint_cache/`` in the project root, so a warm run replays findings.

Layout (everything below the cache directory is disposable)::

    .cwlint_cache/
      .gitignore, CACHEDIR.TAG          so that git and backup tools leave it alone
      <code key>/                        cwlint's version, Python's, and a fingerprint of
        rules.json                       cwlint's own source files and service catalog;
        <run key>/                       the registry of rules (codes, names, docs), so a
          <path key>.json                warm run need not import a single rule;
                                         settings.fingerprint() and the enabled rules;
                                         one entry per linted file, named after its path

An entry holds the file's findings, fixes and edits included (files *with* findings are
cached too, unlike ruff), and is valid only for the exact bytes it was computed from (a
BLAKE2 digest of the content, never an mtime), the file's effective rule set (after
``per-file-ignores``) and the names of importable modules beside the file that its text
mentions (CW402 treats them as local imports; both read the run's one
:class:`~cwlint.modules.ModuleIndex`). Anything else a rule may read is fixed by the code key.
A rule whose findings depend on anything more must extend :meth:`Cache.lookup` and
:meth:`Cache.store`. The entry records the local names it saw and a hash of the whole folder's
module names: while the folder's names are unchanged (the common case), a lookup need not
read the file's words again.

Secrets are not written: a diagnostic's secret values are stored as offsets into the text
they came from (or, when they do not occur in it verbatim, masked in the stored strings).

Nothing here is ever fatal: an entry that cannot be read, parsed or trusted is a miss, a
directory that cannot be written is a cache that stores nothing. Writes are atomic (a
temporary file in the same directory, then ``os.replace``), so two cwlint processes may
share a cache: the worst case is that both lint a file and one entry wins.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable

from cwlint import __version__
from cwlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Position, Severity
from cwlint.modules import DirectoryIndex, ModuleIndex
from cwlint.source import write_atomic

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a warm run never needs it)
if TYPE_CHECKING:
    from typing import Any

    from cwlint.config import StrPath

#: Bumped whenever the entry layout changes.
FORMAT = 2
CACHE_DIR_NAME = ".cwlint_cache"
#: Code-key directories of other cwlint versions unused for this long are removed.
STALE_AFTER = 14 * 24 * 3600

try:  # the BLAKE2 module alone: hashlib would load OpenSSL first, a few ms at every start
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - CPython always has it
    from hashlib import blake2b

_PACKAGE = os.path.dirname(os.path.realpath(__file__))
#: Every byte that cannot be part of an identifier (ASCII other than letters, digits and ``_``) as
#: a space: ``data.translate(_WORDS).split()`` gives words among which is every identifier of the
#: file, non-ASCII ones whole (UTF-8), far faster than a regex.
_WORDS = bytes(b if b >= 0x80 or chr(b).isalnum() or b == ord("_") else ord(" ") for b in range(256))


def digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


def _hash(*parts: str) -> str:
    return blake2b("\0".join(parts).encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def code_fingerprint() -> str:
    """cwlint's version, Python's, and the size and mtime of every source and catalog file.

    In an installed wheel this is the version; in an editable checkout, editing a rule or a
    catalog file starts a new cache, so a stale entry can never outlive the code it came from.
    """
    entries: list[str] = [__version__, str(FORMAT), sys.version, sys.implementation.name]
    roots = [_PACKAGE]
    packaged = os.path.join(_PACKAGE, "_catalog")
    catalog = packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(_PACKAGE), "rules")
    if os.path.isdir(catalog):
        roots.append(catalog)
    for root in roots:
        for folder, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith((".py", ".toml", ".json")):
                    path = os.path.join(folder, name)
                    try:
                        info = os.stat(path)
                    except OSError:
                        continue
                    entries.append(f"{path[len(root) + 1:]}:{info.st_size}:{info.st_mtime_ns}")
    return _hash(*entries)


# -- diagnostics to and from JSON -----------------------------------------------------------


def dump_diagnostic(diagnostic: Diagnostic, text: str | None) -> dict[str, Any]:
    secrets_at: list[list[int]] = []
    hidden: list[str] = []
    for value in diagnostic.secrets:
        at = text.find(value) if text is not None and value else -1
        if at >= 0:
            secrets_at.append([at, at + len(value)])
        elif value:
            hidden.append(value)

    def clean(message: str) -> str:
        if not hidden:
            return message
        from cwlint.secrets import redact

        return redact(message, hidden)

    fix = None
    if diagnostic.fix is not None:
        fix = {
            "m": clean(diagnostic.fix.message),
            "a": diagnostic.fix.applicability.value,
            "e": [[e.start, e.end, clean(e.content)] for e in diagnostic.fix.edits],
        }
    from cwlint.secrets import redact

    return {
        "c": diagnostic.code,
        "n": diagnostic.name,
        # as the outputs show it (every credential masked): a warm run replays it without redacting
        # it again, and the cache never holds a secret whole in a message
        "m": diagnostic.message if diagnostic.redacted else redact(diagnostic.message, diagnostic.secrets),
        "r": 1,
        "s": [diagnostic.start.line, diagnostic.start.column],
        "e": [diagnostic.end.line, diagnostic.end.column],
        "v": diagnostic.severity.value,
        "q": diagnostic.noqa_line,
        "f": fix,
        "x": secrets_at,
    }


def load_diagnostic(record: dict[str, Any], text: str | None) -> Diagnostic:
    fix = None
    if record["f"] is not None:
        f = record["f"]
        fix = Fix(str(f["m"]), tuple(Edit(int(s), int(e), str(c)) for s, e, c in f["e"]), Applicability(f["a"]))
    secrets: tuple[str, ...] = ()
    if record["x"]:
        if text is None:
            raise ValueError("secret offsets without a text")
        secrets = tuple(text[int(s) : int(e)] for s, e in record["x"])
    noqa_line = record["q"]
    diagnostic = Diagnostic(
        code=str(record["c"]),
        name=str(record["n"]),
        message=str(record["m"]),
        start=Position(int(record["s"][0]), int(record["s"][1])),
        end=Position(int(record["e"][0]), int(record["e"][1])),
        severity=Severity(record["v"]),
        fix=fix,
        noqa_line=int(noqa_line) if noqa_line is not None else None,
        secrets=secrets,
    )
    diagnostic.redacted = bool(record.get("r"))
    return diagnostic


# -- the cache ------------------------------------------------------------------------------


def _write_atomic(path: str, data: str) -> None:
    write_atomic(path, data.encode("utf-8"))


class Cache:
    """One run's view of the cache: bound to a code key, then to settings and rules."""

    def __init__(self, directory: StrPath, root: StrPath, code_key: str | None = None, modules: ModuleIndex | None = None) -> None:
        self.directory = os.fspath(directory)
        self.root = os.fspath(root)
        self._root_prefix = os.path.join(os.path.abspath(root), "")
        self.code_key = code_key or code_fingerprint()
        self.code_dir = os.path.join(self.directory, self.code_key)
        self.run_dir: str | None = None
        self._ready = False
        #: What lies beside each file: the same index the linter reads (a fresh listing by default).
        self.modules: ModuleIndex = modules if modules is not None else DirectoryIndex()
        self._encoded: dict[frozenset[str], frozenset[bytes]] = {}
        self._enabled: tuple[object, str] = (None, "")
        self._folders: dict[frozenset[str], str] = {}
        #: Counters for tests and --verbose-style diagnostics: hits, misses, writes, errors.
        self.stats = {"hits": 0, "misses": 0, "writes": 0, "errors": 0}

    # -- the registry of rules --------------------------------------------------------------
    def rules(self) -> dict[str, dict[str, Any]] | None:
        """The rule registry recorded by a cold run of this exact code, or None."""
        try:
            with open(os.path.join(self.code_dir, "rules.json"), "rb") as handle:
                data = json.loads(handle.read())
            if data.get("format") != FORMAT or data.get("code_key") != self.code_key:
                return None
            rules = data["rules"]
            if not isinstance(rules, dict) or not all(isinstance(v, dict) and "name" in v for v in rules.values()):
                return None
            return rules
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save_rules(self, rules: dict[str, dict[str, Any]]) -> None:
        if not self._prepare(self.code_dir):
            return
        payload = json.dumps({"format": FORMAT, "code_key": self.code_key, "rules": rules}, ensure_ascii=False)
        try:
            _write_atomic(os.path.join(self.code_dir, "rules.json"), payload)
        except OSError:
            self.stats["errors"] += 1

    # -- the bundled catalog's data ---------------------------------------------------------
    def catalog_data(self) -> dict[str, dict[str, Any]] | None:
        """The catalog files' data as a cold run of this exact code read them (TOML costs more)."""
        try:
            with open(os.path.join(self.code_dir, "catalog.json"), "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("code_key") != self.code_key or not isinstance(data.get("services"), dict):
            return None
        return data["services"]

    def save_catalog_data(self, services: dict[str, dict[str, Any]]) -> None:
        if not self._prepare(self.code_dir):
            return
        try:
            payload = json.dumps({"code_key": self.code_key, "services": services}, ensure_ascii=False)
            _write_atomic(os.path.join(self.code_dir, "catalog.json"), payload)
        except (OSError, TypeError, ValueError):  # TypeError: a TOML value JSON cannot hold (a date)
            self.stats["errors"] += 1

    # -- the rules' data files (rules/secrets, rules/blocking, ...) -----------------------------
    def rule_data(self) -> dict[str, dict[str, Any]] | None:
        """The rule data files' data as a cold run of this exact code read them (by path under
        ``rules/``), or None."""
        try:
            with open(os.path.join(self.code_dir, "data.json"), "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("code_key") != self.code_key or not isinstance(data.get("files"), dict):
            return None
        return data["files"]

    def save_rule_data(self, files: dict[str, dict[str, Any]]) -> None:
        if not self._prepare(self.code_dir):
            return
        try:
            payload = json.dumps({"code_key": self.code_key, "files": files}, ensure_ascii=False)
            _write_atomic(os.path.join(self.code_dir, "data.json"), payload)
        except (OSError, TypeError, ValueError):  # TypeError: a TOML value JSON cannot hold (a date)
            self.stats["errors"] += 1

    # -- binding a run ----------------------------------------------------------------------
    def bind(self, settings_fingerprint: str, enabled: Iterable[str]) -> None:
        self.run_dir = os.path.join(self.code_dir, _hash(settings_fingerprint, ",".join(sorted(enabled))))

    def _prepare(self, target: str) -> bool:
        """Create the cache directory (with its .gitignore) and ``target``; False if impossible."""
        try:
            if not self._ready:
                fresh = not os.path.isdir(self.directory)
                os.makedirs(self.directory, exist_ok=True)
                if fresh or not os.path.exists(os.path.join(self.directory, ".gitignore")):
                    _write_atomic(os.path.join(self.directory, ".gitignore"), "# Created by cwlint automatically.\n*\n")
                    _write_atomic(
                        os.path.join(self.directory, "CACHEDIR.TAG"),
                        "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cwlint.\n",
                    )
                if not os.path.isdir(self.code_dir):
                    os.mkdir(self.code_dir)
                    self._prune()
                self._ready = True
            os.makedirs(target, exist_ok=True)
            return True
        except OSError:
            self.stats["errors"] += 1
            return False

    def _prune(self) -> None:
        """Remove other code keys' directories unused for STALE_AFTER (best effort)."""
        import shutil

        now = time.time()
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            child = os.path.join(self.directory, name)
            if child == self.code_dir or not os.path.isdir(child) or len(name) != 20:
                continue
            marker = os.path.join(child, "rules.json")
            try:
                used = os.stat(marker if os.path.exists(marker) else child).st_mtime
            except OSError:
                continue
            if now - used > STALE_AFTER:
                shutil.rmtree(child, ignore_errors=True)

    def touch(self) -> None:
        """Mark this code key as in use (one utime per run), so pruning spares it."""
        try:
            os.utime(os.path.join(self.code_dir, "rules.json"))
        except OSError:
            pass

    # -- entries ----------------------------------------------------------------------------
    def relative(self, path: str) -> str:
        """``path`` relative to the project root, with ``/`` (absolute when outside it)."""
        absolute = os.path.abspath(path)
        if absolute.startswith(self._root_prefix):
            absolute = absolute[len(self._root_prefix) :]
        return absolute.replace(os.sep, "/")

    def _siblings(self, path: str) -> frozenset[bytes]:
        names = self.modules.beside(path)
        encoded = self._encoded.get(names)
        if encoded is None:
            encoded = self._encoded[names] = frozenset(n.encode("utf-8", "surrogateescape") for n in names)
        return encoded

    def _rules_key(self, enabled: Iterable[str]) -> str:
        """The codes on for a file, hashed (once per run: the same set for every file without
        per-file ignores)."""
        if enabled is not self._enabled[0]:
            self._enabled = (enabled, _hash(",".join(sorted(enabled))))
        return self._enabled[1]

    def _folder_key(self, path: str) -> str:
        """Every module name beside ``path``, hashed (once per folder)."""
        names = self.modules.beside(path)
        key = self._folders.get(names)
        if key is None:
            key = self._folders[names] = _hash(*sorted(names))
        return key

    def _local(self, path: str, data: bytes) -> list[str]:
        """The module names beside ``path`` that ``data`` holds as a word."""
        siblings = self._siblings(path)
        if not siblings:
            return []
        found = siblings.intersection(data.translate(_WORDS).split())
        return sorted(name.decode("utf-8", "surrogateescape") for name in found)

    def _entry(self, relative: str) -> str:
        assert self.run_dir is not None, "bind() the cache first"
        return os.path.join(self.run_dir, f"{_hash(relative)}.json")

    def lookup(self, path: str, data: bytes, enabled: Iterable[str]) -> list[dict[str, Any]] | None:
        """The stored records (see :func:`load_diagnostic`) of ``path`` with exactly ``data``."""
        relative = self.relative(path)
        try:
            with open(self._entry(relative), "rb") as handle:
                raw = handle.read()
            entry = json.loads(raw)
            valid = (
                isinstance(entry, dict)
                and entry.get("format") == FORMAT
                and entry.get("version") == __version__
                and entry.get("path") == relative
                and entry.get("digest") == digest(data)
                and entry.get("rules") == self._rules_key(enabled)
                # Same bytes, so the same words: the local names can differ only if the folder's did.
                and (entry.get("folder") == self._folder_key(path) or entry.get("local") == self._local(path, data))
                and isinstance(entry.get("diagnostics"), list)
            )
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            valid, entry = False, None
        if not valid:
            self.stats["misses"] += 1
            return None
        self.stats["hits"] += 1
        return entry["diagnostics"]

    def store(self, path: str, data: bytes, enabled: Iterable[str], diagnostics: list[Diagnostic], text: str | None) -> None:
        if self.run_dir is None or not self._prepare(self.run_dir):
            return
        relative = self.relative(path)
        entry = {
            "format": FORMAT,
            "version": __version__,
            "path": relative,
            "digest": digest(data),
            "rules": self._rules_key(enabled),
            "folder": self._folder_key(path),
            "local": self._local(path, data),
            "diagnostics": [dump_diagnostic(d, text) for d in diagnostics],
        }
        try:
            _write_atomic(self._entry(relative), json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
            self.stats["writes"] += 1
        except (OSError, ValueError):
            self.stats["errors"] += 1


def cache_directory(root: StrPath, override: str | None = None) -> str:
    chosen = override or os.environ.get("CWLINT_CACHE_DIR")
    if chosen:
        return os.path.abspath(chosen)
    return os.path.join(root, CACHE_DIR_NAME)
