"""The bundled service catalog (rules/services/*.toml) and the loader's error messages."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cwlint.catalog import FIRM, CatalogError, Service, catalog_dir, load_catalog

EXPECTED_SERVICES = {
    "redis_coordinator",
    "openai",
    "anthropic",
    "gemini",
    "firecrawl",
    "pipedream",
    "chrome_extension",
    "searchapi",
    "whatsapp_trigger",
    "web_automation_agent",
    "webpage_to_markdown",
    "github",
    "reddit",
    "hunter",
    "slack_trigger",
    "send_email",
    "schedule_runs",
    "user_login",
    "perplexity",
    "composio",
    "devx_mcp",
}

LLMS = ("openai", "anthropic", "gemini")

_CHAT_COMPLETION = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}
_UNKNOWN = {"result": "anything"}

#: One plausible answer per (service, variant): what a simulator could reply.
EXAMPLES: dict[tuple[str, str], object] = {
    ("redis_coordinator", "key-value"): {"success": True, "value": "<html>...</html>"},
    ("redis_coordinator", "credentials"): {
        "redis_host": "redis.example.internal",
        "redis_port": 6380,
        "redis_user": "user-1",
        "redis_password": "secret",
        "namespace": "ns_abc:*",
    },
    ("openai", "library"): {"response": {"category": "billing", "priority": "high"}},
    ("openai", "chat-completions"): _CHAT_COMPLETION,
    ("openai", "responses"): {
        "id": "resp_123",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": "gpt-4.1",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Hello."}],
            }
        ],
        "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
    },
    ("openai", "images"): {
        "created": 1_700_000_000,
        "data": [{"url": "https://img.example/1.png"}],
    },
    ("openai", "embeddings"): {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    },
    ("anthropic", "library"): {"response": {"changes_detected": True, "summary": "Price went up"}},
    ("anthropic", "messages"): {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello."}],
        "model": "claude-3-5-haiku-20241022",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 2},
    },
    ("gemini", "library"): {"response": "A short summary."},
    ("gemini", "chat-completions"): {**_CHAT_COMPLETION, "model": "gemini-2.5-flash"},
    ("firecrawl", "scrape"): {
        "success": True,
        "data": {"markdown": "# Title\n\nBody", "metadata": {"sourceURL": "https://example.com"}},
    },
    ("firecrawl", "sdk-scrape"): {
        "success": True,
        "data": {
            "markdown": "# Title",
            "metadata": {"title": "Title", "sourceURL": "https://example.com", "statusCode": 200},
        },
    },
    ("pipedream", "action"): {"ok": True, "ts": "1700000000.000100"},
    ("chrome_extension", "actions"): {"success": True, "data": {"html": "<html></html>"}},
    ("searchapi", "unknown"): _UNKNOWN,
    ("whatsapp_trigger", "unknown"): _UNKNOWN,
    ("web_automation_agent", "run"): {"result": "Done: 3 items found"},
    ("webpage_to_markdown", "unknown"): {"markdown": "# Page"},
    ("github", "search-profiles"): {"profiles": [{"login": "octocat"}]},
    ("reddit", "unknown"): {"posts": []},
    ("hunter", "unknown"): {"email": "jane@example.com"},
    ("slack_trigger", "unknown"): _UNKNOWN,
    ("send_email", "unknown"): {"success": True},
    ("schedule_runs", "schedule"): {"schedule_id": "sch_1"},
    ("user_login", "unknown"): _UNKNOWN,
    ("perplexity", "chat-completions"): {
        **_CHAT_COMPLETION,
        "model": "sonar",
        "citations": ["https://example.com"],
    },
    ("composio", "unknown"): _UNKNOWN,
    # composio 0.11.2's ToolRetrieveResponse and ToolExecuteResponse, as the SDK reads them
    ("composio", "tool"): {
        "slug": "ZOHO_SEARCH_ZOHO_RECORDS", "name": "Search records", "description": "Searches Zoho CRM records",
        "version": "latest", "available_versions": ["latest"],
        "input_parameters": {"type": "object", "properties": {}}, "output_parameters": {"type": "object", "properties": {}},
        "toolkit": {"slug": "zoho", "name": "Zoho", "logo": "https://example.com/logo.png"},
        "deprecated": {"available_versions": ["latest"], "displayName": "Search records", "is_deprecated": False,
                       "toolkit": {"logo": "https://example.com/logo.png"}, "version": "latest"},
        "is_deprecated": False, "no_auth": False, "scopes": [], "status": "active", "tags": []},
    ("composio", "execute"): {"data": {"records": []}, "successful": True, "error": None, "log_id": "log_1"},
    ("devx_mcp", "mcp"): {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}},
}

#: Answers a schema must refuse (so the schemas are not vacuous where the research is firm).
BAD_EXAMPLES: list[tuple[str, str, object]] = [
    ("redis_coordinator", "credentials", {"redis_host": "h", "redis_port": 1, "namespace": "ns"}),
    ("openai", "library", {"answer": "text"}),
    ("firecrawl", "scrape", {"success": True}),
    ("chrome_extension", "actions", {"data": {"html": ""}}),
    (
        "anthropic",
        "messages",
        {"id": "msg", "type": "message", "role": "user", "content": [], "model": "m"},
    ),
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _all_variants():
    for service in load_catalog().services.values():
        for variant in service.variants:
            yield service.id, variant


# --- the bundled catalog ---------------------------------------------------------------------


def test_bundled_catalog_loads_from_the_checkout(catalog):
    assert catalog_dir().is_dir()
    assert EXPECTED_SERVICES <= set(catalog.ids)


def test_every_service_has_a_variant_and_unique_variant_names(catalog):
    for service in catalog.services.values():
        assert service.variants, service.id
        names = [variant.name for variant in service.variants]
        assert len(names) == len(set(names)), service.id


def test_every_variant_has_a_response_schema(catalog):
    for service in catalog.services.values():
        for variant in service.variants:
            assert variant.response is not None, f"{service.id}/{variant.name}"


def test_redis_action_is_renamed_to_operation(catalog):
    variant = catalog.get("redis_coordinator").variant("", has_body=True)
    rename = variant.renamed["action"]
    assert rename.to == "operation"
    assert rename.confidence in FIRM


def test_pipedream_renames_and_env_var(catalog):
    variant = catalog.get("pipedream").variant("", has_body=True)
    assert variant.renamed["app_slug"].to == "app"
    assert variant.renamed["action_name"].to == "action"
    assert all(rename.confidence in FIRM for rename in variant.renamed.values())
    assert {"app", "action", "props"} <= variant.inputs.keys()
    env = variant.env_from_input
    assert env is not None and env.input == "app" and env.confidence in FIRM
    assert env.env_var("slack") == "PIPEDREAM_SLACK_ACCESS"
    assert env.env_var("google-sheets") == "PIPEDREAM_GOOGLE_SHEETS_ACCESS"


def test_llm_model_prefixes_present_and_disjoint(catalog):
    prefixes = {sid: catalog.get(sid).models.prefixes for sid in LLMS}
    assert "gpt-" in prefixes["openai"]
    assert "claude-" in prefixes["anthropic"]
    assert "gemini-" in prefixes["gemini"]
    for (a, pa), (b, pb) in itertools.combinations(prefixes.items(), 2):
        for x, y in itertools.product(pa, pb):
            assert not (x.startswith(y) or y.startswith(x)), f"{a}:{x} overlaps {b}:{y}"


def test_llm_root_contract(catalog):
    for sid in LLMS:
        variant = catalog.get(sid).variant("", has_body=True)
        assert variant.format == "library" and not variant.closed
        assert variant.inputs["model"].required and variant.inputs["prompt"].required
        assert not variant.inputs["example_output"].required


def test_chrome_extension_step_types(catalog):
    actions = catalog.get("chrome_extension").variant("").inputs["actions"]
    assert actions.required and actions.type == "array"
    step_type = actions.items.properties["type"]
    assert set(step_type.allowed) == {"navigate", "wait", "extract_html", "extract"}


def test_devx_mcp_tools(catalog):
    """The MCP doc's 19 tools, in its order, with typed parameters (the simulator's tools/list)."""
    tools = catalog.get("devx_mcp").variant("mcp", has_body=None).tools
    names = [tool.name for tool in tools]
    assert len(names) == 19 == len(set(names))
    assert names[0] == "get_workflow_building_instructions" and names[-1] == "download_file"
    assert all(tool.description and tool.confidence in FIRM and "F8" in tool.source for tool in tools)
    discover = next(tool for tool in tools if tool.name == "discover_library_services")
    assert [(p.name, p.type, p.enum) for p in discover.parameters] == [
        ("operation", "string", ["list", "execute"]),
        ("service_id", "string", None),
        ("inputs", "object", None),
    ]
    other = [v for s in catalog.services.values() for v in s.variants if v.tools and s.id != "devx_mcp"]
    assert not other


def test_guessed_library_variants_invent_no_inputs(catalog):
    """A library variant nobody has seen a call of is open and lists no keys."""
    for service in catalog.services.values():
        for variant in service.variants:
            if variant.confidence == "inferred" and variant.format == "library":
                assert not variant.inputs and not variant.closed, f"{service.id}/{variant.name}"


# --- response schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_id", "variant"), list(_all_variants()), ids=lambda v: getattr(v, "name", v)
)
def test_response_schema_is_valid_and_accepts_an_example(service_id, variant):
    schema = variant.response.json_schema
    Draft202012Validator.check_schema(schema)
    key = (service_id, variant.name)
    assert key in EXAMPLES, f"write an example answer for {key}"
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(EXAMPLES[key])]
    assert not errors, f"{key}: {errors}"


def test_every_example_names_a_real_variant(catalog):
    for service_id, name in EXAMPLES:
        service = catalog.get(service_id)
        assert service is not None and name in {v.name for v in service.variants}


@pytest.mark.parametrize(("service_id", "name", "answer"), BAD_EXAMPLES)
def test_response_schema_rejects_a_wrong_answer(catalog, service_id, name, answer):
    variant = next(v for v in catalog.get(service_id).variants if v.name == name)
    assert not Draft202012Validator(variant.response.json_schema).is_valid(answer)


# --- variant selection -----------------------------------------------------------------------


def test_redis_variant_depends_on_the_body(catalog):
    redis = catalog.get("redis_coordinator")
    assert redis.variant("", has_body=True).name == "key-value"
    assert redis.variant("", has_body=False).name == "credentials"
    assert redis.variant("/", has_body=False).name == "credentials"


def test_openai_vendor_path(catalog):
    openai = catalog.get("openai")
    chat = openai.variant("v1/chat/completions")
    assert chat is not None and chat.format == "vendor"
    assert openai.variant("/v1/chat/completions/").name == chat.name
    assert openai.variant("").format == "library"
    assert openai.variant("v1/nothing-here") is None


def test_anthropic_firecrawl_and_mcp_paths(catalog):
    assert catalog.get("anthropic").variant("v1/messages").format == "vendor"
    assert catalog.get("firecrawl").variant("v1/scrape").format == "vendor"
    assert catalog.get("devx_mcp").variant("mcp/", has_body=None).name == "mcp"
    assert catalog.get("github").variant("/search_profiles").inputs["query"].type == "string"


# --- broken files ----------------------------------------------------------------------------

_VALID = """\
id = "svc"
summary = "a service"
source = "test"
confidence = "documented"

