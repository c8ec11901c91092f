"""``cwkit mcp`` end to end: the official MCP SDK's own client drives the server over stdio.

Each tool's answer is compared with what the library it wraps says of the same input
(``Linter``, ``reporters.json_records``, ``Rule.page``, the catalog, cwtest's harness), and
each error path is a tool error with its message while the server keeps answering.
"""

from __future__ import annotations

import codecs
import json
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from cwlint import Linter
from cwlint.catalog import default_catalog
from cwlint.reporters import json_records
from cwlint.rules import rule_by_code

REPO = Path(__file__).resolve().parent.parent
PLANTED = REPO / "fixtures" / "fuzz" / "planted_bugs.py"
HEADER = PLANTED.read_text(encoding="utf-8").split('"""', 1)[0]  # the fixture's header: its environment is cached

WORKFLOW = textwrap.dedent(
    """\
    from codewords_client import AsyncCodewordsClient


    async def scrape(url: str) -> dict:
        async with AsyncCodewordsClient() as client:
            resp = await client.run(service_id="firecrawl", data={"url": url})
            return resp.json()
    """
)
SECRET = "sk-proj-" + "Zq8vXk2Lm9Wn4Rt7Yp3Bc6Hd1Jf5Gs0Ta8Ue2Vi4Ow"  # an OpenAI key's shape; no real key


@asynccontextmanager
async def server(cwd: Path) -> AsyncIterator[ClientSession]:
    """``cwkit mcp`` started in ``cwd``, behind an initialized SDK client session."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "cwkit", "mcp"], cwd=str(cwd))
    with open(cwd / "server.stderr", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A successful call's structured output (its text content is the same JSON)."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def error(session: ClientSession, tool: str, **arguments: Any) -> str:
    """A failed call's message."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


# --- listing ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tools_are_listed_with_schemas_and_say_what_they_do_to_the_world(tmp_path: Path) -> None:
    async with server(tmp_path) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert sorted(tools) == ["explain_rule", "fix", "lint", "list_services", "test_workflow"]
    for tool in tools.values():
        assert tool.input_schema["type"] == "object" and tool.output_schema and tool.description
    assert set(tools["fix"].input_schema["properties"]) == {"path", "source", "filename", "unsafe", "write"}
    assert "Writes NOTHING unless `write: true`" in tools["fix"].description
    assert tools["fix"].annotations.read_only_hint is False and tools["fix"].annotations.destructive_hint is True
    assert "RUNS THE WORKFLOW'S (untrusted) CODE" in tools["test_workflow"].description
    assert "sandbox" in tools["test_workflow"].description and tools["test_workflow"].annotations.open_world_hint
    for name in ("lint", "explain_rule", "list_services"):
        assert tools[name].annotations.read_only_hint is True and "Read-only" in tools[name].description
    assert tools["test_workflow"].input_schema["required"] == ["path"]


# --- lint ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_lint_a_path_and_a_source_gives_cwlints_json_findings(tmp_path: Path) -> None:
    (tmp_path / "scrape.py").write_text(WORKFLOW, encoding="utf-8")
    expected = json_records([Linter().check_file(str(tmp_path / "scrape.py"))])
    async with server(tmp_path) as session:
        by_path = await call(session, "lint", path="scrape.py")
        by_source = await call(session, "lint", source=WORKFLOW, filename="scrape.py")
    assert by_path["findings"] == expected and by_source["findings"] == expected
    (finding,) = by_path["findings"]
    assert finding["code"] == "CW101" and finding["location"] == {"row": 6, "column": 57}
    assert finding["fix"]["applicability"] == "safe" and finding["fix"]["edits"][0]["content"] == "inputs"
    assert by_path["fixable"] == 1 and by_path["fixable_unsafe"] == 0 and by_path["settings"] is None


