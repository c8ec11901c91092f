"""The language server: pygls 2 over stdio, every answer from :class:`cwlint.Linter`.

What it offers, and how each part stays a thin layer over the engine:

- **Diagnostics** for each open document, from the editor's buffer (never the file on disk),
  on open, change and save. Pushed (``textDocument/publishDiagnostics``) to clients that do
  not pull, served on ``textDocument/diagnostic`` to those that do (ruff's server does the
  same). Each has the code, a ``codeDescription`` link to the rule's page, the severity, and
  the tags of :data:`cwlint.lsp.convert.TAGS`.
- **Changes are coalesced, with no added delay**: a change lints at once when nothing is
  being linted; changes that arrive while a lint runs are folded into one lint of the newest
  text when it ends. A burst of keystrokes costs at most two lints, a single edit pays no
  debounce timer (``bench/lsp.py`` measures didChange -> publishDiagnostics). Lints run on
  one worker thread, so the server keeps reading messages while it lints.
- **Code actions**: a quick fix per finding whose fix applies (unsafe ones say so in their
  title; display-only fixes are never offered), ``source.fixAll.cwlint`` for every safe fix
  (``Linter.fix``; computed on ``codeAction/resolve`` when the client resolves edits), and
  "suppress with ``# noqa: CODE``" (``cwlint.add_noqa``'s edits). Every edit is the engine's
  own, sent as a versioned document edit when the client takes them.
- **Hover** over a finding shows its rule's page (``cwlint rule CODE``).
- **Settings** come from the workspace's ``[tool.cwlint]`` (:mod:`cwlint.lsp.engines`): checked
  before each lint, and every open document is linted again when the client reports a
  configuration file changed. An invalid configuration is a ``window/showMessage`` and the
  defaults lint until it is fixed.
- **Bad input never stops the server**: a buffer that does not parse is a CW901 finding, a
  binary one CW904, one over ``max-file-size`` CW905; an internal error while linting is a
  ``window/showMessage`` (the traceback goes to ``window/logMessage``) and the server goes on.

Two protocol choices, both for correctness:

- **Positions are UTF-16**, whatever the client offers: ``Position.to_lsp`` converts to UTF-16,
  the encoding every client must support.
- **Full document sync**: pygls applies incremental changes with ``str.splitlines``, which also
  breaks lines at form feeds, ``\\x1c``-``\\x1e``, ``\\x85`` and U+2028/9, where LSP does not; an
  edit below such a character would corrupt the buffer. A full buffer per change costs a few
  microseconds of JSON for a workflow-sized file.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import sys
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path, uri_scheme

from cwlint import __version__
from cwlint.add_noqa import add_noqa
from cwlint.diagnostics import Applicability, Diagnostic
from cwlint.lsp import convert
from cwlint.lsp.engines import CONFIG_NAMES, Engine, Engines
from cwlint.results import FileResult
from cwlint.secrets import redact

FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.cwlint"
QUICK_FIX = types.CodeActionKind.QuickFix.value


class _Protocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        # UTF-16 whatever the client prefers: the engine's conversion (Position.to_lsp) is UTF-16,
        # which every client supports. pygls would pick the client's first choice.
        general = params.capabilities.general
        if general is not None:
            general.position_encodings = None
        return (yield from super().lsp_initialize(params))


class Analysis:
    """One document version, linted: the result, its text's lines, and the engine used."""

    __slots__ = ("version", "result", "lines", "engine", "path", "diagnostics", "serial")

    _serials = itertools.count(1)

    def __init__(self, version: int | None, result: FileResult, lines: convert.Lines, engine: Engine, path: str) -> None:
        #: Tells two analyses apart (the pull model's ``resultId``).
        self.serial = next(Analysis._serials)
        self.version = version
        self.result = result
        self.lines = lines
        self.engine = engine
        self.path = path
        #: The findings for the editor, in the order of ``result.diagnostics``.
        self.diagnostics = [convert.diagnostic(d, lines) for d in result.diagnostics]


