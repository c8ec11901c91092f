"""Example payloads for routes without a request schema (webhooks reading ``request: Request``).

FastAPI documents no body for such a route, so cwtest cannot generate one. The user gives examples:

* ``examples/<workflow stem>/*.json`` beside the workflow, or the folder ``[tool.cwtest] examples``
  names (relative to its ``pyproject.toml``); each file holds one example or a list of them, an
  example being ``{"route": "POST /webhook", "body": {...}}``;

The smoke call sends a route's first example (without one: ``{}``, marked as guessed, so that a
failure it causes is inconclusive); the search mutates them (``mutations``): a value replaced by
one of another JSON type, a key dropped, or the example as it is. Without examples the route's
search is inconclusive ("no request schema and no example payload").
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
    """A Hypothesis strategy: one of ``examples``, as it is or with one value replaced or one key dropped."""
    from hypothesis import strategies as st

    values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=20), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))

    def mutate(example: Any) -> Any:
        leaves = _paths(example)
        options = [st.just(example)]
        if leaves:
            options.append(st.tuples(st.sampled_from(leaves), values).map(lambda pv: _set(example, *pv)))
            keyed = [p for p in leaves if p and isinstance(p[-1], str)]
            if keyed:
                options.append(st.sampled_from(keyed).map(lambda p: _drop(example, p)))
        return st.one_of(options)

    return st.sampled_from(examples).flatmap(mutate)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        out = [prefix + (k,) for k in value]
        for k, v in value.items():
            out += _paths(v, prefix + (k,))[1:] if isinstance(v, (dict, list)) else []
        return [prefix, *out] if prefix else out
    if isinstance(value, list):
        out = [prefix + (i,) for i in range(len(value))]
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))[1:] if isinstance(v, (dict, list)) else []
        return [prefix, *out] if prefix else out
    return [prefix] if prefix else []


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = new
    return copy


def _drop(value: Any, path: tuple[Any, ...]) -> Any:
    copy = json.loads(json.dumps(value))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node.pop(path[-1], None)
    return copy