@pytest.mark.asyncio
async def test_lint_follows_the_projects_settings_and_reports_a_syntax_error_as_a_finding(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cwlint]\nignore = ["CW101"]\n', encoding="utf-8")
    async with server(tmp_path) as session:
        quiet = await call(session, "lint", source=WORKFLOW, filename="scrape.py")
        broken = await call(session, "lint", source="def f(:\n", filename="broken.py")
    assert quiet["findings"] == [] and quiet["settings"] == str(tmp_path / "pyproject.toml")
    assert [f["code"] for f in broken["findings"]] == ["CW901"]


@pytest.mark.asyncio
async def test_secrets_are_never_shown_whole(tmp_path: Path) -> None:
    keys = f'import os\n\nOPENAI_KEY = "{SECRET}"\n'
    both = WORKFLOW + f'\nOPENAI_KEY = "{SECRET}"\n'
    (tmp_path / "both.py").write_text(both, encoding="utf-8")
    async with server(tmp_path) as session:
        results = [
            await session.call_tool("lint", {"source": keys, "filename": "keys.py"}),
            await session.call_tool("fix", {"source": keys, "filename": "keys.py", "unsafe": True}),
            await session.call_tool("fix", {"path": "both.py", "write": True}),
        ]
    for result in results:
        assert not result.is_error
        assert SECRET not in result.content[0].text and SECRET not in json.dumps(result.structured_content)
    linted, moved, kept = (r.structured_content for r in results)
    assert [f["code"] for f in linted["findings"]] == ["CW301"]
    assert f'-OPENAI_KEY = "{SECRET[:4]}****"' in moved["diff"]  # the line the unsafe fix replaced, masked
    # CW101 fixed, the key left in place: the text shown is masked, the file written is whole
    assert kept["secrets_masked"] and f'OPENAI_KEY = "{SECRET[:4]}****"' in kept["fixed_text"]
    assert (tmp_path / "both.py").read_text(encoding="utf-8") == both.replace("data=", "inputs=")


