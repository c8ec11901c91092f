from __future__ import annotations

import libcst as cst

from cwlint.context import dotted_name
from cwlint.diagnostics import Applicability, Severity
from cwlint.rule import Invalid, Rule, Valid

#: The first client whose logger renames a clashing `event=` (read in the 0.4.8/0.4.10 wheels).
TOLERANT_SINCE = (0, 4, 10)
#: The methods that 0.4.10's `_EventTolerantBoundLogger` wraps; `fatal` and the async
#: `ainfo`/... twins are inherited from structlog unwrapped and still raise.
TOLERANT_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception", "msg", "log"})
UNTOLERANT_METHODS = frozenset(
    {"fatal", "adebug", "ainfo", "awarning", "awarn", "aerror", "acritical", "aexception", "amsg", "alog", "afatal"}
)
STRUCTLOG_FACTORIES = frozenset(
    {"structlog.get_logger", "structlog.getLogger", "structlog.stdlib.get_logger", "structlog.wrap_logger"}
)
BIND_METHODS = frozenset({"bind", "new", "unbind", "try_unbind"})


def _version(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


class LoggerEventKwarg(Rule):
    """A structlog logger call with a positional message and an `event=` keyword.

    ## What it does
    Reports `logger.info("Webhook received", event=...)` and the other level methods when
    `logger` is the CodeWords client's `logger`, a `structlog.get_logger()`, or a
    `.bind(...)` of one (under any name, also `self.log`). A lone `event=` (no positional
    message) is structlog's normal form and is not reported; nor are stdlib `logging`
    loggers, which reject every keyword and are not what this rule is about.

    The verdict follows the client version: the header's `codewords-client==` pin, else
    the configured `target-client-version`, else 0.3.4 (what the docs pin).
    - Before 0.4.10, and for `fatal()` and the async `ainfo()`-style methods in every
      version: an error.
    - From 0.4.10 on, when the file does not call `structlog.configure` itself: a warning.
      The client's logger renames the clashing keyword to `event_type` (`event_value` when
      `event_type` is also passed), so nothing crashes, but the record carries a key the
      code never wrote and the file breaks on an older pin.

    ## Why is this bad?
    structlog takes the first positional argument as the `event` (the message). Passing
    `event=` as well raises `TypeError: BoundLogger.info() got multiple values for argument
    'event'`: the handler answers 500 on every request, and a webhook or WhatsApp bot never
    replies. The keyword is an easy one to reach for in webhook code (`event=payload["event"]`).

    ## Example
    ```python
    from codewords_client import logger

    logger.info("Webhook received", event=payload["event"], channel=channel)
    ```

    ## Use instead
    ```python
    logger.info("Webhook received", event_type=payload["event"], channel=channel)
    ```

    ## Fix safety
    Safe: the keyword becomes `event_type` (or `event_value` when `event_type` is already
    passed), exactly the name the 0.4.10+ client gives it at run time; with older clients a
    call that always raised now logs. No fix when both names are already taken.
    """

    code = "CW205"
    name = "logger-event-kwarg"
    triggers = ("event=", "event =")
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            from codewords_client import logger

            async def webhook(payload: dict) -> dict:
                logger.info("Webhook received", event_type=payload["event"])
                logger.info(event="bare event is the message")
                return {"ok": True}
            """
        ),
        # A stdlib logger and an unrelated `.info()` taking `event=`.
        Valid(
            """
            import logging

            log = logging.getLogger(__name__)

            def track(analytics, user_id: str) -> None:
                analytics.info("signup", event="signup_completed")
                log.debug("tracked %s", user_id)
            """
        ),
        # The name `logger` rebound to a stdlib logger after the client import.
        Valid(
            """
            import logging

            from codewords_client import AsyncCodewordsClient, logger

            logger = logging.getLogger("worker")

            def on_message(message: dict) -> None:
                logger.info("message", event=message["type"])
            """
        ),
    ]
    INVALID = [
        # The docs' pin (0.3.4): a TypeError on every request.
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #   "codewords-client==0.3.4",
            #   "fastapi==0.116.1",
            # ]
            # ///
            from codewords_client import logger
            from fastapi import FastAPI, Request

            app = FastAPI()

            @app.post("/webhook")
            async def webhook(request: Request) -> dict:
                payload = await request.json()
                logger.info("Webhook received", event=payload.get("event"), channel=payload.get("channel"))
                return {"ok": True}
            """,
            expected=(("CW205", 16, 37),),
            message="0.3.4",
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #   "codewords-client==0.3.4",
            #   "fastapi==0.116.1",
            # ]
            # ///
            from codewords_client import logger
            from fastapi import FastAPI, Request

            app = FastAPI()

            @app.post("/webhook")
            async def webhook(request: Request) -> dict:
                payload = await request.json()
                logger.info("Webhook received", event_type=payload.get("event"), channel=payload.get("channel"))
                return {"ok": True}
            """,
        ),
        # 0.4.11 renames it: a warning; `event_type` taken, so the runtime's `event_value`.
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.4.11"]
            # ///
            from codewords_client import logger

            def record(kind: str, raw: dict) -> None:
                logger.warning("unhandled", event_type=kind, event=raw)
            """,
            expected=(("CW205", 7, 50),),
            message="renames",
            fixed="""
            # /// script
            # dependencies = ["codewords-client==0.4.11"]
            # ///
            from codewords_client import logger

            def record(kind: str, raw: dict) -> None:
                logger.warning("unhandled", event_type=kind, event_value=raw)
            """,
        ),
        # structlog directly, a bound logger on self, and an async method 0.4.10 never wrapped.
        Invalid(
            """
            import structlog

            class SlackBot:
                def __init__(self, channel: str) -> None:
                    self.log = structlog.get_logger().bind(channel=channel)

                async def handle(self, body: dict) -> None:
                    self.log.info("slack event", event=body["event"]["type"])
                    await self.log.ainfo("done", event="message")
            """,
            expected=(("CW205", 8, 38), ("CW205", 9, 38)),
            fixed="""
            import structlog

            class SlackBot:
                def __init__(self, channel: str) -> None:
                    self.log = structlog.get_logger().bind(channel=channel)

                async def handle(self, body: dict) -> None:
                    self.log.info("slack event", event_type=body["event"]["type"])
                    await self.log.ainfo("done", event_type="message")
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        #: Dotted names bound to a structlog logger, and names bound to anything else.
        self.loggers: set[str] = set()
        self.others: set[str] = set()
        self.calls: list[tuple[cst.Call, cst.Arg, str]] = []
        self.configures = False

    # -- bindings ---------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not isinstance(target, (cst.Name, cst.Attribute)):
            return
        name = dotted_name(target)
        if name is None:
            return
        if self._is_logger(value):
            self.loggers.add(name)
        else:
            self.others.add(name)

    def _is_logger(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            qualified = self.ctx.imports.qualified(expr.func)
            if qualified in STRUCTLOG_FACTORIES:
                return True
            func = expr.func
            return isinstance(func, cst.Attribute) and func.attr.value in BIND_METHODS and self._is_logger(func.value)
        name = dotted_name(expr)
        if name is None or name in self.others:
            return False  # rebound to something else somewhere: not judged
        return name in self.loggers or self.ctx.imports.qualified(expr) == "codewords_client.logger"

    # -- calls ------------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if last == "configure" and self.ctx.imports.qualified(func) == "structlog.configure":
            self.configures = True
            return
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method not in TOLERANT_METHODS and method not in UNTOLERANT_METHODS:
            return
        event = next((arg for arg in node.args if arg.keyword is not None and arg.keyword.value == "event"), None)
        if event is None:
            return
        positional = [arg for arg in node.args if arg.keyword is None]
        if any(arg.star for arg in positional):
            return
        needed = 2 if method in ("log", "alog") else 1
        if len(positional) >= needed:
            self.calls.append((node, event, method))

    def leave_Module(self, node: cst.Module) -> None:
        for call, event, method in self.calls:
            assert isinstance(call.func, cst.Attribute)
            if self._is_logger(call.func.value):
                self._report(call, event, method)

    def _report(self, call: cst.Call, event: cst.Arg, method: str) -> None:
        assert event.keyword is not None  # visit_Call recorded an `event=` argument
        keywords = {arg.keyword.value for arg in call.args if arg.keyword is not None}
        replacement = next((name for name in ("event_type", "event_value") if name not in keywords), None)
        fix = None
        if replacement is not None:
            fix = self.make_fix(
                f"Rename `event=` to `{replacement}=`",
                [self.ctx.replace(event.keyword, replacement)],
                Applicability.SAFE,
            )
        pinned = self.ctx.client_version
        tolerant = (
            pinned is not None
            and pinned >= TOLERANT_SINCE
            and method in TOLERANT_METHODS
            and not self.configures
        )
        assert event.keyword is not None
        if tolerant:
            assert pinned is not None
            self.report(
                event.keyword,
                f"`event=` clashes with the positional message; codewords-client {_version(pinned)} renames it"
                f" to `{replacement or 'event_value'}` at run time (older clients raise TypeError): write that name",
                fix=fix,
                severity=Severity.WARNING,
            )
            return
        if method in UNTOLERANT_METHODS:
            why = f"`{method}()` is not covered by the 0.4.10+ client's rename"
        elif self.configures:
            why = "this file configures structlog itself, so the client's rename does not apply"
        elif pinned is None:
            why = "with codewords-client 0.3.4 (the docs' pin; no pin found)"
        else:
            why = f"with codewords-client {_version(pinned)}"
        self.report(
            event.keyword,
            f"`event=` plus a positional message passes structlog's `event` twice: TypeError on every call ({why})",
            fix=fix,
        )