class CwlintServer(LanguageServer):
    """The server's state: engines, the latest analysis of each document, the lint queue."""

    def __init__(self) -> None:
        super().__init__("cwlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full, protocol_cls=_Protocol)
        self.engines = Engines()
        self.analyses: dict[str, Analysis] = {}
        #: One thread lints, so edits are linted in order and the event loop stays free.
        self.linting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cwlint-lint")
        self._running: set[str] = set()
        self._pending: set[str] = set()
        self._reported: set[str] = set()  #: configuration problems already shown
        self.pull = False  #: the client pulls diagnostics (textDocument/diagnostic)

    # --- documents -------------------------------------------------------------------------------

    def document(self, uri: str) -> tuple[str, int | None] | None:
        """The open buffer's text and version (None once closed)."""
        document = self.workspace.text_documents.get(uri)
        return (document.source, document.version) if document is not None else None

    def path_of(self, uri: str) -> str:
        """Where the document lives, or would: a file URI's path; an unsaved buffer's name in the workspace root."""
        if uri_scheme(uri) == "file":
            path = to_fs_path(uri)
            if path:
                return path
        name = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "untitled"
        if not name.endswith(".py"):
            name += ".py"
        root = self.workspace.root_path or os.getcwd()
        return os.path.join(root, name)

    def schedule(self, uri: str) -> None:
        """Lint ``uri``'s buffer now, or once the lint under way ends (see the module docstring)."""
        if uri in self._running:
            self._pending.add(uri)
            return
        self._running.add(uri)
        asyncio.get_running_loop().create_task(self._lint_loop(uri))

    async def _lint_loop(self, uri: str) -> None:
        try:
            while True:
                self._pending.discard(uri)
                analysis = await self.analyse(uri)
                if analysis is not None and not self.pull:
                    self.publish(uri, analysis)
                if uri not in self._pending:
                    return
        finally:
            self._running.discard(uri)

    async def analyse(self, uri: str) -> Analysis | None:
        """The analysis of the buffer as it is now (reused when its version was linted already)."""
        document = self.document(uri)
        if document is None:
            return None
        text, version = document
        current = self.analyses.get(uri)
        if current is not None and version is not None and current.version == version and current.lines.text == text:
            return current
        path = self.path_of(uri)
        loop = asyncio.get_running_loop()
        try:
            analysis = await loop.run_in_executor(self.linting, self._analyse, text, version, path)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop the server: say so and go on
            self.internal_error(f"linting {path}", exc)
            return None
        self._report_configuration(analysis.engine)
        if self.document(uri) is not None:  # still open
            self.analyses[uri] = analysis
        return analysis

    def _analyse(self, text: str, version: int | None, path: str) -> Analysis:
        engine = self.engines.for_path(path)
        result = engine.check(text, path)
        return Analysis(version, result, convert.Lines(text), engine, path)

    def publish(self, uri: str, analysis: Analysis) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=analysis.diagnostics, version=analysis.version)
        )

    def relint_all(self) -> None:
        """Lint every open document again (a configuration file changed)."""
        for uri in list(self.workspace.text_documents):
            self.analyses.pop(uri, None)
            if not self.pull:
                self.schedule(uri)
        if self.pull and get_capability(self.client_capabilities, "workspace.diagnostics.refresh_support", False):
            self.workspace_diagnostic_refresh(None)

    # --- messages --------------------------------------------------------------------------------

    def _report_configuration(self, engine: Engine) -> None:
        if engine.error and engine.error not in self._reported:
            self._reported.add(engine.error)
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message=f"cwlint: {engine.error} (linting with the default settings until it is fixed)",
                )
            )

    def internal_error(self, doing: str, exc: BaseException) -> None:
        self.window_log_message(
            types.LogMessageParams(type=types.MessageType.Error, message=redact("".join(traceback.format_exception(exc))))
        )
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"cwlint: internal error while {doing}: {type(exc).__name__}: {redact(str(exc))} (details in the log)",
            )
        )

    # --- edits -----------------------------------------------------------------------------------

    def workspace_edit(self, uri: str, version: int | None, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
        """Edits of one document: versioned (the client refuses them if the buffer moved on) when it can."""
        if get_capability(self.client_capabilities, "workspace.workspace_edit.document_changes", False):
            document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=document, edits=list(edits))])
        return types.WorkspaceEdit(changes={uri: list(edits)})

    def resolves_edits(self) -> bool:
        properties = get_capability(self.client_capabilities, "text_document.code_action.resolve_support.properties", [])
        return "edit" in (properties or [])

    async def fix_all_edit(self, uri: str) -> types.WorkspaceEdit | None:
        """Every safe fix of the buffer as it is now (``Linter.fix``), as one minimal edit; None: nothing to fix."""
        document = self.document(uri)
        if document is None:
            return None
        text, version = document
        path = self.path_of(uri)

        def fix() -> FileResult:
            return self.engines.for_path(path).fix(text, path)

        result = await asyncio.get_running_loop().run_in_executor(self.linting, fix)
        if result.fixed_text is None:
            return None
        lines = convert.Lines(text)
        return self.workspace_edit(uri, version, [lines.edit(convert.minimal_edit(text, result.fixed_text))])


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    """Whether a request's ``only`` asks for ``kind`` (a kind covers its sub-kinds: ``source`` covers ``source.fixAll.cwlint``)."""
    return only is None or any(kind == k or kind.startswith(f"{k}.") for k in only)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _fix_title(d: Diagnostic) -> str:
    assert d.fix is not None
    unsafe = " (unsafe fix)" if d.fix.applicability is Applicability.UNSAFE else ""
    return f"{d.code}: {d.fix.message}{unsafe}"


