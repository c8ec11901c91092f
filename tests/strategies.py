"""Hypothesis strategies for cwlint's robustness tests: workflow-shaped sources from the catalog.

:func:`workflows` builds whole CodeWords workflow files the way people (and AI assistants)
write them: a PEP 723 header (canonical, missing, with misplaced or missing entries, several
``env_vars`` layouts), the client under aliases (``AsyncCodewordsClient as CW``,
``self.client``, a helper receiving the client unannotated, ``codewords_client.`` qualified),
service calls with keyword or positional arguments, misspelt service ids, renamed input keys
and ``data=``, dict access on responses, env reads declared or not, and a main guard with
``uvicorn.run(app, host=..., port=...)``, ``run_service(app)`` or nothing.

Every fact about services comes from :func:`cwlint.catalog.default_catalog` (ids, the keys of
each variant's inputs, renamed keys, allowed values), so the generator follows the catalog as
it grows. Each drawn :class:`Workflow` carries ``labels`` naming the mistakes it was built
with, for ``hypothesis.event`` statistics and for reading a falsifying example. One workflow
in four is ``careful``: written without any of the mistakes, so it must get no finding.

Every choice shrinks towards the mistake-free option (:meth:`Builder.rare` is False at its
minimum), so a shrunk failure keeps only the mistakes it needs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from hypothesis import strategies as st

from cwlint.catalog import InputSpec, Variant, default_catalog

# -- catalog-derived facts ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A library-format variant of a service that a workflow can call with an inputs dict."""

    service_id: str
    path: str
    variant: Variant


@functools.cache
def targets() -> tuple[Target, ...]:
    out = []
    for service in default_catalog().services.values():
        for variant in service.variants:
            if variant.format == "library" and variant.body is not False:
                out.append(Target(service.id, variant.path, variant))
    return tuple(sorted(out, key=lambda t: (t.service_id, t.path)))


@functools.cache
def renamed_targets() -> tuple[Target, ...]:
    return tuple(t for t in targets() if t.variant.renamed)


# Env vars a workflow reads: (name, a plausible literal default or None, secret?)
SETTINGS_VARS = (
    ("LOGLEVEL", "INFO"),
    ("REQUEST_TIMEOUT", "30"),
    ("MAX_PAGES", "5"),
    ("SLACK_CHANNEL", "#alerts"),
    ("API_BASE_URL", "https://api.example.com"),
)
SECRET_VARS = ("OPENAI_API_KEY", "SLACK_WEBHOOK_URL", "HUBSPOT_ACCESS_TOKEN", "NOTION_TOKEN", "SIGNING_SECRET")
PLACEHOLDERS = ("your-api-key", "changeme", "dummy-key", "")
#: Obviously fake credentials, built from repeated patterns that still match the formats.
FAKE_SECRETS = (
    ("OPENAI_API_KEY", "sk-proj-" + "A1b2C3d4E5f6G7h8" * 3),
    ("SLACK_BOT_TOKEN", "xoxb-1234567890-" + "AbCdEfGhIjKlMnOpQrStUv"),
    ("CODEWORDS_API_KEY", "cwk-" + "0123456789abcdef" * 4),
)
PIPEDREAM_APPS = ("slack", "google_sheets", "notion", "gmail", "hubspot")
MODELS = {
    "openai": ("gpt-4o", "gpt-4o-mini"),
    "anthropic": ("claude-3-5-haiku-20241022", "claude-sonnet-4-20250514"),
    "gemini": ("gemini-2.5-flash", "gemini-2.0-flash"),
}
FIELDS = ("url", "prompt", "email", "query", "key", "text")


# -- small pieces ---------------------------------------------------------------------------


def misspellings(service_id: str) -> list[str]:
    """Typos real code has: a dropped, doubled or swapped letter, a separator, capitals."""
    out = {
        service_id[:1].upper() + service_id[1:],
        service_id.upper(),
        service_id.replace("_", "-"),
        service_id.replace("_", ""),
    }
    for i in range(len(service_id)):
        out.add(service_id[:i] + service_id[i + 1 :])  # dropped
        out.add(service_id[:i] + service_id[i] + service_id[i:])  # doubled
        if i + 1 < len(service_id):
            out.add(service_id[:i] + service_id[i + 1] + service_id[i] + service_id[i + 2 :])  # swapped
    if "_" not in service_id and len(service_id) > 4:
        out.add(service_id[:4] + "_" + service_id[4:])  # fire_crawl, open_ai-like
    out.discard(service_id)
    return sorted(s for s in out if s)


