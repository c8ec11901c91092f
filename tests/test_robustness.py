"""Robustness at scale: generated programs and generated workflows through lint and --fix.

Two generators, each bounded for CI (250 examples, 5-15 s each on two idle cores):

* ``hypothesmith`` programs (any valid Python, from the grammar and from LibCST's node types),
  linted as they are and framed as a workflow (a PEP 723 header and a ``codewords_client``
  import, so that workflow-only rules run too): cwlint never raises, never reports a fix that
  breaks the code (CW907), and its ``--fix --unsafe-fixes`` output parses and is a fixed point.
* workflow-shaped sources built from the service catalog (``tests/strategies.py``): every
  fixed source parses, a second ``--fix`` changes nothing, the fixed source no longer has the
  findings that were fixed, no fix leaves a name undefined, breaks the header or rebinds an
  imported name, a CRLF file is fixed like its LF twin, a workflow written without mistakes
  gets no finding at all, and at least 30% of the examples receive a fix.

Every example goes through :func:`check_fix`, so both generators check the same fix
properties. Runs are reproducible in CI: with ``CI`` set the examples are derandomized (the
same ones on every run, no database); on a developer's machine they are random and Hypothesis
keeps the failures it found in ``.hypothesis/`` (gitignored) and replays them first. A failure
that a fix in cwlint resolved is kept as an explicit ``@example`` on the test that found it.
"""

from __future__ import annotations

import ast
import os
import warnings
from collections import Counter
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from cwlint.config import Settings
from cwlint.diagnostics import Applicability, Diagnostic
from cwlint.engine import selection_for, fix_source, lint_source
from cwlint.header import parse_header
from cwlint.source import SourceFile, line_starts
from strategies import Workflow, workflows

# hypothesmith compiles what it generates; `b""()` and the like warn.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))
SETTINGS = Settings(root=ROOT)
SELECTION = selection_for(SETTINGS)

#: A workflow frame for hypothesmith programs, so that workflow-scoped rules see them.
FRAME = (
    "# /// script\n"
    '# requires-python = "==3.11.*"\n'
    '# dependencies = ["codewords-client==0.4.11", "fastapi==0.116.1"]\n'
    "# [tool.env-checker]\n"
    '# env_vars = ["PORT=8000"]\n'
    "# ///\n"
    "from codewords_client import AsyncCodewordsClient, run_service\n"
)


def bounded(max_examples: int) -> settings:
    """CI: derandomized, no database. Locally: random, failures kept in .hypothesis/.

    No targeting phase: hypothesmith steers it towards ever larger programs, which costs
    minutes and finds nothing the generation phase does not.
    """
    return settings(
        max_examples=max_examples,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        # One example is a lint and two or three fix passes of a small file (~0.1 s); the
        # bound catches super-linear behaviour without flaking on a loaded machine.
        deadline=5_000,
        derandomize=IN_CI,
        database=None if IN_CI else DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "examples")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


def _applicable(diagnostic: Diagnostic, unsafe: bool) -> bool:
    fix = diagnostic.fix
    if fix is None:
        return False
    return fix.applicability is Applicability.SAFE or (unsafe and fix.applicability is Applicability.UNSAFE)


