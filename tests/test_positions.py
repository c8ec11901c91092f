"""cwlint.positions gives every node the range LibCST's PositionProvider gives it.

Compared on every fixture, every rule example and programs hypothesmith generates: each node's
offsets, turned into (line, column), equal PositionProvider's CodeRange, for every node.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from libcst.metadata import MetadataWrapper, PositionProvider

from cwlint.positions import node_offsets
from cwlint.rules import all_rules
from cwlint.source import line_starts

ROOT = Path(__file__).resolve().parent.parent

# hypothesmith compiles what it generates; `b""()` and the like warn.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")


def _texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "fixtures").rglob("*.py"))]
    for rule in all_rules():
        texts.extend(case.code for case in [*rule.VALID, *rule.INVALID] if case.make is None)
    texts += ["x = 1", "", "\n", "if x:\r\n    y = (1 +\r\n         2)  # c\r\n", "@d\n@e(f)\ndef g(): ...\n", "x = '😀é' + f'{y!r:>{w}}'\n"]
    return texts


def _check(text: str) -> int:
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return 0
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    offsets, code = node_offsets(module)
    assert code == module.code
    text = code  # positions are LibCST's, in its code (the text, but for a few odd inputs)
    starts = line_starts(text)

    def position(offset: int) -> tuple[int, int]:  # as FileContext.source_position, 0-based column
        if offset > len(text):
            return len(starts) + 1, 0
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1]

    assert set(offsets) == {id(node) for node in expected}
    for node, code_range in expected.items():
        start, end = offsets[id(node)]
        assert (position(start), position(end)) == (
            (code_range.start.line, code_range.start.column),
            (code_range.end.line, code_range.end.column),
        ), (type(node).__name__, text[start:end])
    return len(expected)


def test_every_fixture_and_example() -> None:
    assert sum(_check(text) for text in _texts()) > 10_000


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hypothesmith.from_grammar())
def test_generated_programs(text: str) -> None:
    _check(text)