[[variants]]
name = "root"
source = "test"
confidence = "example"

[variants.inputs.operation]
type = "string"
source = "test"
confidence = "example"
"""


def _with_variant_line(line: str) -> str:
    """The valid fixture with one more line in its variant."""
    return _VALID.replace('name = "root"', f'name = "root"\n{line}')


def _load_error(tmp_path: Path, text: str, name: str = "svc.toml") -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    message = str(info.value)
    assert "\n" not in message, message
    assert name in message, message
    return message


def test_valid_fixture_loads(tmp_path):
    (tmp_path / "svc.toml").write_text(_VALID, encoding="utf-8")
    assert isinstance(load_catalog(tmp_path).get("svc"), Service)


def test_invalid_toml(tmp_path):
    message = _load_error(tmp_path, _VALID + "oops = \n")
    assert "invalid TOML" in message and "line" in message


def test_unknown_field(tmp_path):
    message = _load_error(tmp_path, _with_variant_line('method = "GET"'))
    assert "variants.0.method" in message and "Extra inputs are not permitted" in message


def test_wrong_type(tmp_path):
    message = _load_error(tmp_path, _with_variant_line('closed = "maybe"'))
    assert "variants.0.closed" in message and "boolean" in message


def test_unknown_confidence(tmp_path):
    text = _VALID.replace('confidence = "documented"', 'confidence = "sure"')
    message = _load_error(tmp_path, text)
    assert "svc.toml: confidence: Input should be 'documented'" in message


def test_input_without_source(tmp_path):
    text = _VALID.replace('type = "string"\nsource = "test"\n', 'type = "string"\n')
    message = _load_error(tmp_path, text)
    assert "inputs.operation" in message and "'source'" in message


def test_id_must_match_the_file_name(tmp_path):
    message = _load_error(tmp_path, _VALID, name="other.toml")
    assert "id 'svc' does not match the file name" in message


def test_rename_target_must_be_an_input(tmp_path):
    text = _VALID + (
        '\n[variants.renamed.action]\nto = "op"\nsource = "test"\nconfidence = "documented"\n'
    )
    message = _load_error(tmp_path, text)
    assert "renamed.action" in message and "'op' is not an input" in message


def test_duplicate_variants(tmp_path):
    text = _VALID + '\n[[variants]]\nname = "again"\nsource = "test"\nconfidence = "example"\n'
    message = _load_error(tmp_path, text)
    assert "two variants share path ''" in message


def test_bad_path(tmp_path):
    message = _load_error(tmp_path, _with_variant_line('path = "/v1/x"'))
    assert "variants.0" in message and "'/v1/x'" in message


_TOOL = """
[[variants.tools]]
name = "run_workflow"
description = "Runs a workflow."
source = "test"
confidence = "documented"
parameters = [
  { name = "workflow_id", type = "string", description = "the workflow" },
  { name = "mode", type = "string", description = "how", enum = ["sync", "async"] },
]
"""


def test_tools_load(tmp_path):
    (tmp_path / "svc.toml").write_text(_VALID + _TOOL, encoding="utf-8")
    [tool] = load_catalog(tmp_path).get("svc").variants[0].tools
    assert tool.name == "run_workflow" and tool.confidence == "documented"
    assert [(p.name, p.type, p.enum) for p in tool.parameters] == [
        ("workflow_id", "string", None),
        ("mode", "string", ["sync", "async"]),
    ]


def test_tool_parameter_with_an_unknown_type(tmp_path):
    text = _VALID + _TOOL.replace('type = "string", description = "the workflow"',
                                  'type = "text", description = "the workflow"')
    message = _load_error(tmp_path, text)
    assert "svc.toml: variants.0.tools.0.parameters.0.type: Input should be 'string'" in message
    assert "'null'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('enum = ["sync", "async"]', 'enum = ["sync", 2]'), "enum of 'mode': 2 is not of type 'string'"),
        (('enum = ["sync", "async"]', "enum = []"), "enum of 'mode' is empty"),
        (('name = "mode"', 'name = "workflow_id"'), "parameter 'workflow_id' is listed twice"),
        (('confidence = "documented"\n', ""), "variants.0.tools.0.confidence: Field required"),
        (('name = "run_workflow"', 'name = "run workflow"'), "variants.0.tools.0.name: String should match"),
        (('"the workflow" }', '"the workflow", required = true }'),
         "variants.0.tools.0.parameters.0.required: Extra inputs are not permitted"),
    ],
)
def test_bad_tools(tmp_path, change, expected):
    assert _TOOL.count(change[0]) == 1, change
    message = _load_error(tmp_path, _VALID + _TOOL.replace(*change))
    assert expected in message, message


def test_tool_listed_twice(tmp_path):
    message = _load_error(tmp_path, _VALID + _TOOL + _TOOL)
    assert "variants.0" in message and "tools: 'run_workflow' is listed twice" in message


def test_missing_directory_and_empty_directory(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope")
    with pytest.raises(CatalogError, match="empty"):
        load_catalog(tmp_path)


# --- the two loaders agree ---------------------------------------------------------------------


def _plain(value):
    """A catalog object as plain data, with its fields' names (``json_schema`` for ``schema``)."""
    if hasattr(value, "__slots__") and not isinstance(value, (str, tuple)):
        return {name: _plain(getattr(value, name)) for name in value.__slots__}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def test_the_fast_loader_builds_what_the_schema_validates_for_every_bundled_file():
    """default_catalog() skips pydantic: for every bundled file, the pydantic model's values
    (defaults filled in) and the plain objects' must be the same, field for field."""
    import tomllib

    from cwlint import catalog_schema
    from cwlint.catalog import default_catalog

    from cwlint.catalog import bundled_data, use_bundled_data

    fast = default_catalog()
    files = sorted(catalog_dir().glob("*.toml"))
    # What the runner's cache keeps (the files' data through JSON) builds the same catalog.
    import json

    use_bundled_data(json.loads(json.dumps(bundled_data())))
    try:
        assert default_catalog() == fast
    finally:
        use_bundled_data(None)  # back to reading the files
    assert sorted(fast.ids) == sorted(f.stem for f in files)
    for path in files:
        model = catalog_schema.validate_service(tomllib.loads(path.read_text(encoding="utf-8")))
        assert _plain(fast.get(path.stem)) == model.model_dump(), path.name
    assert fast == load_catalog()