def quote(draw: st.DrawFn, value: str) -> str:
    q = draw(st.sampled_from(['"', "'"]))
    escaped = value.replace("\\", "\\\\").replace(q, "\\" + q)
    return f"{q}{escaped}{q}"


@dataclass
class Workflow:
    text: str
    labels: set[str] = field(default_factory=set)
    careful: bool = False  #: built without any mistake: no fix may apply


class Builder:
    """Collects a workflow's parts while the call sites are drawn."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.labels: set[str] = set()
        self.imports: list[str] = []
        self.env_used: list[tuple[str, str | None]] = []  # (name, default)
        self.pipedream_apps: list[str] = []
        #: A careful author makes none of the mistakes below: the file must get no fix.
        self.careful = False
        #: Literal values of the inputs dict being drawn (for ``required_when``).
        self.literals: dict[str, object] = {}

    def need(self, line: str) -> None:
        if line not in self.imports:
            self.imports.append(line)

    def label(self, name: str) -> None:
        self.labels.add(name)

    def rare(self, n: int) -> bool:
        """True about once in ``n`` draws; shrinks to False, so a shrunk failure keeps only
        the mistakes it needs."""
        return not self.careful and self.draw(st.integers(0, n - 1)) == n - 1


# -- values and inputs -----------------------------------------------------------------------


def input_value(b: Builder, service_id: str, key: str, spec: InputSpec) -> str:
    draw = b.draw
    if spec.allowed:
        value = draw(st.sampled_from(spec.allowed))
        if isinstance(value, str):
            if b.rare(6):
                b.label("bad-allowed-value")
                value = value.upper() if value != value.upper() else value.lower()
            b.literals[key] = value
            return quote(draw, value)
        return repr(value)
    if key == "model" and service_id in MODELS:
        models = MODELS[service_id]
        if b.rare(7):
            b.label("model-mismatch")
            models = next(m for s, m in MODELS.items() if s != service_id)
        return quote(draw, draw(st.sampled_from(models)))
    if key == "app":
        app = draw(st.sampled_from(PIPEDREAM_APPS))
        b.pipedream_apps.append(app)
        return quote(draw, app)
    if key == "action":
        return quote(draw, draw(st.sampled_from(["send-message", "add-single-row", "create-page"])))
    if key == "actions":
        return '[{"type": "navigate", "url": request.url}, {"type": "wait", "time": 2}, {"type": "extract_html"}]'
    if key == "key" and b.rare(4):
        b.label("hash-key")
        return draw(st.sampled_from(['f"seen_{hash(request.url)}"', '"cache:" + str(hash(request.text))']))
    kind = spec.type
    if kind == "string":
        choice = draw(st.integers(0, 4))
        if choice == 0:
            if "url" in key:
                return quote(draw, "https://example.com")
            # Non-ASCII text before a fix on the same line: columns are code points.
            return quote(draw, draw(st.sampled_from([f"{key} value", f"{key} café ☕", "naïve 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"])))
        if choice == 1 and not b.careful and b.draw(st.booleans()):
            b.label("non-json-input")
            b.need("from datetime import datetime, timezone")
            return "datetime.now(timezone.utc)"
        return f"request.{draw(st.sampled_from(FIELDS))}"
    if kind == "integer":
        return str(draw(st.sampled_from([3, 10, 3600, 86400])))
    if kind == "number":
        return draw(st.sampled_from(["2.5", "0.5"]))
    if kind == "boolean":
        return draw(st.sampled_from(["True", "False"]))
    if kind == "array":
        return draw(st.sampled_from(['["markdown"]', "[request.text]", "[]"]))
    if kind == "object":
        if key == "props":
            return '{"channel": "#alerts", "text": request.text}'
        return draw(st.sampled_from(['{"summary": "...", "changed": True}', "{}"]))
    return "request.text"


def inputs_dict(b: Builder, target: Target) -> str:
    draw = b.draw
    variant = target.variant
    entries: list[tuple[str, str]] = []
    keys = list(variant.inputs)
    b.literals = {}
    for key in keys:
        spec = variant.inputs[key]
        required = spec.required or spec.is_required(b.literals) is True
        if not required and not draw(st.booleans()):
            continue
        if required and b.rare(10):
            b.label("missing-required-key")
            continue
        entries.append((key, input_value(b, target.service_id, key, spec)))
    # Renamed keys: the old name instead of (or, rarely, beside) the new one.
    for old, rename in variant.renamed.items():
        if not b.careful and draw(st.booleans()):
            index = next((i for i, (k, _) in enumerate(entries) if k == rename.to), None)
            if index is not None and not b.rare(5):
                entries[index] = (old, entries[index][1])
                b.label("renamed-key")
            elif index is None or draw(st.booleans()):
                entries.append((old, quote(draw, "value")))
                b.label("renamed-key-beside-new" if index is not None else "renamed-key")
    if not variant.closed and b.rare(4):
        entries.append(("extra_option", quote(draw, "x")))
    if not keys and not entries:
        entries.append(("query", "request.query"))
    if draw(st.booleans()):
        entries = draw(st.permutations(entries))
    items = [f"{quote(draw, k)}: {v}" for k, v in entries]
    return "{" + ", ".join(items) + "}"


def service_id_literal(b: Builder, target: Target) -> str:
    draw = b.draw
    choice = 0 if b.careful else draw(st.integers(0, 9))
    if choice >= 7:
        b.label("misspelt-id")
        return quote(draw, draw(st.sampled_from(misspellings(target.service_id))))
    if choice == 6:
        b.label("user-workflow-id")
        return quote(draw, draw(st.sampled_from(["lead_scorer_1a2b3c4d", "my_enricher", "redis", "gitlab"])))
    return quote(draw, target.service_id)


def service_call(b: Builder, receiver: str) -> str:
    """``receiver.run(...)`` (or ``start_service``) of one catalog target, without ``await``."""
    draw = b.draw
    target = draw(st.sampled_from(targets()))
    if b.rare(4) and renamed_targets():
        target = draw(st.sampled_from(renamed_targets()))
    method = draw(st.sampled_from(["run", "run", "run", "start_service"]))
    sid = service_id_literal(b, target)
    inputs = inputs_dict(b, target)
    keyword = "inputs" if b.careful else draw(st.sampled_from(["inputs", "inputs", "data"]))
    if keyword == "data":
        b.label("data-kwarg")
    shape = draw(st.integers(0, 3))
    args: list[str]
    if shape == 0:
        args = [f"service_id={sid}", f"{keyword}={inputs}"]
    elif shape == 1:
        args = [sid, inputs] if keyword == "inputs" else [sid, f"data={inputs}"]
        b.label("positional")
    elif shape == 2:
        args = [f"{keyword}={inputs}", f"service_id={sid}"]
    else:
        args = [f"service_id={sid}", f"{keyword}={inputs}"]
    if target.path:
        args.append(f"path={quote(draw, target.path)}")
    if b.rare(8):
        b.label("star-kwargs")
        args.append(draw(st.sampled_from(['**{"timeout": 120}', "timeout=120", "in_background=True"])))
    if b.rare(3):
        inner = "".join(f"\n    {a}," for a in args)
        return f"{receiver}.{method}({inner}\n)"
    return f"{receiver}.{method}({', '.join(args)})"


def indent(lines: list[str], prefix: str) -> list[str]:
    out = []
    for line in lines:
        out.extend(prefix + part if part else part for part in line.split("\n"))
    return out


def call_site(b: Builder, receiver: str, number: int) -> list[str]:
    """Statements that call a service and use its response (the result goes in ``results``)."""
    draw = b.draw
    call = service_call(b, receiver)
    resp = f"resp{number}" if number else "resp"
    use = draw(st.sampled_from([0, 4, 5])) if b.careful else draw(st.integers(0, 5))
    noqa = ""
    if "\n" not in call and b.rare(10):
        noqa = "  # noqa: " + draw(st.sampled_from(["CW101", "CW102", "CW103", "CW106", "CW102, CW101"]))
        b.label("noqa")
    if use == 0:
        return [f"{resp} = await {call}{noqa}", f"results.append({resp}.json())"]
    if use == 1:
        b.label("response-get")
        return [f"{resp} = await {call}{noqa}", f'results.append({resp}.get("response", ""))']
    if use == 2:
        b.label("response-subscript")
        return [f"{resp} = await {call}{noqa}", f'results.append({resp}["data"])']
    if use == 3:
        b.label("response-subscript")
        return [f'results.append((await {call})["data"]){noqa}']
    if use == 4:
        return [f"await {call}{noqa}"]
    return [f"{resp} = await {call}{noqa}", f"{resp}.raise_for_status()", f"results.append({resp}.json())"]


# -- the file's parts ------------------------------------------------------------------------


def env_reads(b: Builder) -> list[str]:
    draw = b.draw
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            name, default = draw(st.sampled_from(SETTINGS_VARS))
        else:
            name, default = draw(st.sampled_from(SECRET_VARS)), None
            if b.careful and name == "SIGNING_SECRET":
                continue
            if b.rare(4):
                default = draw(st.sampled_from(PLACEHOLDERS))
                b.label("insecure-default")
        if any(name == n for n, _ in b.env_used):
            continue
        b.need("import os")
        form = draw(st.integers(0, 2))
        if default is not None:
            getter = draw(st.sampled_from(["os.getenv", "os.environ.get"]))
            expr = f"{getter}({quote(draw, name)}, {quote(draw, default)})"
        elif form == 0:
            expr = f"os.environ[{quote(draw, name)}]"
        elif form == 1:
            expr = f"os.getenv({quote(draw, name)})"
        else:
            expr = f"os.environ.get({quote(draw, name)})"
        b.env_used.append((name, default))
        lines.append(f"{name} = {expr}")
    return lines


def header(b: Builder) -> str:
    """The ``# /// script`` block (or nothing), with the drawn layout and mistakes."""
    draw = b.draw
    if b.rare(8):
        b.label("no-header")
        return ""
    version = draw(st.sampled_from(["0.4.11", "0.3.4"]))
    deps = [f"codewords-client=={version}", "fastapi==0.116.1", "pydantic==2.11.7"]
    if "import httpx" in b.imports:
        deps.append("httpx==0.28.1")
    if any("uvicorn" in line for line in b.imports):
        deps.append("uvicorn[standard]==0.35.0")
    if b.rare(6):
        b.label("missing-client-dependency")
        deps = deps[1:]
    if b.rare(6):
        b.label("unpinned-dependency")
        deps[-1] = deps[-1].replace("==", ">=")
    if draw(st.booleans()):
        dep_lines = ["# dependencies = ["]
        for dep in deps:
            comment = "  # the runtime client" if dep.startswith("codewords") and draw(st.booleans()) else ""
            dep_lines.append(f'#     "{dep}",{comment}')
        dep_lines.append("# ]")
    else:
        dep_lines = ["# dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]"]
    python_line = ['# requires-python = "==3.11.*"']
    if b.rare(7):
        b.label("missing-requires-python")
        python_line = []
    if b.rare(9):
        b.label("missing-dependencies")
        dep_lines = []

    declared = ["PORT=8000"] if draw(st.booleans()) else []
    if draw(st.booleans()):
        level = "INFO" if b.careful else draw(st.sampled_from(["INFO", "INFO", "info", "Debug", "verbose"]))
        if level != "INFO":
            b.label("bad-loglevel")
        declared.append(f"LOGLEVEL={level}")
    if b.careful and any(name == "LOGLEVEL" for name, _ in b.env_used) and not any(v.startswith("LOGLEVEL=") for v in declared):
        declared.append("LOGLEVEL=INFO")
    for name, default in b.env_used:
        if name == "LOGLEVEL":
            continue
        if b.careful or draw(st.integers(0, 2)) == 0:
            declared.append(name if default is None else f"{name}={default}")
        else:
            b.label("undeclared-env-var")
    for app in b.pipedream_apps:
        var = f"PIPEDREAM_{app.upper()}_ACCESS"
        if var not in declared and (b.careful or not draw(st.booleans())):
            declared.append(var)
        elif var not in declared:
            b.label("missing-pipedream-access")
    layouts = ["inline", "multiline", "bracket-with-last", "toplevel", "table-only", "none", "empty"]
    if b.careful and declared:
        layouts = layouts[:4]  # where the declarations can be written
    layout = draw(st.sampled_from(layouts))
    env_lines: list[str] = []
    if layout == "inline":
        env_lines = ["# [tool.env-checker]", "# env_vars = [" + ", ".join(f'"{v}"' for v in declared) + "]"]
    elif layout == "multiline":
        env_lines = ["# [tool.env-checker]", "# env_vars = ["] + [f'#     "{v}",' for v in declared] + ["# ]"]
    elif layout == "bracket-with-last":
        body = [f'#     "{v}",' for v in declared[:-1]] + ([f'#     "{declared[-1]}"]'] if declared else ["# ]"])
        env_lines = ["# [tool.env-checker]", "# env_vars = ["] + body
    elif layout == "toplevel":
        b.label("toplevel-env-vars")
        env_lines = ["# env_vars = [" + ", ".join(f'"{v}"' for v in declared) + "]"]
    elif layout == "table-only":
        env_lines = ["# [tool.env-checker]"]
    elif layout == "empty":
        env_lines = ["# [tool.env-checker]", "# env_vars = []"]
    else:
        b.label("no-env-vars")

    top = python_line + dep_lines
    if env_lines and env_lines[0] == "# [tool.env-checker]" and top and b.rare(4):
        b.label("misplaced-header-keys")
        body = env_lines + top  # requires-python/dependencies after the table
    elif env_lines and env_lines[0] != "# [tool.env-checker]":
        body = top + env_lines if draw(st.booleans()) else env_lines + top
    else:
        body = top + env_lines
    before = []
    if b.rare(4):
        before = ["#!/usr/bin/env python3", "# Generated workflow: enriches leads and notifies the team."]
    return "\n".join(before + ["# /// script", *body, "# ///"]) + "\n"


