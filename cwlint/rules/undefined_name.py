from __future__ import annotations

import difflib

import libcst as cst

from cwlint.analysis.scopes import (
    AUG,
    BUILTINS,
    CLASS,
    COMPREHENSION,
    DELETE,
    MODULE,
    Scope,
    ScopeCollector,
    Unresolved,
)
from cwlint.context import FileContext
from cwlint.diagnostics import Applicability, Edit, Fix
from cwlint.edits import import_from, import_module
from cwlint.rule import Invalid, Rule, Valid

#: Modules whose missing ``import`` the fix adds when the name is used as ``module.attr``.
#: Standard library, plus httpx (a dependency of codewords-client, so always installed).
KNOWN_MODULES = frozenset(
    {
        "asyncio", "base64", "calendar", "collections", "contextlib", "copy", "csv", "dataclasses",
        "enum", "functools", "glob", "gzip", "hashlib", "hmac", "html", "httpx", "inspect", "io",
        "itertools", "json", "logging", "math", "mimetypes", "operator", "os", "pathlib", "platform",
        "pprint", "random", "re", "secrets", "shutil", "signal", "socket", "statistics", "string",
        "struct", "subprocess", "sys", "tempfile", "textwrap", "threading", "time", "traceback",
        "typing", "unicodedata", "uuid", "warnings", "zlib", "zoneinfo",
    }
)

#: Well-known names and the module they come from. Third-party ones are only suggested when
#: the file already imports from that package (so the dependency is there).
KNOWN_NAMES: dict[str, str] = {
    **{
        name: "typing"
        for name in (
            "Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Literal", "Callable",
            "Iterable", "Iterator", "Sequence", "Mapping", "MutableMapping", "Awaitable", "AsyncIterator",
            "AsyncGenerator", "Generator", "TypedDict", "Annotated", "ClassVar", "Final", "Protocol",
            "TypeVar", "Generic", "NamedTuple", "TYPE_CHECKING", "cast", "overload",
        )
    },
    "Path": "pathlib",
    "dataclass": "dataclasses",
    "asdict": "dataclasses",
    "defaultdict": "collections",
    "Counter": "collections",
    "OrderedDict": "collections",
    "deque": "collections",
    "partial": "functools",
    "lru_cache": "functools",
    "wraps": "functools",
    "reduce": "functools",
    "Enum": "enum",
    "timedelta": "datetime",
    "timezone": "datetime",
    "uuid4": "uuid",
    "FastAPI": "fastapi",
    "HTTPException": "fastapi",
    "Request": "fastapi",
    "BackgroundTasks": "fastapi",
    "Depends": "fastapi",
    "UploadFile": "fastapi",
    "JSONResponse": "fastapi.responses",
    "StreamingResponse": "fastapi.responses",
    "HTMLResponse": "fastapi.responses",
    "PlainTextResponse": "fastapi.responses",
    "BaseModel": "pydantic",
    "Field": "pydantic",
    "HttpUrl": "pydantic",
    "ValidationError": "pydantic",
    "field_validator": "pydantic",
    "model_validator": "pydantic",
    "ConfigDict": "pydantic",
    "AsyncCodewordsClient": "codewords_client",
    "run_service": "codewords_client",
    "redis_client": "codewords_client",
}
_STDLIB_SOURCES = frozenset({"typing", "pathlib", "dataclasses", "collections", "functools", "enum", "datetime", "uuid"})
#: ``datetime`` is a module and a class: ``datetime.now()`` wants the class.
_DATETIME_CLASS_ATTRS = frozenset(
    {"now", "utcnow", "today", "fromisoformat", "fromtimestamp", "utcfromtimestamp", "strptime", "combine", "min", "max"}
)
_DATETIME_MODULE_ATTRS = frozenset({"datetime", "date", "time", "timedelta", "timezone", "tzinfo", "UTC"})


