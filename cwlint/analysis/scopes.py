"""Python's name scopes, collected during the engine's one walk: what each scope binds and reads.

A mixin for a rule (:class:`ScopeCollector`): its ``visit_``/``leave_`` methods run in the
engine's walk like any rule's, and ``leave_Module`` may then ask :meth:`ScopeCollector.unresolved`
for every read that no binding can satisfy. No second traversal, no LibCST metadata: the
scope of a node is read off ``ctx.ancestors`` and a stack of the scope-making nodes met so far.

The analysis is flow-insensitive, as the compiler is: a name bound anywhere in a function is
local to the whole function, a module-level name bound anywhere (later, conditionally, under
``if TYPE_CHECKING:``) is bound. What it models:

- scopes: the module, classes, functions, lambdas and comprehensions (the first iterable of a
  comprehension runs in the enclosing scope; a walrus inside one binds in the enclosing
  function); decorators, defaults, annotations and base classes run in the enclosing scope;
- a class body's names are invisible from its methods and comprehensions (only ``__class__``
  is); ``__module__``/``__qualname__`` exist in a class body;
- ``global``/``nonlocal`` (a ``global x`` anywhere counts as a module binding of ``x``, as in
  pyflakes: the function may set it);
- weak bindings that make a name local without giving it a value: ``x += 1``, ``del x``,
  ``x: int``; a read of such a name in a function where nothing else binds it fails
  (UnboundLocalError, a NameError);
- ``except E as e`` binds ``e`` only until the handler ends: when nothing else binds it, a
  read outside the handlers that bind it fails;
- reads guarded by ``try: ... except NameError:`` in the same scope are not reads, and the
  name is then taken as probed for: its other reads in that scope are not reported either;
- names the module may get without binding them: builtins, module dunders, ``__path__`` in an
  ``__init__.py``, IPython's ``get_ipython``/``__IPYTHON__``, ``_`` in a file that mentions
  gettext (``gettext.install()`` adds it to the builtins);
- modules whose globals are filled in ways no reader can list: after ``from m import *`` any
  global may exist; after a module-level ``exec(code)``, ``Enum._convert_()``,
  ``@enum.global_enum`` or a use of ``globals()`` that may write (anything but
  ``globals()[k]``, ``globals().get(k)``, ``k in globals()``, ``for k in globals()``) any
  global may exist except a standard-library module read as ``module.attr`` (those writes
  add data, not the ``sys`` someone forgot to import);
- string annotations (``-> "Node"``, ``Optional["Node"]``) are parsed and their names read,
  except inside ``Literal[...]`` and the metadata of ``Annotated[...]``;
- a module-level ``__all__`` built from string literals, for exports bound nowhere.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import libcst as cst

if TYPE_CHECKING:
    from cwlint.context import FileContext

#: Names every module reads without binding them: builtins, module attributes the import
#: system sets, and (as pyflakes) ``WindowsError``, a builtin on Windows only.
BUILTINS = frozenset(dir(builtins)) | {
    "__file__", "__builtins__", "__annotations__", "__cached__", "__loader__", "__spec__",
    "__package__", "__name__", "__doc__", "WindowsError",
}
CLASS_MAGIC = frozenset({"__module__", "__qualname__"})
STDLIB_MODULES = frozenset(name for name in sys.stdlib_module_names if not name.startswith("_"))
#: Builtins IPython adds; code only ever reads them to detect IPython.
ENVIRONMENT_BUILTINS = frozenset({"get_ipython", "__IPYTHON__"})

# How a Name node is used, set by the hook of the statement that holds it.
LOAD, STORE, PARAM, AUG, ANNOTATE, DELETE, WALRUS, GLOBAL, NONLOCAL, SKIP, IMPORT, EXCEPT = range(12)

MODULE, CLASS, FUNCTION, LAMBDA, COMPREHENSION = "module", "class", "function", "lambda", "comprehension"

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_DEF_OR_CLASS = (cst.FunctionDef, cst.ClassDef)
#: What owns a scope's body, and a comprehension (for the type checker: the scope stack holds them).
_BodyOwner = cst.FunctionDef | cst.ClassDef | cst.Lambda
_Comprehension = cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp


@dataclass(eq=False)
class Scope:
    kind: str
    node: cst.CSTNode
    parent: Scope | None
    #: Names given a value somewhere in the scope.
    bound: set[str] = field(default_factory=set)
    #: Names made local without a value (``x += 1``, ``del x``, ``x: int``): the first such
    #: Name node and its role (AUG, DELETE or ANNOTATE).
    weak: dict[str, tuple[cst.Name, int]] = field(default_factory=dict)
    #: The bound names that an import binds (for messages).
    imported: set[str] = field(default_factory=set)
    #: Names bound by ``except ... as name`` (not in ``bound``: the handler unbinds them).
    handler_bound: set[str] = field(default_factory=set)
    #: Names whose reads so far were all inside a handler that binds them; and the first
    #: read of such a name outside those handlers.
    inside_handler: set[str] = field(default_factory=set)
    outside_handler: dict[str, cst.CSTNode] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    declared_nonlocal: set[str] = field(default_factory=set)
    #: The first unguarded read of each name (a Name node, or the string of a string
    #: annotation); ``del x`` separately, since it needs a binding in this very scope.
    loads: dict[str, cst.CSTNode] = field(default_factory=dict)
    #: Every later unguarded read, in source order: (name, node). Only searched for the
    #: names that turn out unresolved, so a clean file pays one append per read.
    later_loads: list[tuple[str, cst.CSTNode]] = field(default_factory=list)
    deletes: dict[str, cst.CSTNode] = field(default_factory=dict)
    #: Names read under ``try: ... except NameError:``: probed for, so expected to be missing
    #: at times (``try: get_ipython except NameError: return False`` then ``get_ipython()``).
    probed: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        node = self.node
        if isinstance(node, _DEF_OR_CLASS):
            return node.name.value
        return {MODULE: "the module", LAMBDA: "lambda", COMPREHENSION: "comprehension"}.get(self.kind, "?")


@dataclass(frozen=True)
class Unresolved:
    """A read that nothing binds: ``node`` is where it is first read in ``scope``."""

    name: str
    node: cst.CSTNode
    scope: Scope
    #: "load": an ordinary read; "weak": a read of a name local to a function that only
    #: ``+=``/``del``/a bare annotation makes local; "handler": a read, outside the handler,
    #: of a name only ``except ... as name`` binds; "delete": ``del`` of a name never bound;
    #: "export": a string in ``__all__``.
    kind: str


class ScopeCollector:
    """Collects scopes, bindings and reads during the engine's walk (a mixin for a Rule)."""

    ctx: FileContext

    def _init_scopes(self, ctx: FileContext) -> None:
        self._ancestors = ctx.ancestors
        self._text = ctx.text
        self._roles: dict[int, int] = {}
        #: The parent node of each scope's first read of a name (by id of the Name).
        self.first_parents: dict[int, cst.CSTNode] = {}
        #: (index of the owner in the ancestor chain, owner node, scope), innermost last.
        self._stack: list[tuple[int, cst.CSTNode, Scope]] = []
        self.scopes: list[Scope] = []
        self.module_scope: Scope | None = None
        #: Enclosing ``except ... as name`` handlers: (index, node, name, scope).
        self._handlers: list[tuple[int, cst.ExceptHandler | cst.ExceptStarHandler, str, Scope]] = []
        #: Try statements whose body a NameError handler guards: (index, node, scope).
        self._guards: list[tuple[int, cst.Try | cst.TryStar, Scope]] = []
        self._annotation_depth = 0
        #: Subscript nodes inside annotations whose strings are not types (Literal[...]), and
        #: elements whose strings are metadata (Annotated[T, "meta"]).
        self._not_types: set[int] = set()
        self.star_import = False
        #: Why the module's globals may hold names it never binds (star import, exec, globals()).
        self.dynamic_globals: str | None = None
        #: The literal entries of ``__all__`` (string node per name); None when it is not
        #: (only) built from literals.
        self.all_entries: dict[str, cst.CSTNode] | None = None
        self._all_dynamic = False
        self.is_package_init = ctx.path.replace("\\", "/").rsplit("/", 1)[-1] == "__init__.py"

    # -- scopes ----------------------------------------------------------------------------
    def _scope_at(self, node: cst.CSTNode) -> Scope:
        """The scope whose code evaluates ``node`` (the node being visited now)."""
        ancestors = self._ancestors
        count = len(ancestors)
        for index, owner, scope in reversed(self._stack):
            if scope.kind == MODULE:
                return scope
            child = ancestors[index + 1] if index + 1 < count else node
            if scope.kind in (FUNCTION, CLASS, LAMBDA):
                if child is cast(_BodyOwner, owner).body:
                    return scope
            else:  # a comprehension: all but its first iterable
                for_in = cast(_Comprehension, owner).for_in
                if child is not for_in:
                    return scope
                grandchild = ancestors[index + 2] if index + 2 < count else node
                if grandchild is not for_in.iter:
                    return scope
        raise AssertionError("no module scope")  # pragma: no cover

    def _push(self, kind: str, node: cst.CSTNode) -> None:
        parent = self._scope_at(node) if self._stack else None
        scope = Scope(kind, node, parent)
        self.scopes.append(scope)
        self._stack.append((len(self._ancestors), node, scope))

    def _pop(self) -> None:
        self._stack.pop()

    def visit_Module(self, node: cst.Module) -> None:
        self._push(MODULE, node)
        self.module_scope = self._stack[-1][2]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._roles[id(node.name)] = STORE  # bound in the enclosing scope
        self._push(FUNCTION, node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._roles[id(node.name)] = STORE
        self._push(CLASS, node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push(LAMBDA, node)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._pop()

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._push(COMPREHENSION, node)

    def leave_ListComp(self, node: cst.ListComp) -> None:
        self._pop()

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp
    leave_SetComp = leave_DictComp = leave_GeneratorExp = leave_ListComp

    # -- how each Name is used ---------------------------------------------------------------
    def _mark(self, target: cst.BaseExpression, role: int) -> None:
        if isinstance(target, cst.Name):
            self._roles[id(target)] = role
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._mark(element.value, role)
        elif isinstance(target, cst.StarredElement):
            self._mark(target.value, role)
        # Attribute and Subscript targets read their parts.

    def _skip_dotted(self, expr: cst.BaseExpression) -> None:
        while isinstance(expr, cst.Attribute):
            self._roles[id(expr.attr)] = SKIP
            expr = expr.value
        if isinstance(expr, cst.Name):
            self._roles[id(expr)] = SKIP

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._mark(node.target, STORE)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._roles[id(node.target)] = STORE if node.value is not None else ANNOTATE
        self._all_binding(node.target, node.value, augmented=False)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._roles[id(node.target)] = AUG
        self._all_binding(node.target, node.value, augmented=True)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._all_binding(target.target, node.value, augmented=False)

    def visit_For(self, node: cst.For) -> None:
        self._mark(node.target, STORE)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._mark(node.target, STORE)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._mark(node.asname.name, STORE)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            target = node.name.name
            if isinstance(target, cst.Name):
                self._roles[id(target)] = EXCEPT
                self._handlers.append((len(self._ancestors), node, target.value, self._scope_at(node)))

    def leave_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if self._handlers and self._handlers[-1][1] is node:
            self._handlers.pop()

    visit_ExceptStarHandler = visit_ExceptHandler
    leave_ExceptStarHandler = leave_ExceptHandler

    def _in_handler_of(self, name: str, scope: Scope) -> bool:
        """Inside the body of an ``except ... as name`` of this scope."""
        ancestors = self._ancestors
        count = len(ancestors)
        for index, handler, bound, handler_scope in self._handlers:
            if bound == name and handler_scope is scope and index + 1 < count and ancestors[index + 1] is handler.body:
                return True
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        if isinstance(node.target, cst.Name):
            self._roles[id(node.target)] = WALRUS

    def visit_Del(self, node: cst.Del) -> None:
        self._mark(node.target, DELETE)

    def visit_Param(self, node: cst.Param) -> None:
        self._roles[id(node.name)] = PARAM

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self._roles[id(item.name)] = GLOBAL

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        for item in node.names:
            self._roles[id(item.name)] = NONLOCAL

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self._skip_dotted(alias.name)
            if alias.asname is not None:
                self._mark(alias.asname.name, IMPORT)
            else:  # `import a.b.c` binds `a`
                first: cst.BaseExpression = alias.name
                while isinstance(first, cst.Attribute):
                    first = first.value
                if isinstance(first, cst.Name):
                    self._roles[id(first)] = IMPORT

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None:
            self._skip_dotted(node.module)
        if isinstance(node.names, cst.ImportStar):
            self.star_import = True
            self.dynamic_globals = "a star import"
            return
        for alias in node.names:
            if alias.asname is not None:
                self._skip_dotted(alias.name)
                self._mark(alias.asname.name, IMPORT)
            elif isinstance(alias.name, cst.Name):
                self._roles[id(alias.name)] = IMPORT

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._roles[id(node.name)] = STORE

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self._roles[id(node.name)] = STORE

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self._roles[id(node.rest)] = STORE

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        self._roles[id(node.key)] = SKIP

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        # Python 3.12 syntax: bind the alias (its parameters too, conservatively).
        self._roles[id(node.name)] = STORE

    def visit_TypeVar(self, node: cst.TypeVar) -> None:
        self._roles[id(node.name)] = STORE

    def visit_TypeVarTuple(self, node: cst.TypeVarTuple) -> None:
        self._roles[id(node.name)] = STORE

    def visit_ParamSpec(self, node: cst.ParamSpec) -> None:
        self._roles[id(node.name)] = STORE

    # -- the Name itself -----------------------------------------------------------------------
    def visit_Name(self, node: cst.Name) -> None:
        role = self._roles.pop(id(node), LOAD)
        if role == LOAD:
            parent = self._ancestors[-1]
            kind = type(parent)
            if kind is cst.Attribute:
                if parent.attr is node:  # type: ignore[attr-defined]
                    return
            elif kind is cst.Arg:
                if parent.keyword is node:  # type: ignore[attr-defined]
                    return
            scope = self._scope_at(node)
            name = node.value
            if self._guards and self._guarded(scope):
                scope.probed.add(name)
                return
            if name not in scope.loads:
                scope.loads[name] = node
                self.first_parents[id(node)] = parent
                if self._handlers and self._in_handler_of(name, scope):
                    scope.inside_handler.add(name)
                return
            scope.later_loads.append((name, node))
            if name in scope.inside_handler and not self._in_handler_of(name, scope):
                scope.inside_handler.discard(name)
                scope.outside_handler[name] = node
            return
        if role == SKIP:
            return
        name = node.value
        if role == PARAM:
            self._stack[-1][2].bound.add(name)
            return
        scope = self._scope_at(node)
        if role == STORE:
            scope.bound.add(name)
        elif role == IMPORT:
            scope.bound.add(name)
            scope.imported.add(name)
        elif role == EXCEPT:
            scope.handler_bound.add(name)
        elif role == AUG:
            scope.weak.setdefault(name, (node, role))
            if self._guards and self._guarded(scope):
                scope.probed.add(name)
            elif name not in scope.loads:
                scope.loads[name] = node
            else:
                scope.later_loads.append((name, node))
        elif role == ANNOTATE:
            scope.weak.setdefault(name, (node, role))
        elif role == DELETE:
            scope.weak.setdefault(name, (node, role))
            scope.deletes.setdefault(name, node)
        elif role == WALRUS:
            while scope.kind == COMPREHENSION and scope.parent is not None:
                scope = scope.parent
            scope.bound.add(name)
        elif role == GLOBAL:
            scope.declared_global.add(name)
        elif role == NONLOCAL:
            scope.declared_nonlocal.add(name)

    # -- try/except NameError ------------------------------------------------------------------
    def visit_Try(self, node: cst.Try) -> None:
        if any(_catches_name_error(handler.type) for handler in node.handlers):
            self._guards.append((len(self._ancestors), node, self._scope_at(node)))

    def leave_Try(self, node: cst.Try) -> None:
        if self._guards and self._guards[-1][1] is node:
            self._guards.pop()

    visit_TryStar = visit_Try
    leave_TryStar = leave_Try

    def _guarded(self, scope: Scope) -> bool:
        ancestors = self._ancestors
        count = len(ancestors)
        for index, node, guard_scope in self._guards:
            if guard_scope is scope and index + 1 < count and ancestors[index + 1] is node.body:
                return True
        return False

    # -- dynamic globals -------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        kind = type(func)
        if kind is cst.Attribute:
            if func.attr.value == "_convert_":  # type: ignore[attr-defined]
                # Enum._convert_(name, __name__, ...) puts the members in the module's globals.
                self.dynamic_globals = self.dynamic_globals or "`Enum._convert_()`"
            return
        if kind is not cst.Name:
            return
        name = func.value  # type: ignore[attr-defined]
        if name == "globals" or (name == "vars" and not node.args):
            if not self._reads_only(node):
                self.dynamic_globals = self.dynamic_globals or f"a write through `{name}()`"
        elif name == "exec" and len(node.args) == 1 and self._scope_at(node).kind == MODULE:
            self.dynamic_globals = self.dynamic_globals or "a module-level `exec()`"

    def visit_Decorator(self, node: cst.Decorator) -> None:
        decorator = node.decorator
        if isinstance(decorator, cst.Call):
            decorator = decorator.func
        if _last_name(decorator) == "global_enum":
            # @enum.global_enum copies the members into the module's globals.
            self.dynamic_globals = self.dynamic_globals or "`@enum.global_enum`"

    def _reads_only(self, call: cst.Call) -> bool:
        """``globals()`` only read from: ``globals()[k]``, ``globals().get(k)``, ``k in globals()``,
        ``for k in globals()``.
        Anything else (kept in a variable, handed to a call, ``.update``, a subscript target)
        may write the module's names."""
        ancestors = self._ancestors
        parent = ancestors[-1] if ancestors else None
        if isinstance(parent, cst.Attribute):
            return parent.attr.value in {"get", "keys", "items", "values", "copy", "__contains__", "__getitem__"}
        if isinstance(parent, cst.ComparisonTarget):
            return True
        if isinstance(parent, (cst.CompFor, cst.For)) and parent.iter is call:
            return True
        if isinstance(parent, cst.Subscript) and len(ancestors) >= 2:
            holder = ancestors[-2]
            if isinstance(holder, (cst.AssignTarget, cst.Del, cst.Element, cst.StarredElement, cst.For, cst.CompFor, cst.WithItem)):
                return False
            if isinstance(holder, cst.AugAssign) and holder.target is parent:
                return False
            return True
        return False

    # -- string annotations --------------------------------------------------------------------
    def visit_Annotation(self, node: cst.Annotation) -> None:
        self._annotation_depth += 1

    def leave_Annotation(self, node: cst.Annotation) -> None:
        self._annotation_depth -= 1

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if not self._annotation_depth:
            return
        last = _last_name(node.value)
        if last == "Literal":
            self._not_types.add(id(node))
        elif last == "Annotated":
            for element in node.slice[1:]:
                self._not_types.add(id(element))

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if self._annotation_depth:
            self._string_annotation(node)

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> None:
        if self._annotation_depth:
            self._string_annotation(node)

    def _string_annotation(self, node: cst.SimpleString | cst.ConcatenatedString) -> None:
        ancestors = self._ancestors
        if isinstance(ancestors[-1], cst.ConcatenatedString):
            return  # the whole concatenation is read once
        if self._not_types and any(id(a) in self._not_types for a in ancestors):
            return
        value = node.evaluated_value
        if not isinstance(value, str):
            return
        try:
            tree = ast.parse(value.strip(), mode="eval")
        except (SyntaxError, ValueError):
            return
        scope = self._scope_at(node)
        guarded = bool(self._guards) and self._guarded(scope)
        for name in _annotation_names(tree):
            if guarded:
                scope.probed.add(name)
            elif name not in scope.loads:
                scope.loads[name] = node
            else:
                scope.later_loads.append((name, node))

    # -- __all__ ---------------------------------------------------------------------------------
    def _all_binding(self, target: cst.BaseExpression, value: cst.BaseExpression | None, augmented: bool) -> None:
        if not (isinstance(target, cst.Name) and target.value == "__all__"):
            return
        if self._stack[-1][2].kind != MODULE:
            return
        strings = _literal_strings(value) if value is not None else None
        if strings is None:
            if value is not None:
                self._all_dynamic = True
            return
        if self.all_entries is None or not augmented:
            self.all_entries = {}  # a plain assignment replaces the list
        for name, string in strings:
            self.all_entries.setdefault(name, string)

    # -- answers -----------------------------------------------------------------------------------
    def global_names(self) -> set[str]:
        """Names the module binds, or that a function declares ``global``."""
        assert self.module_scope is not None
        names = set(self.module_scope.bound)
        for scope in self.scopes:
            names |= scope.declared_global
        return names

    def unresolved(self) -> Iterator[Unresolved]:
        """Every read no binding satisfies, in scope order: each read of a name that nothing
        binds (as pyflakes and ruff report them: each one is a NameError); for a name bound
        only by ``except ... as``, its first read outside the handler."""
        module_names = self.global_names()
        dynamic = self.dynamic_globals is not None
        self._bind_nonlocals()
        package = self.is_package_init
        gettext = "gettext" in self._text

        def global_ok(name: str, strict: bool = False, node: cst.CSTNode | None = None) -> bool:
            if name in module_names:
                return True
            if dynamic:
                # Writes through globals() add data-like names, not a module someone forgot to
                # import: `sys.exit` there still needs `import sys` (a star import may bind it).
                return self.star_import or node is None or not self._module_use(name, node)
            if strict:
                return False
            return (
                name in BUILTINS
                or name in ENVIRONMENT_BUILTINS
                or (package and name == "__path__")
                or (name == "_" and gettext)  # gettext.install() adds `_` to the builtins
            )

        for scope in self.scopes:
            for name, node in scope.loads.items():
                if _probed(scope, name):
                    continue
                verdict = self._resolve(scope, name, lambda n, node=node: global_ok(n, node=node))
                if verdict == "handler":
                    node = scope.outside_handler.get(name, node)
                if verdict is not None:
                    yield Unresolved(name, node, scope, verdict)
                    if verdict != "handler":
                        for other, later in scope.later_loads:
                            if other == name:
                                yield Unresolved(name, later, scope, verdict)
            for name, node in scope.deletes.items():
                if name in scope.loads and self._resolve(scope, name, global_ok) is not None:
                    continue  # already reported in this scope
                if name in scope.handler_bound:
                    ok = True  # `del e` inside its own handler
                elif name in scope.declared_global or scope.kind == MODULE:
                    ok = global_ok(name, strict=True)
                else:
                    ok = name in scope.bound or name in scope.declared_nonlocal
                if not ok:
                    yield Unresolved(name, node, scope, "delete")
        if (
            self.all_entries
            and not self._all_dynamic
            and not dynamic
            and not package
            and "__getattr__" not in module_names
        ):
            for name, node in self.all_entries.items():
                if not global_ok(name):
                    assert self.module_scope is not None
                    yield Unresolved(name, node, self.module_scope, "export")

    def _module_use(self, name: str, node: cst.CSTNode) -> bool:
        """``node`` reads a standard-library module name as ``name.attr``."""
        if name not in STDLIB_MODULES:
            return False
        parent = self.first_parents.get(id(node))
        return isinstance(parent, cst.Attribute) and parent.value is node

    def _bind_nonlocals(self) -> None:
        """A nested function's ``nonlocal x`` may give the enclosing function's ``x`` its value
        (``handle: Handle`` then ``nonlocal handle; handle = ...`` in a callback)."""
        for scope in self.scopes:
            for name in scope.declared_nonlocal:
                owner = scope.parent
                while owner is not None and owner.kind != MODULE:
                    if owner.kind != CLASS and (
                        name in owner.bound or name in owner.weak or name in owner.handler_bound
                    ):
                        if name not in owner.declared_nonlocal:
                            owner.bound.add(name)
                            break
                    owner = owner.parent

    def _resolve(self, scope: Scope, name: str, global_ok: Callable[..., bool]) -> str | None:
        """None when ``name`` read in ``scope`` is bound; else why not: "load", "weak" (only
        ``+=``/``del``/a bare annotation makes it local), "handler" (only ``except ... as``
        binds it, and it is read outside the handler)."""
        if name in scope.declared_global:
            return None if global_ok(name) else "load"
        if name in scope.declared_nonlocal or name in scope.bound:
            return None
        if name in scope.handler_bound:
            # Bound only while its handler runs: a read outside every such handler fails
            # (at module or class level it may still find a global or builtin).
            if name in scope.inside_handler:
                return None
            if scope.kind in (MODULE, CLASS) and global_ok(name):
                return None
            return "handler"
        if scope.kind == MODULE:
            return None if global_ok(name) else "load"
        if scope.kind == CLASS:
            if name in CLASS_MAGIC:
                return None
        elif name in scope.weak:
            return "weak"
        enclosing = scope.parent
        while enclosing is not None and enclosing.kind != MODULE:
            if enclosing.kind == CLASS:
                if name == "__class__" and scope is not enclosing:
                    return None
            else:
                if name in enclosing.declared_global:
                    return None if global_ok(name) else "load"
                if name in enclosing.bound or name in enclosing.handler_bound or name in enclosing.declared_nonlocal:
                    return None
            enclosing = enclosing.parent
        return None if global_ok(name) else "load"


def _probed(scope: Scope, name: str) -> bool:
    current: Scope | None = scope
    while current is not None:
        if name in current.probed:
            return True
        current = current.parent
    return False


def _catches_name_error(expr: cst.BaseExpression | None) -> bool:
    if expr is None:
        return False
    if isinstance(expr, cst.Tuple):
        return any(_catches_name_error(element.value) for element in expr.elements)
    return _last_name(expr) == "NameError"


def _last_name(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def _annotation_names(tree: ast.AST) -> Iterator[str]:
    """Names a parsed string annotation reads (not inside Literal[...])."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            yield node.id
            continue
        if isinstance(node, ast.Subscript):
            stack.append(node.value)
            target = node.value
            last = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else None
            if last == "Literal":
                continue
            if last == "Annotated" and isinstance(node.slice, ast.Tuple) and node.slice.elts:
                stack.append(node.slice.elts[0])
                continue
            stack.append(node.slice)
            continue
        if isinstance(node, ast.Constant):
            continue  # a nested string: a forward reference inside a forward reference, rare
        stack.extend(ast.iter_child_nodes(node))


def _literal_strings(value: cst.BaseExpression) -> list[tuple[str, cst.CSTNode]] | None:
    """The strings of ``["a", "b"]``, ``("a",)`` or ``[...] + [...]``; None if not literal."""
    if isinstance(value, (cst.List, cst.Tuple)):
        out: list[tuple[str, cst.CSTNode]] = []
        for element in value.elements:
            item = element.value
            if isinstance(item, (cst.SimpleString, cst.ConcatenatedString)) and not isinstance(element, cst.StarredElement):
                text = item.evaluated_value
                if isinstance(text, str):
                    out.append((text, item))
                    continue
            return None
        return out
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
        left = _literal_strings(value.left)
        right = _literal_strings(value.right)
        if left is None or right is None:
            return None
        return left + right
    return None
