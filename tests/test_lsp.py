"""``cwlint server`` end to end: a real LSP client (pytest-lsp) drives the server over stdio.

Every answer is compared with what the library API says of the same text (``Linter.check``,
``Linter.fix``), so the tests check that the server is a thin layer, not a second linter.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from cwlint import Linter
from cwlint.config import Settings
from cwlint.lsp.convert import minimal_edit

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "cwlint", "server"])

WORKFLOW = textwrap.dedent(
    """\
    from codewords_client import AsyncCodewordsClient


    async def scrape(url: str) -> dict:
        async with AsyncCodewordsClient() as client:
            resp = await client.run(service_id="firecrawl", data={"url": url})
            return resp.json()
    """
)


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 positions) to ``text``, as an editor does."""
    lines = text.splitlines(keepends=True) or [""]

    def offset(position: types.Position) -> int:
        line = lines[position.line] if position.line < len(lines) else ""
        before = sum(len(x) for x in lines[: position.line])
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return before + index
            units += 2 if ord(char) > 0xFFFF else 1
        return before + len(line)

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    assert action.edit is not None
    if action.edit.document_changes:
        return [e for change in action.edit.document_changes for e in change.edits if change.text_document.uri == uri]
    assert action.edit.changes is not None
    return list(action.edit.changes[uri])


async def until(check, timeout: float = 20.0) -> None:
    """Wait for the server's notifications to make ``check()`` true (bounded: a hang fails the test)."""
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the server did not answer in time")


class Editor:
    """A workspace folder and the documents the client has open in it."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.seen: dict[str, object] = {}

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    async def open(self, name: str, text: str) -> str:
        uri = self.uri(name)
        self.versions[uri], self.texts[uri] = 1, text
        self.client.diagnostics.pop(uri, None)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
        )
        return uri

    async def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        """The next diagnostics published for ``uri`` (each call waits for a new publication)."""
        await until(lambda: uri in self.client.diagnostics and self.client.diagnostics[uri] is not self.seen.get(uri))
        self.seen[uri] = self.client.diagnostics[uri]
        return list(self.seen[uri])

    async def actions(self, uri: str, diagnostic_range: types.Range, only: list[str] | None = None) -> list[types.CodeAction]:
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=diagnostic_range,
                context=types.CodeActionContext(diagnostics=[], only=only),
            )
        )
        return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def _start(root: Path, capabilities: types.ClientCapabilities, client: LanguageClient | None = None) -> Editor:
    """``cwlint server`` started behind pytest-lsp's client, initialized for the workspace ``root``."""
    client = client or await SERVER.start()
    client.initialize_result = await client.initialize_session(
        types.InitializeParams(capabilities=capabilities, root_uri=root.as_uri(),
                               workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")])
    )
    return Editor(client, root)


async def _stop(editor: Editor) -> None:
    assert editor.client.error is None, editor.client.error  # the server broke the protocol
    await editor.client.shutdown_session()
    await editor.client.stop()


# pytest-lsp's pytest plugin is switched off (pyproject.toml: its runtest hook breaks items that are not
# test functions, such as cwtest's); its client and server configuration are used directly here.
@pytest_asyncio.fixture
async def editor(tmp_path: Path):
    """A client that declares no optional capability: diagnostics are pushed, edits eager."""
    started = await _start(tmp_path, types.ClientCapabilities())
    yield started
    await _stop(started)


@pytest_asyncio.fixture
async def vscode(tmp_path: Path):
    """VS Code's capabilities, plus pull diagnostics and UTF-8 offered first."""
    capabilities = client_capabilities("visual-studio-code")
    capabilities.text_document.diagnostic = types.DiagnosticClientCapabilities(dynamic_registration=False)
    capabilities.general = types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]
    )
    client = await SERVER.start()
    client.registrations = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(client: LanguageClient, params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)

    started = await _start(tmp_path, capabilities, client)
    yield started
    await _stop(started)


