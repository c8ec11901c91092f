"""The routes of a workflow, found statically: collection parses the file, it never imports it.

A workflow's routes are the decorators on its module-level FastAPI object (``@app.post("/")``,
``@app.get("/items/{item_id}")``, ``@app.api_route(path, methods=[...])``), calls of
``app.add_api_route(path, endpoint, methods=[...])``, and the same on module-level ``APIRouter``
objects included with ``app.include_router(router, prefix=...)``. What cannot be read without
running the code (a path built at run time, routes added inside a function, a router imported
from another module) is listed in ``StaticRoutes.dynamic``: the ``boot`` item compares this list
with the app's real routes and says what collection could not see.

Only the methods the fuzzer drives (GET, POST, PUT, PATCH, DELETE) become items; routes with
``include_in_schema=False`` are left out, as the app's OpenAPI document leaves them out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

#: The methods the fuzzer sends (``cwtest.fuzz.schema.METHODS``), in its order.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_DECORATOR_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")


@dataclass(frozen=True, order=True)
class StaticRoute:
    method: str
    template: str
    line: int = field(default=0, compare=False)

    @property
    def name(self) -> str:
        """``POST /items/{item_id}``: the fuzzer's name for the route (``cwtest.fuzz.Route.name``)."""
        return f"{self.method} {self.template}"


@dataclass
class StaticRoutes:
    """What collection learned about a workflow's app without importing it."""

    app: str | None = None
    routes: list[StaticRoute] = field(default_factory=list)
    #: Route definitions that could not be resolved statically: ``file:line: why``.
    dynamic: list[str] = field(default_factory=list)
    #: The source does not parse (the ``lint`` and ``boot`` items report it).
    syntax_error: str | None = None

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.routes]


@dataclass
class _Owner:
    kind: str  # "app" or "router"
    prefix: str = ""
    #: For a router: the prefixes it was included with, on the served app.
    included: list[str] = field(default_factory=list)
    routes: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, line)


def find_routes(path: Path, source: str | None = None) -> StaticRoutes:
    """The served app's routes, read from the source of ``path``."""
    text = source if source is not None else path.read_text(encoding="utf-8", errors="replace")
    out = StaticRoutes()
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        out.syntax_error = f"{exc.msg} (line {exc.lineno})"
        return out
    fastapi_names, router_names, module_aliases = _imports(tree)
    owners: dict[str, _Owner] = {}
    constants: dict[str, str] = {}
    order: list[str] = []
    for statement in tree.body:
        target, value = _assignment(statement)
        if target is None or value is None:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            constants[target] = value.value
        if not isinstance(value, ast.Call):
            continue
        callee = _callee(value.func, module_aliases)
        if callee in fastapi_names or callee == "fastapi.FastAPI":
            owners[target] = _Owner("app")
            order.append(target)
        elif callee in router_names or callee == "fastapi.APIRouter":
            owners[target] = _Owner("router", prefix=_string_kwarg(value, "prefix", constants) or "")
    apps = [name for name in order if owners[name].kind == "app"]
    if not apps:
        return out
    # The harness serves the module-level FastAPI object named ``app``, else the first one.
    out.app = "app" if "app" in apps else apps[0]
    where = path.name

    def add(owner_name: str, methods: list[str], route_path: str | None, node: ast.expr, why: str = "") -> None:
        owner = owners[owner_name]
        if route_path is None:
            out.dynamic.append(f"{where}:{node.lineno}: {owner_name} route with a path cwtest cannot read "
                               f"statically{why}")
            return
        for method in methods:
            owner.routes.append((method, route_path, node.lineno))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
                    continue
                owner = decorator.func.value
                if not isinstance(owner, ast.Name) or owner.id not in owners:
                    continue
                attr = decorator.func.attr
                if attr not in _DECORATOR_METHODS and attr != "api_route":
                    continue
                if _hidden(decorator):
                    continue
                if node not in tree.body:
                    out.dynamic.append(f"{where}:{decorator.lineno}: route {attr} on {owner.id} defined inside "
                                       f"a function or class")
                    continue
                methods = [attr.upper()] if attr != "api_route" else _methods(decorator)
                if methods is None:
                    out.dynamic.append(f"{where}:{decorator.lineno}: api_route with methods cwtest cannot read")
                    continue
                add(owner.id, methods, _path_arg(decorator, constants), decorator)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in owners:
            attr = node.func.attr
            if attr == "add_api_route":
                if _hidden(node):
                    continue
                methods = _methods(node)
                if methods is None:
                    out.dynamic.append(f"{where}:{node.lineno}: add_api_route with methods cwtest cannot read")
                    continue
                add(node.func.value.id, methods, _path_arg(node, constants), node)
            elif attr == "include_router" and owners[node.func.value.id].kind == "app":
                included = node.args[0] if node.args else None
                prefix = _string_kwarg(node, "prefix", constants)
                if isinstance(included, ast.Name) and included.id in owners \
                        and owners[included.id].kind == "router" and prefix is not None:
                    if node.func.value.id == out.app:
                        owners[included.id].included.append(prefix)
                elif node.func.value.id == out.app:
                    out.dynamic.append(f"{where}:{node.lineno}: a router cwtest cannot follow statically")
    routes: set[StaticRoute] = set()
    for method, route_path, line in owners[out.app].routes:
        routes.add(StaticRoute(method, normalise(route_path), line))
    for router in owners.values():
        if router.kind != "router":
            continue
        for prefix in router.included:
            for method, route_path, line in router.routes:
                routes.add(StaticRoute(method, normalise(prefix + router.prefix + route_path), line))
    out.dynamic.sort(key=lambda text: int(text.split(":")[1]))
    # Source order; the path breaks ties (one router included under two prefixes shares a line): the
    # item order, which pytest-split's groups and xdist's workers rely on, never follows set order.
    out.routes = sorted((r for r in routes if r.method in METHODS),
                        key=lambda r: (r.line, METHODS.index(r.method), r.template))
    return out


