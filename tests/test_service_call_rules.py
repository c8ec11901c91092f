"""CW102, CW104, CW107, CW108, CW109 beyond their embedded examples.

The bundled catalog knows every input, rename and model prefix only from examples (warnings),
so the error paths are shown with a catalog of the same shape whose facts are documented.
"""

from __future__ import annotations

import textwrap

import pytest

import cwlint.catalog
from cwlint import catalog_schema
from cwlint.catalog import Catalog
from cwlint.config import Settings
from cwlint.diagnostics import Severity
from cwlint.engine import fix_source, lint_source
from cwlint.rules.unknown_service import distance, nearest
from cwlint.source import SourceFile


def lint(code: str, *codes: str) -> list:
    source = SourceFile("workflow.py", textwrap.dedent(code).lstrip("\n"))
    return lint_source(source, Settings(select=list(codes)))


def found(code: str, *codes: str) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.start.line, d.start.column, d.severity.value) for d in lint(code, *codes)]


def _input(type_: str, confidence: str, **extra) -> dict:
    return {"type": type_, "source": "test", "confidence": confidence, **extra}


def _catalog(confidence: str, service_confidence: str = "documented") -> Catalog:
    """A two-service catalog whose facts all have the given confidence (validated, as a file is)."""
    return _validated(
        {
            "services": {
                "kv_store": {
                    "id": "kv_store",
                    "summary": "key-value",
                    "source": "test",
                    "confidence": service_confidence,
                    "variants": [
                        {
                            "name": "kv",
                            "path": "",
                            "body": True,
                            "closed": True,
                            "source": "test",
                            "confidence": confidence,
                            "inputs": {
                                "operation": _input("string", confidence, required=True, allowed=["get", "set"]),
                                "key": _input("string", confidence, required=True),
                                "value": _input("string", confidence, required_when={"operation": "set"}),
                                "ttl": _input("integer", confidence),
                            },
                            "renamed": {"action": {"to": "operation", "source": "test", "confidence": confidence}},
                        }
                    ],
                },
                "chat_a": {
                    "id": "chat_a",
                    "summary": "an LLM",
                    "source": "test",
                    "confidence": service_confidence,
                    "models": {"prefixes": ["one-"], "source": "test", "confidence": confidence},
                    "variants": [{"name": "root", "path": "", "source": "test", "confidence": confidence}],
                },
                "chat_b": {
                    "id": "chat_b",
                    "summary": "another LLM",
                    "source": "test",
                    "confidence": service_confidence,
                    "models": {"prefixes": ["two-"], "source": "test", "confidence": confidence},
                    "variants": [{"name": "root", "path": "", "source": "test", "confidence": confidence}],
                },
            }
        }
    )


def _validated(data: dict) -> Catalog:
    catalog_schema.Catalog.model_validate(data)
    return Catalog.from_dict(data)


@pytest.fixture
def use_catalog(monkeypatch):
    def install(catalog: Catalog) -> None:
        monkeypatch.setattr(cwlint.catalog, "default_catalog", lambda: catalog)

    return install


# -- severity follows the catalog's confidence --------------------------------------------

KV_CALLS = """
async def remember(client, key):
    await client.run(service_id="kv_store", inputs={"operation": "fetch", "key": key, "ttl": "60", "extra": 1})
    await client.run(service_id="kv_store", inputs={"operation": "set", "key": key})
"""


@pytest.mark.parametrize(
    ("confidence", "severity"),
    [("documented", "error"), ("source", "error"), ("example", "warning"), ("historical", "warning"), ("inferred", "warning")],
)
def test_cw104_severity_follows_confidence(use_catalog, confidence: str, severity: str) -> None:
    use_catalog(_catalog(confidence))
    findings = found(KV_CALLS, "CW104")
    assert [(c, line, col) for c, line, col, _ in findings] == [
        ("CW104", 2, 66),  # "fetch"
        ("CW104", 2, 94),  # "ttl": "60"
        ("CW104", 2, 100),  # "extra" in a closed contract
        ("CW104", 3, 52),  # a set without its value
    ]
    assert {s for *_, s in findings} == {severity}
    messages = [d.message for d in lint(KV_CALLS, "CW104")]
    assert all(("catalog:" in m) == (severity == "warning") for m in messages)