# --- diagnostics -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_open_publishes_the_linters_findings_with_code_link_and_severity(editor: Editor) -> None:
    uri = await editor.open("scrape.py", WORKFLOW)
    published = await editor.diagnostics(uri)
    expected = Linter().check(WORKFLOW, str(editor.root / "scrape.py")).diagnostics
    assert [(d.code, d.range.start.line + 1, d.range.start.character + 1) for d in published] == [
        (e.code, e.start.line, e.start.column) for e in expected
    ] == [("CW101", 6, 57)]
    shown = published[0]
    assert shown.source == "cwlint" and shown.severity == types.DiagnosticSeverity.Error
    assert shown.message == expected[0].message
    assert shown.code_description is not None and shown.code_description.href.endswith("/CW101.md")
    page = Path(shown.code_description.href.removeprefix("file://"))
    assert page.read_text(encoding="utf-8").startswith("# run-data-kwarg (CW101)")


@pytest.mark.asyncio
async def test_change_relints_the_buffer_not_the_file_on_disk(editor: Editor) -> None:
    (editor.root / "scrape.py").write_text("x = 1\n", encoding="utf-8")  # never read
    uri = await editor.open("scrape.py", WORKFLOW)
    first = await editor.diagnostics(uri)
    assert [d.code for d in first] == ["CW101"]
    await editor.change(uri, WORKFLOW.replace("data=", "inputs="))
    assert await editor.diagnostics(uri) == []


@pytest.mark.asyncio
async def test_a_burst_of_changes_ends_with_the_findings_of_the_last_text(editor: Editor) -> None:
    uri = await editor.open("scrape.py", WORKFLOW)
    await editor.diagnostics(uri)
    for number in range(15):
        await editor.change(uri, WORKFLOW + f"\nvalue_{number} = undefined_{number}\n")
    await until(lambda: any("undefined_14" in d.message for d in editor.client.diagnostics.get(uri, [])))
    assert not any("undefined_13" in d.message for d in editor.client.diagnostics[uri])


@pytest.mark.asyncio
async def test_tags_and_utf16_positions(editor: Editor) -> None:
    text = WORKFLOW.replace('"firecrawl", data=', '"firecrawl", note="🙂", data=') + "x = 1  # noqa: CW101\n"
    uri = await editor.open("scrape.py", text)
    published = await editor.diagnostics(uri)
    by_code = {d.code: d for d in published}
    line = text.splitlines()[5]
    # data= is after one emoji: two UTF-16 units, one code point
    assert by_code["CW101"].range.start.character == line.index("data=") + 1
    assert list(by_code["CW001"].tags) == [types.DiagnosticTag.Unnecessary]


@pytest.mark.asyncio
async def test_bad_buffers_are_findings_and_the_server_keeps_serving(editor: Editor) -> None:
    (editor.root / "pyproject.toml").write_text("[tool.cwlint]\nmax-file-size = 2000\n", encoding="utf-8")
    broken = await editor.open("broken.py", "def f(:\n    return\n")
    binary = await editor.open("image.py", "\x89PNG\r\n\x1a\n\x00\x00\x00")
    huge = await editor.open("huge.py", "x = 1\n" * 1000)
    surrogate = await editor.open("surrogate.py", "name = '\ud800'\n")
    assert [d.code for d in await editor.diagnostics(broken)] == ["CW901"]
    assert [d.code for d in await editor.diagnostics(binary)] == ["CW904"]
    assert [d.code for d in await editor.diagnostics(huge)] == ["CW905"]
    assert [d.code for d in await editor.diagnostics(surrogate)] == ["CW903"]
    assert await editor.actions(broken, types.Range(types.Position(0, 0), types.Position(1, 0))) == []
    # still serving
    uri = await editor.open("scrape.py", WORKFLOW)
    assert [d.code for d in await editor.diagnostics(uri)] == ["CW101"]
    assert editor.client.messages == []


