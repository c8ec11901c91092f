"""Credential formats, the tests that tell a secret from a look-alike, and masking.

CW301 detects with these; every reporter masks with :func:`redact`, whatever rules ran, so a
secret never reaches the terminal, a diff or JSON whole. A prefix format beats entropy here:
``cwk-`` plus 64 hex separates a CodeWords key from a sha256 digest, which entropy cannot.
"""

from __future__ import annotations

import functools
import math
import re

_COMPILED: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    """``re.compile``, kept here for good (re's own cache may drop a pattern after 512 others)."""
    pattern = _COMPILED.get(regex)
    if pattern is None:
        pattern = _COMPILED[regex] = re.compile(regex)
    return pattern


class SecretFormat(tuple[str, str, str, str, int, tuple[str, ...], str]):
    """A credential format (one entry of ``rules/secrets/formats.toml``): its id, its name, its
    regex, the env var a fix reads it from, the regex group of the secret, its keywords, its source.

    An immutable named tuple rather than a dataclass, and the regex compiled on first use:
    every reporter imports this module to redact, and the keywords spare most runs every
    regex (so neither ``dataclasses`` nor the compiles belong in their start-up).
    """

    __slots__ = ()

    def __new__(
        cls,
        id: str,
        name: str,
        regex: str,
        env_var: str,
        group: int = 0,
        keywords: tuple[str, ...] = (),
        source: str = "",
    ) -> SecretFormat:
        return tuple.__new__(cls, (id, name, regex, env_var, group, keywords, source))

    def __getnewargs__(self) -> tuple[str, str, str, str, int, tuple[str, ...], str]:
        return (self[0], self[1], self[2], self[3], self[4], self[5], self[6])

    @property
    def id(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]

    @property
    def regex(self) -> str:
        return self[2]

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self[2])

    @property
    def env_var(self) -> str:
        """The env var the fix reads the value from when the literal's own name says nothing."""
        return self[3]

    @property
    def group(self) -> int:
        """The regex group holding the secret itself (0: the whole match)."""
        return self[4]

    @property
    def keywords(self) -> tuple[str, ...]:
        """Lower-case substrings one of which every match holds (tests/test_secrets_hints.py
        proves it from the regex): the regex is tried only when one occurs."""
        return self[5]

    @property
    def source(self) -> str:
        return self[6]


#: The data file of provider formats (rules/secrets/formats.toml), each with its source.
FORMATS_FILE = "secrets/formats.toml"


@functools.cache
def secret_formats() -> tuple[SecretFormat, ...]:
    """Every provider format, read once per process, the first time a literal needs it."""
    from cwlint.analysis.data import load

    return tuple(
        SecretFormat(
            id=entry["id"],
            name=entry["name"],
            regex=entry["regex"],
            env_var=entry["env_var"],
            group=entry.get("group", 0),
            keywords=tuple(entry.get("keywords", ())),
            source=entry.get("source", ""),
        )
        for entry in load(FORMATS_FILE)["format"]
    )


@functools.cache
def _keywords() -> re.Pattern[str]:
    """Every format's (lower-case) keywords in one pattern, searched in the lowered text: the
    per-format test below compares with the lowered text too, and without IGNORECASE re skips
    ahead by the keywords' first characters (5x faster on text holding none, most text)."""
    words = sorted({word for fmt in secret_formats() for word in fmt.keywords}, key=len, reverse=True)
    return re.compile("|".join(re.escape(word) for word in words))


#: Almost no string literal holds a credential: before any keyword, a value must hold a run
#: of token characters as long as the shortest format's secret, a PEM header, or a URL with
#: a password. One scan with a single character class rules out messages, names and labels.
_CANDIDATE = re.compile(r"[A-Za-z0-9_\-+/=.~%:]{16,}|-----BEGIN|://[^\s/@]*:[^\s/@]*@")
#: Off only in tests/test_secrets_hints.py, which checks the shortcuts above change no result.
_SHORTCUTS = True


