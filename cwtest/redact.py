"""The one redaction step every cwtest output goes through: nothing secret is printed whole.

Every report (``full``, ``json``, ``junit``), the plugin's item reports, the regression tests
written with ``--write-tests``, the ``curl`` commands, the egress and mocked-request lines, repro
inputs, a crash's stderr tail and the notes pass through a :class:`Redactor` at the output
boundary (``cwtest.harness.report``, ``cwtest.harness.fuzzing.write_regression_tests``, the
plugin's ``report``), never earlier: the run itself keeps the real values (a repro must reproduce).

What it masks, keeping a recognisable prefix at most (``cwlint.secrets.mask``: at most 4
characters and at most a quarter of the value, then ``****``, as ruff and gitleaks show them):

* **known values**: the values of the variables the harness injected (the simulator's
  ``CODEWORDS_API_KEY``) or the user gave (``--env``, ``--env-file``, ``[tool.cwtest] env``) that
  are secret (``EnvPlan.secret_values``), wherever they appear, also URL-encoded;
* **known credential formats**: cwlint's list (``rules/secrets/formats.toml``, through
  ``cwlint.secrets.redact``, which also masks ``name = "value"`` assignments to secret-like names);
* **credential-named fields**: query parameters (``?api_key=...``), headers (``Authorization:
  Bearer ...``, ``X-API-Key: ...``) and ``'name': 'value'`` pairs (a dict literal in a regression
  test, JSON in a repro input) whose name is credential-like: :func:`credential_name` (the names
  the issue lists, plus cwlint's one list of secret-like names, ``cwlint.secrets.secret_kind``).

Limits: a secret split across lines, encoded (base64) or transformed by the workflow is not
recognised unless its format is; a masked value in a regression test no longer reproduces a
failure that depends on the secret itself (the test says so by its masked literal).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

#: Names that are credentials whatever the secret-name list says of them.
CREDENTIAL_NAMES = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "apikey", "api_key", "token", "key", "secret",
    "password", "passwd", "pwd", "access_token", "refresh_token", "id_token", "auth_token", "client_secret",
    "cookie", "set-cookie", "x-auth-token", "x-access-token", "private_key", "signature", "sig",
})
#: Names that look credential-like but never hold one.
_NEVER = frozenset({"content-type", "content-length", "accept", "user-agent", "host", "accept-encoding",
                    "connection", "token_type", "key_id", "keyid", "max_tokens"})
#: The fields of a report that hold a request (what was sent: every name in them is the request's).
_REQUEST_FIELDS = frozenset({"query", "headers", "form", "json", "input", "request", "example"})
_MASKED = re.compile(r"\*\*\*\*$")

#: ``?name=value`` / ``&name=value`` in a URL or a query string.
_QUERY = re.compile(r"(?P<lead>[?&;])(?P<name>[A-Za-z0-9_.\-\[\]%]{1,64})=(?P<value>[^&#\s'\"<>`]+)")
#: A header line (``Name: value``, ``Authorization: Bearer value``), as curl's ``-H`` and logs show it.
_HEADER = re.compile(r"(?P<name>(?<![\w-])[A-Za-z][A-Za-z0-9_\-]{1,63})[ \t]*:[ \t]*"
                     r"(?P<scheme>(?:Bearer|Basic|Token|Bot|Digest|ApiKey)[ \t]+)?(?P<value>[^\s'\",}\]]+)")
#: A ``'name': 'value'`` or ``"name": "value"`` pair (a dict literal, JSON) or ``name='value'``.
_PAIR = re.compile(r"(?P<q1>['\"])(?P<name>[A-Za-z][A-Za-z0-9_\-]{0,63})(?P=q1)[ \t]*:[ \t]*"
                   r"(?P<q2>['\"])(?P<value>[^'\"\n]{1,4000})(?P=q2)")


#: The preconditions of what ``cwlint.secrets.redact`` can match: a format needs a run of 16 token
#: characters (or a PEM header, a URL with a password) and one of its keywords; an assignment a
#: secret-like name, then ``=`` or ``:``.
_CANDIDATE = re.compile(r"[A-Za-z0-9_\-+/=.~%:]{16,}|-----BEGIN|://[^\s/@]*:[^\s/@]*@")
_ASSIGNED_NAME = re.compile(r"""(?i:pass|pwd|secret|token|key|cred|auth)\w*["']?\s*[=:]""")


_NAME_WORDS = ("pass", "pwd", "secret", "token", "key", "cred", "auth")


