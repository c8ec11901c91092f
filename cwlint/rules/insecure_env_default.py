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
#: A default that reads as a made-up secret: a word such as secret, fallback, dev or insecure
#: in a kebab- or snake-case value (`my-fallback-secret`, `dev_secret_key`).
_FALLBACK_WORDS = re.compile(
    r"(?i)(?:^|[-_.])(?:secret|secrets|fallback|default|insecure|dev|devel|development|local|localdev|demo|"
    r"sample|temp|tmp|my|super|changeit|please|unsafe)(?:[-_.]|$)"
)


def secret_env_kind(name: str) -> str | None:
    """What secret an env var name says it holds, or None for a setting (the one shared list
    of secret-like names, :func:`cwlint.secrets.secret_kind`, and Pipedream's grants)."""
    if _PIPEDREAM.match(name):
        return "access grant"
    return secret_kind(name)


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
    aliases) when X names a secret (the list every secrets rule shares: `*_API_KEY`,
    `*_TOKEN`, `*_SECRET*`, `*_PASSWORD`, `*_PASS`, `*_PWD`, `*_CREDENTIALS`, `*_AUTH`, ...,
    and `PIPEDREAM_*_ACCESS`) and the default is a string literal: a placeholder
    (`"dummy-key"`, `"changeme"`, `"your-api-key"`), a made-up fallback
    (`"my-fallback-secret"`, `"dev-secret"`), a value that may be a real credential, or the
    empty string when the code then skips its check on an empty value (`if SECRET and not
    valid(sig): ...`, `if not SECRET: return True`: fail-open). An empty default that is
    only passed on (a bot token in a URL, an API key in a header) fails loudly at the
    provider and is not reported, nor is one guarded by `if not X: raise ...` or an error
    answer (`return {"error": ...}`, a 4xx response). Whatever the variable's name, the same goes for a read bound to a
    secret-named target: `SIGNING_SECRET = os.environ.get("PLATFORM_SIGNING", "dev-secret")`
    signs with a public constant whenever the variable is missing. Settings
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
        # Empty defaults that fail closed (a raise, an error answer) or are only passed on to
        # the provider, which refuses them loudly.
        Valid(
            """
            import hmac
            import os

            import httpx

            BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN", "")
            API = f"https://api.telegram.org/bot{BOT_TOKEN}"

            def check_control(token: str | None) -> None:
                expected = (os.environ.get("CONTROL_API_SECRET") or "").strip()
                if not expected:
                    raise RuntimeError("CONTROL_API_SECRET is not configured")

            async def webhook(secret: str) -> dict:
                expected = os.environ.get("MT5_SECRET", "")
                if not expected or not hmac.compare_digest(secret, expected):
                    return {"error": "unauthorized"}
                return {"ok": True}
            """
        ),
        # A target named like a secret, read from a variable that names a mode, with a label.
        Valid(
            """
            import os

            WEBHOOK_TOKEN_MODE = os.getenv("WEBHOOK_MODE", "strict")
            AUTH_TOKEN = os.getenv("AUTH_SCHEME", "Bearer")
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

            def verified(body: bytes, signature: str) -> bool:
                if WEBHOOK_SECRET and not check(body, signature, WEBHOOK_SECRET):
                    return False
                return True
            """,
            expected=(("CW302", 5, 61), ("CW302", 6, 46), ("CW302", 7, 50)),
            unsafe=True,
            fixed="""
            import os

            from codewords_client import AsyncCodewordsClient

            THIRD_PARTY_API_KEY = os.environ.get("THIRD_PARTY_API_KEY")
            WEBHOOK_SECRET = os.getenv("WEBHOOK_SECRET")
            NOTION_TOKEN = os.environ.get("NOTION_TOKEN")

            def verified(body: bytes, signature: str) -> bool:
                if WEBHOOK_SECRET and not check(body, signature, WEBHOOK_SECRET):
                    return False
                return True
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
            message="password",
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
        # A secret-named target falling back to a literal, whatever the variable's name; a
        # made-up fallback for a secret variable; `*_PASSWD` and camelCase from the shared list.
        Invalid(
            """
            import os

            SIGNING_SECRET = os.environ.get("SOME_PLATFORM_KEY", "my-fallback-secret")
            jwtSecret = os.getenv("APP_SIGNING", "dev-signing-secret")
            SMTP_PASSWD = os.getenv("SMTP_PASSWD", "Mailer2024")
            """,
            expected=(("CW302", 3, 54), ("CW302", 4, 38), ("CW302", 5, 40)),
            unsafe=True,
            fixed="""
            import os

            SIGNING_SECRET = os.environ.get("SOME_PLATFORM_KEY")
            jwtSecret = os.getenv("APP_SIGNING")
            SMTP_PASSWD = os.getenv("SMTP_PASSWD")
            """,
            message="made-up key",
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.aliases = EnvAliases(ctx)
        self.pending: list[_Pending] = []
        self.guarded: set[tuple[str, str]] = set()  # (bound name, default) checked with a raise
        #: Names bound to an empty default that a test then skips work on (fail-open).
        self.skips: set[str] = set()

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
        target = self._bound_target(whole)
        kind = secret_env_kind(read.name)
        target_kind = secret_kind(target) if target is not None else None
        value = string_value(default)
        if (kind is None and target_kind is None) or value is None or find_credentials(value):
            return
        if kind is None:
            # `SIGNING_SECRET = os.environ.get("SOME_PLATFORM_KEY", "my-fallback-secret")`: the
            # variable's name says nothing, the target's does: a literal fallback is the secret.
            assert target_kind is not None
            if value == "" or _NUMERIC_OR_FLAG.match(value) or "://" in value:
                return
            if not (is_placeholder(value) or value.lower() in _PLACEHOLDER_VALUES or _FALLBACK_WORDS.search(value)
                    or looks_like_password(value, target_kind)):
                return
            message = (
                f"`{target}` falls back to a literal when `{read.name}` is unset: the {target_kind} is then a"
                " public constant, in the source and in every copy of it; drop the default and declare the variable"
            )
            self.pending.append(_Pending(read, value, message, target, default, alternative))
            return
        if value == "":
            message = (
                f"`{read.name}` defaults to the empty string, and the code skips its check when it is empty:"
                f" a missing {kind} silently turns the check off (fail-open); drop the default and fail when it is unset"
            )
        elif is_placeholder(value) or value.lower() in _PLACEHOLDER_VALUES or _FILLER.search(value):
            message = (
                f"`{read.name}` defaults to a placeholder: when the {kind} is missing the workflow starts"
                " and fails later at the provider; drop the default and declare the variable"
            )
        elif _FALLBACK_WORDS.search(value) and not _NUMERIC_OR_FLAG.match(value):
            message = (
                f"`{read.name}` falls back to a made-up {kind}: when the variable is missing the {kind} is a"
                " public constant, in the source and in every copy of it; drop the default and declare the variable"
            )
        elif _NUMERIC_OR_FLAG.match(value) or not looks_like_password(value, kind):
            return  # a number, a flag, or a label (a header name, an env var name, an identifier)
        else:
            message = (
                f"`{read.name}` has a literal default that may be a real {kind}: it is in the source"
                " and in every copy of it; drop the default and declare the variable"
            )
        self.pending.append(_Pending(read, value, message, target, default, alternative))

    def _bound_target(self, whole: cst.BaseExpression) -> str | None:
        """The name a read is bound to, through `.strip()`-like calls and `or` fallbacks:
        `expected = (os.environ.get("X") or "").strip()` binds `expected`."""
        child: cst.CSTNode = whole
        for parent in reversed(self.ctx.ancestors):
            if isinstance(parent, cst.Assign):
                if parent.value is child and len(parent.targets) == 1:
                    return dotted_name(parent.targets[0].target)
                return None
            if isinstance(parent, cst.AnnAssign):
                return dotted_name(parent.target) if parent.value is child else None
            if isinstance(parent, cst.Attribute) and parent.value is child:
                child = parent
            elif isinstance(parent, cst.Call) and parent.func is child:
                child = parent
            elif isinstance(parent, cst.BooleanOperation) and parent.left is child:
                child = parent
            else:
                return None
        return None

    def visit_If(self, node: cst.If) -> None:
        denies = _raises(node.body) or _returns_failure(node.body)
        negated = _negated_names(node.test)
        checked_with = _positive_names(node.test) if _is_and(node.test) else set()
        for pending in self.pending:
            if pending.value == "" and pending.target is not None:
                if pending.target in negated and denies:
                    self.guarded.add((pending.target, ""))
                elif (pending.target in negated and _returns_true(node.body)) or pending.target in checked_with:
                    # `if not SECRET: return True`, `if SECRET and not valid(sig): reject`: a
                    # missing secret skips the check. (`if not KEY: return []` turns a feature
                    # off, and `if KEY: headers[...] = KEY` is optional auth: neither skips one.)
                    self.skips.add(pending.target)
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
            if pending.value == "" and (pending.target is None or pending.target not in self.skips):
                continue  # passed on as it is: the provider refuses it loudly
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


def _returns_failure(body: cst.BaseSuite) -> bool:
    """The body answers a failure: `return False`, a dict with an error key or `ok`/`success`
    False, a call with `success=False`, or a response with a 4xx/5xx status."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        small = statement.body if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
        for item in small:
            if not isinstance(item, cst.Return) or item.value is None:
                continue
            value = item.value
            if isinstance(value, cst.Name) and value.value == "False":
                return True
            if isinstance(value, cst.Dict):
                for element in value.elements:
                    if isinstance(element, cst.DictElement):
                        key = string_value(element.key)
                        if key in ("error", "errors", "detail"):
                            return True
                        if key in ("ok", "success") and isinstance(element.value, cst.Name) and element.value.value == "False":
                            return True
            if isinstance(value, cst.Call):
                for arg in value.args:
                    if arg.keyword is None:
                        continue
                    if arg.keyword.value in ("ok", "success") and isinstance(arg.value, cst.Name) and arg.value.value == "False":
                        return True
                    if arg.keyword.value == "status_code" and isinstance(arg.value, cst.Integer) and int(arg.value.value) >= 400:
                        return True
                    if arg.keyword.value in ("error", "detail"):
                        return True
    return False


def _negated_names(test: cst.BaseExpression) -> set[str]:
    """Names a test is true for when they are empty: `not X`, `X == ""`, `X is None`, alone
    or as an operand of `or`."""
    out: set[str] = set()
    operands = [test]
    while operands:
        node = operands.pop()
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or):
            operands.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            name = dotted_name(node.expression)
            if name is not None:
                out.add(name)
        elif isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
            target = node.comparisons[0]
            empty = string_value(target.comparator) == "" or (isinstance(target.comparator, cst.Name) and target.comparator.value == "None")
            if empty and isinstance(target.operator, (cst.Equal, cst.Is)):
                name = dotted_name(node.left)
                if name is not None:
                    out.add(name)
    return out


def _positive_names(test: cst.BaseExpression) -> set[str]:
    """Names a test needs to be non-empty: `X`, alone or as an operand of `and`."""
    out: set[str] = set()
    operands = [test]
    while operands:
        node = operands.pop()
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.And):
            operands.extend((node.left, node.right))
        else:
            name = dotted_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
            if name is not None:
                out.add(name)
    return out


def _is_and(test: cst.BaseExpression) -> bool:
    return isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And)


def _returns_true(body: cst.BaseSuite) -> bool:
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        small = statement.body if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
        for item in small:
            if isinstance(item, cst.Return) and isinstance(item.value, cst.Name) and item.value.value == "True":
                return True
    return False