def test_cw107_severity_follows_confidence(use_catalog) -> None:
    code = """
    async def ask(client, prompt):
        await client.run(service_id="chat_a", inputs={"model": "two-large", "prompt": prompt})
        await client.run(service_id="chat_b", inputs={"model": "two-large", "prompt": prompt})
        await client.run(service_id="chat_b", inputs={"model": "three-xl", "prompt": prompt})
    """
    use_catalog(_catalog("documented"))
    assert found(code, "CW107") == [("CW107", 2, 60, "error")]
    use_catalog(_catalog("example"))
    assert found(code, "CW107") == [("CW107", 2, 60, "warning")]


def test_cw102_fix_only_for_a_documented_service(use_catalog) -> None:
    code = 'async def f(client):\n    await client.run(service_id="kv_stor", inputs={})\n'
    settings = Settings(select=["CW102"])
    use_catalog(_catalog("example", service_confidence="documented"))
    diagnostics = lint(code, "CW102")
    assert [(d.severity, d.fix is not None) for d in diagnostics] == [(Severity.ERROR, True)]
    assert fix_source(SourceFile("workflow.py", code), settings, unsafe=True).text == code.replace("kv_stor", "kv_store")
    use_catalog(_catalog("example", service_confidence="inferred"))
    diagnostics = lint(code, "CW102")
    assert [(d.severity, d.fix) for d in diagnostics] == [(Severity.WARNING, None)]


# -- CW104 and the renames (CW103's) -------------------------------------------------------


def test_cw104_reads_inputs_after_renames() -> None:
    code = """
    async def cached(client, key):
        await client.run(service_id="redis_coordinator", inputs={"action": "get", "key": key})
        await client.run(service_id="redis_coordinator", inputs={"action": "set", "key": key, "value": "v"})
        await client.run(service_id="redis_coordinator", inputs={"action": "set", "key": key})
        await client.run(service_id="redis_coordinator", inputs={"action": "drop", "key": key})
    """
    # Line 4: after the rename this is a set without a value; nothing is reported on `action`.
    assert [f[:3] for f in found(code, "CW104")] == [("CW104", 4, 61)]
    both = [f[:3] for f in found(code, "CW103", "CW104")]
    assert both == [("CW103", 2, 62), ("CW103", 3, 62), ("CW104", 4, 61), ("CW103", 4, 62), ("CW103", 5, 62)]


def test_cw104_a_written_key_wins_over_its_old_name() -> None:
    code = """
    async def cached(client, key):
        await client.run(service_id="redis_coordinator", inputs={"action": "set", "operation": "get", "key": key})
    """
    assert found(code, "CW104") == []


def test_cw104_does_not_guess_dynamic_inputs() -> None:
    code = """
    async def cached(client, key, extra, op):
        await client.run(service_id="redis_coordinator", inputs={"operation": "set", **extra})
        await client.run(service_id="redis_coordinator", inputs={"ttl": "60", **extra, "operation": "get", "key": key})
        await client.run(service_id="redis_coordinator", inputs={op: "get", "key": key})
        await client.run(service_id="redis_coordinator", inputs={"operation": op, "key": key})
        await client.run(service_id="redis_coordinator", inputs=dict(operation="fetch"))
        await client.run(service_id="redis_coordinator", path=extra, inputs={"operation": "fetch"})
        await client.run(service_id="redis_coordinator", method="GET", inputs={"operation": "fetch"})
    """
    assert found(code, "CW104") == []


def test_cw104_still_checks_what_a_spread_cannot_change() -> None:
    code = """
    async def cached(client, key, extra):
        await client.run(service_id="redis_coordinator", inputs={**extra, "operation": "fetch", "ttl": "60"})
    """
    assert [f[:3] for f in found(code, "CW104")] == [("CW104", 2, 84), ("CW104", 2, 100)]


