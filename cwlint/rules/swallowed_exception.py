from __future__ import annotations

import libcst as cst

from cwlint.diagnostics import Severity
from cwlint.rule import Invalid, Rule, Valid
from cwlint.rules.broad_except_masks_error import _is_broad

#: Calls that release something: a `try` made only of them is best-effort cleanup.
CLEANUP_METHODS = frozenset(
    {"close", "aclose", "unlink", "remove", "rmtree", "rmdir", "cancel", "kill", "terminate", "shutdown",
     "disconnect", "quit", "stop", "release", "cleanup", "delete_file"}
)


def _does_nothing(body: cst.BaseSuite) -> str | None:
    """``pass``, ``...`` or ``continue`` (or several) and nothing else: which, else None."""
    if isinstance(body, cst.SimpleStatementSuite):
        smalls = list(body.body)
    else:
        smalls = []
        for statement in body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                return None
            smalls.extend(statement.body)
    words = []
    for small in smalls:
        if isinstance(small, cst.Pass):
            words.append("pass")
        elif isinstance(small, cst.Continue):
            words.append("continue")
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Ellipsis):
            words.append("...")
        elif isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):
            continue  # a string as a comment
        else:
            return None
    return words[-1] if words else None


def _cleanup_only(body: cst.BaseSuite) -> bool:
    """Every statement of the `try` releases something (`await client.aclose()`)."""
    statements = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else ()
    smalls: list[cst.BaseSmallStatement] = []
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            smalls.extend(statement.body)
        elif isinstance(statement, cst.BaseSmallStatement):
            smalls.append(statement)
        else:
            return False
    if not smalls:
        return False
    for small in smalls:
        value = small.value if isinstance(small, cst.Expr) else None
        if isinstance(value, cst.Await):
            value = value.expression
        if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Attribute):
            return False
        if value.func.attr.value not in CLEANUP_METHODS:
            return False
    return True


class SwallowedException(Rule):
    """`except Exception: pass`: a failed operation that leaves no trace.

    ## What it does
    Reports a bare `except`, `except Exception` or `except BaseException` (alone or in a
    tuple) whose body only does `pass`, `...` or `continue` (a string as a comment aside).
    Best-effort cleanup is not reported: a `try` that only closes, cancels or removes
    something (`await client.aclose()`, `os.remove(tmp)`). A narrower exception
    (`except ValueError: pass`) says what is expected and is not reported either.

    How it divides the work with CW208 (broad-except-masks-error): CW208 reports a broad
    handler around I/O that *returns* a success-shaped value (`return {"status": "ok"}`, any
    2xx answer of a route); this rule reports a broad handler that *does nothing*: no
    return, no log, no re-raise, so the code after the `try` runs on as if it had worked. Between
    them, a broad handler that logs, re-raises, stores the error or answers an error status
    is left alone.

    ## Why is this bad?
    The failure disappears: a wrong API key, a renamed field, a library service that is down,
    a database that refused the write, a token that failed verification all look like
    success. The route still answers 200,
    the platform records a successful run, and nobody learns that the Slack message was
    never sent or the row never written. `continue` in a loop does the same one item at a
    time: the items that failed simply go missing from the result.

    ## Example
    ```python
    for lead in leads:
        try:
            await client.run(service_id="send_email", inputs={"to": lead.email, ...})
        except Exception:
            continue
    ```

    ## Use instead
    ```python
    failed = []
    for lead in leads:
        try:
            await client.run(service_id="send_email", inputs={"to": lead.email, ...})
        except Exception:
            logger.exception("email failed", email=lead.email)
            failed.append(lead.email)
    ```

    ## Fix safety
    No fix: whether to log and go on, collect the failures, or let the error propagate is
    the author's decision.
    """

    code = "CW209"
    name = "swallowed-exception"
    severity = Severity.WARNING
    triggers = ("except",)

    VALID = [
        # Logged, collected, re-raised, or a narrow exception.
        Valid(
            """
            import httpx
            from codewords_client import logger

            async def notify(http: httpx.AsyncClient, hooks: list[str], text: str) -> list[str]:
                failed = []
                for hook in hooks:
                    try:
                        await http.post(hook, json={"text": text})
                    except Exception:
                        logger.exception("webhook failed", hook=hook)
                        failed.append(hook)
                    try:
                        await http.post(hook + "/ack")
                    except httpx.TimeoutException:
                        continue
                return failed
            """
        ),
        # A fallback value, a narrow exception, and best-effort cleanup.
        Valid(
            """
            import json

            async def load(raw: str, http) -> dict:
                try:
                    data = json.loads(raw)
                except Exception:
                    data = {}
                try:
                    data["count"] = int(data.get("count", 0))
                except ValueError:
                    pass
                try:
                    await http.aclose()
                except Exception:
                    pass
                return data
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def send_all(emails: list[str]) -> dict:
                async with AsyncCodewordsClient() as client:
                    for email in emails:
                        try:
                            await client.run(service_id="send_email", inputs={"to": email, "subject": "Hi", "body": "..."})
                        except Exception:
                            continue
                return {"sent": len(emails)}
            """,
            expected=(("CW209", 8, 20),),
            message="continue",
        ),
        # A bare except and `...`, around a sync HTTP call; BaseException in a tuple.
        Invalid(
            """
            import requests

            def ping(url: str) -> None:
                try:
                    requests.post(url, timeout=5)
                except:
                    ...
                try:
                    requests.get(url, timeout=5)
                except (ValueError, BaseException): pass
            """,
            expected=(("CW209", 6, 5), ("CW209", 10, 13)),
        ),
        # A token that fails verification silently becomes the default user.
        Invalid(
            """
            import jwt

            def current_user(token: str, secret: str) -> str:
                user = "default"
                try:
                    user = jwt.decode(token, secret, algorithms=["HS256"])["uid"]
                except Exception:
                    pass
                return user
            """,
            expected=(("CW209", 7, 12),),
            message="pass",
        ),
    ]

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if not _is_broad(node.type):
            return
        word = _does_nothing(node.body)
        if word is None:
            return
        parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
        if not isinstance(parent, cst.Try) or _cleanup_only(parent.body):
            return
        shown = "except" if node.type is None else f"except {self.ctx.code(node.type)}"
        what = "skips to the next item" if word == "continue" else "carries on"
        self.report(
            node if node.type is None else node.type,
            f"`{shown}: {word}` swallows the failure of its `try` and {what} as if it had"
            " worked: nothing is logged or returned, and the route still answers 200; log it"
            " (`logger.exception(...)`), collect the failures, or let it propagate",
        )
