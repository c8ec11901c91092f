from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from cwlint.analysis.env_reads import EnvAliases, EnvRead, call_read
from cwlint.context import dotted_name, string_value
from cwlint.diagnostics import Applicability
from cwlint.rule import Invalid, Rule, Valid
from cwlint.secrets import (
    find_credentials,
    is_placeholder,
    looks_like_password,
    secret_kind,
)

#: Words before ``_KEY`` that make it a lookup key, not a credential (``CACHE_KEY``).
_NOT_SECRET_KEYS = frozenset(
    {
        "CACHE", "SORT", "PARTITION", "PRIMARY", "FOREIGN", "HASH", "RANGE", "OBJECT", "S3",
        "BUCKET", "REDIS", "LOOKUP", "DEDUP", "DEDUPE", "IDEMPOTENCY", "PUBLIC", "PUBLISHABLE",
        "ROUTING", "GROUP", "INDEX", "QUEUE", "STREAM", "TOPIC", "RESULT", "LOCK", "STATE",
        "HEADER", "FIELD", "PARAM", "COLUMN", "ENV",
    }
)
_PLACEHOLDER_VALUES = frozenset(
    {
        "changeme", "change-me", "dummy", "none", "null", "nil", "xxx", "secret", "password",
        "pass", "test", "testing", "default", "key", "token", "apikey", "api-key", "api_key",
        "notset", "not-set", "not_set", "missing", "unset", "dev", "development", "local",
        "foo", "bar", "abc", "abc123", "123456", "12345678", "admin", "not-needed", "na", "n/a",
    }
)
_NUMERIC_OR_FLAG = re.compile(r"^(?:[+-]?\d+(?:\.\d+)?|true|false|yes|no|on|off)$", re.IGNORECASE)
_FILLER = re.compile(r"x{3,}|X{3,}|0{6,}|\*{3,}")
_PIPEDREAM = re.compile(r"^PIPEDREAM_[A-Z0-9_]+_ACCESS$")
_PASS = re.compile(r"(?:^|_)PASS$", re.IGNORECASE)


def secret_env_kind(name: str) -> str | None:
    """What secret an env var name says it holds, or None for a setting."""
    if _PIPEDREAM.match(name):
        return "access grant"
    if _PASS.search(name):
        return "password"
    kind = secret_kind(name)
    if kind == "key":
        parts = re.split(r"[_.\-]", name.upper())
        if len(parts) >= 2 and parts[-2] in _NOT_SECRET_KEYS:
            return None
    return kind


@dataclass
class _Pending:
    read: EnvRead
    value: str
    message: str
    target: str | None  #: the name the read is bound to, for raise guards
    default: cst.BaseExpression  #: the literal reported
    alternative: cst.BooleanOperation | None = None  #: ``read or "default"``