def test_cw104_types() -> None:
    code = """
    async def cached(client, key):
        await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": 42})
        await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": key, "value": "v", "ttl": 1.5})
        await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": key, "value": "v", "ttl": 30 * 24 * 3600})
        await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": key, "value": "v", "ttl": -1})
        await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": f"k:{key}", "value": "a" "b"})
        await client.run(service_id="redis_coordinator", inputs={"operation": "set", "key": key, "value": None})
        await client.run(service_id="firecrawl", inputs={"url": "https://x.io", "onlyMainContent": 1, "formats": "markdown"})
    """
    assert [f[:3] for f in found(code, "CW104")] == [
        ("CW104", 2, 89),  # "key": 42
        ("CW104", 3, 115),  # "ttl": 1.5
        ("CW104", 8, 96),  # "onlyMainContent": 1
        ("CW104", 8, 110),  # "formats": "markdown"
    ]


# -- CW102 ---------------------------------------------------------------------------------


def test_distance() -> None:
    assert distance("openai", "openai", 2) == 0
    assert distance("opneai", "openai", 2) == 1  # a transposition is one edit
    assert distance("redis_cordinator", "redis_coordinator", 2) == 1
    assert distance("gitlab", "github", 2) == 2
    assert distance("something_else", "openai", 2) == 3  # capped at limit + 1


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("redis_cordinator", ["redis_coordinator"]),
        ("fire_crawl", ["firecrawl"]),
        ("open_ai", ["openai"]),
        ("OpenAI", ["openai"]),
        ("Chrome-Extension", ["chrome_extension"]),
        ("send_emails", ["send_email"]),
        ("gemni", ["gemini"]),
        ("gitlab", []),  # two edits from a six-letter id
        ("redis", []),
        ("credit", []),
        ("lead_scorer_1a2b3c4d", []),
    ],
)
def test_nearest(written: str, expected: list[str]) -> None:
    assert nearest(written, cwlint.catalog.default_catalog().ids) == expected


def test_cw102_tie_names_both_without_fix(use_catalog) -> None:
    catalog = _catalog("documented")
    use_catalog(catalog)
    diagnostics = lint('async def f(client):\n    await client.run(service_id="chat_c", inputs={})\n', "CW102")
    assert len(diagnostics) == 1 and diagnostics[0].fix is None
    assert '"chat_a" or "chat_b"' in diagnostics[0].message


def test_cw102_ignores_non_service_calls() -> None:
    code = """
    import asyncio

    async def f(scheduler, loop):
        scheduler.run("open_ai")
        loop.run_until_complete(asyncio.sleep(0))
        await scheduler.enqueue(service_id="open_ai")
    """
    assert found(code, "CW102") == []


# -- CW108 ---------------------------------------------------------------------------------

HEADER_V1 = """
# /// script
# requires-python = "==3.11.*"
# dependencies = ["codewords-client==0.3.4", "pydantic<2"]
# ///
"""


def test_cw108_pydantic_1_urls_are_strings() -> None:
    body = """
    from datetime import datetime
    from pydantic import BaseModel, HttpUrl

    class Page(BaseModel):
        url: HttpUrl
        seen: datetime

    async def scrape(client, page: Page):
        await client.run(service_id="firecrawl", inputs={"url": page.url, "seen": page.seen, "page": page})
        await client.run(service_id="firecrawl", inputs=page.dict())
    """
    v1 = textwrap.dedent(HEADER_V1).lstrip("\n") + textwrap.dedent(body)
    v2 = textwrap.dedent(body)
    v1_found = [(f[1], f[2]) for f in found(v1, "CW108")]
    v2_found = [(f[1], f[2]) for f in found(v2, "CW108")]
    assert v2_found == [(9, 61), (9, 79), (9, 98), (10, 53)]
    # pydantic 1: the URL is fine; the datetime, the model and .dict()'s datetime are not.
    assert v1_found == [(14, 79), (14, 98), (15, 53)]
    v1_diagnostics = lint(v1, "CW108")
    assert [d.fix for d in v1_diagnostics if "Page` instance" in d.message] == [None]


