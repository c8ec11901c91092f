from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from cwlint.analysis.pydantic_models import ModelIndex, ValueType, pydantic_major
from cwlint.context import dotted_name, service_call, string_value
from cwlint.diagnostics import Applicability, Edit, Fix
from cwlint.rule import Invalid, Rule, Valid

if TYPE_CHECKING:
    from cwlint.context import FileContext

_ALL_KINDS = frozenset({"url", "uuid", "datetime", "date", "time", "decimal", "bytes", "set"})
#: Pydantic 1's URL types subclass str: json.dumps takes them.
_V1_KINDS = _ALL_KINDS - {"url"}
_CONSTRUCTORS = ("model_validate", "model_validate_json", "model_construct", "parse_obj", "parse_raw", "construct")
_HOW = {
    "url": ("a pydantic `{w}`, not a str", "str({c})"),
    "uuid": ("a `{w}`", "str({c})"),
    "datetime": ("a `{w}`", "{c}.isoformat()"),
    "date": ("a `{w}`", "{c}.isoformat()"),
    "time": ("a `{w}`", "{c}.isoformat()"),
    "decimal": ("a `{w}`", None),
    "bytes": ("`{w}`", None),
    "set": ("a set (`{w}`)", None),
    "model": ("a `{w}` instance", "{c}.model_dump(mode=\"json\")"),
}
_ADVICE = {
    "decimal": "convert it with `str(...)` or `float(...)`",
    "bytes": "decode it, or base64-encode it",
    "set": "send a list",
}

#: How a name is bound in a scope: an annotation or a value to read on demand, or nothing known.
Binding = tuple[str, cst.BaseExpression] | ValueType | None


class _Scope:
    def __init__(self, is_class: bool = False) -> None:
        self.is_class = is_class
        self.names: dict[str, Binding] = {}


