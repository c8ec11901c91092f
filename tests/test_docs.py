"""The generated rule pages match the rules' docstrings (no drift)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rule_pages_are_current() -> None:
    spec = importlib.util.spec_from_file_location("generate_rule_docs", ROOT / "scripts" / "generate_rule_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = [str(path.relative_to(ROOT)) for path, text in module.pages().items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"run `python scripts/generate_rule_docs.py`: stale {stale}"
    pages = {p.name for p in (ROOT / "docs" / "rules").glob("CW*.md")}
    assert pages == {p.name for p in module.pages() if p.name.startswith("CW")}