def test_the_fast_loader_reports_what_the_schema_finds(tmp_path, monkeypatch):
    """A bundled file the fast loader cannot build: the validating loader's message, one line."""
    from cwlint import catalog as module

    (tmp_path / "svc.toml").write_text(_with_variant_line('method = "GET"'), encoding="utf-8")
    monkeypatch.setattr(module, "catalog_dir", lambda: tmp_path)
    monkeypatch.setattr(module, "_PRELOADED", None)  # an in-process CLI run may have preloaded it
    module.bundled_data.cache_clear()
    module.default_catalog.cache_clear()
    try:
        with pytest.raises(CatalogError, match=r"svc.toml: variants.0.method: Extra inputs are not permitted"):
            module.default_catalog()
    finally:
        module.bundled_data.cache_clear()
        module.default_catalog.cache_clear()


def test_a_lint_does_not_import_pydantic(tmp_path):
    import subprocess
    import sys

    (tmp_path / "w.py").write_text('from codewords_client import AsyncCodewordsClient\nasync def f(c):\n    await c.run(service_id="firecrawl", data={})\n')
    probe = (
        "import sys\nfrom cwlint import Linter\n"
        "r = Linter().check(open('w.py').read(), 'w.py')\n"
        "assert 'CW101' in [d.code for d in r.diagnostics], r.diagnostics\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