def normalise(template: str) -> str:
    """The path as the OpenAPI document writes it: ``{name:path}`` converters dropped."""
    return _CONVERTER.sub(r"{\1}", template)


# --- helpers --------------------------------------------------------------------------------------

def _imports(tree: ast.Module) -> tuple[set[str], set[str], dict[str, str]]:
    fastapi_names: set[str] = set()
    router_names: set[str] = set()
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("fastapi", "fastapi.applications", "fastapi.routing"):
            for alias in node.names:
                if alias.name == "FastAPI":
                    fastapi_names.add(alias.asname or alias.name)
                elif alias.name == "APIRouter":
                    router_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fastapi":
                    modules[alias.asname or alias.name] = "fastapi"
    return fastapi_names, router_names, modules


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _callee(func: ast.expr, modules: dict[str, str]) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
        return f"{modules[func.value.id]}.{func.attr}"
    return None


def _string(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string(node.left, constants), _string(node.right, constants)
        return None if left is None or right is None else left + right
    return None


def _path_arg(call: ast.Call, constants: dict[str, str]) -> str | None:
    if call.args:
        return _string(call.args[0], constants)
    return _string_kwarg(call, "path", constants)


def _string_kwarg(call: ast.Call, name: str, constants: dict[str, str]) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return _string(keyword.value, constants)
    return "" if name == "prefix" else None


def _methods(call: ast.Call) -> list[str] | None:
    for keyword in call.keywords:
        if keyword.arg == "methods":
            if not isinstance(keyword.value, (ast.List, ast.Tuple, ast.Set)):
                return None
            methods: list[str] = []
            for e in keyword.value.elts:
                if not (isinstance(e, ast.Constant) and isinstance(e.value, str)):
                    return None
                methods.append(e.value.upper())
            return methods
    return ["GET"]  # FastAPI's default for api_route and add_api_route


def _hidden(call: ast.Call) -> bool:
    return any(k.arg == "include_in_schema" and isinstance(k.value, ast.Constant) and k.value.value is False
               for k in call.keywords)
