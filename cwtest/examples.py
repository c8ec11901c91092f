"""Example payloads for routes without a request schema (webhooks reading ``request: Request``).

FastAPI documents no body for such a route, so cwtest cannot generate one. The user gives examples:

* ``examples/<workflow stem>/*.json`` beside the workflow, or the folder ``[tool.cwtest] examples``
  names (relative to its ``pyproject.toml``); each file holds one example or a list of them, an
  example being ``{"route": "POST /webhook", "body": {...}}``;

The smoke call sends a route's first example (without one: ``{}``, marked as guessed, so that a
failure it causes is inconclusive); the search mutates them (``mutations``): the same keys and
types, other values (a string another string, the empty one included; a number another number; a
boolean flipped). A sender that always sends a key of a type is not given another: changing the
shape would be cwtest's guess again. Without examples the route's search is inconclusive ("no
request schema and no example payload").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def examples_dir(workflow: Path, settings: dict[str, Any], settings_root: Path | None = None) -> Path:
    configured = settings.get("examples")
    if isinstance(configured, str) and configured:
        base = settings_root or workflow.resolve().parent
        return (base / configured).resolve()
    return workflow.resolve().parent / "examples" / workflow.stem


def load_payloads(folder: Path) -> dict[str, list[Any]]:
    """``{"POST /webhook": [body, ...]}`` from every ``*.json`` file in ``folder`` ({} when none).

    A file that is not JSON, or an entry without ``route`` and ``body``, raises ``ValueError`` with
    the file's name."""
    payloads: dict[str, list[Any]] = {}
    if not folder.is_dir():
        return payloads
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{file}: not JSON ({exc})") from None
        for entry in data if isinstance(data, list) else [data]:
            if not (isinstance(entry, dict) and isinstance(entry.get("route"), str) and "body" in entry):
                raise ValueError(f'{file}: each example is {{"route": "POST /path", "body": ...}}')
            method, _, path = entry["route"].strip().partition(" ")
            payloads.setdefault(f"{method.upper()} {path.strip()}", []).append(entry["body"])
    return payloads


def mutations(examples: list[Any]) -> Any:
    """A Hypothesis strategy: one of ``examples``, its leaves given other values of their own types."""
    from hypothesis import strategies as st

    def like(value: Any) -> Any:
        if isinstance(value, bool):
            return st.booleans()
        if isinstance(value, int):
            return st.integers()
        if isinstance(value, float):
            return st.floats(allow_nan=False, allow_infinity=False)
        if isinstance(value, str):
            return st.text(max_size=max(20, len(value) * 2))
        if isinstance(value, list):
            return st.lists(like(value[0]), max_size=len(value) + 1) if value else st.just([])
        if isinstance(value, dict):
            return st.fixed_dictionaries({k: like(v) for k, v in value.items()})
        return st.just(value)

    return st.one_of([st.just(e) for e in examples] + [like(e) for e in examples])
