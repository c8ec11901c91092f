"""CW301/CW302 against ruff's hard-coded-password rules (S105, S106, S107), the pattern of
tests/test_undefined_name_pyflakes.py for CW207.

The reference is ruff 0.17.6 (pinned in the `test` extra): S105 (a string assigned to a
password-like name), S106 (a password-like keyword argument), S107 (a password-like parameter
default). Every hit of ruff's must be a CW301 or CW302 finding on the same line, or be explained
in an allow-list; an allowance that no longer happens fails the test too, so the lists stay
honest.

Two workflow-shaped corpora:
- every fixture under fixtures/ (the workflows written for this project), allowances by
  (file, line);
- a generated workflow: each name of a sample of secret-like names (the shared list's
  spellings) bound to each value of a sample (passwords, hex keys, random keys, labels,
  placeholders) as an assignment (S105), a keyword argument (S106) and a parameter default
  (S107); allowances by (value, "password" or "other" name), because cwlint's verdict
  depends on the value and on whether the name says password (passwords may be short
  words, keys and tokens must look random).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from cwlint.config import Settings
from cwlint.engine import lint_source
from cwlint.source import SourceFile, read

RUFF_VERSION = "0.17.6"
ROOT = Path(__file__).resolve().parent.parent
CODES = ("S105", "S106", "S107")
OURS = ("CW301", "CW302")

_LABEL = "a label, not a credential: {what}; cwlint never reports a literal that names something"

#: (fixture path, line) -> why only ruff reports it.
ALLOWED_FIXTURES: dict[tuple[str, int], str] = {
    ("cw301/crm_sync_ok.py", 31): _LABEL.format(what="an env var's name (HUBSPOT_TOKEN_ENV = \"HUBSPOT_API_TOKEN\")"),
    ("cw301/crm_sync_ok.py", 33): _LABEL.format(what="a token type (TOKEN_TYPE = \"Bearer\")"),
    ("cw301/crm_sync_ok.py", 34): _LABEL.format(what="a form field's name (PASSWORD_FIELD = \"password\")"),
    ("cw301/crm_sync_ok.py", 35): _LABEL.format(what="an env var's name (SECRET_KEY_NAME = \"TELEGRAM_BOT_TOKEN\")"),
    ("cw301/weather_alerts_keys_ok.py", 25): _LABEL.format(what="a form field's name (ADMIN_PASSWORD_FIELD = \"admin_password\")"),
}

NAMES = (
    "DB_PASSWORD", "ROOT_PASS", "SMTP_PASSWD", "ADMIN_PWD", "GPG_PASSPHRASE", "CLIENT_SECRET",
    "WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "ACCESS_TOKEN", "password", "secret", "token", "auth_token",
    "client_secret", "db_pass",
)
VALUES = (
    "Sup3rS3cret!",  # a password
    "hunter22",  # a short password
    "3b1f9a7c5e2d4b6a8c0e1f2a3b4c5d6e",  # 32 hex: a weather/data API key
    "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",  # 40 hex
    "Zq8Vw3Nr6Tx1Ly4Pm7Kd0Hs",  # a random key
    "Bearer",  # labels and placeholders
    "X-API-Key",
    "password",
    "SLACK_BOT_TOKEN",
    "your-api-key",
    "changeme",
    "https://oauth2.googleapis.com/token",
    "access_token",
    "3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b",
)

_SHORT = (
    "8 characters of letters and digits bound to a key, token or secret: cwlint asks such names for a"
    " random-looking value (16+ characters, two classes, or high entropy), ruff for any string"
)
_PLACEHOLDER = "a placeholder: CW301 leaves placeholders to CW302 (a read's default) and ignores them in assignments"

#: (value, "password" | "other") -> why only ruff reports it, for the generated corpus.
ALLOWED_VALUES: dict[tuple[str, str], str] = {
    # Bound to a password name, "Bearer" and "X-API-Key" are passwords (capitals and a dash
    # are not a field name's): both tools report them.
    ("Bearer", "other"): _LABEL.format(what="an auth scheme"),
    ("X-API-Key", "other"): _LABEL.format(what="a header name"),
    **{(value, kind): _LABEL.format(what=what) for value, what in (
        ("password", "a field name"),
        ("SLACK_BOT_TOKEN", "an env var's name"),
        ("https://oauth2.googleapis.com/token", "a URL"),
        ("access_token", "a field name"),
        ("3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b", "a UUID (request ids, not keys, in workflows)"),
    ) for kind in ("password", "other")},
    ("your-api-key", "password"): _PLACEHOLDER,
    ("your-api-key", "other"): _PLACEHOLDER,
    ("changeme", "password"): _PLACEHOLDER,
    ("changeme", "other"): _PLACEHOLDER,
    ("hunter22", "other"): _SHORT,
    ("Sup3rS3cret!", "other"): (
        "12 characters bound to a key, token or secret: cwlint asks such names for 16 or more (a password"
        " may be short; a generated secret is not)"
    ),
}


def _kind(name: str) -> str:
    lowered = name.lower()
    return "password" if any(word in lowered for word in ("pass", "pwd")) else "other"


def generated_workflow() -> tuple[str, dict[int, tuple[str, str]]]:
    """The generated corpus, and for each line the (value, kind) it binds."""
    lines = [
        "# /// script",
        '# requires-python = "==3.11.*"',
        '# dependencies = ["codewords-client==0.4.11", "pymysql==1.1.1"]',
        "# ///",
        "import pymysql",
        "",
    ]
    meaning: dict[int, tuple[str, str]] = {}
    for name in NAMES:
        for value in VALUES:
            meaning[len(lines) + 1] = (value, _kind(name))
            lines.append(f'{name} = "{value}"')
    for name in (n for n in NAMES if n.islower()):
        for value in VALUES:
            meaning[len(lines) + 1] = (value, _kind(name))
            lines.append(f'conn = pymysql.connect(host="db", {name}="{value}")')
            meaning[len(lines) + 1] = (value, _kind(name))
            lines.append(f'def login_{len(lines)}(user, {name}="{value}"): return user')
    return "\n".join(lines) + "\n", meaning


def ruff_hits(paths: list[Path]) -> dict[tuple[str, int], list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", ",".join(CODES),
         "--output-format", "json", *map(str, paths)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    hits: dict[tuple[str, int], list[str]] = defaultdict(list)
    for item in json.loads(done.stdout or "[]"):
        hits[(str(Path(item["filename"]).resolve()), item["location"]["row"])].append(item["code"])
    return dict(hits)


def cwlint_lines(path: Path) -> set[int]:
    source = read(str(path))
    return {d.start.line for d in lint_source(source, Settings(select=list(OURS))) if d.code in OURS}


def _fixtures() -> list[Path]:
    return sorted(p for p in (ROOT / "fixtures").rglob("*.py") if "hostile" not in p.parts)


def test_reference_is_the_pinned_ruff() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == RUFF_VERSION, f"the allow-lists were written against ruff {RUFF_VERSION}: {done.stdout}"


def test_every_allowance_has_a_reason() -> None:
    for reason in [*ALLOWED_FIXTURES.values(), *ALLOWED_VALUES.values()]:
        assert reason.strip() and "\n" not in reason


def test_fixtures_agree_with_ruff() -> None:
    fixtures = _fixtures()
    hits = ruff_hits(fixtures)
    assert hits, "ruff found nothing at all: is S105 still its hard-coded password rule?"
    problems: list[str] = []
    seen: set[tuple[str, int]] = set()
    ours = {str(path.resolve()): cwlint_lines(path) for path in fixtures}
    for (file, line), codes in sorted(hits.items()):
        if line in ours.get(file, set()):
            continue
        key = (str(Path(file).relative_to(ROOT / "fixtures")), line)
        if key in ALLOWED_FIXTURES:
            seen.add(key)
            continue
        problems.append(f"{key}: ruff {codes}, no CW301/CW302 finding, and ALLOWED_FIXTURES does not explain why")
    for key in sorted(set(ALLOWED_FIXTURES) - seen):
        problems.append(f"{key}: allowed, but the tools agree now (or ruff is silent): remove it from ALLOWED_FIXTURES")
    assert not problems, "\n".join(problems)


def test_generated_workflow_agrees_with_ruff(tmp_path: Path) -> None:
    text, meaning = generated_workflow()
    path = tmp_path / "secrets_workflow.py"
    path.write_text(text)
    hits = ruff_hits([path])
    ours = {d.start.line for d in lint_source(SourceFile(str(path), text), Settings(select=list(OURS))) if d.code in OURS}
    by_code: dict[str, int] = defaultdict(int)
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    agreements = 0
    for (_, line), codes in sorted(hits.items()):
        for code in codes:
            by_code[code] += 1
        if line in ours:
            agreements += 1
            continue
        key = meaning[line]
        if key in ALLOWED_VALUES:
            seen.add(key)
            continue
        problems.append(f"line {line} {text.splitlines()[line - 1]!r}: ruff {codes}, no CW301/CW302 finding, ALLOWED_VALUES does not explain {key}")
    for key in sorted(set(ALLOWED_VALUES) - seen):
        problems.append(f"{key}: allowed, but the tools agree now (or ruff is silent): remove it from ALLOWED_VALUES")
    assert not problems, "\n".join(problems)
    # The corpus exercises all three of ruff's rules, and real agreement, not silence.
    assert set(by_code) == set(CODES), by_code
    assert agreements >= 100, agreements


@pytest.mark.parametrize("line", ['ROOT_PASS = "Adm1nPa55"', 'ADMIN_PASSWORD = "correct-horse-battery-staple-9"'])
def test_the_admin_password_ruff_found_is_ours_too(tmp_path: Path, line: str) -> None:
    """The issue's miss: a literal bound to `*_PASS` (CW302 knew the suffix, CW301 did not)."""
    path = tmp_path / "w.py"
    path.write_text(line + "\n")
    assert ruff_hits([path]) and cwlint_lines(path) == {1}
