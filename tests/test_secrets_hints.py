"""The substring shortcuts in front of the credential regexes never skip a credential.

Each format's ``keywords`` (rules/secrets/formats.toml) and ``secrets._ASSIGNED_HINTS`` let
``find_credentials`` and ``redact`` skip their regexes for text that holds none of a few
substrings (most text). Skipping is only allowed when no match is possible: proved here from
each regex's parse tree (keywords are lower-case and compared with the lowered text), checked
on generated matches, and on every fixture and rule example, redacted both ways.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwlint import secrets
from cwlint.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent
LOOKAROUND = re.compile(r"\(\?<?[!=][^()]*\)")


#: An item standing for characters nothing is known of (a repeat's copies beyond its minimum).
_UNKNOWN = (None, None)


def _guaranteed(items: list, hints: tuple[str, ...], run: str = "") -> bool:
    """Every string the parsed sequence ``items`` matches (after the literal ``run``) holds a
    hint, compared lower-cased."""
    for index, (op, av) in enumerate(items):
        rest = items[index + 1 :]
        if op is sre.LITERAL:
            run += chr(av)
            if any(hint in run.lower() for hint in hints):
                return True
        elif op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue  # zero-width: the characters around it are adjacent
        elif op is sre.SUBPATTERN:
            return _guaranteed([*av[3], *rest], hints, run)
        elif op is sre.BRANCH:
            return all(_guaranteed([*branch, *rest], hints, run) for branch in av[1])
        elif op is sre.IN and av and all(kind is sre.LITERAL for kind, _ in av):  # [pousr]: each one
            return all(_guaranteed([(sre.LITERAL, char), *rest], hints, run) for _, char in av)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] <= 100:
            low, high, body = av
            if (low, high) == (0, 1):  # x?: with it, and without
                return _guaranteed([*body, *rest], hints, run) and _guaranteed(list(rest), hints, run)
            copies = [*body] * low  # x{3,}: three copies for sure, then nothing known
            return _guaranteed([*copies, *(() if high == low else (_UNKNOWN,)), *rest], hints, run)
        else:
            run = ""
    return False


@pytest.mark.parametrize("fmt", secrets.secret_formats(), ids=lambda f: f.id)
def test_every_format_has_keywords_its_regex_implies(fmt: secrets.SecretFormat) -> None:
    hints = fmt.keywords
    assert hints, f"give {fmt.id!r} keywords in rules/secrets/formats.toml (it is never tried without)"
    assert not fmt.pattern.flags & re.IGNORECASE
    parsed = list(sre_parse.parse(fmt.pattern.pattern, fmt.pattern.flags))
    assert _guaranteed(parsed, hints)
    assert not _guaranteed(parsed, ("not in any match",))  # the proof can fail


def test_the_assigned_secret_hints_cover_every_name_ending() -> None:
    words = re.search(r"\(\?:(password\|[^)]*)\)", secrets._ASSIGNED_SECRET_REGEX)
    assert words is not None
    for word in words.group(1).split("|"):
        assert any(hint in word for hint in secrets._ASSIGNED_HINTS), word


@pytest.mark.parametrize("fmt", secrets.secret_formats(), ids=lambda f: f.id)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_generated_matches_hold_a_hint(fmt: secrets.SecretFormat, data: st.DataObject) -> None:
    # Without its lookarounds a pattern matches more strings: a hint in all of those is in all of its.
    wider = LOOKAROUND.sub("", fmt.pattern.pattern)
    text = data.draw(st.from_regex(wider, fullmatch=True))
    assert any(hint in text.lower() for hint in fmt.keywords)


def _texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "fixtures").rglob("*.py"))]
    for rule in all_rules():
        texts.extend(case.code for case in [*rule.VALID, *rule.INVALID])
    texts.append("ghp_" + "a1B2" * 9 + " and KEY='Zq8vN3xLp2Rt7YwM' ſecret = 'Hq7Zp3LmN8vXc2Rk'")
    return texts


def test_redaction_is_the_same_with_and_without_the_shortcuts(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts()
    fast = [secrets.redact(text) for text in texts]
    found = [[(m.format.name, m.start, m.end) for m in secrets.find_credentials(text)] for text in texts]
    monkeypatch.setattr(secrets, "_SHORTCUTS", False)
    monkeypatch.setattr(secrets, "_ASSIGNED_HINTS", ("",))  # "" is in every text: always scan
    assert [secrets.redact(text) for text in texts] == fast
    assert [[(m.format.name, m.start, m.end) for m in secrets.find_credentials(text)] for text in texts] == found
    assert any(f != t for f, t in zip(fast, texts, strict=True))  # the corpus does hold secrets
