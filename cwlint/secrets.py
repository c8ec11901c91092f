"""Credential formats, the tests that tell a secret from a look-alike, and masking.

CW301 detects with these; every reporter masks with :func:`redact`, whatever rules ran, so a
secret never reaches the terminal, a diff or JSON whole. A prefix format beats entropy here:
``cwk-`` plus 64 hex separates a CodeWords key from a sha256 digest, which entropy cannot.
"""

from __future__ import annotations

import re

_COMPILED: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    """``re.compile``, kept here for good (re's own cache may drop a pattern after 512 others)."""
    pattern = _COMPILED.get(regex)
    if pattern is None:
        pattern = _COMPILED[regex] = re.compile(regex)
    return pattern


class SecretFormat(tuple[str, str, str, int]):
    """A credential format: its name, its regex, the env var a fix reads it from, the group.

    An immutable named tuple rather than a dataclass, and the regex compiled on first use:
    every reporter imports this module to redact, and the substring hints below spare most
    runs every regex (so neither ``dataclasses`` nor the compiles belong in their start-up).
    """

    __slots__ = ()

    def __new__(cls, name: str, regex: str, env_var: str, group: int = 0) -> SecretFormat:
        return tuple.__new__(cls, (name, regex, env_var, group))

    def __getnewargs__(self) -> tuple[str, str, str, int]:
        return (self[0], self[1], self[2], self[3])

    @property
    def name(self) -> str:
        return self[0]

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self[1])

    @property
    def env_var(self) -> str:
        """The env var the fix reads the value from when the literal's own name says nothing."""
        return self[2]

    @property
    def group(self) -> int:
        """The regex group holding the secret itself (0: the whole match)."""
        return self[3]


def _f(name: str, regex: str, env_var: str, group: int = 0) -> SecretFormat:
    return SecretFormat(name, regex, env_var, group)


SECRET_FORMATS: tuple[SecretFormat, ...] = (
    _f("CodeWords API key", r"(?<![A-Za-z0-9])cwo?tk-[0-9a-f]{32,}|(?<![A-Za-z0-9])cwk-[0-9a-f]{64}", "CODEWORDS_API_KEY"),
    _f("Anthropic API key", r"(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_\-]{32,}", "ANTHROPIC_API_KEY"),
    _f(
        "OpenAI API key",
        r"(?<![A-Za-z0-9])sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}"
        r"|(?<![A-Za-z0-9])sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"
        r"|(?<![A-Za-z0-9-])sk-(?!ant-)[A-Za-z0-9]{32,}",
        "OPENAI_API_KEY",
    ),
    _f("Slack token", r"(?<![A-Za-z0-9])xox[abpr]-[0-9A-Za-z][0-9A-Za-z\-]{9,}", "SLACK_BOT_TOKEN"),
    _f(
        "Slack webhook URL",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}",
        "SLACK_WEBHOOK_URL",
    ),
    _f("GitHub token", r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,}", "GITHUB_TOKEN"),
    _f("Stripe secret key", r"(?<![A-Za-z0-9])[sr]k_live_[A-Za-z0-9]{20,}", "STRIPE_API_KEY"),
    _f(
        "HubSpot private app token",
        r"(?<![A-Za-z0-9])pat-(?:na|eu|ap)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "HUBSPOT_API_TOKEN",
    ),
    _f("Google API key", r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}", "GOOGLE_API_KEY"),
    _f("AWS access key id", r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])", "AWS_ACCESS_KEY_ID"),
    _f("Telegram bot token", r"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])", "TELEGRAM_BOT_TOKEN"),
    _f(
        "JSON Web Token",
        r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}",
        "JWT_TOKEN",
    ),
    _f("private key", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----", "PRIVATE_KEY"),
    _f(
        "password in a URL",
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]+:(?P<pw>[^\s:/@'\"{}<>$]+)@[^\s'\"]+",
        "DATABASE_URL",
        group=1,
    ),
)

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
_SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?P<word>password|passwd|pwd|passphrase|secret|token|key|apikey|credentials?)$"
)


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


#: Every format in one pattern: CW301 looks at every string literal of every file, and almost
#: none holds a credential, so one scan rules most out before the per-format scans. Compiled on
#: first use.
_ANY_FORMAT_REGEX = "|".join(f"(?:{fmt[1]})" for fmt in SECRET_FORMATS)