def test_cw108_follows_rebinding_and_scopes() -> None:
    code = """
    from typing import Annotated
    from uuid import UUID
    from pydantic import BaseModel, HttpUrl, PlainSerializer

    class Item(BaseModel):
        id: UUID
        link: Annotated[HttpUrl, PlainSerializer(str)]
        links: list[HttpUrl] = []

    async def send(client, item: Item, items: list[Item]):
        await client.run(service_id="sink_0a0b0c0d", inputs={"id": item.id})
        item = item.model_dump(mode="json")
        await client.run(service_id="sink_0a0b0c0d", inputs={"id": item["id"], "item": item})

        async def inner(item: str):
            await client.run(service_id="sink_0a0b0c0d", inputs={"item": item})

        for entry in items:
            await client.run(service_id="sink_0a0b0c0d", inputs={"entry": entry, "links": entry.links})
        made = Item(id=UUID(int=1), link="https://x.io")
        await client.run(service_id="sink_0a0b0c0d", inputs={"made": made, "link": made.link, "lambda": lambda item: item})
    """
    assert [f[1:3] for f in found(code, "CW108")] == [(11, 64), (19, 71), (19, 87), (21, 66)]


def test_cw108_fixes_apply_together() -> None:
    code = textwrap.dedent(
        """
        from datetime import date
        from pydantic import BaseModel, HttpUrl

        class Req(BaseModel):
            url: HttpUrl
            day: date

        async def go(client, req: Req):
            await client.run(service_id="sink_0a0b0c0d", inputs={"url": req.url, "day": req.day, "all": req.model_dump()})
        """
    ).lstrip("\n")
    outcome = fix_source(SourceFile("workflow.py", code), Settings(select=["CW108"]), unsafe=True)
    assert outcome.failure is None
    assert 'inputs={"url": str(req.url), "day": req.day.isoformat(), "all": req.model_dump(mode="json")}' in outcome.text
    assert lint(outcome.text, "CW108") == []


# -- CW109 ---------------------------------------------------------------------------------


def test_cw109_closure_and_late_close() -> None:
    code = """
    from codewords_client import AsyncCodewordsClient

    async def handler(tasks):
        client = AsyncCodewordsClient()

        async def cleanup():
            await client.close()

        tasks.add_done_callback(lambda _: cleanup())
        await client.run(service_id="reddit", inputs={})

    async def leaky():
        client = AsyncCodewordsClient()
        if client:
            await client.run(service_id="reddit", inputs={})
        client = AsyncCodewordsClient()
        await client.close()
    """
    # The first client of `leaky` is replaced without being closed; the name-level check
    # cannot tell the two apart and counts the later close for both (precision first).
    assert found(code, "CW109") == []


def test_cw109_module_level_forms() -> None:
    code = """
    import codewords_client as cw

    CLIENTS = [cw.AsyncCodewordsClient() for _ in range(2)]
    handler = lambda: cw.AsyncCodewordsClient()

    if __name__ == "__main__":
        leaked = cw.AsyncCodewordsClient()
        leaked.run(service_id="reddit", inputs={})
    """
    assert found(code, "CW109") == [("CW109", 3, 12, "error"), ("CW109", 7, 14, "warning")]


def test_cw109_not_a_codewords_client() -> None:
    code = """
    import httpx

    class AsyncCodewordsClientFake:
        pass

    def make():
        client = httpx.AsyncClient()
        return client
    """
    assert found(code, "CW109") == []


def test_cw108_validators_may_change_the_type() -> None:
    code = """
    from typing import Annotated
    from pydantic import AfterValidator, BaseModel, HttpUrl, field_validator

    class Page(BaseModel):
        url: HttpUrl
        home: HttpUrl
        mirror: Annotated[HttpUrl, AfterValidator(str)]

        @field_validator("url")
        @classmethod
        def as_text(cls, value):
            return str(value)

    class Checked(Page):
        pass

    async def scrape(client, page: Page, checked: Checked):
        await client.run(service_id="firecrawl", inputs={"url": page.url, "mirror": page.mirror, "home": page.home})
        await client.run(service_id="firecrawl", inputs={"url": checked.url, "home": checked.home})
        await client.run(service_id="sink_0a0b0c0d", inputs=page.model_dump())
    """
    assert [f[1:3] for f in found(code, "CW108")] == [(18, 102), (19, 82), (20, 57)]