@pytest.mark.asyncio
async def test_lint_errors_are_tool_errors_and_the_server_keeps_serving(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    async with server(tmp_path) as session:
        assert "missing.py: no such file" in await error(session, "lint", path="missing.py")
        assert "is a directory" in await error(session, "lint", path="folder")
        assert "not both" in await error(session, "lint", path="a.py", source="x = 1\n")
        assert "give `path`" in await error(session, "lint")
        (tmp_path / "pyproject.toml").write_text('[tool.cwlint]\nselct = ["CW1"]\n', encoding="utf-8")
        message = await error(session, "lint", source=WORKFLOW, filename="scrape.py")
        assert "lint: invalid configuration: " in message and "did you mean 'select'" in message
        (tmp_path / "pyproject.toml").unlink()
        assert [f["code"] for f in (await call(session, "lint", source=WORKFLOW))["findings"]] == ["CW101"]


# --- fix -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_fix_returns_text_and_diff_and_writes_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "scrape.py"
    data = codecs.BOM_UTF8 + WORKFLOW.replace("\n", "\r\n").encode()
    target.write_bytes(data)
    async with server(tmp_path) as session:
        dry = await call(session, "fix", path="scrape.py")
        assert target.read_bytes() == data  # nothing written
        wet = await call(session, "fix", path="scrape.py", write=True)
    expected = WORKFLOW.replace("\n", "\r\n").replace("data=", "inputs=")
    assert dry["fixed_text"] == expected == wet["fixed_text"] == Linter().fix(data, "scrape.py").fixed_text
    assert dry["changed"] and not dry["written"] and wet["written"] and not dry["secrets_masked"]
    assert dry["applied"] == [{"code": "CW101", "message": "Rename `data=` to `inputs=`"}]
    assert "\n-        resp = await client.run(service_id=\"firecrawl\", data=" in dry["diff"]
    assert dry["remaining"] == []
    assert target.read_bytes() == codecs.BOM_UTF8 + expected.encode()  # BOM and CRLF kept


@pytest.mark.asyncio
async def test_fix_errors(tmp_path: Path) -> None:
    async with server(tmp_path) as session:
        assert "needs a `path`" in await error(session, "fix", source=WORKFLOW, write=True)
        message = await error(session, "fix", source="def f(:\n    return\n", filename="broken.py")
        assert "cannot be fixed as it is (CW901 at 1:7" in message and "nothing was changed" in message
        assert "no such file" in await error(session, "fix", path="gone.py", write=True)
        nothing = await call(session, "fix", source="x = 1\n")
        assert nothing["changed"] is False and nothing["fixed_text"] is None and nothing["diff"] == ""


# --- rules and services ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_explain_rule_is_the_rule_page(tmp_path: Path) -> None:
    async with server(tmp_path) as session:
        by_code = await call(session, "explain_rule", code="cw101")
        by_name = await call(session, "explain_rule", code="run-data-kwarg")
        unknown = await error(session, "explain_rule", code="CW10")
    assert by_code == by_name
    assert by_code["page"] == rule_by_code("CW101").page() and by_code["fix"] == "safe"
    assert "unknown rule 'CW10' (did you mean " in unknown


@pytest.mark.asyncio
async def test_list_services_is_the_catalog(tmp_path: Path) -> None:
    catalog = default_catalog()
    async with server(tmp_path) as session:
        everything = await call(session, "list_services")
        firecrawl = await call(session, "list_services", service="firecrawl")
        unknown = await error(session, "list_services", service="firecrawll")
    assert [s["id"] for s in everything["services"]] == catalog.ids
    (service,) = firecrawl["services"]
    variant = catalog.get("firecrawl").variants[0]
    assert service["variants"][0]["inputs"].keys() == variant.inputs.keys()
    assert "did you mean firecrawl" in unknown
    renamed = {old: new for s in everything["services"] for v in s["variants"] for old, new in v["renamed"].items()}
    assert renamed["action"] == "operation"  # redis_coordinator's renamed key (CW103)


# --- test_workflow ---------------------------------------------------------------------------------


def _sandbox() -> None:
    from needs import need_layer

    need_layer("bubblewrap")


@pytest.mark.asyncio
async def test_test_workflow_reports_findings_with_repros(tmp_path: Path) -> None:
    _sandbox()
    async with server(tmp_path) as session:
        report = await call(session, "test_workflow", path=str(PLANTED), examples=20, timeout=600)
    assert report["verdict"] == "finding" and report["routes"][0]["route"] == "POST /"
    kinds = {(f["kind"], f["exception"]["type"]) for f in report["findings"]}
    assert ("unhandled-exception", "KeyError") in kinds
    repro = next(f["repro"] for f in report["findings"] if f["exception"]["type"] == "KeyError")
    assert repro["input"]["json"]["plan"] == "enterprise" and repro["curl"].startswith("curl ")


@pytest.mark.asyncio
async def test_test_workflow_error_paths(tmp_path: Path) -> None:
    _sandbox()
    (tmp_path / "crash.py").write_text(HEADER + f'raise RuntimeError("cannot start: key {SECRET}")\n', encoding="utf-8")
    (tmp_path / "broken.py").write_text(HEADER + "def f(:\n", encoding="utf-8")
    (tmp_path / "slow.py").write_text(HEADER + "import time\n\ntime.sleep(120)\n", encoding="utf-8")
    async with server(tmp_path) as session:
        assert "no such file" in await error(session, "test_workflow", path="missing.py")
        assert "cannot be run as it is (CW901" in await error(session, "test_workflow", path="broken.py")
        crashed = await error(session, "test_workflow", path="crash.py", timeout=600)
        assert "crash.py did not boot: [import-crash]" in crashed and "RuntimeError" in crashed
        assert SECRET not in crashed and SECRET[:4] in crashed
        slow = await error(session, "test_workflow", path="slow.py", timeout=10)
        assert "no result within 10 s" in slow
        assert (await call(session, "explain_rule", code="CW101"))["code"] == "CW101"  # still serving


def test_cwkit_mcp_without_the_sdk_is_one_line_and_exit_2() -> None:
    import subprocess

    code = "import sys; sys.modules['mcp'] = None; from cwkit.cli import main; sys.exit(main(['mcp']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == "error: cwkit mcp needs mcp: pip install 'cwkit[server]'\n"