#: Substrings of which every match of a format holds at least one (a substring test costs a
#: fraction of a regex scan: most text holds none, and then no pattern needs to run).
#: tests/test_secrets_hints.py proves each entry from the format's regex. A format without
#: an entry here turns the shortcut off (correct, only slower) until one is added.
FORMAT_HINTS: dict[str, tuple[str, ...]] = {
    "CodeWords API key": ("tk-", "cwk-"),
    "Anthropic API key": ("sk-ant-",),
    "OpenAI API key": ("sk-",),
    "Slack token": ("xox",),
    "Slack webhook URL": ("https://hooks.slack.com/services/T",),
    "GitHub token": ("gh", "github_pat_"),
    "Stripe secret key": ("k_live_",),
    "HubSpot private app token": ("pat-",),
    "Google API key": ("AIza",),
    "AWS access key id": ("AKIA", "ASIA"),
    "Telegram bot token": (":AA",),
    "JSON Web Token": (".eyJ",),
    "private key": ("PRIVATE KEY-----",),
    "password in a URL": ("://",),
}
_HINTS: tuple[str, ...] | None = (
    tuple(hint for fmt in SECRET_FORMATS for hint in FORMAT_HINTS[fmt.name])
    if all(fmt.name in FORMAT_HINTS for fmt in SECRET_FORMATS)
    else None
)


def _may_hold_credential(value: str) -> bool:
    """False only when no format can match ``value`` (no hint occurs in it)."""
    return _HINTS is None or any(hint in value for hint in _HINTS)


def find_credentials(value: str) -> list[Match]:
    """Credentials in a known format inside ``value``, placeholders excluded."""
    if not _may_hold_credential(value) or not _compiled(_ANY_FORMAT_REGEX).search(value):
        return []
    found: list[Match] = []
    for fmt in SECRET_FORMATS:
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


def secret_kind(name: str) -> str | None:
    """The secret word ending a name (``OPENAI_API_KEY`` -> key), or None (``TOKEN_URL``)."""
    match = _SECRET_NAME.search(name.rsplit(".", 1)[-1])
    return match.group("word").lower() if match else None


def looks_like_password(value: str, kind: str) -> bool:
    """Whether a literal bound to a ``kind``-named target is a credential, not a label.

    Passwords may be short words (``hunter2``); keys, tokens and secrets must look random.
    Env var names, header names, field names, identifiers, digests, UUIDs, URLs and
    placeholders are never secrets, whatever the name they are bound to.
    """
    if not value or value != value.strip() or any(c.isspace() for c in value):
        return False
    if is_placeholder(value) or value.lower() in _PASSWORD_PLACEHOLDERS:
        return False
    if _ENV_NAME.match(value) or _UUID.match(value) or "://" in value:
        return False
    if _HEX.match(value) and len(value) in (32, 40, 56, 64, 96, 128):
        return False  # a digest
    if kind in {"password", "passwd", "pwd", "passphrase"}:
        return not _IDENTIFIER.match(value) or any(c.isdigit() for c in value)
    if (_IDENTIFIER.match(value) and sum(c.isdigit() for c in value) <= 3) or _HEADER_NAME.match(value):
        return False
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    return len(value) >= 16 and classes >= 2 and len(set(value)) >= 8


def mask(value: str) -> str:
    """At most the first 4 characters, and at most a quarter of the value, then ``****``."""
    keep = min(4, len(value) // 4)
    return value[:keep] + "****"


_ASSIGNED_SECRET = re.compile(
    r"""(?ix)
    (?P<name>[a-z_][a-z0-9_]*(?:password|passwd|pwd|secret|token|key))
    \s*(?:=|:)\s*[rbuf]*(?P<q>["'])(?P<value>[^"'\n]+)(?P=q)
    """
)
#: Case-folded substrings of which every match of ``_ASSIGNED_SECRET`` holds one (its name's
#: last word), checked first: the regex costs about a microsecond per character.
_ASSIGNED_HINTS = ("passw", "pwd", "secret", "token", "key")


def redact(text: str, known: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with every credential masked: known values, known formats, secret assignments."""
    for value in sorted(set(known), key=len, reverse=True):
        if value:
            text = text.replace(value, mask(value))
    spans: list[tuple[int, int]] = []
    for match in find_credentials(text):
        spans.append((match.start, match.end))
    folded = text.casefold()  # at least every equivalence the regex's IGNORECASE makes (K, ſ)
    assignments = _ASSIGNED_SECRET.finditer(text) if any(hint in folded for hint in _ASSIGNED_HINTS) else ()
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