_PLACEHOLDER_WORDS = re.compile(
    r"(?i)your|example|dummy|changeme|change[-_]me|placeholder|replace|redacted|insert|xxxx|\*\*\*"
    r"|todo|fixme|sample|fake|test[-_]?key|secret[-_]?here|key[-_]?here|token[-_]?here|<|>|\$\{|\{\{|\.\.\."
)
_PASSWORD_PLACEHOLDERS = frozenset({"password", "pass", "passwd", "pwd", "secret", "token", "user", "username"})
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(?:[_.:\-/][a-z0-9{}]+)*$")
_HEADER_NAME = re.compile(r"^(?:[A-Za-z][a-z]*-)*[A-Za-z][A-Za-z]*$")
_HEX = re.compile(r"^(?:sha\d+:)?[0-9a-fA-F]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Splits a name into lower-case words: ``OPENAI_API_KEY``, ``openai-api-key``, ``apiKey``.
_WORDS = re.compile(r"[_.\-\s]+|(?<=[a-z0-9])(?=[A-Z])")

# -- the one list of secret-like names (CW301, CW302, CW403, and redaction) ----------------------
#
# A name is secret-like by its last word (the thing it names), in any case and in any
# spelling (``DB_PASS``, ``db_pass``, ``dbPass``, ``"db-pass"`` as a dict key):
#   *_PASSWORD, *_PASS, *_PASSWD, *_PWD, *_PASSPHRASE          -> "password"
#   *_SECRET*  (a word anywhere: CLIENT_SECRET, SECRET_KEY,
#              WEBHOOK_SECRET_VALUE; not SECRET_NAME/SECRET_ARN...) -> "secret"
#   *_TOKEN    (not MAX_TOKENS, PAGE_TOKEN's kin, TOKEN_URL)        -> "token"
#   *_API_KEY, *_APIKEY, *_PRIVATE_KEY, *_SIGNING_KEY, *_ACCESS_KEY,
#   and *_KEY unless the word before says a lookup key (CACHE_KEY) -> "key"
#   *_CREDENTIALS, *_CREDENTIAL, *_CREDS                         -> "credentials"
#   *_AUTH                                                       -> "auth"
PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase"})
#: Last words that make a secret-word name a name *about* the secret, not the secret.
METADATA_WORDS = frozenset(
    {"name", "names", "id", "ids", "arn", "path", "file", "filename", "url", "uri", "endpoint", "header",
     "headers", "env", "var", "field", "param", "column", "length", "len", "size", "type", "version",
     "prefix", "label", "ref", "scope", "scopes", "count", "manager", "store", "provider", "location",
     "expiry", "expires", "ttl", "format", "regex", "pattern", "hint", "policy"}
)
#: Words before ``KEY`` that make it a lookup key, not a credential (``CACHE_KEY``).
NOT_SECRET_KEYS = frozenset(
    {"cache", "sort", "partition", "primary", "foreign", "hash", "range", "object", "s3", "bucket", "redis",
     "lookup", "dedup", "dedupe", "idempotency", "public", "publishable", "routing", "group", "index",
     "queue", "stream", "topic", "result", "lock", "state", "header", "field", "param", "column", "env",
     "etag", "checksum", "digest", "dict", "map", "row", "json", "config", "storage", "file", "blob",
     "snapshot", "unique", "composite", "shard", "counter", "rate", "limit", "throttle", "event", "job",
     "task", "item", "record", "doc", "document", "entity", "table", "attribute", "attr", "prop",
     "property", "data", "metadata", "meta", "translation", "i18n", "sentinel", "pubsub"}
)
#: Words before ``TOKEN`` that make it a count or a cursor, not a credential.
NOT_SECRET_TOKENS = frozenset(
    {"max", "num", "total", "input", "output", "completion", "prompt", "count", "limit", "page", "next",
     "continuation", "cursor", "pagination", "cancel", "cancellation", "sync"}
)
#: The kinds whose names say key, token, secret or password: a digest-looking value bound to
#: one is a key (weather and data APIs issue 32 hex characters), not a checksum.
NAMED_KINDS = frozenset({"password", "secret", "token", "key"})


class Match(tuple[SecretFormat, int, int]):
    """A credential found: its format, and its offsets inside the string value."""

    __slots__ = ()

    def __new__(cls, format: SecretFormat, start: int, end: int) -> Match:
        return tuple.__new__(cls, (format, start, end))

    def __getnewargs__(self) -> tuple[SecretFormat, int, int]:
        return (self[0], self[1], self[2])

    @property
    def format(self) -> SecretFormat:
        return self[0]

    @property
    def start(self) -> int:
        return self[1]

    @property
    def end(self) -> int:
        return self[2]

    def value(self, text: str) -> str:
        return text[self.start : self.end]


def find_credentials(value: str) -> list[Match]:
    """Credentials in a known format inside ``value``, placeholders excluded."""
    if _SHORTCUTS and (len(value) < 16 or not _CANDIDATE.search(value)):
        return []
    lowered = value.lower()
    if _SHORTCUTS and not _keywords().search(lowered):
        return []
    found: list[Match] = []
    for fmt in secret_formats():
        if _SHORTCUTS and not any(word in lowered for word in fmt.keywords):
            continue
        for match in fmt.pattern.finditer(value):
            start, end = match.span(fmt.group)
            secret = value[start:end]
            if is_placeholder(secret) or _low_variety(secret):
                continue
            if fmt.group and secret.lower() in _PASSWORD_PLACEHOLDERS:
                continue
            if any(m.start <= start < m.end for m in found):
                continue
            found.append(Match(fmt, start, end))
    return found


def is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER_WORDS.search(value))


def _low_variety(value: str) -> bool:
    """``sk-xxxxxxxx...``, ``cwk-0000...``: a shape filled in by hand, not a key."""
    return len(set(value)) < 6


def name_words(name: str) -> list[str]:
    """The lower-case words of a name's last dotted part (``self.apiKey`` -> api, key)."""
    last = name.rsplit(".", 1)[-1] if "." in name and not name.startswith(".") else name
    return [word.lower() for word in _WORDS.split(last) if word]


