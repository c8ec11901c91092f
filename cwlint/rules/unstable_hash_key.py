from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

import libcst as cst

from cwlint.context import dotted_name, service_call, string_value
from cwlint.diagnostics import Applicability
from cwlint.edits import import_module
from cwlint.rule import Invalid, Rule, Valid

#: Names of dict entries and functions that hold a stored or sent identifier: the bare `key`
#: of redis_coordinator's inputs, file and object names, and keys named for a store
#: (`cache_key`, `snapshot_key`), but not `sort_key` or other in-memory keys.
_KEYISH = re.compile(
    r"^(?:key|filename|file_name|object_name|blob_name|idempotency_key)$"
    r"|(?:cache|redis|snapshot|storage|store|blob|object|file|s3|bucket|idempotency|dedup|lock|state)_?(?:key|name|id)s?$",
    re.IGNORECASE,
)
_KEY_KEYWORDS = frozenset(
    {"key", "Key", "cache_key", "filename", "file_name", "object_name", "blob_name", "idempotency_key", "name_key"}
)
_REDIS_METHODS = frozenset(
    {
        "set", "get", "setex", "setnx", "psetex", "getset", "getdel", "getex", "delete", "unlink",
        "exists", "expire", "expireat", "ttl", "incr", "incrby", "decr", "hset", "hget", "hgetall",
        "hdel", "hmset", "hmget", "hincrby", "lpush", "rpush", "lrange", "sadd", "srem",
        "sismember", "smembers", "zadd", "zrange", "zscore", "mget", "mset", "publish", "xadd",
    }
)
#: Calls that upload or name a stored object.
_STORAGE_METHODS = frozenset(
    {
        "create_file_upload", "upload_file", "upload_file_content", "put_object", "upload_fileobj", "blob",
        "upload_blob", "get_blob_client",
    }
)
#: Calls that turn a hash into text or another number on the way to a key.
_BUILDERS = frozenset({"str", "abs", "hex", "format", "int", "repr", "oct"})
_STRING_BUILDERS = frozenset({"str", "format", "repr"})
_STRING_METHODS = frozenset({"format", "join", "format_map"})
_LOGGING = re.compile(r"(?:^|\.)(?:log|logger|logging|structlog|print)(?:\.|$)|^print$")
_STR_RETURNING = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "casefold", "format", "join", "replace", "title"})
#: Expressions that need no parentheses before `.encode()`.
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.SimpleString, cst.FormattedString, cst.Subscript)
_REDIS_FACTORIES = re.compile(r"^(?:redis|aioredis)\.|^codewords_client\.(?:redis\.)?redis_client$")


@dataclass
class _Use:
    """A ``hash()`` call and what its value flows into."""

    call: cst.Call
    string_context: bool
    text_argument: bool  #: the argument is known to be a str
    sink: str | None = None  #: why the value is stored or sent, once known


@dataclass
class _Flow:
    reason: str | None = None
    variable: tuple[int | None, str] | None = None  #: (function id, name) the value is bound to
    string_context: bool = False


@dataclass
class _State:
    uses: list[_Use] = field(default_factory=list)
    tainted: dict[tuple[int | None, str], list[_Use]] = field(default_factory=dict)


def _formats_number(call: cst.Call) -> bool:
    """`format(h, "x")`, `"k_{:x}".format(h)`: a format spec formats the hash as a number."""
    func = call.func
    if isinstance(func, cst.Name) and func.value == "format":
        return len(call.args) > 1
    if isinstance(func, cst.Attribute) and func.attr.value == "format":
        template = string_value(func.value)
        if template is None:
            return False
        try:
            return any(spec for _, _, spec, _ in string.Formatter().parse(template))
        except ValueError:
            return False
    return False