def client_binding(b: Builder) -> tuple[str, str]:
    """How the client class is reached: (the constructor expression, the annotation name)."""
    draw = b.draw
    style = draw(st.sampled_from(["plain", "alias", "module", "plain"]))
    if style == "alias":
        alias = draw(st.sampled_from(["CW", "Client", "CodeWords"]))
        b.need(f"from codewords_client import AsyncCodewordsClient as {alias}")
        b.label("client-alias")
        return f"{alias}()", alias
    if style == "module":
        b.need("import codewords_client")
        b.label("client-module-qualified")
        return "codewords_client.AsyncCodewordsClient()", "codewords_client.AsyncCodewordsClient"
    b.need("from codewords_client import AsyncCodewordsClient")
    return "AsyncCodewordsClient()", "AsyncCodewordsClient"


def service_code(b: Builder) -> tuple[list[str], list[str]]:
    """Module-level definitions (helpers, classes) and the endpoint's body lines."""
    draw = b.draw
    constructor, annotation = client_binding(b)
    holder = draw(st.sampled_from(["with", "self", "helper", "annotated"]))
    count = draw(st.integers(1, 3))
    defs: list[str] = []
    if holder == "with":
        name = draw(st.sampled_from(["client", "cw", "codewords"]))
        body = []
        for i in range(count):
            body += call_site(b, name, i)
        endpoint = ["results: list = []", f"async with {constructor} as {name}:", *indent(body, "    "), 'return {"results": results}']
        return defs, endpoint
    if holder == "self":
        b.label("self-client")
        attr = draw(st.sampled_from(["client", "cw"]))
        body = []
        for i in range(count):
            body += call_site(b, f"self.{attr}", i)
        defs = [
            "class Services:",
            "    def __init__(self) -> None:",
            f"        self.{attr} = {constructor}",
            "",
            "    async def call(self, request: WorkflowInput) -> dict:",
            "        results: list = []",
            *indent(body, "        "),
            '        return {"results": results}',
        ]
        return defs, ["services = Services()", "return await services.call(request)"]
    helper = draw(st.sampled_from(["enrich", "call_services", "_ask"]))
    param = "client" if holder == "helper" else f"client: {annotation}"
    if holder == "helper":
        b.label("unannotated-helper")
    body = []
    for i in range(count):
        body += call_site(b, "client", i)
    defs = [
        f"async def {helper}({param}, request: WorkflowInput) -> dict:",
        "    results: list = []",
        *indent(body, "    "),
        '    return {"results": results}',
    ]
    endpoint = [f"async with {constructor} as client:", f"    return await {helper}(client, request)"]
    return defs, endpoint