def secret_kind(name: str) -> str | None:
    """What secret a name says it holds (``OPENAI_API_KEY`` -> key, ``ROOT_PASS`` -> password),
    or None (``TOKEN_URL``, ``CACHE_KEY``, ``MAX_TOKENS``, ``SECRET_NAME``). The one list of
    secret-like names every secrets rule uses (see the table above)."""
    words = name_words(name)
    if not words:
        return None
    last = words[-1]
    before = words[-2] if len(words) > 1 else ""
    if last in PASSWORD_WORDS:
        return "password"
    if last in METADATA_WORDS:
        return None
    if "secret" in words or "secrets" in words[:-1] or last.endswith("secret"):
        return "secret"
    if last == "token" or last.endswith("token") and last in {"accesstoken", "authtoken", "apitoken", "bottoken", "refreshtoken"}:
        return None if before in NOT_SECRET_TOKENS else "token"
    if last in {"apikey", "privatekey", "signingkey", "accesskey", "secretkey"}:
        return "key"
    if last == "key":
        if before in {"api", "private", "signing", "access", "secret", "encryption", "license", "master", "service"}:
            return "key"
        return None if before in NOT_SECRET_KEYS else "key"
    if last in {"credentials", "credential", "creds"}:
        return "credentials"
    if last == "auth" and before not in {"use", "enable", "enabled", "require", "required", "skip", "no", "with"}:
        return "auth"
    return None


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def looks_like_password(value: str, kind: str) -> bool:
    """Whether a literal bound to a ``kind``-named target is a credential, not a label.

    Passwords may be short words (``hunter2``); keys, tokens and secrets must look random:
    16 characters or more, with two classes of letters and digits, or a high entropy.
    Env var names, header names, field names and identifiers, UUIDs, URLs and placeholders
    are never secrets, whatever the name they are bound to. A digest-looking hex string is
    exempt only when the name says nothing of key, token, secret or password: bound to
    ``WEATHER_API_KEY``, 32 or 40 hex characters are the key those APIs issue.
    """
    if not value or value != value.strip() or any(c.isspace() for c in value):
        return False
    if is_placeholder(value) or value.lower() in _PASSWORD_PLACEHOLDERS:
        return False
    if _ENV_NAME.match(value) or _UUID.match(value) or "://" in value:
        return False
    if _HEX.match(value) and len(value) in (32, 40, 56, 64, 96, 128) and kind not in NAMED_KINDS:
        return False  # a digest
    if kind == "password":
        return not _IDENTIFIER.match(value) or any(c.isdigit() for c in value)
    if _HEADER_NAME.match(value) and not (len(value) >= 20 and entropy(value) >= 4.0):
        return False
    if _IDENTIFIER.match(value) and sum(c.isdigit() for c in value) <= 3:
        # A field name or a key name, unless it is one long random word (no separators).
        return len(value) >= 20 and not any(c in value for c in "_.:-/{}") and entropy(value) >= 3.8
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    return len(value) >= 16 and ((classes >= 2 and len(set(value)) >= 8) or entropy(value) >= 3.5)


def mask(value: str) -> str:
    """At most the first 4 characters, and at most a quarter of the value, then ``****``."""
    keep = min(4, len(value) // 4)
    return value[:keep] + "****"


#: ``name = "value"`` and ``"name": "value"`` with a secret-like name; compiled on first use
#: (4 ms: a warm run whose messages hold none of the hints below never needs it).
_ASSIGNED_SECRET_REGEX = r"""(?ix)
    (?P<name>[a-z_][a-z0-9_]*(?:password|passwd|pwd|pass|passphrase|secret|token|key|credentials?|creds|auth))
    ["']?\s*(?:=|:)\s*[rbuf]*(?P<q>["'])(?P<value>[^"'\n]+)(?P=q)
    """
#: Case-folded substrings of which every match of ``_ASSIGNED_SECRET_REGEX`` holds one (its name's
#: last word), checked first: the regex costs about a microsecond per character.
_ASSIGNED_HINTS = ("pass", "pwd", "secret", "token", "key", "cred", "auth")


def redact(text: str, known: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with every credential masked: known values, known formats, secret assignments."""
    for value in sorted(set(known), key=len, reverse=True):
        if value:
            text = text.replace(value, mask(value))
    spans: list[tuple[int, int]] = []
    for match in find_credentials(text):
        spans.append((match.start, match.end))
    folded = text.casefold()  # at least every equivalence the regex's IGNORECASE makes (K, ſ)
    hinted = any(hint in folded for hint in _ASSIGNED_HINTS)
    assignments = _compiled(_ASSIGNED_SECRET_REGEX).finditer(text) if hinted else ()
    for assigned in assignments:
        value = assigned.group("value")
        kind = secret_kind(assigned.group("name"))
        if kind and looks_like_password(value, kind):
            spans.append(assigned.span("value"))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + mask(text[start:end]) + text[end:]
    return text