class UnstableHashKey(Rule):
    """The built-in `hash()` in a key that is stored or sent.

    ## What it does
    Reports `hash(...)` when its value (directly, or through an f-string, `str()`, `%`,
    `abs()`, `"".join(...)`, or a variable) ends up in something that outlives the process:
    a CodeWords service input (`redis_coordinator`'s `key`), a dict entry named like a key
    (`"key"`, `"cache_key"`, `"filename"`), a Redis command on a Redis client, an upload's
    object name, a `key=`/`filename=` argument, or the return value of a function named like
    a key (`cache_key()`). In-memory uses (a dict subscript, a set, `__hash__`), logging, and
    a shadowed `hash` are not reported.

    ## Why is this bad?
    `hash()` of a `str` or `bytes` is salted per process (`PYTHONHASHSEED`), and every
    workflow run starts in a fresh sandbox: a key built from it changes on every run. The
    stored snapshot is never found again (every run is the "first run"), the cache never
    hits, and Redis fills with orphaned keys. The docs' own examples do this.

    ## Example
    ```python
    snapshot_key = f"website_snapshot_{hash(str(request.url))}"
    await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": snapshot_key})
    ```

    ## Use instead
    ```python
    snapshot_key = f"website_snapshot_{hashlib.sha256(str(request.url).encode()).hexdigest()}"
    await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": snapshot_key})
    ```

    ## Fix safety
    Unsafe: `hash(x)` becomes `hashlib.sha256(x.encode()).hexdigest()` in a string (`str(x)`
    first unless `x` is known to be a string), or `int(hashlib.sha256(...).hexdigest(), 16)`
    where the number is used as a number (`% 1000`, `abs()`), and `import hashlib` is added.
    The keys change once (old entries are orphaned, as they were on every run before), and a
    value that was not a `str` is hashed through its `str()`.
    """

    code = "CW303"
    name = "unstable-hash-key"
    triggers = ("hash(",)
    fix_availability = Applicability.UNSAFE

    VALID = [
        # In-memory uses: a dict cache, a set of seen items, __hash__.
        Valid(
            """
            from dataclasses import dataclass

            _cache: dict[int, str] = {}
            seen: set[int] = set()

            def summarize(text: str) -> str:
                key = hash(text)
                if key in _cache:
                    return _cache[key]
                ranked = sorted(_cache.values(), key=len)
                seen.add(hash(text.lower()))
                _cache[key] = text[:200]
                return _cache[key]

            @dataclass(frozen=True)
            class Lead:
                email: str
                company: str

                def __hash__(self) -> int:
                    return hash((self.email.lower(), self.company))
            """
        ),
        # Keys that live in memory: a sort key, a bucket for grouping within one request.
        Valid(
            """
            def sort_key(lead: dict) -> int:
                return hash(lead["email"])

            def group(leads: list[dict]) -> dict[int, list[dict]]:
                buckets: dict[int, list[dict]] = {}
                for lead in sorted(leads, key=sort_key):
                    row = {"sort_key": hash(lead["company"]), "lead": lead}
                    buckets.setdefault(hash(lead["company"]) % 8, []).append(row)
                return buckets
            """
        ),
        # A local `hash` helper shadows the built-in.
        Valid(
            """
            import hashlib

            from codewords_client import AsyncCodewordsClient

            def hash(value: str) -> str:
                return hashlib.sha256(value.encode()).hexdigest()

            async def remember(client: AsyncCodewordsClient, url: str, page: str) -> None:
                await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": f"page_{hash(url)}", "value": page})
            """
        ),
        # Logged, or used as a local temp file name within one run, or a number's hash.
        Valid(
            """
            import tempfile
            from pathlib import Path

            from codewords_client import logger

            def render(url: str, html: str) -> Path:
                logger.info("rendering", key=hash(url), url=url)
                path = Path(tempfile.gettempdir()) / f"page_{hash(url)}.html"
                path.write_text(html)
                bucket = hash(42) % 16
                return path
            """
        ),
    ]
    INVALID = [
        # The docs' website monitor: the key goes to redis_coordinator through a variable.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def check(request) -> dict:
                snapshot_key = f"website_snapshot_{hash(str(request.url))}"
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": snapshot_key})
                    return resp.json()
            """,
            expected=(("CW303", 4, 40),),
            unsafe=True,
            fixed="""
            from codewords_client import AsyncCodewordsClient
            import hashlib

            async def check(request) -> dict:
                snapshot_key = f"website_snapshot_{hashlib.sha256(str(request.url).encode()).hexdigest()}"
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": snapshot_key})
                    return resp.json()
            """,
            message="salted per process",
        ),
        # Inline in the inputs; a Redis client from redis_client(); a number key; a key
        # function; a str-annotated parameter needs no str().
        Invalid(
            """
            import hashlib

            from codewords_client import AsyncCodewordsClient, redis_client

            def cache_key(text: str) -> str:
                return "analysis_" + str(hash(text))

            async def store(client: AsyncCodewordsClient, text: str, result: str) -> None:
                await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": f"analysis_{hash(text)}", "value": result})
                async with redis_client() as (r, ns):
                    await r.set(f"{ns}:bucket:{abs(hash(text)) % 1000}", result, ex=3600)
            """,
            expected=(("CW303", 6, 30), ("CW303", 9, 101), ("CW303", 11, 40)),
            unsafe=True,
            fixed="""
            import hashlib

            from codewords_client import AsyncCodewordsClient, redis_client

            def cache_key(text: str) -> str:
                return "analysis_" + str(hashlib.sha256(text.encode()).hexdigest())

            async def store(client: AsyncCodewordsClient, text: str, result: str) -> None:
                await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": f"analysis_{hashlib.sha256(text.encode()).hexdigest()}", "value": result})
                async with redis_client() as (r, ns):
                    await r.set(f"{ns}:bucket:{abs(int(hashlib.sha256(text.encode()).hexdigest(), 16)) % 1000}", result, ex=3600)
            """,
        ),
        # A format spec formats the hash as a number: the fix keeps it a number.
        Invalid(
            """
            import redis

            r = redis.Redis()


            def remember(url: str) -> None:
                r.set(f"seen:{hash(url):x}", 1, ex=86400)
                r.set("seen:{:x}".format(hash(url)), 1, ex=86400)
            """,
            expected=(("CW303", 7, 19), ("CW303", 8, 30)),
            unsafe=True,
            fixed="""
            import redis
            import hashlib

            r = redis.Redis()


            def remember(url: str) -> None:
                r.set(f"seen:{int(hashlib.sha256(url.encode()).hexdigest(), 16):x}", 1, ex=86400)
                r.set("seen:{:x}".format(int(hashlib.sha256(url.encode()).hexdigest(), 16)), 1, ex=86400)
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.state = _State()
        self.shadowed = False
        self.redis_names: set[str] = set()

    # -- bindings -------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value == "hash":
            self.shadowed = True

    def visit_Param(self, node: cst.Param) -> None:
        if node.name.value == "hash":
            self.shadowed = True

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        bound = node.asname.name if node.asname is not None else node.name
        if isinstance(bound, cst.Name) and bound.value == "hash":
            self.shadowed = True

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                if target.target.value == "hash":
                    self.shadowed = True
                if self._is_redis_factory(node.value):
                    self.redis_names.add(target.target.value)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is None or not self._is_redis_factory(node.item):
            return
        bound: cst.BaseExpression = node.asname.name
        if isinstance(bound, cst.Tuple) and bound.elements:
            bound = bound.elements[0].value
        name = dotted_name(bound)
        if name:
            self.redis_names.add(name)

    def _is_redis_factory(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if not isinstance(expr, cst.Call):
            return False
        qualified = self.ctx.imports.qualified(expr.func) or ""
        return bool(_REDIS_FACTORIES.match(qualified))

    # -- sources and flows ----------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if not (isinstance(node.func, cst.Name) and node.func.value == "hash"):
            return
        if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
            return
        if isinstance(node.args[0].value, (cst.Integer, cst.Float)):
            return  # numbers hash the same in every process
        flow = self._flow(node, len(self.ctx.ancestors))
        use = _Use(node, flow.string_context, self._is_text(node.args[0].value), flow.reason)
        self.state.uses.append(use)
        if flow.variable is not None:
            self.state.tainted.setdefault(flow.variable, []).append(use)

    def visit_Name(self, node: cst.Name) -> None:
        if not self.state.tainted:
            return
        parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
        if (
            (isinstance(parent, cst.Arg) and parent.keyword is node)
            or (isinstance(parent, cst.Attribute) and parent.attr is node)
            or isinstance(parent, (cst.Param, cst.FunctionDef, cst.ClassDef, cst.ImportAlias))
        ):
            return  # a keyword, an attribute or a definition that shares the name, not the value
        function = self._function_id()
        uses = self.state.tainted.get((function, node.value)) or self.state.tainted.get((None, node.value))
        if not uses:
            return
        flow = self._flow(node, len(self.ctx.ancestors))
        if flow.reason is not None:
            for use in uses:
                if use.sink is None:
                    use.sink = flow.reason

    def _function_id(self) -> int | None:
        function = self.ctx.enclosing(cst.FunctionDef)
        return id(function) if function is not None else None

    def _flow(self, node: cst.CSTNode, depth: int) -> _Flow:
        """Follow ``node``'s value up through the expressions that only reshape it."""
        ancestors = self.ctx.ancestors[:depth]
        child: cst.CSTNode = node
        string_context: bool | None = None
        for index in range(len(ancestors) - 1, -1, -1):
            parent = ancestors[index]
            if isinstance(parent, cst.FormattedStringExpression) and parent.format_spec is not None:
                # `f"{hash(x):x}"` formats a number: the fix must keep it one.
                string_context = False if string_context is None else string_context
            elif isinstance(parent, (cst.FormattedStringExpression, cst.FormattedString, cst.ConcatenatedString)):
                string_context = True if string_context is None else string_context
            elif isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation)):
                if string_context is None:
                    string_context = False
            elif isinstance(parent, (cst.Element, cst.List, cst.Tuple)):
                pass
            elif isinstance(parent, cst.Arg):
                call = ancestors[index - 1] if index > 0 else None
                if isinstance(call, cst.Call) and self._is_builder(call):
                    if string_context is None:
                        func = call.func
                        named = isinstance(func, cst.Name) and func.value in _STRING_BUILDERS
                        string_context = (named or isinstance(func, cst.Attribute)) and not _formats_number(call)
                    child = parent
                    continue
                return _Flow(self._arg_sink(parent, call), string_context=bool(string_context))
            elif isinstance(parent, cst.Call) and self._is_builder(parent):
                pass
            else:
                return self._consumer(parent, child, ancestors[:index], bool(string_context))
            child = parent
        return _Flow(string_context=bool(string_context))

    def _is_builder(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Name):
            return func.value in _BUILDERS
        return isinstance(func, cst.Attribute) and func.attr.value in _STRING_METHODS and isinstance(
            func.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
        )

    def _consumer(self, parent: cst.CSTNode, child: cst.CSTNode, above: list[cst.CSTNode], text: bool) -> _Flow:
        if isinstance(parent, cst.DictElement):
            key = string_value(parent.key)
            if key is not None and _KEYISH.search(key):
                return _Flow(f"the dict entry `{key}`", string_context=text)
            container = above[-1] if above else None
            arg = above[-2] if len(above) >= 2 else None
            call = above[-3] if len(above) >= 3 else None
            if isinstance(container, cst.Dict) and isinstance(arg, cst.Arg) and isinstance(call, cst.Call):
                found = service_call(self.ctx, call)
                if found is not None and found.inputs is container:
                    return _Flow(f"the inputs of `{found.service_id or 'a service'}`", string_context=text)
            return _Flow(string_context=text)
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and getattr(parent, "value", None) is child:
            targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], cst.Name):
                function = next((n for n in reversed(above) if isinstance(n, cst.FunctionDef)), None)
                scope = id(function) if function is not None else None
                return _Flow(variable=(scope, targets[0].value), string_context=text)
            return _Flow(string_context=text)
        if isinstance(parent, cst.Return):
            function = next((n for n in reversed(above) if isinstance(n, cst.FunctionDef)), None)
            name = function.name.value.strip("_").removeprefix("make_").removeprefix("build_") if function else ""
            if function is not None and _KEYISH.search(name):
                return _Flow(f"the return value of `{function.name.value}()`", string_context=text)
        return _Flow(string_context=text)

    def _arg_sink(self, arg: cst.Arg, call: cst.CSTNode | None) -> str | None:
        if not isinstance(call, cst.Call):
            return None
        func_name = dotted_name(call.func) or ""
        if _LOGGING.search(func_name):
            return None
        if arg.keyword is not None and arg.keyword.value in _KEY_KEYWORDS:
            return f"the `{arg.keyword.value}=` argument"
        found = service_call(self.ctx, call)
        if found is not None and found.inputs is arg.value:
            return f"the inputs of `{found.service_id or 'a service'}`"
        if isinstance(call.func, cst.Attribute):
            method = call.func.attr.value
            receiver = dotted_name(call.func.value) or ""
            if method in _REDIS_METHODS and (receiver in self.redis_names or "redis" in receiver.lower()):
                return f"a Redis `{method}`"
            if method in _STORAGE_METHODS:
                return f"the object name of `{method}()`"
        return None

    # -- report ---------------------------------------------------------------------------
    def leave_Module(self, node: cst.Module) -> None:
        if self.shadowed:
            return
        for use in self.state.uses:
            if use.sink is None:
                continue
            self.report(
                use.call,
                f"`hash()` in {use.sink}: str hashing is salted per process and every run is a fresh sandbox,"
                " so this key changes on every run; use `hashlib.sha256(...).hexdigest()`",
                fix=self._fix(use),
            )

    def _fix(self, use: _Use):
        ctx = self.ctx
        argument = use.call.args[0].value
        text = ctx.module.code_for_node(argument)  # with its own parentheses, unlike ctx.code
        if not use.text_argument:
            text = f"str({text})"
        elif not isinstance(argument, _ATOMS) and not argument.lpar:
            text = f"({text})"
        module = ctx.imports.local_name("hashlib") or "hashlib"
        digest = f"{module}.sha256({text}.encode()).hexdigest()"
        replacement = digest if use.string_context else f"int({digest}, 16)"
        edits = [ctx.replace(use.call, replacement)]
        if ctx.imports.local_name("hashlib") is None:
            edits.extend(import_module(ctx, "hashlib"))
        return self.make_fix("Use `hashlib.sha256(...).hexdigest()`", edits, Applicability.UNSAFE)

    def _is_text(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
            return string_value(expr) is not None or isinstance(expr, cst.FormattedString)
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Name):
                return func.value in ("str", "repr")
            return isinstance(func, cst.Attribute) and func.attr.value in _STR_RETURNING
        if isinstance(expr, cst.Name):
            return self._annotated_str(expr.value)
        return False

    def _annotated_str(self, name: str) -> bool:
        function = self.ctx.enclosing(cst.FunctionDef)
        if not isinstance(function, cst.FunctionDef):
            return False
        params = [*function.params.posonly_params, *function.params.params, *function.params.kwonly_params]
        for param in params:
            if param.name.value == name and param.annotation is not None:
                return dotted_name(param.annotation.annotation) == "str"
        return False
