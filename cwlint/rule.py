"""The base class every rule derives from, and the shape of its embedded examples.

A rule is one small class in its own module under ``cwlint/rules/``: a code, a kebab-case
name, a docstring in fixed sections, ``VALID`` and ``INVALID`` examples, and LibCST-style
``visit_<Node>`` / ``leave_<Node>`` methods. The engine walks each file once and calls every
enabled rule's methods on the way (see :mod:`cwlint.walk`); a rule that needs the whole file
before deciding collects during the walk and reports in ``leave_Module``.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cwlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Severity
from cwlint.libcst_import import cst

if TYPE_CHECKING:
    from cwlint.context import FileContext

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")


def _dedented(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


class _Example:
    """Examples are dedented when first read, not when their rule is imported: a lint imports
    every rule and never reads an example (two hundred dedents were 2% of a one-file run)."""

    __slots__ = ("_code", "_dedented", "path", "config", "make")

    def __init__(
        self,
        code: str,
        path: str = "workflow.py",
        config: dict[str, Any] | None = None,
        make: Callable[[Path], object] | None = None,
    ) -> None:
        self._code = code
        self._dedented: str | None = None
        self.path = path
        #: ``[tool.cwlint]`` keys for this example (e.g. ``{"max-file-size": 64}``).
        self.config = config
        #: Makes the file at the given path instead of writing ``code`` (bytes, a FIFO...).
        self.make = make

    @property
    def code(self) -> str:
        if self._dedented is None:
            self._dedented = _dedented(self._code)
        return self._dedented


class Valid(_Example):
    """Source the rule must not report."""

    __slots__ = ()


class Invalid(_Example):
    """Source the rule must report exactly as ``expected`` says: (code, line, column) each.

    ``fixed`` is the source after ``--fix`` (with ``--unsafe-fixes`` when ``unsafe``); leave
    it None for a rule without a fix here, and the test checks that nothing changes.
    """

    __slots__ = ("expected", "_fixed", "unsafe", "message")

    def __init__(
        self,
        code: str,
        expected: tuple[tuple[str, int, int], ...],
        fixed: str | None = None,
        unsafe: bool = False,
        path: str = "workflow.py",
        message: str | None = None,
        config: dict[str, Any] | None = None,
        make: Callable[[Path], object] | None = None,
    ) -> None:
        super().__init__(code, path, config, make)
        self.expected = expected
        self._fixed = fixed
        self.unsafe = unsafe
        self.message = message  #: a substring the first finding's message must contain

    @property
    def fixed(self) -> str | None:
        return _dedented(self._fixed) if self._fixed is not None else None


class Rule:
    """Base class: subclasses set the class attributes and write visitor methods."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    #: Substrings of which at least one must occur in a file for the rule to run at all.
    triggers: ClassVar[tuple[str, ...]] = ()
    #: "workflow": only files with a PEP 723 block or an import of codewords_client.
    scope: ClassVar[Literal["all", "workflow"]] = "all"
    #: The best applicability of this rule's fixes, for the docs; None when it never fixes.
    fix_availability: ClassVar[Applicability | None] = None
    #: Rules the engine implements itself (syntax errors, unused noqa) have no visitor methods.
    engine_rule: ClassVar[bool] = False
    #: For a finding no example can provoke (a fix that breaks code needs a broken rule):
    #: the test that shows it instead, as "tests/module.py::test_name".
    shown_by: ClassVar[str | None] = None
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.diagnostics: list[Diagnostic] = []

    @classmethod
    def summary(cls) -> str:
        doc = cls.documentation()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def documentation(cls) -> str:
        """The docstring, dedented (its first line is the summary)."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def page(cls) -> str:
        """The rule's page in Markdown: what ``cwlint rule CODE`` prints, docs/rules/CODE.md holds,
        and the language server's hover and the MCP server's ``explain_rule`` show."""
        availability = {
            None: "Fix is not available.",
            "safe": "Fix is always available (safe).",
            "unsafe": "Fix is sometimes available (unsafe: needs `--unsafe-fixes`).",
            "display": "A suggested fix is shown, never applied.",
        }[cls.fix_availability.value if cls.fix_availability else None]
        scope = " Applies to workflows only (a PEP 723 block or an import of codewords_client)." if cls.scope == "workflow" else ""
        return f"# {cls.name} ({cls.code})\n\n{availability}{scope}\n\n{cls.documentation()}\n"

    def report(
        self,
        node: cst.CSTNode,
        message: str,
        *,
        fix: Fix | None = None,
        severity: Severity | None = None,
        secrets: tuple[str, ...] = (),
        noqa_node: cst.CSTNode | None = None,
    ) -> None:
        start, end = self.ctx.range(node)
        noqa_line = self.ctx.range(noqa_node)[0].line if noqa_node is not None else None
        self.diagnostics.append(
            Diagnostic(
                code=self.code,
                name=self.name,
                message=message,
                start=start,
                end=end,
                severity=severity or self.severity,
                fix=fix,
                noqa_line=noqa_line,
                secrets=secrets,
            )
        )

    def make_fix(self, message: str, edits: list[Edit] | tuple[Edit, ...], applicability: Applicability) -> Fix:
        return Fix(message=message, edits=tuple(edits), applicability=applicability)
