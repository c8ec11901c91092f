"""The environment a workflow runs with under cwtest: the variables its header declares, with values.

One rule for both places a workflow runs: the sandboxed harness (``cwtest.harness.session``, which
adds HOME and TMPDIR) and the in-process fuzz target (``cwtest.fuzz.target``). A declared variable
gets, in order:

1. the value the user gave (``--env NAME=VALUE``, ``--env-file PATH``, ``[tool.cwtest] env``);
2. the header's declared default;
3. the literal default the code reads it with (``os.environ.get("X", "4000")``, ``os.getenv``),
   found with ``ast``, never by running anything;
4. a **placeholder** that fits the name: a number for ``*_PORT`` and other numeric-looking names,
   ``https://<name>.cwtest.invalid`` for ``*_URL``/``*_URI``, ``false`` for booleans, a host under
   ``.cwtest.invalid`` for ``*_HOST``, else ``cwtest-<name>``.

The API key and the runtime URLs get the simulator's. Placeholders are cwtest's stand-ins: the
distinctive ones (``placeholders``) go to the child, and a failure that shows one in its exception
or in the failing frame's locals is inconclusive, naming the variable and how to set it.

Imports only ``cwlint.header`` (lazily) and the standard library.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The variables that name the runtime: they get the simulator's URL.
RUNTIME_VARS = ("CODEWORDS_RUNTIME_URI", "RUNTIME_URI")
API_KEY_VAR = "CODEWORDS_API_KEY"

_NUMERIC = re.compile(r"(^|_)(PORT|TIMEOUT|SECONDS|SECS|MINUTES|HOURS|DAYS|COUNT|LIMIT|MAX|MIN|SIZE|RETRIES|"
                      r"INTERVAL|TTL|WORKERS|THREADS|BATCH|PAGE_SIZE|DELAY|NUM|NUMBER|PERCENT|RATE|THRESHOLD|"
                      r"DEPTH|LENGTH|LEN)(_|$)")
_BOOLEAN = re.compile(r"(^|_)(DEBUG|VERBOSE|ENABLED?|DISABLED?|DRY_RUN|USE|IS|ALLOW|FLAG|TESTING|SANDBOX|STRICT)"
                      r"(_|$)")
_URL = re.compile(r"(_|^)(URL|URI|ENDPOINT|BASE_URL|WEBHOOK)$")
_HOST = re.compile(r"(_|^)(HOST|HOSTNAME|SERVER)$")


#: ``cwtest run -j N`` plans the workflows' environments in threads (gh-106905).
_AST_LOCK = threading.Lock()


def placeholder(name: str) -> str:
    """The placeholder value of a variable nobody gave a value, fitted to its name."""
    upper = name.upper()
    slug = name.lower().replace("_", "-")
    if _URL.search(upper):
        return f"https://{slug}.cwtest.invalid"
    if _HOST.search(upper):
        return f"{slug}.cwtest.invalid"
    if re.search(r"(^|_)PORT$", upper):
        return "8080"
    if _NUMERIC.search(upper):
        return "30" if re.search(r"TIMEOUT|SECONDS|SECS|INTERVAL|TTL|DELAY", upper) else "1"
    if _BOOLEAN.search(upper):
        return "false"
    return f"cwtest-{slug}"


def code_defaults(text: str) -> dict[str, str]:
    """``{NAME: default}`` for every ``os.environ.get("NAME", <literal>)`` / ``os.getenv(...)`` in ``text``
    (a str or number literal; the first one wins). An empty default is the author's "unset", not a
    value: such a variable gets a placeholder. Nothing is run; a file that does not parse gives {}."""
    try:
        with _AST_LOCK:  # CPython 3.11's ast is not thread-safe: "AST constructor recursion depth mismatch"
            tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in ("get", "getenv", "setdefault"):
            continue
        if name in ("get", "setdefault") and not (isinstance(func, ast.Attribute) and _is_environ(func.value)):
            continue
        default = node.args[1]
        if isinstance(default, ast.Constant) and isinstance(default.value, (str, int, float)) \
                and not isinstance(default.value, bool) and str(default.value).strip():
            found.setdefault(node.args[0].value, str(default.value))  # "" means "unset", not a value
    return found


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


@dataclass
class EnvPlan:
    """The workflow's variables, and which of them are cwtest's placeholders (name -> value)."""

    values: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)
    #: The names whose value the user gave (``--env``, ``--env-file``, ``[tool.cwtest] env``).
    given: set[str] = field(default_factory=set)

    def secrets(self) -> list[str]:
        """The values no output may show whole (``cwtest.redact.secret_values``): the simulator's
        API key, values under secret-like names, and the user's values that look like credentials."""
        from cwtest.redact import secret_values

        return secret_values(self.values, given=self.given, injected=(API_KEY_VAR,), placeholders=self.placeholders)

    def distinctive(self) -> dict[str, str]:
        """The placeholders a failure can be traced to by value (``cwtest-...``, ``*.cwtest.invalid``)."""
        return {n: v for n, v in self.placeholders.items() if "cwtest" in v and len(v) >= 8}


def plan_env(header: Any, *, api_key: str, runtime_url: str, home: Path | None = None,
             user: dict[str, str] | None = None, source: str | None = None) -> EnvPlan:
    """Exactly the variables ``header`` declares (and those the user set), with their values."""
    user = dict(user or {})
    defaults = code_defaults(source) if source else {}
    plan = EnvPlan()
    for var in header.env_vars if header is not None else []:
        name = var.name
        if name == API_KEY_VAR:
            plan.values[name] = api_key
        elif name in RUNTIME_VARS:
            plan.values[name] = runtime_url
        elif name in user:
            plan.values[name] = user.pop(name)
            plan.given.add(name)
        elif var.default is not None:
            plan.values[name] = var.default
        elif name in defaults:
            plan.values[name] = defaults[name]
        else:
            plan.values[name] = plan.placeholders[name] = placeholder(name)
    for name, value in user.items():  # set by the user, not declared: theirs to give
        if name not in (API_KEY_VAR, *RUNTIME_VARS):
            plan.values[name] = value
            plan.given.add(name)
    if home is not None:
        plan.values["HOME"] = plan.values["TMPDIR"] = str(home)
    return plan


def workflow_env(header: Any, *, api_key: str, runtime_url: str, home: Path | None = None,
                 user: dict[str, str] | None = None, source: str | None = None) -> dict[str, str]:
    """``plan_env(...).values``."""
    return plan_env(header, api_key=api_key, runtime_url=runtime_url, home=home, user=user, source=source).values


def header_of(path: Path) -> Any:
    """The PEP 723 header of the workflow at ``path`` (None without one)."""
    from cwlint.header import parse_header

    return parse_header(path.read_text(encoding="utf-8", errors="replace"))


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file's values (python-dotenv); ``OSError`` when it cannot be read."""
    from dotenv import dotenv_values

    if not path.is_file():
        raise OSError(f"no such file: {path}")
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def project_settings(start: Path) -> dict[str, Any]:
    """``[tool.cwtest]`` of the nearest ``pyproject.toml`` at or above ``start`` ({} without one)."""
    import tomllib

    here = start.resolve()
    for folder in [here, *here.parents] if here.is_dir() else [here.parent, *here.parent.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
            settings = data.get("tool", {}).get("cwtest", {})
            return {**settings, "_root": str(folder)} if isinstance(settings, dict) else {}
    return {}