class InsecureEnvDefault(Rule):
    """A secret read from the environment with a literal default.

    ## What it does
    Reports the default of `os.getenv("X", default)`, `os.environ.get("X", default)`,
    `os.getenv("X") or default` and `os.environ.setdefault("X", default)` (whatever the
    aliases) when X names a secret
    (`*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, `*_PASS`, `PIPEDREAM_*_ACCESS`, ...)
    and the default is a string literal: a placeholder (`"dummy-key"`, `"changeme"`,
    `"your-api-key"`), the empty string, or a value that may be a real credential. Settings
    (`PORT`, `LOGLEVEL`, URLs, timeouts, `CACHE_KEY`, `MAX_TOKENS`), `None` defaults, numbers,
    flags and labels (a header name, an env var name, a field name) are not reported. A
    default bound to a name that is then checked, with a `raise` when it is still the default
    (`if not API_KEY: raise ...`), is deliberate and not reported. Defaults in a known credential format are CW301's (hardcoded-secret).

    ## Why is this bad?
    A secret has no safe default. With a placeholder the workflow starts, then every call
    fails with a 401 far from the cause; with the empty string a missing signing secret
    silently disables the check it guards (an HMAC with an empty key accepts anyone who knows
    that); with a real value the credential is in the source, and in every copy of it.

    ## Example
    ```python
    THIRD_PARTY_API_KEY = os.environ.get("THIRD_PARTY_API_KEY", "dummy-key")
    WEBHOOK_SECRET = os.getenv("WEBHOOK_SECRET", "")
    ```

    ## Use instead
    ```python
    THIRD_PARTY_API_KEY = os.environ["THIRD_PARTY_API_KEY"]  # declared in env_vars
    WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]
    ```

    ## Fix safety
    Unsafe: the default is removed (`os.getenv("X")`, also from `os.getenv("X") or "..."`), so an unset variable gives `None`
    instead of the literal and the code fails where the value is used, not later at the
    provider; code that tested the value for truth behaves the same. No fix for
    `setdefault`, which writes the value into the environment.
    """

    code = "CW302"
    name = "insecure-env-default"
    triggers = ("getenv", "environ")
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import os

            PORT = int(os.getenv("PORT", "8000"))
            LOGLEVEL = os.environ.get("LOGLEVEL", "INFO")
            OPENAI_BASE_URL = os.getenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
            TOKEN_URL = os.getenv("TOKEN_URL", "https://oauth2.googleapis.com/token")
            MAX_TOKENS = int(os.getenv("MAX_TOKENS", "1024"))
            CACHE_KEY = os.getenv("CACHE_KEY", "website_snapshot")
            API_KEY_HEADER = os.getenv("API_KEY_HEADER", "X-API-Key")
            AUTH_TOKEN_HEADER_KEY = os.getenv("AUTH_TOKEN_HEADER_KEY", "Authorization")
            SIGNING_KEY = os.getenv("SIGNING_KEY", "STRIPE_SIGNING_KEY")
            CRM_ACCESS_TOKEN = os.getenv("CRM_ACCESS_TOKEN", "access_token")
            SLACK_BOT_TOKEN = os.environ["SLACK_BOT_TOKEN"]
            GITHUB_TOKEN = os.getenv("GITHUB_TOKEN")
            HUNTER_API_KEY = os.environ.get("HUNTER_API_KEY", None)
            """
        ),
        # An empty default that is checked and raised on is deliberate.
        Valid(
            """
            import os
            from fastapi import HTTPException

            STRIPE_WEBHOOK_SECRET = os.getenv("STRIPE_WEBHOOK_SECRET", "")

            def verify(payload: bytes, signature: str) -> None:
                if not STRIPE_WEBHOOK_SECRET:
                    raise HTTPException(status_code=500, detail="STRIPE_WEBHOOK_SECRET is not set")
            """
        ),
        # A computed default, and a default of a secret read from another variable.
        Valid(
            """
            import os
            import secrets

            SESSION_SECRET = os.getenv("SESSION_SECRET", secrets.token_hex(32))
            OPENAI_API_KEY = os.getenv("OPENAI_API_KEY", os.getenv("LLM_API_KEY"))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import os

            from codewords_client import AsyncCodewordsClient

            THIRD_PARTY_API_KEY = os.environ.get("THIRD_PARTY_API_KEY", "dummy-key")
            WEBHOOK_SECRET = os.getenv("WEBHOOK_SECRET", "")
            NOTION_TOKEN = os.environ.get("NOTION_TOKEN") or "secret_xxx"
            """,
            expected=(("CW302", 5, 61), ("CW302", 6, 46), ("CW302", 7, 50)),
            unsafe=True,
            fixed="""
            import os

            from codewords_client import AsyncCodewordsClient

            THIRD_PARTY_API_KEY = os.environ.get("THIRD_PARTY_API_KEY")
            WEBHOOK_SECRET = os.getenv("WEBHOOK_SECRET")
            NOTION_TOKEN = os.environ.get("NOTION_TOKEN")
            """,
            message="placeholder",
        ),
        # Aliases, a keyword default, a password that may be real, setdefault (no fix), and
        # a check that returns instead of raising (the check is then skipped: reported).
        Invalid(
            """
            from os import environ as env, getenv

            DB_PASS = getenv("DB_PASS", default="Tr0ub4dor&3")
            env.setdefault("PIPEDREAM_SLACK_ACCESS", "placeholder")
            SIGNING_SECRET = env.get("SLACK_SIGNING_SECRET", "")

            def verified(body: bytes, signature: str) -> bool:
                if not SIGNING_SECRET:
                    return True
                return check(body, signature, SIGNING_SECRET)
            """,
            expected=(("CW302", 3, 37), ("CW302", 4, 42), ("CW302", 5, 50)),
            unsafe=True,
            fixed="""
            from os import environ as env, getenv

            DB_PASS = getenv("DB_PASS")
            env.setdefault("PIPEDREAM_SLACK_ACCESS", "placeholder")
            SIGNING_SECRET = env.get("SLACK_SIGNING_SECRET")

            def verified(body: bytes, signature: str) -> bool:
                if not SIGNING_SECRET:
                    return True
                return check(body, signature, SIGNING_SECRET)
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.aliases = EnvAliases(ctx)
        self.pending: list[_Pending] = []
        self.guarded: set[tuple[str, str]] = set()  # (bound name, default) checked with a raise

    def visit_Assign(self, node: cst.Assign) -> None:
        self.aliases.visit_Assign(node)

    def visit_Call(self, node: cst.Call) -> None:
        read = call_read(self.aliases, node)
        if read is not None and read.default is not None:
            self._check(read, read.default, node, None)

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        """``os.getenv("X") or "dummy-key"``: the same default, written another way."""
        if not isinstance(node.operator, cst.Or) or not isinstance(node.left, cst.Call):
            return
        read = call_read(self.aliases, node.left)
        if read is not None and read.default is None and string_value(node.right) is not None:
            self._check(read, node.right, node, node)

    def _check(
        self, read: EnvRead, default: cst.BaseExpression, whole: cst.BaseExpression, alternative: cst.BooleanOperation | None
    ) -> None:
        kind = secret_env_kind(read.name)
        value = string_value(default)
        if kind is None or value is None or find_credentials(value):
            return
        if value == "":
            message = (
                f"`{read.name}` defaults to the empty string: when the {kind} is missing the code runs"
                " on with an empty one (a signature keyed on it is one anyone can compute); drop the default"
            )
        elif is_placeholder(value) or value.lower() in _PLACEHOLDER_VALUES or _FILLER.search(value):
            message = (
                f"`{read.name}` defaults to a placeholder: when the {kind} is missing the workflow starts"
                " and fails later at the provider; drop the default and declare the variable"
            )
        elif _NUMERIC_OR_FLAG.match(value) or not looks_like_password(value, kind):
            return  # a number, a flag, or a label (a header name, an env var name, an identifier)
        else:
            message = (
                f"`{read.name}` has a literal default that may be a real {kind}: it is in the source"
                " and in every copy of it; drop the default and declare the variable"
            )
        parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
        target = None
        if isinstance(parent, cst.Assign) and parent.value is whole and len(parent.targets) == 1:
            target = dotted_name(parent.targets[0].target)
        elif isinstance(parent, cst.AnnAssign) and parent.value is whole:
            target = dotted_name(parent.target)
        self.pending.append(_Pending(read, value, message, target, default, alternative))

    def visit_If(self, node: cst.If) -> None:
        self._guard(node.test, node.body)

    def visit_Assert(self, node: cst.Assert) -> None:
        self._guard(node.test, None)

    def _guard(self, test: cst.BaseExpression, body: cst.BaseSuite | None) -> None:
        if body is not None and not _raises(body):
            return
        names, strings, negated = _names_and_strings(test)
        negated = negated or "" in strings or body is None
        for pending in self.pending:
            if pending.target in names and ((pending.value == "" and negated) or pending.value in strings):
                self.guarded.add((pending.target, pending.value))

    def leave_Module(self, node: cst.Module) -> None:
        for pending in self.pending:
            if pending.target is not None and (pending.target, pending.value) in self.guarded:
                continue
            self.report(pending.default, pending.message, fix=self._fix(pending), secrets=(pending.value,))

    def _fix(self, pending: _Pending):
        """The read without its default, regenerated from the tree (so parentheses and
        comments inside the call survive) and put in place of the read's own span."""
        read = pending.read
        module = self.ctx.module
        if pending.alternative is not None:
            replacement = module.code_for_node(pending.alternative.left)
            return self.make_fix("Remove the default", [self.ctx.replace(pending.alternative, replacement)], Applicability.UNSAFE)
        call = read.node
        if read.kind == "setdefault" or read.default_arg is None or not isinstance(call, cst.Call):
            return None
        if len(call.args) != 2 or call.args[-1] is not read.default_arg:
            return None
        key = call.args[0]
        comma = key.comma
        if not (isinstance(comma, cst.Comma) and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace)):
            key = key.with_changes(comma=cst.MaybeSentinel.DEFAULT)  # keep a comma that holds a line break
        replacement = module.code_for_node(call.with_changes(args=[key], lpar=[], rpar=[]))
        return self.make_fix("Remove the default", [self.ctx.replace(call, replacement)], Applicability.UNSAFE)


def _raises(body: cst.BaseSuite) -> bool:
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        small = statement.body if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
        for item in small:
            if isinstance(item, cst.Raise):
                return True
            if isinstance(item, cst.Expr) and isinstance(item.value, cst.Call):
                if dotted_name(item.value.func) in ("sys.exit", "exit", "SystemExit"):
                    return True
    return False


def _names_and_strings(expr: cst.CSTNode) -> tuple[set[str], set[str], bool]:
    """Names and string literals in a test, and whether it negates something (`not`, `is None`)."""
    names: set[str] = set()
    strings: set[str] = set()
    negated = False
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Not) or (isinstance(node, cst.Name) and node.value == "None"):
            negated = True
        dotted = dotted_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
        if dotted is not None:
            names.add(dotted)
        value = string_value(node) if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)) else None
        if value is not None:
            strings.add(value)
            continue
        stack.extend(node.children)
    return names, strings, negated