# --- configuration ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_settings_come_from_the_workspace_and_reload_when_they_change(editor: Editor) -> None:
    config = editor.root / "pyproject.toml"
    config.write_text('[tool.cwlint]\nignore = ["CW101"]\n', encoding="utf-8")
    uri = await editor.open("scrape.py", WORKFLOW)
    first = await editor.diagnostics(uri)
    assert first == []
    config.write_text('[tool.cwlint]\nignore = ["CW2"]\n', encoding="utf-8")
    editor.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=config.as_uri(), type=types.FileChangeType.Changed)])
    )
    assert [d.code for d in await editor.diagnostics(uri)] == ["CW101"]


@pytest.mark.asyncio
async def test_save_lints_again_with_the_settings_as_they_are_now(editor: Editor) -> None:
    config = editor.root / "cwlint.toml"
    config.write_text('ignore = ["CW101"]\n', encoding="utf-8")
    uri = await editor.open("scrape.py", WORKFLOW)
    assert await editor.diagnostics(uri) == []
    config.write_text('ignore = ["CW2"]\n', encoding="utf-8")  # no watcher: the client cannot watch files
    editor.client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert [d.code for d in await editor.diagnostics(uri)] == ["CW101"]


@pytest.mark.asyncio
async def test_an_invalid_configuration_is_a_message_and_the_defaults_lint(editor: Editor) -> None:
    (editor.root / "pyproject.toml").write_text('[tool.cwlint]\nselct = ["CW1"]\n', encoding="utf-8")
    uri = await editor.open("scrape.py", WORKFLOW)
    assert [d.code for d in await editor.diagnostics(uri)] == ["CW101"]
    await until(lambda: editor.client.messages)
    message = editor.client.messages[0]
    assert message.type == types.MessageType.Error
    assert "unknown key 'selct'" in message.message and "did you mean 'select'" in message.message
    await editor.change(uri, WORKFLOW + "\n")  # reported once, not at every edit
    await editor.diagnostics(uri)
    assert len(editor.client.messages) == 1


# --- code actions, hover ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_quick_fix_applies_the_engines_edit(editor: Editor) -> None:
    uri = await editor.open("scrape.py", WORKFLOW)
    (shown,) = await editor.diagnostics(uri)
    actions = await editor.actions(uri, shown.range, only=[types.CodeActionKind.QuickFix])
    fix = next(a for a in actions if "suppress" not in a.title)
    assert fix.title.startswith("CW101: ") and fix.is_preferred and fix.kind == types.CodeActionKind.QuickFix
    fixed = apply(WORKFLOW, edits_of(fix, uri))
    assert fixed == Linter().fix(WORKFLOW, "scrape.py").fixed_text == WORKFLOW.replace("data=", "inputs=")
    await editor.change(uri, fixed)
    assert await editor.diagnostics(uri) == []


@pytest.mark.asyncio
async def test_unsafe_fixes_say_so(editor: Editor) -> None:
    text = WORKFLOW.replace('"firecrawl", data=', '"firecrawll", inputs=')
    expected = [d for d in Linter().check(text, "w.py").diagnostics if d.fix is not None]
    uri = await editor.open("w.py", text)
    published = await editor.diagnostics(uri)
    unsafe = [d for d in expected if d.fix.applicability.value == "unsafe"]
    assert unsafe, "the example must carry an unsafe fix"
    shown = next(p for p in published if p.code == unsafe[0].code)
    titles = [a.title for a in await editor.actions(uri, shown.range)]
    assert f"{unsafe[0].code}: {unsafe[0].fix.message} (unsafe fix)" in titles


@pytest.mark.asyncio
async def test_noqa_action_silences_the_finding(editor: Editor) -> None:
    uri = await editor.open("scrape.py", WORKFLOW)
    (shown,) = await editor.diagnostics(uri)
    suppress = next(a for a in await editor.actions(uri, shown.range) if "suppress" in a.title)
    silenced = apply(WORKFLOW, edits_of(suppress, uri))
    assert silenced.splitlines()[5].endswith('data={"url": url})  # noqa: CW101')
    assert Linter().check(silenced, "scrape.py").diagnostics == []