def build() -> CwlintServer:
    """The server with its features registered (``cwlint server`` runs it over stdio)."""
    server = CwlintServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: CwlintServer, params: types.InitializeParams) -> None:
        ls.pull = get_capability(params.capabilities, "text_document.diagnostic") is not None

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CwlintServer, params: types.InitializedParams) -> None:
        loop = asyncio.get_running_loop()
        warming = loop.run_in_executor(ls.linting, ls.engines.warm)
        if get_capability(ls.client_capabilities, "workspace.did_change_watched_files.dynamic_registration", False):
            watchers = [types.FileSystemWatcher(glob_pattern=f"**/{name}") for name in CONFIG_NAMES]
            registration = types.Registration(
                id="cwlint-configuration",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
            )
            try:
                await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
            except Exception as exc:  # noqa: BLE001 - the client refused: settings are still checked before each lint
                ls.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=f"cwlint: cannot watch configuration files: {exc}"))
        try:
            await warming
        except Exception as exc:  # noqa: BLE001 - a broken install: say so, keep serving what can be served
            ls.internal_error("loading the rules and the service catalog", exc)
        # The modules, rules and catalog live as long as the server: out of the collector's sight,
        # a full collection no longer walks them (it was ~8% of an edit's time, in 25 ms spikes).
        gc.freeze()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: CwlintServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)
        if not ls.pull:
            ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: CwlintServer, params: types.DidChangeTextDocumentParams) -> None:
        if not ls.pull:
            ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: CwlintServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)  # the configuration may have been saved too
        if not ls.pull:
            ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: CwlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.pop(uri, None)
        if not ls.pull:
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def watched_files(ls: CwlintServer, params: types.DidChangeWatchedFilesParams) -> None:
        if any(os.path.basename(to_fs_path(change.uri) or "") in CONFIG_NAMES for change in params.changes):
            ls.relint_all()

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="cwlint", inter_file_dependencies=False, workspace_diagnostics=False),
    )
    async def pull_diagnostics(ls: CwlintServer, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        analysis = await ls.analyse(params.text_document.uri)
        if analysis is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[])
        result_id = str(analysis.serial)
        if params.previous_result_id == result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
        return types.RelatedFullDocumentDiagnosticReport(items=analysis.diagnostics, result_id=result_id)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[QUICK_FIX, FIX_ALL], resolve_provider=True),
    )
    async def code_action(ls: CwlintServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        analysis = await ls.analyse(uri)
        if analysis is None:
            return None
        only = params.context.only
        actions: list[types.CodeAction] = []
        if _wanted(only, QUICK_FIX):
            for d, shown in zip(analysis.result.diagnostics, analysis.diagnostics, strict=True):
                if not _overlaps(shown.range, params.range):
                    continue
                if d.fix is not None and d.fix.applicability is not Applicability.DISPLAY:
                    edits = [analysis.lines.edit(edit) for edit in d.fix.edits]
                    actions.append(types.CodeAction(
                        title=_fix_title(d), kind=QUICK_FIX, diagnostics=[shown],
                        is_preferred=d.fix.applicability is Applicability.SAFE,
                        edit=ls.workspace_edit(uri, analysis.version, edits),
                    ))
                outcome = add_noqa(analysis.lines.text, [d], analysis.engine.linter.settings.bare_noqa)
                if outcome.edits:
                    edits = [analysis.lines.edit(edit) for edit in outcome.edits]
                    actions.append(types.CodeAction(
                        title=f"{d.code}: suppress with `# noqa: {d.code}`", kind=QUICK_FIX, diagnostics=[shown],
                        edit=ls.workspace_edit(uri, analysis.version, edits),
                    ))
        if _wanted(only, FIX_ALL) and any(
            d.fix is not None and d.fix.applicability is Applicability.SAFE for d in analysis.result.diagnostics
        ):
            action = types.CodeAction(title="cwlint: fix all safe fixes", kind=FIX_ALL, data={"uri": uri})
            if not ls.resolves_edits():
                action.edit = await ls.fix_all_edit(uri)
                if action.edit is None:
                    return actions or None
            actions.append(action)
        return actions or None

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: CwlintServer, action: types.CodeAction) -> types.CodeAction:
        if action.kind == FIX_ALL and action.edit is None and isinstance(action.data, dict) and "uri" in action.data:
            action.edit = await ls.fix_all_edit(str(action.data["uri"]))
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: CwlintServer, params: types.HoverParams) -> types.Hover | None:
        analysis = await ls.analyse(params.text_document.uri)
        if analysis is None:
            return None
        point = types.Range(start=params.position, end=params.position)
        from cwlint.rules import rule_by_code

        pages: list[str] = []
        where: types.Range | None = None
        for shown in analysis.diagnostics:
            if _overlaps(shown.range, point):
                rule = rule_by_code(str(shown.code))
                if rule is not None and rule.page() not in pages:
                    pages.append(rule.page())
                    where = where or shown.range
        if not pages:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n---\n\n".join(pages)), range=where)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CwlintServer, params: None) -> None:
        ls.linting.shutdown(wait=False, cancel_futures=True)

    return server


def main() -> int:
    """Serve over stdin/stdout until the client says ``exit``.

    The protocol gets a private duplicate of stdout, and file descriptor 1 becomes stderr, so a
    stray ``print`` (ours or a library's) goes to the log instead of breaking the JSON-RPC stream,
    as the MCP SDK's stdio transport does.
    """
    sys.stdout.flush()
    wire = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    build().start_io(sys.stdin.buffer, wire)
    return 0