@functools.cache
def _format_keywords() -> tuple[str, ...]:
    from cwlint.secrets import secret_formats

    return tuple(sorted({w.lower() for fmt in secret_formats() for w in fmt.keywords}))


def _could_hold_credential(text: str) -> bool:
    """Whether ``cwlint.secrets.redact`` could change ``text`` (never False when it could). Substring
    tests first (C speed), the patterns only on what passes them."""
    lowered = text.lower()
    if any(word in lowered for word in _NAME_WORDS) and _ASSIGNED_NAME.search(text):
        return True
    return any(word in lowered for word in _format_keywords()) and bool(_CANDIDATE.search(text))


@functools.cache
def credential_name(name: str) -> bool:
    """Whether a query parameter, header or field called ``name`` holds a credential."""
    lower = name.lower().strip()
    if not lower or lower in _NEVER:
        return False
    if lower in CREDENTIAL_NAMES:
        return True
    from cwlint.secrets import secret_kind

    return secret_kind(name) is not None


def _header_name(name: str) -> bool:
    """A header line's name: like :func:`credential_name`, but a bare ``key``/``token`` followed by a
    colon is prose (``key: data`` in a report's facts), not a header."""
    lower = name.lower()
    if lower in ("key", "token", "sig", "signature", "secret"):
        return False
    return credential_name(name)


def mask(value: str) -> str:
    """``cwlint.secrets.mask``: a recognisable prefix at most, then ``****``."""
    from cwlint.secrets import mask as _mask

    return _mask(value)


def _masked(value: str) -> bool:
    return bool(_MASKED.search(value)) or value in ("REDACTED", "") or value.startswith("{{")


