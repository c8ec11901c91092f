"""The protocol between cwtest and the workflow's process, and the two drifts it must prevent.

1. A message the parent does not know (an unknown type, a malformed line) is a ``protocol``
   finding and the run goes on; and the child can only send what the protocol declares (a scan of
   ``cwtest/harness/child``), so a new message type cannot reach a parent that does not know it.
2. An outbound request is routed alike by both targets (the in-process one and the sandbox):
   ``test_both_targets_route_every_kind_of_outbound_request_alike`` in this file.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness_support import WORKFLOWS

from cwtest.harness.workflow import BootedWorkflow
from cwtest.fuzz.target import InProcessTarget, timeout_fault
from cwtest.harness.child import channel, protocol
from cwtest.results import KINDS
from cwtest.harness.runner import SIM_BASE, Harness
from cwtest.harness.policy import CHILD

# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "reason"), [
    (b"not json", "a line that is not JSON"),
    (b"[1, 2]", "a line that is not a JSON object"),
    (b'{"kind": "network"}', "a message without a type"),
    (b'{"type": "nope"}', "an unknown message type 'nope'"),
    (b'{"type": "mock", "mock": {"url": "u"}}', "an unknown message type 'mock'"),  # no such message any more
    (b'{"type": "finding", "detail": "d", "count": 1, "key": ["a", "b"]}', "finding: the field 'kind' is missing"),
    (b'{"type": "finding", "kind": "spoon", "detail": "d", "count": 1, "key": ["a", "b"]}',
     "finding.kind: 'spoon' is not one of network, fs-write"),
    (b'{"type": "egress", "client": "httpx", "method": "GET", "url": "u", "answer": "sent"}',
     "egress.answer: 'sent' is not one of mock, cassette"),
    (b'{"type": "finding", "kind": "network", "detail": "d", "count": "2", "key": ["a", "b"]}',
     "finding.count: expected int, got a string"),
    (b'{"type": "ready", "app": "app", "apps": ["app"], "admin": true}', "ready: unknown field 'admin'"),
    (b'{"type": "stacks", "reason": "r", "threads": [{"thread": "t", "stack": [3]}]}',
     "stacks.threads[0].stack[0]: expected str, got a number"),
    (b'{"type": "counts", "counts": [[["a", "b"], true]]}', "counts.counts[0][1]: expected int, got a boolean"),
    (b'{"type": "exception", "exc_type": "E", "message": "m", "phase": "later"}',
     "exception.phase: 'later' is not one of background, task"),
    (b'{"type": "done"}', "done: the field 'request' is missing"),
    (b"{" + b" " * protocol.MAX_LINE + b"}", "a line of more than 1048576 bytes"),
])
def test_a_line_that_breaks_the_protocol_says_why_in_one_line(line: bytes, reason: str) -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.decode(line, protocol.CHILD)
    assert str(caught.value).startswith(reason) and "\n" not in str(caught.value)


def test_every_declared_message_survives_its_line() -> None:
    examples = [
        protocol.Hello(pid=7, python="3.8.18", executable="/env/bin/python", warnings=["w"]),
        protocol.SetupWarning(text="no relay"),
        protocol.Ready(app="app", apps=["app", "other"]),
        protocol.BootFailure(kind="missing-dependency", detail="No module named 'x'", module="x"),
        protocol.Finding(kind="network", detail="connect to 1.2.3.4:80", location="w.py:3", stack=["w.py:3 in f"],
                         count=4, key=["network", "w.py:3"]),
        protocol.ExceptionReport(exc_type="KeyError", message="KeyError: 'x'", frames=[["w.py", 3, "f", "d['x']"]],
                                 mro=["builtins.KeyError"], via=["json"], method="POST", path="/",
                                 standins=[["egress", "GET https://a.example/", "w.py:2"]]),
        protocol.Swallowed(request=3, exc_type="KeyError", message="KeyError: 'x'", location="w.py:3",
                           frames=[["w.py", 3, "f", "d['x']"]], mro=["builtins.KeyError"], caught="w.py:5",
                           clause="except Exception as exc", count=2, doc=None),
        protocol.Blocked(request=3, milliseconds=151, count=1, location="w.py:9", source="time.sleep(1)",
                         call="time.sleep(1)", stack=["w.py:9 in f"]),
        protocol.Log(request=3, level="WARNING", logger="triage", message="failed", location="w.py:7"),
        protocol.Done(request=3, pending=0),
        protocol.Egress(client="requests", method="GET", url="https://a.example/", answer="refused", location=None,
                        stack=[]),
        protocol.Stacks(reason="cpu", threads=[protocol.ThreadStack(thread="MainThread", stack=["w.py:3 in f"])],
                        tasks=[protocol.TaskStack(task="Task-1", location="w.py:3")]),
        protocol.Counts(counts=[[["network", "w.py:3"], 9]]),
        protocol.StacksCommand(reason="timeout"),
        protocol.CountsCommand(),
    ]
    assert {type(m) for m in examples} == set(protocol.MESSAGES)
    for message in examples:
        decoded = protocol.decode(protocol.encode(message).rstrip(b"\n"), message.DIRECTION)
        assert decoded == message and type(decoded) is type(message)
        assert json.loads(protocol.encode(decoded))["type"] == message.TYPE
    with pytest.raises(AttributeError):
        decoded.reason = "changed"  # type: ignore[misc]


def test_an_undeclared_message_class_cannot_be_encoded() -> None:
    class Secret(protocol.Message):
        TYPE = "secret"
        DIRECTION = protocol.CHILD
        text: str

    with pytest.raises(protocol.ProtocolError, match="Secret is not a declared message"):
        protocol.encode(Secret(text="x"))


def test_the_kinds_the_child_may_send_are_finding_kinds() -> None:
    sent = set(protocol.choices(protocol.Finding, "kind")) | set(protocol.choices(protocol.BootFailure, "kind"))
    # "no-app" is a boot failure the parent turns into "not collected" (inconclusive), never a finding
    assert sent - {"no-app"} <= set(KINDS) and "protocol" in KINDS and "no-app" not in KINDS


# --- drift 1: the child sends only what the protocol declares --------------------------------------

def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def test_the_child_sends_only_messages_the_protocol_declares() -> None:
    """A scan of every module of the child: what it writes to the parent is built from a declared
    class, through ``channel.send``; nothing else encodes a message or writes a dict with a type."""
    declared = {m.__name__ for m in protocol.messages(protocol.CHILD)}
    problems = []
    sends = 0
    for path in sorted(CHILD.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "type" for k in node.keys) \
                    and path.name != "protocol.py":  # the encoder makes the wire's dict
                problems.append(f"{path.name}:{node.lineno}: a dict with a 'type' key (build a protocol message)")
        for call in _calls(tree):
            name = _name(call.func)
            if name.endswith("encode") and name.split(".")[0] == "protocol" and path.name != "channel.py":
                problems.append(f"{path.name}:{call.lineno}: protocol.encode outside channel.send")
            # ``sink``: serve.wrap's and watch's way out (channel.send in the child, a list in-process)
            if name not in ("send", "channel.send", "sink", "self.sink", "state.sink") or path.name == "protocol.py":
                continue
            sends += 1
            [message] = call.args
            built = _name(message.func) if isinstance(message, ast.Call) else ""
            if built.startswith("protocol.") and built.split(".", 1)[1] in declared:
                continue
            if built in ("channel.counts", "counts"):  # returns a protocol.Counts (checked below)
                continue
            problems.append(f"{path.name}:{call.lineno}: sends {ast.unparse(message)[:60]}, not a declared message")
    assert not problems, "\n".join(problems)
    assert sends >= 10  # the scan sees the child's sends (hello, ready, boot-failure, finding, ...)
    assert isinstance(channel.counts(), protocol.Counts)


def python_3_8() -> str | None:
    """A Python 3.8 interpreter: uv's, else pyenv's; None when there is none."""
    from cwtest.harness.env import EnvError, find_uv

    try:
        found = subprocess.run([find_uv(), "python", "find", "3.8"], capture_output=True, text=True, timeout=60)
        if found.returncode == 0:
            return found.stdout.strip()
    except (OSError, EnvError, subprocess.SubprocessError):
        pass
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.8.*/bin/python3.8"))
    return str(pyenv[-1]) if pyenv else None


def test_the_child_package_runs_on_the_oldest_python_it_supports(tmp_path: Path) -> None:
    """The child runs on the workflow's interpreter: Python 3.8 must import it and speak the protocol."""
    python = python_3_8()
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have Python 3.8 for the child's oldest supported version: uv python install 3.8")
        pytest.skip("no Python 3.8 here: uv python install 3.8")
    script = tmp_path / "speak.py"
    script.write_text(
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('entry', {str(CHILD / '__main__.py')!r})\n"
        "entry = importlib.util.module_from_spec(spec); spec.loader.exec_module(entry)\n"
        "protocol, stacks = entry.load('protocol'), entry.load('stacks')\n"
        "for name in ('main', 'audit', 'outbound', 'serve', 'confine', 'watch'): entry.load(name)\n"
        "try:\n    {}['k']\nexcept KeyError as exc:\n"
        "    report = protocol.ExceptionReport(**stacks.exception_report(exc, __file__))\n"
        "sys.stdout.buffer.write(protocol.encode(report))\n"
        "print(protocol.decode(b'{\"type\": \"counts\"}', protocol.PARENT))\n")
    done = subprocess.run([python, "-I", "-B", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line, command = done.stdout.splitlines()
    report = protocol.decode(line.encode(), protocol.CHILD)  # what 3.8 sent, as this parent reads it
    assert isinstance(report, protocol.ExceptionReport)
    assert (report.exc_type, report.mro[0], report.frames[0][2]) == ("KeyError", "builtins.KeyError", "<module>")
    assert command == "CountsCommand()"


@pytest.mark.sandbox
@pytest.mark.usefixtures("clean_host")
def test_lines_that_break_the_protocol_are_protocol_findings_and_the_run_goes_on() -> None:
    """What a workflow writes on the event socket cannot turn the run into a harness error, leave its
    run directory or a process behind (``clean_host``), or hide the real messages after it."""
    harness = Harness(timeout=60)
    report = harness.run([WORKFLOWS / "forged_events.py"])
    [result] = report.results
    assert result.harness_error is None and result.booted and result.app == "app"
    assert report.exit_code() == 1
    found = {f.message.split(": ", 1)[1]: f.count for f in result.findings if f.kind == "protocol"}
    assert found == {
        "an unknown message type 'nope'": 2,
        "finding: the field 'kind' is missing": 1,
        "a line that is not JSON (Expecting value: line 1 column 1 (char 0)): not json at all": 1,
        "ready.apps: expected a list, got a string": 1,
        f"a line of more than {protocol.MAX_LINE} bytes": 1,
    }
    assert all(f.kind == "protocol" for f in result.findings), [(f.kind, f.message) for f in result.findings]
    assert [r.status for r in result.routes] == [200]  # served, and smoked, after all of it


# --- drift 2: both targets route outbound requests alike ---------------------------------------

#: What the workflow gets for each kind of request, async and sync, in either target.
EXPECTED = {
    "relative": {"raised": "httpx.UnsupportedProtocol"},
    "ftp": {"raised": "httpx.UnsupportedProtocol"},
    "outside": {"raised": "httpx.ConnectError"},  # refused, as with no network
    "mocked": {"status": 200, "unsent": False, "json": {"price": 3}},
    "runtime": {"raised": "httpx.ReadTimeout"},  # the runtime under the timeout fault
}


@pytest.fixture(params=["in-process", "sandbox"])
def target(request: pytest.FixtureRequest) -> Iterator[InProcessTarget | BootedWorkflow]:
    workflow = WORKFLOWS / "outbound_kinds.py"
    if request.param == "in-process":
        with InProcessTarget.from_path(workflow) as opened:
            opened.mock_external("https://mocked.example.com/", {"price": 3})
            yield opened
        return
    harness = Harness(timeout=60)
    harness.mock_external("https://mocked.example.com/", {"price": 3})
    with harness.boot(workflow) as booted:
        yield booted


@pytest.mark.sandbox
def test_both_targets_route_every_kind_of_outbound_request_alike(target: InProcessTarget | BootedWorkflow) -> None:
    target.runtime.script("openai").respond(answer=timeout_fault())
    seen = {(kind, sync): target.send("GET", "/call", query={"kind": kind, "sync": sync}).body
            for kind in EXPECTED for sync in (False, True)}
    assert seen == {(kind, sync): answer for kind, answer in EXPECTED.items() for sync in (False, True)}
    assert len(target.runtime.calls("openai")) == 2
    # and the same variables (cwtest.workflow_env), the runtime's where the header declares them
    runtime_url = target.runtime_url if isinstance(target, InProcessTarget) else SIM_BASE
    assert target.send("GET", "/env").body == {"CODEWORDS_API_KEY": target.runtime.api_key,
                                               "CODEWORDS_RUNTIME_URI": runtime_url, "RUNTIME_URI": runtime_url,
                                               "PORT": "8000", "LOGLEVEL": "INFO"}


def _python(version: str) -> str | None:
    """A Python ``version`` interpreter: uv's, else pyenv's; None when there is none."""
    from cwtest.harness.env import EnvError, find_uv

    try:
        found = subprocess.run([find_uv(), "python", "find", version], capture_output=True, text=True, timeout=60)
        if found.returncode == 0 and found.stdout.strip().endswith(f"python{version}"):
            return found.stdout.strip()
    except (OSError, EnvError, subprocess.SubprocessError):
        pass
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(pyenv[-1]) if pyenv else None


WATCHED = '''
import asyncio, importlib.util, sys, time
spec = importlib.util.spec_from_file_location("entry", sys.argv[1])
entry = importlib.util.module_from_spec(spec); spec.loader.exec_module(entry)
protocol, watch = entry.load("protocol"), entry.load("watch")
path = sys.argv[2]
code = watch.compile_workflow(open(path, "rb").read(), path)
namespace = {"__name__": "wf"}
exec(code, namespace)
out = []
async def main():
    dog = watch.Watchdog(0.05)
    dog.start()
    await asyncio.sleep(0)
    watch.track_tasks(asyncio.get_running_loop())
    state, token = watch.begin(1, out.append, path)
    namespace["handler"]()
    await asyncio.sleep(0)
    await watch.end(state, token, 1.0)
    dog.stop()
asyncio.get_event_loop().run_until_complete(main())
for message in out:
    sys.stdout.buffer.write(protocol.encode(message))
'''


@pytest.mark.parametrize("version", ["3.8", "3.12"])
def test_the_watch_works_on_the_oldest_python_and_on_one_with_sys_monitoring(version: str, tmp_path: Path) -> None:
    """The hook in broad clauses and the watchdog do not depend on the interpreter's tracing APIs:
    Python 3.8 (the oldest the child supports) and 3.12 report the same messages."""
    python = _python(version)
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have Python {version}: uv python install {version}")
        pytest.skip(f"no Python {version} here: uv python install {version}")
    workflow = tmp_path / "wf.py"
    workflow.write_text("import time\ndef handler():\n    try:\n        return {}['k']\n    except Exception:\n"
                        "        time.sleep(0.15)\n")
    script = tmp_path / "watched.py"
    script.write_text(WATCHED)
    done = subprocess.run([python, "-I", "-B", str(script), str(CHILD / "__main__.py"), str(workflow)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    messages = [protocol.decode(line.encode(), protocol.CHILD) for line in done.stdout.splitlines()]
    assert [type(m).__name__ for m in messages] == ["Swallowed", "Blocked", "Done"]
    swallowed, blocked, _ = messages
    assert isinstance(swallowed, protocol.Swallowed) and isinstance(blocked, protocol.Blocked)
    assert (swallowed.exc_type, swallowed.location, swallowed.caught, swallowed.clause) == (
        "KeyError", f"{workflow}:4", f"{workflow}:5", "except Exception")
    assert blocked.milliseconds >= 140 and (blocked.location, blocked.call) == (f"{workflow}:6", "time.sleep(0.15)")