class NonJsonInput(Rule):
    """A value in a service call's `inputs` that httpx cannot encode as JSON.

    ## What it does
    Reports values of `inputs` (keyword or positional; the dict itself and the values of
    literal dicts, lists and tuples inside it) that `json.dumps` rejects:

    - an instance of a pydantic model defined in the same file (a handler's `request`
      parameter, `Lead(...)`, a field holding another model);
    - a field of such a model annotated `HttpUrl`/`AnyUrl`, `datetime`/`date`/`time`,
      `UUID`, `Decimal`, `bytes` or a set, or a parameter annotated so;
    - a set literal or `set(...)`;
    - `model.model_dump()` without `mode="json"` (or `.dict()`) when the model has such a
      field: python mode keeps the objects.

    Models from other modules, and fields a validator or an `Annotated` converter may
    turn into another type, are not guessed at. A header pinning pydantic 1 silences the
    URL findings (its URL types are strings).

    ## Why is this bad?
    The client sends `inputs` with httpx's `json=`, which calls `json.dumps`: the call
    raises `TypeError: Object of type HttpUrl is not JSON serializable` before any request
    leaves, on every run. The docs' own examples convert first (`str(request.url)`).

    ## Example
    ```python
    class MonitorRequest(BaseModel):
        url: HttpUrl

    @app.post("/")
    async def monitor(request: MonitorRequest):
        async with AsyncCodewordsClient() as client:
            await client.run(service_id="firecrawl", inputs={"url": request.url})
    ```

    ## Use instead
    ```python
    @app.post("/")
    async def monitor(request: MonitorRequest):
        async with AsyncCodewordsClient() as client:
            await client.run(service_id="firecrawl", inputs={"url": str(request.url)})
    ```

    ## Fix safety
    Unsafe: the service receives a string or a dict where the author may have expected
    something else (`str()` of a pydantic 2 URL adds a trailing slash to a bare host;
    `.isoformat()` picks one date format; `model_dump(mode="json")` renders every nested
    value as JSON). Fixes: `str(...)` for URLs and UUIDs, `.isoformat()` for dates and
    times, `.model_dump(mode="json")` for models, `mode="json"` added to `model_dump()`.
    No fix for a value that may be None, a list of such values, `Decimal`, `bytes`, sets
    or `.dict()`: the right conversion is the author's choice.
    """

    code = "CW108"
    name = "non-json-input"
    #: A service call passes `service_id=` or is made on a client the file names.
    triggers = ("service_id", "CodewordsClient")
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            from codewords_client import AsyncCodewordsClient
            from pydantic import BaseModel, HttpUrl

            class MonitorRequest(BaseModel):
                url: HttpUrl
                selector: str = "main"

            async def monitor(request: MonitorRequest) -> dict:
                async with AsyncCodewordsClient() as client:
                    page = await client.run(service_id="firecrawl", inputs={"url": str(request.url), "formats": ["markdown"]})
                    await client.run(service_id="lead_store_1a2b3c4d", inputs=request.model_dump(mode="json"))
                    await client.run(service_id="lead_store_1a2b3c4d", inputs={"selector": request.selector, "tags": ["a", "b"]})
                    return page.json()
            """
        ),
        # Names rebound to JSON, fields that are strings, a model of another file, a serializer.
        Valid(
            """
            from datetime import datetime
            from pydantic import BaseModel, HttpUrl, field_serializer
            from .models import ExternalLead

            class Event(BaseModel):
                at: datetime
                title: str

                @field_serializer("at")
                def _at(self, value: datetime) -> str:
                    return value.isoformat()

            async def forward(client, event: Event, lead: ExternalLead, url: HttpUrl) -> None:
                url = str(url)
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs={"title": event.title, "url": url})
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs=event.model_dump())
                await client.run(service_id="crm_sync_9f8e7d6c", inputs={"lead": lead})
            """
        ),
        # Pydantic 1 URLs are strings.
        Valid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "pydantic==1.10.13"]
            # ///
            from pydantic import BaseModel, HttpUrl

            class Page(BaseModel):
                url: HttpUrl

            async def scrape(client, page: Page) -> None:
                await client.run(service_id="firecrawl", inputs={"url": page.url})
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI
            from pydantic import BaseModel, HttpUrl

            app = FastAPI()

            class MonitorRequest(BaseModel):
                url: HttpUrl

            @app.post("/")
            async def monitor(request: MonitorRequest) -> dict:
                async with AsyncCodewordsClient() as client:
                    page = await client.run(service_id="firecrawl", inputs={"url": request.url})
                    return page.json()
            """,
            expected=(("CW108", 13, 72),),
            message="`request.url` is a pydantic `HttpUrl`, not a str",
            fixed="""
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI
            from pydantic import BaseModel, HttpUrl

            app = FastAPI()

            class MonitorRequest(BaseModel):
                url: HttpUrl

            @app.post("/")
            async def monitor(request: MonitorRequest) -> dict:
                async with AsyncCodewordsClient() as client:
                    page = await client.run(service_id="firecrawl", inputs={"url": str(request.url)})
                    return page.json()
            """,
            unsafe=True,
        ),
        # A whole model, a nested model's date, a UUID, a set literal; positional form.
        Invalid(
            """
            import uuid
            from datetime import date
            from codewords_client import AsyncCodewordsClient
            from pydantic import BaseModel

            class Company(BaseModel):
                founded: date

            class Lead(BaseModel):
                id: uuid.UUID
                company: Company

            async def enrich(client: AsyncCodewordsClient, lead: Lead) -> None:
                await client.run("crm_sync_1a2b3c4d", {"lead": lead, "founded": lead.company.founded})
                await client.run("crm_sync_1a2b3c4d", {"id": lead.id, "tags": {"new", "inbound"}})
            """,
            expected=(("CW108", 14, 52), ("CW108", 14, 69), ("CW108", 15, 50), ("CW108", 15, 67)),
            fixed="""
            import uuid
            from datetime import date
            from codewords_client import AsyncCodewordsClient
            from pydantic import BaseModel

            class Company(BaseModel):
                founded: date

            class Lead(BaseModel):
                id: uuid.UUID
                company: Company

            async def enrich(client: AsyncCodewordsClient, lead: Lead) -> None:
                await client.run("crm_sync_1a2b3c4d", {"lead": lead.model_dump(mode="json"), "founded": lead.company.founded.isoformat()})
                await client.run("crm_sync_1a2b3c4d", {"id": str(lead.id), "tags": {"new", "inbound"}})
            """,
            unsafe=True,
        ),
        # The request itself as inputs, and model_dump() in python mode.
        Invalid(
            """
            from datetime import datetime
            from pydantic import BaseModel

            class Booking(BaseModel):
                starts_at: datetime
                guest: str

            async def book(client, booking: Booking) -> None:
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs=booking)
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs=booking.model_dump(exclude={"guest"}))
                created = Booking(starts_at=datetime.now(), guest="x")
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs={**created.model_dump()})
            """,
            expected=(("CW108", 9, 66), ("CW108", 10, 66), ("CW108", 12, 69)),
            fixed="""
            from datetime import datetime
            from pydantic import BaseModel

            class Booking(BaseModel):
                starts_at: datetime
                guest: str

            async def book(client, booking: Booking) -> None:
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs=booking.model_dump(mode="json"))
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs=booking.model_dump(exclude={"guest"}, mode="json"))
                created = Booking(starts_at=datetime.now(), guest="x")
                await client.run(service_id="calendar_sync_9f8e7d6c", inputs={**created.model_dump(mode="json")})
            """,
            unsafe=True,
        ),
        # Optional and list fields: reported, not fixed.
        Invalid(
            """
            from typing import List, Optional
            from pydantic import BaseModel, HttpUrl

            class Batch(BaseModel):
                urls: List[HttpUrl]
                callback: Optional[HttpUrl] = None

            async def crawl(client, batch: Batch) -> None:
                await client.run(service_id="crawler_0a1b2c3d", inputs={"urls": batch.urls, "callback": batch.callback})
            """,
            expected=(("CW108", 9, 69), ("CW108", 9, 93)),
        ),
    ]

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.scopes: list[_Scope] = [_Scope()]
        self._index: ModelIndex | None = None
        self._major: int | None = None

    @property
    def index(self) -> ModelIndex:
        if self._index is None:
            self._index = ModelIndex(self.ctx)
        return self._index

    @property
    def major(self) -> int:
        """The pydantic major version the header pins (2 when it pins none)."""
        if self._major is None:
            self._major = pydantic_major(self.ctx)
        return self._major

    @property
    def kinds(self) -> frozenset[str]:
        return _ALL_KINDS if self.major >= 2 else _V1_KINDS

    # -- scopes --------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._bind_name(node.name.value, None)
        scope = _Scope()
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            scope.names[param.name.value] = ("annotation", param.annotation.annotation) if param.annotation else None
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.names[star.name.value] = None
        self.scopes.append(scope)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        scope = _Scope()
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            scope.names[param.name.value] = None
        self.scopes.append(scope)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.scopes.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._bind_name(node.name.value, None)
        self.scopes.append(_Scope(is_class=True))

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def leave_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, ("value", node.value) if len(node.targets) == 1 else None)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target, ("annotation", node.annotation.annotation))

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target, None)

    def leave_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, ("value", node.value))

    def visit_For(self, node: cst.For) -> None:
        element = self._resolve(node.iter)
        binding = element.element() if element is not None and element.container else None
        self._bind_target(node.target, binding)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, None)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, None)

    def _bind_target(self, target: cst.BaseExpression, binding: Binding) -> None:
        if isinstance(target, cst.Name):
            self._bind_name(target.value, binding)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None)

    def _bind_name(self, name: str, binding: Binding) -> None:
        self.scopes[-1].names[name] = binding

    def _bound(self, name: str) -> bool:
        """Whether the file binds ``name`` where the current node can see it."""
        return any(
            name in scope.names for position, scope in enumerate(reversed(self.scopes))
            if not (scope.is_class and position > 0)
        ) or name in self.ctx.imports.names

    def _lookup(self, name: str, depth: int) -> ValueType | None:
        for position, scope in enumerate(reversed(self.scopes)):
            if scope.is_class and position > 0:
                continue  # a class body's names are not visible in its methods
            if name in scope.names:
                binding = scope.names[name]
                if isinstance(binding, tuple):
                    how, expr = binding
                    return self.index.classify(expr) if how == "annotation" else self._resolve(expr, depth + 1)
                return binding
        return None

    # -- what an expression holds ----------------------------------------------------------
    def _resolve(self, expr: cst.BaseExpression, depth: int = 0) -> ValueType | None:
        if depth > 8:
            return None
        if isinstance(expr, cst.Name):
            return self._lookup(expr.value, depth)
        if isinstance(expr, cst.Attribute):
            base = self._resolve(expr.value, depth + 1)
            if base is None or base.kind != "model" or base.container or base.model is None:
                return None
            return self.index.field(base.model, expr.attr.value)
        if isinstance(expr, cst.Call):
            func = expr.func
            name = dotted_name(func)
            if isinstance(func, cst.Name) and self.index.is_model(name) and self._lookup(func.value, depth) is None:
                return ValueType("model", func.value, model=func.value)
            if isinstance(func, cst.Attribute) and func.attr.value in _CONSTRUCTORS:
                owner = dotted_name(func.value)
                if owner is not None and self.index.is_model(owner):
                    return ValueType("model", owner, model=owner)
        return None

    # -- the calls -------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None or call.inputs is None:
            return
        self._examine(call.inputs)

    def _examine(self, expr: cst.BaseExpression) -> None:
        if isinstance(expr, cst.Dict):
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    self._examine(element.value)
                elif isinstance(element.value, cst.Call):
                    self._check_dump(element.value)
            return
        if isinstance(expr, (cst.List, cst.Tuple)):
            for item in expr.elements:
                if isinstance(item, cst.Element):
                    self._examine(item.value)
            return
        if isinstance(expr, (cst.Set, cst.SetComp)):
            self.report(expr, "a set: httpx cannot JSON-encode it (TypeError inside `run()`); send a list")
            return
        if isinstance(expr, cst.Call):
            func = dotted_name(expr.func)
            if func in ("set", "frozenset") and not self._bound(func):
                self.report(
                    expr, f"`{func}(...)` is a set: httpx cannot JSON-encode it (TypeError inside `run()`); send a list"
                )
                return
            if func == "dict" and not self._bound("dict"):
                for arg in expr.args:
                    if arg.keyword is not None:
                        self._examine(arg.value)
                return
            if self._check_dump(expr):
                return
        if isinstance(expr, (cst.Name, cst.Attribute, cst.Call)):
            value_type = self._resolve(expr)
            if value_type is not None and (value_type.kind == "model" or value_type.kind in self.kinds):
                self._report_value(expr, value_type)

    def _report_value(self, expr: cst.BaseExpression, value_type: ValueType) -> None:
        code = self.ctx.code(expr)
        what, fix_template = _HOW[value_type.kind]
        what = what.format(w=value_type.written)
        if value_type.container:
            self.report(
                expr,
                f"`{code}` is a list of {value_type.written}: httpx cannot JSON-encode its items "
                "(TypeError inside `run()`); convert each item",
            )
            return
        message = f"`{code}` is {what}: httpx cannot JSON-encode it (TypeError inside `run()`)"
        if fix_template is None:
            self.report(expr, f"{message}; {_ADVICE[value_type.kind]}")
            return
        if value_type.kind == "model" and self.major < 2:
            fix_template = "json.loads({c}.json())"  # pydantic 1 has no model_dump; .dict() keeps dates
        replacement = fix_template.format(c=code)
        if value_type.optional:
            self.report(expr, f"{message}; send `{replacement}` when it is not None")
            return
        fix = None
        if value_type.kind != "model" or self.major >= 2:  # pydantic 1's conversion needs an import
            edit = self.ctx.replace(expr, replacement)
            fix = self.make_fix(f"Replace with `{replacement}`", [edit], Applicability.UNSAFE)
        self.report(expr, f"{message}; send `{replacement}`", fix=fix)

    def _check_dump(self, call: cst.Call) -> bool:
        """``model.model_dump()`` in python mode (or ``.dict()``) of a model with non-JSON fields."""
        func = call.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("model_dump", "dict"):
            return False
        owner = self._resolve(func.value)
        if owner is None or owner.kind != "model" or owner.container or owner.model is None:
            return False
        method = func.attr.value
        if method == "model_dump" and self.major < 2:
            return True  # no such method in pydantic 1: another problem
        mode = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "mode"), None)
        if mode is not None and string_value(mode) == "json":
            return True
        if any(a.star for a in call.args):
            return True  # **options may hold mode
        offending = self.index.non_json_field(owner.model, self.kinds)
        if offending is None:
            return True
        code = self.ctx.code(call)
        message = f"`{code}` keeps `{offending}` as a Python object httpx cannot JSON-encode (TypeError inside `run()`)"
        if self.major < 2:
            self.report(call, f"{message}; use `json.loads({self.ctx.code(func.value)}.json())`")
            return True
        fix: Fix | None = None
        if method == "model_dump" and mode is None:
            if call.args:
                edit = self.ctx.insert_after(call.args[-1].value, ', mode="json"')
            else:
                end = self.ctx.span(call)[1]
                if self.ctx.text[end - 1] != ")":
                    return True
                edit = Edit(end - 1, end - 1, 'mode="json"')
            fix = self.make_fix('Add `mode="json"`', [edit], Applicability.UNSAFE)
        self.report(call, f'{message}; use `model_dump(mode="json")`', fix=fix)
        return True