def main_guard(b: Builder) -> list[str]:
    draw = b.draw
    choices = ["run_service", "uvicorn", "uvicorn", "uvicorn-inside", "none", "string", "from-import"]
    choice = "run_service" if b.careful else draw(st.sampled_from(choices))
    if choice == "none":
        b.label("no-main-guard")
        return []
    if choice == "run_service":
        b.need("from codewords_client import run_service")
        return ['if __name__ == "__main__":', "    run_service(app)"]
    b.label("uvicorn-run")
    host = quote(draw, draw(st.sampled_from(["0.0.0.0", "127.0.0.1"])))
    port = draw(st.sampled_from(["8000", 'int(os.environ.get("PORT", 8000))', "port"]))
    extra = draw(st.sampled_from(["", ', log_level="info"', ", reload=False"]))
    if port == 'int(os.environ.get("PORT", 8000))':
        b.need("import os")
    if choice == "string":
        b.need("import uvicorn")
        return ['if __name__ == "__main__":', f'    uvicorn.run("main:app", host={host}, port=8000)']
    lines = ['if __name__ == "__main__":']
    if port == "port":
        b.need("import os")
        lines.append('    port = int(os.getenv("PORT", "8000"))')
    if choice == "uvicorn-inside":
        lines.append("    import uvicorn")
        lines.append("")
    elif choice == "from-import":
        b.need("from uvicorn import run as serve")
        lines.append(f"    serve(app, host={host}, port={port}{extra})")
        return lines
    else:
        b.need("import uvicorn")
    lines.append(f"    uvicorn.run(app, host={host}, port={port}{extra})")
    return lines


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    """A whole workflow file, with a drawn mix of the mistakes cwlint knows about."""
    b = Builder(draw)
    b.careful = draw(st.integers(0, 3)) == 3
    module_env = env_reads(b)
    defs, endpoint = service_code(b)
    guard = main_guard(b)
    extras: list[str] = []
    if b.rare(6):
        b.label("logger-event")
        b.need("from codewords_client import logger")
        extras.append('logger.info("workflow finished", event="done")')
    if b.rare(7):
        b.label("unchecked-http-response")
        b.need("import httpx")
        extras += [
            "async with httpx.AsyncClient() as http:",
            "    page = await http.get(request.url)",
            "    request.text = page.text",
        ]
    secrets: list[str] = []
    if b.rare(7):
        b.label("hardcoded-secret")
        name, value = draw(st.sampled_from(FAKE_SECRETS))
        if draw(st.booleans()):
            secrets.append(f"{name} = {quote(draw, value)}")
        else:
            b.need("import os")
            secrets.append(f"{name} = os.getenv({quote(draw, name)}, {quote(draw, value)})")
    if b.rare(7):
        b.label("sleep-in-async")
        b.need("import time")
        extras.append("time.sleep(1)")

    b.need("from fastapi import FastAPI")
    b.need("from pydantic import BaseModel")
    client_late = b.rare(7)
    imports = sorted(b.imports, key=lambda line: (line.startswith("from"), line))
    client_imports = [line for line in imports if "codewords_client" in line]
    if client_late:
        b.label("client-import-after-app")
        imports = [line for line in imports if line not in client_imports]
    head = header(b)
    docstring = ['"""Enrich incoming leads with library services and report the results."""', ""] if draw(st.booleans()) else []

    title = draw(st.sampled_from(["Lead enricher", "Lead enricher ✨", "Préparation des leads"]))
    model = ["class WorkflowInput(BaseModel):"] + [f'    {f}: str = ""' for f in FIELDS]
    parts: list[list[str]] = [
        docstring + imports,
        module_env + secrets,
        [f'app = FastAPI(title="{title}")'],
        client_imports if client_late else [],
        model,
        defs,
        [
            '@app.post("/")',
            "async def run_workflow(request: WorkflowInput) -> dict:",
            *indent(extras, "    "),
            *indent(endpoint, "    "),
        ],
        guard,
    ]
    newline = "\r\n" if b.rare(10) else "\n"
    if newline != "\n":
        b.label("crlf")
    body = "\n\n\n".join("\n".join(part) for part in parts if part) + "\n"
    text = (head + body).replace("\n", newline)
    if b.careful:
        b.label("careful")
    return Workflow(text=text, labels=b.labels, careful=b.careful)