class UndefinedName(ScopeCollector, Rule):
    """A name read but bound nowhere it could come from: a NameError at run time.

    ## What it does
    Reports a name that is read in a scope where nothing binds it: not the scope itself, not
    an enclosing function, not the module (anywhere in it, conditionally or later), not a
    builtin, not a star import. Python's scoping is followed: a class body's names are not
    visible from its methods, a comprehension's variables stay inside it, `global` and
    `nonlocal` redirect a name, `x += 1` or `del x` in a function makes `x` local without
    giving it a value, and `except E as e` unbinds `e` when the handler ends. Reads inside
    `try: ... except NameError:` are deliberate and not reported, nor are globals in a
    module with `from m import *` or with writes through `globals()`. Every read is reported,
    as pyflakes and ruff (F821) do: each one raises, and an editor shows each (a name bound
    only by `except ... as` is reported at its first read outside the handler); the fix, when
    there is one, goes with the first. A string in the module's `__all__` that names nothing
    is reported as well.

    ## Why is this bad?
    The code raises `NameError` (or `UnboundLocalError`) when it reaches the name: a missing
    `import os`, a helper renamed in one place and not the other, a class attribute read
    from a method without `self.`. In a workflow the failure waits for the request that
    takes that path, and a broad `except Exception` around it often turns it into a
    silent wrong answer.

    ## Example
    ```python
    async def fetch_linkedin_profile(url: str) -> dict: ...

    @app.post("/")
    async def main(request: Input) -> Output:
        profile = await fetch_profile(request.url)
        return Output(api_key_set=bool(os.environ.get("API_KEY")))
    ```

    ## Use instead
    ```python
    import os

    async def fetch_linkedin_profile(url: str) -> dict: ...

    @app.post("/")
    async def main(request: Input) -> Output:
        profile = await fetch_linkedin_profile(request.url)
        return Output(api_key_set=bool(os.environ.get("API_KEY")))
    ```

    ## Fix safety
    Unsafe, and offered only for a short list of well-known modules and names used the way
    they are meant (`os.environ`, `json.dumps(...)`, `Optional[str]`, `HTTPException`): the
    fix adds the missing import. It changes behaviour on purpose (the code that raised
    `NameError` now runs), and if the name was meant to be a local variable that someone
    forgot to assign, the import would hide that mistake, so review it. Other names have
    no fix; the message suggests a close match from the visible names.
    """

    code = "CW207"
    name = "undefined-name"
    fix_availability = Applicability.UNSAFE

    VALID = [
        # Conditional and late bindings, TYPE_CHECKING imports, quoted and deferred
        # annotations, a helper defined after the function that calls it.
        Valid(
            """
            from __future__ import annotations

            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from httpx import AsyncClient

            try:
                import orjson as jsonlib
            except ImportError:
                import json as jsonlib

            async def main(client: AsyncClient) -> Report:
                return Report(body=jsonlib.dumps(await summarise(client)))

            async def summarise(client: "AsyncClient") -> dict:
                return {"ok": True, "file": __file__, "module": __name__}

            class Report:
                body: str
            """
        ),
        # Class attributes read through self/the class, comprehension variables, globals
        # declared in a function, names guarded by `except NameError`.
        Valid(
            """
            import logging

            class Scraper:
                retries = 3
                codes = [c for c in (429, 503)]
                doubled = [r * 2 for r in range(retries)]

                def run(self) -> int:
                    return self.retries + Scraper.retries + len(__class__.codes)

            def configure() -> None:
                global LOGGER
                LOGGER = logging.getLogger("wf")

            def log(message: str) -> None:
                LOGGER.info(message)

            try:
                IN_NOTEBOOK = bool(__IPYTHON__)
            except NameError:
                IN_NOTEBOOK = False
            """
        ),
        # Closures, nonlocal, walrus inside a comprehension, match captures, `del` of a bound name.
        Valid(
            """
            def counter():
                count = 0

                def bump() -> int:
                    nonlocal count
                    count += 1
                    return count

                return bump

            def first_long(words: list[str]) -> str | None:
                if any(len(hit := w) > 10 for w in words):
                    return hit
                match words:
                    case [head, *rest]:
                        del rest
                        return head
                return None
            """
        ),
        # The exception kept in another name, read in the handler and in a closure there.
        Valid(
            """
            async def notify(client, text: str) -> dict:
                error = None
                try:
                    await client.run(service_id="send_email", inputs={"to": "ops@example.com", "body": text})
                except Exception as exc:
                    error = exc

                    def describe() -> str:
                        return f"{type(exc).__name__}: {exc}"

                    print(describe())
                return {"ok": error is None, "error": str(error) if error else None}
            """
        ),
        # A star import may bind anything.
        Valid(
            """
            from helpers import *

            def main() -> None:
                fetch_page("https://example.com")
            """
        ),
    ]
    INVALID = [
        # A missing `import os`: the fix adds it after the other imports.
        Invalid(
            """
            import json

            def load_settings() -> dict:
                return json.loads(os.environ.get("SETTINGS", "{}"))
            """,
            expected=(("CW207", 4, 23),),
            fixed="""
            import json
            import os

            def load_settings() -> dict:
                return json.loads(os.environ.get("SETTINGS", "{}"))
            """,
            unsafe=True,
            message="undefined name `os`",
        ),
        # A renamed helper: no fix, a suggestion.
        Invalid(
            """
            async def fetch_linkedin_profile(url: str) -> dict:
                return {"url": url}

            async def enrich(urls: list[str]) -> list[dict]:
                return [await fetch_profile(u) for u in urls]
            """,
            expected=(("CW207", 5, 19),),
            message="did you mean `fetch_linkedin_profile`",
        ),
        # A class attribute read from a method: each read is reported.
        Invalid(
            """
            class Client:
                base_url = "https://api.example.com"

                def url(self, path: str) -> str:
                    url = base_url + path
                    return url.rstrip("/") or base_url
            """,
            expected=(("CW207", 5, 15), ("CW207", 6, 35)),
            message="class attribute",
        ),
        # `+=` on a module counter without `global`: UnboundLocalError.
        Invalid(
            """
            processed = 0

            def handle(item: dict) -> None:
                processed += 1
            """,
            expected=(("CW207", 4, 5),),
            message="global processed",
        ),
        # Third-party names are fixed only from a package the file already imports from;
        # `except Exception` does not make the read deliberate.
        Invalid(
            """
            from fastapi import FastAPI

            app = FastAPI()

            @app.post("/")
            async def main(payload: dict) -> dict:
                try:
                    return {"ok": validate(payload)}
                except Exception:
                    raise HTTPException(status_code=400, detail="bad payload")
            """,
            expected=(("CW207", 8, 23), ("CW207", 10, 15)),
            fixed="""
            from fastapi import FastAPI, HTTPException

            app = FastAPI()

            @app.post("/")
            async def main(payload: dict) -> dict:
                try:
                    return {"ok": validate(payload)}
                except Exception:
                    raise HTTPException(status_code=400, detail="bad payload")
            """,
            unsafe=True,
        ),
        # The exception read after its handler: Python deletes `exc` when the handler ends.
        Invalid(
            """
            async def notify(client, channel: str, text: str) -> dict:
                try:
                    await client.run(service_id="pipedream", inputs={"app": "slack", "action": "send-message"})
                except Exception as exc:
                    failed = True
                else:
                    failed = False
                return {"ok": not failed, "error": str(exc) if failed else None}
            """,
            expected=(("CW207", 8, 44),),
            message="Python unbinds it when the handler ends",
        ),
        # A comprehension in a class body sees the class only in its first iterable.
        Invalid(
            """
            class Limits:
                sizes = [1, 2]
                pairs = [(a, b) for a in sizes for b in sizes]
            """,
            expected=(("CW207", 3, 45),),
        ),
        # An export that names nothing.
        Invalid(
            """
            __all__ = ["fetch_page", "parse_page"]

            def fetch_page(url: str) -> str:
                return url
            """,
            expected=(("CW207", 1, 26),),
            message="is listed in `__all__`",
        ),
    ]

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._init_scopes(ctx)

    def leave_Module(self, node: cst.Module) -> None:
        fixed: set[str] = set()
        items = list(self.unresolved())
        if len(items) > 1:  # the fix goes with the first read in the file
            items.sort(key=lambda item: self.ctx.range(item.node)[0])
        for item in items:
            fix = None
            if item.kind == "load" and item.name not in fixed:
                fix = self._import_fix(item)
                if fix is not None:
                    fixed.add(item.name)
            self.report(item.node, self._message(item), fix=fix)

    # -- messages -------------------------------------------------------------------------------
    def _message(self, item: Unresolved) -> str:
        name, scope = item.name, item.scope
        if item.kind == "export":
            return f"`{name}` is listed in `__all__` but the module never binds it (`from ... import *` raises AttributeError)"
        if item.kind == "delete":
            return f"`{name}` is deleted but never bound in {_where(scope)} (`del {name}` raises NameError)"
        if item.kind == "weak":
            _, role = scope.weak[name]
            how = {AUG: "an augmented assignment", DELETE: "`del`"}.get(role, "a bare annotation")
            return (
                f"`{name}` is local to {_where(scope)} ({how} makes it so) but never given a value there "
                f"(UnboundLocalError); declare `global {name}` or assign it first"
            )
        if item.kind == "handler":
            return (
                f"`{name}` is bound only by `except ... as {name}`, and Python unbinds it when the handler "
                f"ends: this read outside the handler raises NameError; keep what you need in another variable"
            )
        message = f"undefined name `{name}`"
        hint = self._hint(item)
        return f"{message}: {hint}" if hint else message

    def _hint(self, item: Unresolved) -> str | None:
        name, scope = item.name, item.scope
        enclosing, path = scope.parent, [scope]
        while enclosing is not None:
            if enclosing.kind == CLASS and name in enclosing.bound:
                if all(step.kind == COMPREHENSION for step in path):
                    return f"`{name}` is a class attribute of `{enclosing.name}`, and a comprehension in the class body sees the class only in its first `for ... in`"
                return f"`{name}` is a class attribute of `{enclosing.name}`, not visible here; use `self.{name}` or `{enclosing.name}.{name}`"
            path.append(enclosing)
            enclosing = enclosing.parent
        for other in self.scopes:
            if other.kind != MODULE and other is not scope and name in other.bound and not _encloses(other, scope):
                verb = "imported" if name in other.imported else "bound"
                return f"`{name}` is {verb} only inside {_owner(other)}"
        suggestion = self._close_match(name, scope)
        if suggestion:
            return f"did you mean `{suggestion}`?"
        return None

    def _close_match(self, name: str, scope: Scope) -> str | None:
        visible: set[str] = set(self.global_names())
        current: Scope | None = scope
        while current is not None:
            if current is scope or current.kind != CLASS:
                visible |= current.bound
            current = current.parent
        visible.discard(name)
        candidates = difflib.get_close_matches(name, sorted(visible), n=1, cutoff=0.7)
        if not candidates:
            candidates = difflib.get_close_matches(name, sorted(BUILTINS - {name}), n=1, cutoff=0.85)
        return candidates[0] if candidates else None

    # -- the fix --------------------------------------------------------------------------------
    def _import_fix(self, item: Unresolved) -> Fix | None:
        if self.star_import or not isinstance(item.node, cst.Name):
            return None
        name = item.name
        parent = self.first_parents.get(id(item.node))
        attribute = parent.attr.value if isinstance(parent, cst.Attribute) and parent.value is item.node else None
        edits: list[Edit]
        if name == "datetime":
            if attribute in _DATETIME_CLASS_ATTRS:
                edits, label = import_from(self.ctx, "datetime", "datetime"), "from datetime import datetime"
            elif attribute in _DATETIME_MODULE_ATTRS:
                edits, label = import_module(self.ctx, "datetime"), "import datetime"
            else:
                return None
        elif name in KNOWN_MODULES:
            if attribute is None:
                return None
            edits, label = import_module(self.ctx, name), f"import {name}"
        elif name in KNOWN_NAMES:
            module = KNOWN_NAMES[name]
            if module not in _STDLIB_SOURCES and not self._imports_from(module.split(".")[0]):
                return None
            edits, label = import_from(self.ctx, module, name), f"from {module} import {name}"
        else:
            return None
        if not edits:
            return None  # imported somewhere already (in another function): no guessing
        return self.make_fix(f"Add `{label}`", edits, Applicability.UNSAFE)

    def _imports_from(self, package: str) -> bool:
        return any(
            full == package or full.startswith(package + ".") for full in self.ctx.imports.names.values()
        ) or any(module == package or module.startswith(package + ".") for module in self.ctx.imports.from_statements)


def _encloses(outer: Scope, inner: Scope) -> bool:
    current: Scope | None = inner
    while current is not None:
        if current is outer:
            return True
        current = current.parent
    return False


def _owner(scope: Scope) -> str:
    if scope.kind == CLASS:
        return f"class `{scope.name}`"
    if isinstance(scope.node, cst.FunctionDef):
        return f"`{scope.name}()`"
    return f"a {scope.name}"


def _where(scope: Scope) -> str:
    if scope.kind == MODULE:
        return "the module"
    if scope.kind == CLASS:
        return f"class `{scope.name}`"
    if isinstance(scope.node, cst.FunctionDef):
        return f"`{scope.name}()`"
    return f"this {scope.name}"