class Redactor:
    """Masks the secrets of one run's outputs; see the module docstring. ``known``: the secret
    values the run knows (injected or given); the formats and names need no knowledge."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for value in known:
            if value and len(value) >= 4:
                values |= {value, quote(value, safe=""), quote_plus(value)}
        self._known = sorted(values, key=len, reverse=True)
        self._done: dict[str, str] = {}

    def __bool__(self) -> bool:  # a Redactor always redacts formats and names
        return True

    def text(self, text: Any) -> str:
        """``text`` with every secret masked (memoised: a report repeats its paths and lines)."""
        if not isinstance(text, str):
            text = str(text)
        done = self._done.get(text)
        if done is None:
            done = self._done[text] = self._text(text) if len(text) >= 4 else text
        return done

    def _text(self, text: str) -> str:
        for value in self._known:
            if value in text:
                text = text.replace(value, mask(value))
        if _could_hold_credential(text):
            from cwlint.secrets import redact

            # line by line, only the lines that could hold one: cwlint's assignment pattern is slow
            # on long lines, and a report's texts are mostly paths and code
            if "-----BEGIN" in text:  # a PEM block spans lines
                text = redact(text)
            else:
                text = "\n".join(redact(line) if _could_hold_credential(line) else line
                                 for line in text.split("\n"))
        if "=" in text:
            text = _QUERY.sub(_sub_query, text)
        if ":" in text:
            text = _PAIR.sub(_sub_pair, text)
            text = _HEADER.sub(_sub_header, text)
        return text

    def value(self, value: Any, *, field: str | None = None, request: bool = False) -> Any:
        """A JSON-like value (a report's ``as_json()``) with every string redacted; in a mapping, a
        string under a credential-like key is masked whole (a request's ``query``, ``headers``).
        A bare ``key`` is a credential only inside a request (elsewhere it is a report's field:
        the catalog key a ``service-contract`` finding names)."""
        if isinstance(value, str):
            if field is not None and credential_name(field) and not _masked(value) and (field != "key" or request):
                return mask(value)
            return self.text(value)
        if isinstance(value, dict):
            inside = request or field in _REQUEST_FIELDS
            return {self.text(k) if isinstance(k, str) else k:
                    self.value(v, field=k if isinstance(k, str) else None, request=inside)
                    for k, v in value.items()}
        if isinstance(value, tuple):
            return tuple(self.value(v, request=request) for v in value)
        if isinstance(value, list):
            return [self.value(v, request=request) for v in value]
        import dataclasses

        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return redact_fields(value, self)
        return value

    def lines(self, lines: Iterable[str]) -> list[str]:
        return [self.text(line) for line in lines]


def _sub_query(match: re.Match[str]) -> str:
    value = match.group("value")
    from urllib.parse import unquote

    if not credential_name(unquote(match.group("name"))) or _masked(value):
        return match.group(0)
    return f"{match.group('lead')}{match.group('name')}={mask(value)}"


#: A plain lower-case word after ``password:`` in prose (``password: required``) is a message, not
#: a credential; with an auth scheme (``Bearer ...``) the value is always masked.
_PROSE = re.compile(r"^[a-z]{1,11}[.;,]?$")


def _sub_header(match: re.Match[str]) -> str:
    value = match.group("value")
    if not _header_name(match.group("name")) or _masked(value) \
            or (not match.group("scheme") and _PROSE.match(value)):
        return match.group(0)
    start, end = match.span("value")
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + mask(value) + whole[end - offset:]


def _sub_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    if not credential_name(match.group("name")) or _masked(value) or match.group("name").lower() == "key" \
            and not _looks_secret(value):
        return match.group(0)
    start, end = match.span("value")
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + mask(value) + whole[end - offset:]


def _looks_secret(value: str) -> bool:
    from cwlint.secrets import looks_like_password

    return looks_like_password(value, "key")


def secret_values(values: dict[str, str], *, given: Iterable[str] = (), injected: Iterable[str] = (),
                  placeholders: Iterable[str] = ()) -> list[str]:
    """The values among a workflow's variables that are secret: those the harness ``injected``
    (the simulator's API key), and of the others (the user's, the header's defaults) those under a
    secret-like name, or, for the ones the user ``given``, any value that looks like a credential
    (cwlint's test for keys and its formats). Placeholders, paths and short flags are not secrets:
    masking them would only hide what the report means (``MODEL=gpt-4o`` stays readable)."""
    from cwlint.secrets import find_credentials, looks_like_password, secret_kind

    given, injected, skipped = set(given), set(injected), set(placeholders) | {"HOME", "TMPDIR"}
    out = []
    for name, value in values.items():
        if not value or name in skipped or len(value) < 4:
            continue
        if name in injected or secret_kind(name) is not None or credential_name(name):
            out.append(value)
        elif name in given and (looks_like_password(value, "token") or find_credentials(value)):
            out.append(value)
    return out


#: Dataclass fields that hold ``(name, value)`` pairs of a request: masked by name.
_PAIR_FIELDS = frozenset({"query", "headers", "form"})


def redact_fields(obj: Any, redactor: Redactor) -> Any:
    """A copy of a results object (``RunReport``, ``WorkflowResult``, ``Finding``, ``Repro``,
    ``Request``...) with every string redacted: the one step each reporter takes before it renders.
    Dataclasses are rebuilt field by field (frozen ones too); what is not text, a container or a
    dataclass (the sandbox layer, ``NO_BODY``) is kept as is."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {}
        for item in dataclasses.fields(obj):
            if not item.init or item.name in ("secrets", "layer"):
                continue
            current = getattr(obj, item.name)
            if item.name in _PAIR_FIELDS and isinstance(current, (tuple, list)):
                changes[item.name] = type(current)(
                    (name, _pair_value(name, value, redactor)) if isinstance(name, str) else (name, value)
                    for name, value in current)
            elif item.name == "json_body":  # a request's body: every name in it is the request's
                changes[item.name] = redactor.value(current, request=True)
            else:
                changes[item.name] = redact_fields(current, redactor)
        copy = dataclasses.replace(obj, **changes)
        for item in dataclasses.fields(obj):  # fields outside __init__ (none today) are copied
            if not item.init:
                object.__setattr__(copy, item.name, getattr(obj, item.name))
        return copy
    if isinstance(obj, str):
        return redactor.text(obj)
    if isinstance(obj, dict):
        return redactor.value(obj)
    if isinstance(obj, tuple):
        return tuple(redact_fields(v, redactor) for v in obj)
    if isinstance(obj, list):
        return [redact_fields(v, redactor) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return type(obj)(redact_fields(v, redactor) for v in obj)
    return obj


def _pair_value(name: str, value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return mask(value) if credential_name(name) and not _masked(value) else redactor.text(value)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes):  # a file: (name, content)
        return value
    return redactor.value(value, field=name, request=True)


def redactor_for(*results: Any) -> Redactor:
    """The redactor of one or more results (``WorkflowResult``, ``RunReport``): their known secrets."""
    known: list[str] = []
    for result in results:
        for one in getattr(result, "results", None) or [result]:
            known += list(getattr(one, "secrets", ()) or ())
    return Redactor(known)


def redact_report(report: Any) -> Any:
    """``report`` (a ``RunReport``) as every reporter renders it: see :func:`redact_fields`."""
    return redact_fields(report, redactor_for(report))


__all__ = ["CREDENTIAL_NAMES", "Redactor", "credential_name", "mask", "redact_fields", "redact_report", "redactor_for",
           "secret_values"]
