"""Where code runs, answered from the engine's ancestor chain: no second traversal.

Rules about the service and its runtime (CW202-CW208) ask the same few questions: which
function's body executes this node (a default argument or a decorator of a nested ``def``
runs in the enclosing scope, not in the ``def``), whether that function is ``async``,
whether the node sits in a generator expression (which may ``await`` anywhere), whether a
call creates the FastAPI app, whether a function is a route handler, and whether a call
writes a log line. Each answer reads ``ctx.ancestors`` and the nodes themselves only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from cwlint.context import FileContext, dotted_name

Scope = cst.FunctionDef | cst.Lambda | cst.ClassDef

#: Decorator methods that register a route: ``@app.post("/")``, ``@router.get(...)``.
ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "route", "websocket"}
)

#: Logger methods (stdlib, structlog, loguru), and their structlog async twins.
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log", "msg", "trace", "success"})
ASYNC_LOG_METHODS = frozenset("a" + name for name in LOG_METHODS)

#: Calls that make an exception visible without a logger.
REPORTING_CALLS = frozenset(
    {
        "print", "traceback.print_exc", "traceback.print_exception", "traceback.format_exc",
        "traceback.format_exception", "sentry_sdk.capture_exception", "sentry_sdk.capture_message",
        "capture_exception", "capture_message", "warnings.warn", "sys.stderr.write", "sys.stdout.write",
    }
)

FASTAPI_CLASSES = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI"})


def chain(ctx: FileContext, node: cst.CSTNode) -> list[cst.CSTNode]:
    """The enclosing nodes of ``node``, outermost first, and ``node`` itself last."""
    return [*ctx.ancestors, node]


def executing_scope(nodes: Sequence[cst.CSTNode]) -> Scope | None:
    """The function, lambda or class whose *body* runs the last node of ``nodes``.

    None for module level. A parameter default, an annotation or a decorator of a nested
    ``def`` (and a class's bases) belong to the enclosing scope, as Python evaluates them.
    """
    for index in range(len(nodes) - 2, -1, -1):
        node, child = nodes[index], nodes[index + 1]
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and child is node.body:
            return node
    return None


def is_async(scope: Scope | None) -> bool:
    return isinstance(scope, cst.FunctionDef) and scope.asynchronous is not None


def in_generator_expression(nodes: Sequence[cst.CSTNode]) -> bool:
    """Whether a generator expression of the same scope encloses the last node.

    A generator expression may hold ``await`` and ``async for`` in any function: it
    becomes an asynchronous generator. (Its first iterable is evaluated outside it; that
    corner is ignored, as it only ever makes this answer more lenient.)
    """
    for index in range(len(nodes) - 2, -1, -1):
        node, child = nodes[index], nodes[index + 1]
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and child is node.body:
            return False
        if isinstance(node, cst.GeneratorExp):
            return True
    return False


def is_fastapi_app(ctx: FileContext, expr: cst.BaseExpression) -> bool:
    """``FastAPI(...)``, however FastAPI was imported."""
    return isinstance(expr, cst.Call) and ctx.imports.qualified(expr.func) in FASTAPI_CLASSES


def is_route_handler(function: cst.FunctionDef) -> bool:
    """Decorated with ``@<something>.<verb>(...)``: a FastAPI, Starlette or Flask route."""
    for decorator in function.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            if expr.func.attr.value in ROUTE_METHODS:
                return True
    return False


def is_logging_call(ctx: FileContext, call: cst.Call) -> bool:
    """A call that writes the error somewhere a person can see it."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in LOG_METHODS | ASYNC_LOG_METHODS:
        return True
    name = dotted_name(func)
    if name is None:
        return False
    if name in REPORTING_CALLS:
        return True
    qualified = ctx.imports.qualified(func)
    return qualified is not None and (qualified in REPORTING_CALLS or qualified.startswith("logging."))


_HTTP_STATUS_NAME = re.compile(r"HTTP_(\d{3})")


def status_code_value(expr: cst.BaseExpression) -> int | None:
    """An HTTP status written as a literal (``500``) or a constant (``status.HTTP_500_...``)."""
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value)
        except ValueError:
            return None
    name = dotted_name(expr)
    if name is not None:
        match = _HTTP_STATUS_NAME.search(name.rsplit(".", 1)[-1])
        if match:
            return int(match.group(1))
    return None
