"""The same engine through the sandboxed harness: the workflow in its own uv environment and sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cwtest.fuzz import FuzzConfig, fuzz
from cwtest.fuzz.target import exception_info
from cwtest.harness.child import protocol
from cwtest.harness.runner import Harness

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fuzz"


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness(sandbox="auto", env="uv", timeout=120)


def test_the_planted_bugs_are_found_through_the_sandbox(harness: Harness) -> None:
    with harness.boot(FIXTURES / "planted_bugs.py") as booted:
        report = fuzz(booted, FuzzConfig(seed=0, shrink_time=3.0))
    by_type = {f.exception.type: f for f in report.findings if f.exception}
    assert sorted(by_type) == ["IndexError", "KeyError", "UnicodeEncodeError"]
    assert by_type["IndexError"].repro.shrunk and by_type["IndexError"].repro.request.json_body["seats"] == 500
    assert by_type["KeyError"].location == f"{FIXTURES / 'planted_bugs.py'}:94"
    assert by_type["KeyError"].exception.frames[-1].source == "price = MONTHLY_PRICE[request.plan]"
    stats = report.routes[0].search
    assert stats.statuses["invalid"] == {"4xx": 50} and len(stats.faults_injected) == 6


def test_faults_reach_the_sandboxed_workflow(harness: Harness) -> None:
    with harness.boot(FIXTURES / "llm_optional_key.py") as booted:
        report = fuzz(booted, FuzzConfig(seed=0, shrink_time=3.0))
    found = {(f.repro.fault.split(": ")[1], f.exception.type, f.exception.message)
             for f in report.findings if f.repro.fault and f.exception}
    assert ("llm_minimal", "KeyError", "'labels'") in found
    # the child sends the bare class name for now: "JSONDecodeError" (in-process: "json.JSONDecodeError")
    assert any(kind == "malformed" and name.endswith("JSONDecodeError") for kind, name, _message in found)


def decoded(message: dict[str, object]) -> protocol.ExceptionReport:
    """An ``exception`` message as the parent decodes it from its line."""
    report = protocol.decode(json.dumps(message).encode(), protocol.CHILD)
    assert isinstance(report, protocol.ExceptionReport)
    return report


def test_the_childs_exception_messages_become_exception_infos() -> None:
    workflow = str(FIXTURES / "planted_bugs.py")
    current = {"type": "exception", "exc_type": "ReadTimeout", "message": "httpx.ReadTimeout: timed out",
               "location": f"{workflow}:78", "stack": [f"{workflow}:78 in welcome_note"],
               "frames": [[workflow, 78, "welcome_note", "response = await client.run("]],
               "mro": ["httpx.ReadTimeout", "httpx.TimeoutException", "httpx.TransportError", "httpx.RequestError",
                       "httpx.HTTPError", "builtins.Exception", "builtins.BaseException", "builtins.object"],
               "via": ["codewords_client", "httpx"]}
    info = exception_info(decoded(current))
    assert (info.type, info.message, info.location) == ("httpx.ReadTimeout", "timed out", f"{workflow}:78")
    assert info.is_a("httpx.HTTPError") and info.frames[0].function == "welcome_note"
    assert info.via == ("codewords_client", "httpx")
    assert info.frames[0].source.startswith("response = await client.run(")
    contract = {"type": "exception", "exc_type": "KeyError", "message": "KeyError: 'x'", "location": f"{workflow}:94",
                "frames": [[workflow, 94, "quote", "price = MONTHLY_PRICE[request.plan]"]],
                "mro": ["builtins.KeyError", "builtins.LookupError", "builtins.Exception"]}
    info = exception_info(decoded(contract))
    assert (info.type, info.message) == ("KeyError", "'x'") and info.is_a("LookupError")
    decode = {**contract, "exc_type": "JSONDecodeError", "message": "JSONDecodeError: Expecting value",
              "mro": ["json.JSONDecodeError", "builtins.ValueError", "builtins.Exception"]}
    info = exception_info(decoded(decode))
    assert (info.type, info.message) == ("json.JSONDecodeError", "Expecting value") and info.is_a("ValueError")