def _parses(text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning for `b""()` and the like
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def _keyed(diagnostics: list[Diagnostic], text: str) -> Counter[tuple[str, str, str]]:
    starts = [*line_starts(text), len(text)]
    out: Counter[tuple[str, str, str]] = Counter()
    for d in diagnostics:
        line = text[starts[d.start.line - 1] : starts[d.start.line]] if d.start.line < len(starts) else ""
        out[(d.code, d.message, line.strip())] += 1
    return out


def check_fix(text: str, unsafe: bool, path: str = "workflow.py") -> list[tuple[str, str]]:
    """Lint and fix ``text``, asserting the properties every fix must have; the fixes applied."""
    source = SourceFile(path, text)
    before = lint_source(source, SETTINGS, SELECTION)
    outcome = fix_source(source, SETTINGS, unsafe=unsafe, selection=SELECTION)
    assert outcome.failure is None, f"{outcome.failure.message}\n--- source ---\n{text}"
    if outcome.text == text:
        assert outcome.count == 0, f"fixes reported ({outcome.applied}) but the text did not change"
        return []
    assert outcome.count > 0

    fixed = SourceFile(path, outcome.text)
    cst.parse_module(outcome.text)  # the fixed source parses (LibCST raises otherwise)
    assert _parses(outcome.text), "the fixed source is not valid Python for CPython"

    again = fix_source(fixed, SETTINGS, unsafe=unsafe, selection=SELECTION)
    assert again.failure is None, again.failure.message
    assert again.text == outcome.text, f"a second --fix changed the file: {again.applied}"

    # Nothing to fix in the output, so the second run's findings are a fresh lint of it; what
    # the first fix loop said was left must be exactly that.
    after = again.diagnostics
    assert [(d.code, d.start, d.message) for d in after] == [(d.code, d.start, d.message) for d in outcome.diagnostics]
    assert not any(_applicable(d, unsafe) for d in after), "fixable findings left after --fix"

    # The findings that were fixed are gone. A finding is keyed by its code, its message and
    # the text of its line, so that a finding another fix revealed elsewhere (a corrected
    # service id exposes that call's renamed keys) is not taken for one left unfixed; a key may
    # remain only as often as identical findings without an applicable fix existed before.
    fixable = _keyed([d for d in before if _applicable(d, unsafe)], text)
    unfixable = _keyed([d for d in before if not _applicable(d, unsafe)], text)
    remaining = Counter({key: n for key, n in _keyed(after, outcome.text).items() if key in fixable})
    still_there = {key: n for key, n in remaining.items() if n > unfixable[key]}
    assert not still_there, f"fixed findings still reported after --fix: {still_there}"

    # A fix may reveal findings (a corrected id exposes its inputs to CW104), but it never
    # leaves a name undefined, nor breaks a header that was there.
    guarded = {"CW207", "CW401"} if parse_header(text) is not None else {"CW207"}
    previously = Counter((d.code, d.message) for d in before if d.code in guarded)
    now = Counter((d.code, d.message) for d in after if d.code in guarded)
    introduced = sorted(key for key, n in now.items() if n > previously[key])
    assert not introduced, f"--fix introduced {introduced} (fixes applied: {outcome.applied})"

    # Imports a fix adds or removes are fine; rebinding a name the file already imported
    # (`from m import A as CW` turned into `from m import A, b as CW`) is not.
    old, new = _import_bindings(text), _import_bindings(outcome.text)
    rebound = {name: (old[name], new[name]) for name in old.keys() & new.keys() if old[name] != new[name]}
    assert not rebound, f"--fix rebound imported names: {rebound} (fixes applied: {outcome.applied})"
    return outcome.applied


def _import_bindings(text: str) -> dict[str, set[str]]:
    """Each name an import statement binds, with the objects it is bound to."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                out.setdefault(local, set()).add(alias.name if alias.asname else local)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                out.setdefault(alias.asname or alias.name, set()).add(f"{module}.{alias.name}")
    return out


# -- generator 1: hypothesmith programs -----------------------------------------------------


def _programs() -> st.SearchStrategy[str]:
    import hypothesmith  # test extra: hypothesmith==0.3.3

    # from_node (programs built from LibCST's node types) costs ~6x more to generate than
    # from_grammar; one example in four comes from it.
    grammar = hypothesmith.from_grammar()
    return st.one_of(grammar, grammar, grammar, hypothesmith.from_node())


def check_never_crashes(program: str, framed: bool) -> None:
    """Lint and fix one program; no exception may escape, and a valid program is linted."""
    text = FRAME + program if framed else program
    if framed and not _parses(text):
        text = program  # `from __future__` must stay first; the frame cannot go above it
    source = SourceFile("program.py", text)
    diagnostics = lint_source(source, SETTINGS, SELECTION)
    for diagnostic in diagnostics:
        event(f"code {diagnostic.code}")
    if _parses(text):
        assert not any(d.code in ("CW901", "CW907") for d in diagnostics), [d.message for d in diagnostics]
    check_fix(text, unsafe=True, path="program.py")


@bounded(120)
@given(program=st.deferred(_programs), framed=st.booleans())
def test_generated_programs_never_crash(program: str, framed: bool) -> None:
    check_never_crashes(program, framed)


# -- generator 2: workflow-shaped sources from the catalog ----------------------------------


#: Shrunk failures, kept after the fix in cwlint (see each one's comment).
#: CW201 extended `from codewords_client import AsyncCodewordsClient as CW` to
#: `... AsyncCodewordsClient, run_service as CW`, rebinding CW (fixed in cwlint/edits.py).
ALIASED_CLIENT_IMPORT = """\
from codewords_client import AsyncCodewordsClient as CW
import uvicorn
from fastapi import FastAPI

app = FastAPI()

if __name__ == "__main__":
    uvicorn.run(app)
"""


@bounded(250)
@given(workflow=workflows(), unsafe=st.booleans())
@example(workflow=Workflow(ALIASED_CLIENT_IMPORT), unsafe=False)
@example(workflow=Workflow(ALIASED_CLIENT_IMPORT), unsafe=True)
def test_generated_workflows_fix_cleanly(workflow: Workflow, unsafe: bool) -> None:
    """Every generated workflow: its fixes hold; a careful one gets no finding."""
    assert _parses(workflow.text), "the generator built invalid Python"
    for label in workflow.labels:
        event(label)
    if workflow.careful:
        # Built without any of the mistakes: a finding here is a false positive.
        findings = lint_source(SourceFile("workflow.py", workflow.text), SETTINGS, SELECTION)
        assert not findings, [(d.code, d.start.line, d.message) for d in findings]
    applied = check_fix(workflow.text, unsafe=unsafe)
    for code in sorted({code for code, _ in applied}):
        event(f"fixed {code}")
    if "\r\n" in workflow.text:
        check_line_endings(workflow.text, unsafe)


def check_line_endings(text: str, unsafe: bool) -> None:
    """A CRLF file gets the findings and the fixes of its LF twin, and stays CRLF."""
    lf = text.replace("\r\n", "\n")
    crlf_findings = lint_source(SourceFile("workflow.py", text), SETTINGS, SELECTION)
    lf_findings = lint_source(SourceFile("workflow.py", lf), SETTINGS, SELECTION)
    assert [(d.code, d.start, d.message) for d in crlf_findings] == [(d.code, d.start, d.message) for d in lf_findings]
    crlf_fixed = fix_source(SourceFile("workflow.py", text), SETTINGS, unsafe=unsafe, selection=SELECTION).text
    lf_fixed = fix_source(SourceFile("workflow.py", lf), SETTINGS, unsafe=unsafe, selection=SELECTION).text
    assert "\n" not in crlf_fixed.replace("\r\n", ""), "a fix wrote a bare LF into a CRLF file"
    assert crlf_fixed.replace("\r\n", "\n") == lf_fixed


#: How many of the generated workflows must receive a fix (with --unsafe-fixes).
FIX_RATE = 0.30
RATE_EXAMPLES = 150


def test_generated_workflows_mostly_get_fixed() -> None:
    """At least 30% of workflow examples receive a fix: the generator exercises the fixes.

    A deterministic batch (derandomized, generation only, no database) so the rate does not
    depend on what earlier runs stored; each example also goes through the full checks.
    """
    fixed: list[bool] = []

    @settings(
        max_examples=RATE_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(workflow=workflows())
    def draw(workflow: Workflow) -> None:
        fixed.append(bool(check_fix(workflow.text, unsafe=True)))

    draw()
    assert len(fixed) >= RATE_EXAMPLES * 0.9, f"only {len(fixed)} examples were generated"
    rate = sum(fixed) / len(fixed)
    assert rate >= FIX_RATE, f"only {rate:.0%} of {len(fixed)} generated workflows received a fix"