@pytest.mark.asyncio
async def test_fix_all_is_linter_fix(editor: Editor) -> None:
    text = WORKFLOW + "\n\nasync def other(client):\n    return await client.run(service_id='openai', data={})\n"
    uri = await editor.open("scrape.py", text)
    await editor.diagnostics(uri)
    actions = await editor.actions(uri, types.Range(types.Position(0, 0), types.Position(0, 0)), only=["source.fixAll"])
    (fix_all,) = actions
    assert fix_all.kind == "source.fixAll.cwlint"
    assert apply(text, edits_of(fix_all, uri)) == Linter().fix(text, "scrape.py").fixed_text
    assert await editor.actions(uri, types.Range(types.Position(0, 0), types.Position(0, 0)), only=["refactor"]) == []


@pytest.mark.asyncio
async def test_hover_shows_the_rule_page(editor: Editor) -> None:
    uri = await editor.open("scrape.py", WORKFLOW)
    (shown,) = await editor.diagnostics(uri)
    hover = await editor.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=shown.range.start)
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    from cwlint.rules import rule_by_code

    assert hover.contents.value == rule_by_code("CW101").page()
    nothing = await editor.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(0, 0))
    )
    assert nothing is None


# --- a client that pulls, resolves and prefers UTF-8 -----------------------------------------------


@pytest.mark.asyncio
async def test_pull_diagnostics_versioned_edits_and_resolved_fix_all(vscode: Editor) -> None:
    result = vscode.client.initialize_result.capabilities
    assert result.position_encoding == types.PositionEncodingKind.Utf16  # not the UTF-8 offered first
    assert result.diagnostic_provider is not None and result.hover_provider
    await until(lambda: vscode.client.registrations)
    (watch,) = vscode.client.registrations
    assert watch.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    assert {w["globPattern"] for w in watch.register_options["watchers"]} == {"**/pyproject.toml", "**/cwlint.toml", "**/.cwlint.toml"}
    uri = await vscode.open("scrape.py", WORKFLOW)
    report = await vscode.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [d.code for d in report.items] == ["CW101"]
    again = await vscode.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri), previous_result_id=report.result_id)
    )
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert uri not in vscode.client.diagnostics  # nothing pushed to a client that pulls
    actions = await vscode.actions(uri, report.items[0].range)
    fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and "suppress" not in a.title)
    assert fix.edit.document_changes[0].text_document.version == 1
    fix_all = next(a for a in actions if a.kind == "source.fixAll.cwlint")
    assert fix_all.edit is None  # resolved on demand
    resolved = await vscode.client.code_action_resolve_async(fix_all)
    assert apply(WORKFLOW, edits_of(resolved, uri)) == WORKFLOW.replace("data=", "inputs=")


# --- packaging -------------------------------------------------------------------------------------


def test_importing_and_running_cwlint_imports_no_server_library() -> None:
    code = (
        "import sys, cwlint, cwlint.cli, cwlint.lsp\n"
        "from cwlint import Linter\n"
        "Linter().check('x = 1\\n', 'w.py')\n"
        "print(sorted(m for m in ('pygls', 'lsprotocol', 'mcp') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cwlint_server_without_the_extra_is_one_line_and_exit_2() -> None:
    code = "import sys; sys.modules['pygls'] = None; from cwlint.cli import main; sys.exit(main(['server']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == "error: cwlint server needs pygls: pip install 'cwkit[server]'\n"


def test_minimal_edit_is_the_span_between_the_common_prefix_and_suffix() -> None:
    assert minimal_edit("abcdef", "abXYef") == (2, 4, "XY")
    assert minimal_edit("aaa", "aaaa") == (3, 3, "a")
    assert minimal_edit("same", "same") == (4, 4, "")
    old, new = "x = 1\r\ny = 2\r\n", "x = 1\r\ny = 3\r\n"
    start, end, content = minimal_edit(old, new)
    assert old[:start] + content + old[end:] == new
    assert Settings().max_file_size > 0
