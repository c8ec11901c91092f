"""Issue 17's runtime checks in-process (``cwtest.harness.child.watch``, shared with the sandbox's
child): which clause caught an exception, tasks a request leaves running, a blocked loop; and the
findings, with their repro, on fixtures/runtime/ through the in-process target. The sandboxed run of
the same fixtures is tests/harness/test_harness_watch.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
from cwtest.harness.child import protocol, watch

RUNTIME = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"
FAST = {"examples": 5, "seed": 0, "shrink_time": 0, "checks": ("fuzz", "invalid")}


def run_code(source: str, tmp_path: Path, call: str = "main") -> list[protocol.Swallowed]:
    """Compile ``source`` as a workflow, call ``call()`` inside a request; the ``swallowed`` messages."""
    path = tmp_path / "wf.py"
    path.write_text(source)
    code = watch.compile_workflow(path.read_bytes(), str(path))
    namespace: dict[str, Any] = {"__name__": "wf"}
    exec(code, namespace)  # noqa: S102 - our own test source
    sent: list[protocol.Message] = []
    state, token = watch.begin(1, sent.append, str(path))
    try:
        namespace[call]()
    finally:
        watch.CURRENT.reset(token)
    state.flush()
    return [m for m in sent if isinstance(m, protocol.Swallowed)]


def test_only_broad_clauses_are_instrumented_and_the_clause_that_ran_is_the_one_reported(tmp_path: Path) -> None:
    source = (
        "import contextlib\n"
        "def main():\n"
        "    try:\n"                              # 3
        "        {}['narrow']\n"                  # 4
        "    except KeyError:\n"                  # 5: narrow, matched first: not a catch of ours
        "        pass\n"
        "    except Exception:\n"                 # 7
        "        pass\n"
        "    try:\n"
        "        with contextlib.suppress(KeyError):\n"
        "            {}['suppressed']\n"          # 11: the with swallows it, not the clause
        "    except Exception:\n"
        "        pass\n"
        "    try:\n"
        "        try:\n"
        "            [][1]\n"                     # 16
        "        finally:\n"
        "            pass\n"
        "    except (ValueError, BaseException) as exc:\n"  # 19: broad through the tuple
        "        pass\n"
        "    try:\n"
        "        int('x')\n"                      # 22: ValueError, swallowed (the parent decides)
        "    except:\n"                           # 23: bare
        "        pass\n")
    found = run_code(source, tmp_path)
    caught = {(m.exc_type, m.location.rsplit(":", 1)[1], m.caught.rsplit(":", 1)[1], m.clause) for m in found}
    assert caught == {("IndexError", "16", "19", "except (ValueError, BaseException) as exc"),
                      ("ValueError", "22", "23", "except")}


def test_an_exception_re_raised_or_turned_into_another_is_swallowed_where_it_ends(tmp_path: Path) -> None:
    source = (
        "def inner():\n"
        "    try:\n"
        "        return {}['k']\n"                # 3
        "    except Exception as exc:\n"          # 4: re-raised as another
        "        raise RuntimeError('wrapped') from exc\n"
        "def main():\n"
        "    try:\n"
        "        inner()\n"
        "    except Exception:\n"                 # 9: where both end
        "        return None\n")
    found = {m.exc_type: m for m in run_code(source, tmp_path)}
    assert set(found) == {"KeyError", "RuntimeError"}
    assert found["KeyError"].caught.endswith(":9") and found["KeyError"].location.endswith(":3")
    assert list(found["KeyError"].mro[:2]) == ["builtins.KeyError", "builtins.LookupError"]


def test_outside_a_request_the_hook_does_nothing_and_line_numbers_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "wf.py"
    path.write_text("def main():\n    try:\n        return 1 / 0\n    except Exception as exc:\n        return exc\n")
    namespace: dict[str, Any] = {}
    exec(watch.compile_workflow(path.read_bytes(), str(path)), namespace)  # noqa: S102
    exc = namespace["main"]()
    assert isinstance(exc, ZeroDivisionError) and exc.__traceback__.tb_lineno == 3  # type: ignore[union-attr]
    with pytest.raises(SyntaxError) as error:
        watch.compile_workflow(b"def broken(:\n", str(path))
    assert error.value.filename == str(path) and error.value.lineno == 1


def test_the_watchdog_sees_a_sleep_on_the_loop_and_not_an_await() -> None:
    sent: list[protocol.Message] = []

    async def request(blocking: bool) -> None:
        state, token = watch.begin(7 if blocking else 8, sent.append, __file__)
        if blocking:
            time.sleep(0.2)
        else:
            await asyncio.sleep(0.2)
        await asyncio.sleep(0)
        await watch.end(state, token, 1.0)

    async def main() -> None:
        dog = watch.Watchdog(0.1)
        dog.start()
        await asyncio.sleep(0)  # from the next callback on: the one that started it was not timed
        try:
            await request(True)
            await request(False)
        finally:
            dog.stop()

    asyncio.run(main())
    blocked = [m for m in sent if isinstance(m, protocol.Blocked)]
    assert [(m.request, m.source, m.call) for m in blocked] == [(7, "time.sleep(0.2)", "time.sleep(0.2)")]
    assert blocked[0].milliseconds >= 190 and blocked[0].location.startswith(__file__)
    assert [m.request for m in sent if isinstance(m, protocol.Done)] == [7, 8]


def test_a_task_a_request_started_is_awaited_and_its_exception_reported_once() -> None:
    sent: list[protocol.Message] = []

    async def fails() -> None:
        await asyncio.sleep(0.05)
        raise LookupError("late")

    async def fine() -> None:
        await asyncio.sleep(0.01)

    async def main() -> None:
        watch.track_tasks(asyncio.get_running_loop())
        state, token = watch.begin(3, sent.append, __file__)
        asyncio.get_running_loop().create_task(fails())
        asyncio.get_running_loop().create_task(fine())
        await watch.end(state, token, 2.0)

    asyncio.run(main())
    reports = [m for m in sent if isinstance(m, protocol.ExceptionReport)]
    assert [(m.exc_type, m.phase, m.request) for m in reports] == [("LookupError", "task", 3)]
    assert isinstance(sent[-1], protocol.Done) and sent[-1].pending == 0


# --- the fixtures, in-process ------------------------------------------------------------------------


def findings(name: str) -> list[Any]:
    with InProcessTarget.from_path(RUNTIME / f"{name}.py") as target:
        return fuzz(target, FuzzConfig(**FAST)).findings  # type: ignore[arg-type]


def test_a_swallowed_keyerror_is_found_with_where_it_was_raised_and_caught() -> None:
    [finding] = findings("swallowed_keyerror")
    assert (finding.kind, finding.route, finding.check) == ("swallowed-exception", "POST /", "smoke")
    assert finding.message == ("KeyError: 'weight' (swallowed on 6 of 6 valid requests: caught by `except Exception "
                               "as exc` at line 52; POST / answered 200)")
    assert finding.location.endswith("swallowed_keyerror.py:45")
    assert finding.exception is not None and finding.exception.caught.endswith("swallowed_keyerror.py:52")
    assert finding.repro is not None and "curl -sS -X POST" in finding.repro.curl
    namespace: dict[str, Any] = {}
    exec(compile(finding.repro.inprocess_test, "regression.py", "exec"), namespace)  # noqa: S102
    test = namespace[finding.repro.test_name]
    with pytest.raises(AssertionError, match="KeyError"):  # fails while the bug is there
        test()


def test_a_blocking_call_through_a_helper_is_found() -> None:
    [finding] = findings("blocking_helper")
    assert (finding.kind, finding.route) == ("blocking-call", "POST /crawl")
    assert finding.location.endswith("blocking_helper.py:31")
    assert finding.message.startswith("POST /crawl held the event loop 1") and " ms in `time.sleep(PAUSE)`" in finding.message
    assert finding.message.endswith(" ms") and "; the longest block: " in finding.message  # 3 pages: 3 sleeps
    assert any("blocking_helper.py:38 in crawl" in line for line in finding.stack)  # the route's line below
    assert "assert not blocks" in finding.repro.regression_test


WARMS_UP_ONCE = """
import time

from fastapi import FastAPI

app = FastAPI()
_ready = []


def _load_model() -> None:
    if not _ready:  # the first request pays for a cache the others find full
        time.sleep(0.15)
        _ready.append(True)


@app.post("/classify")
async def classify() -> dict:
    _load_model()
    return {"label": "ok"}
"""


def test_a_line_that_holds_the_loop_only_once_is_a_note_not_a_finding(tmp_path: Path) -> None:
    # A warm-up (or a busy machine) blocks once; the same request sent again does not: not the workflow's bug.
    workflow = tmp_path / "warm_up.py"
    workflow.write_text(WARMS_UP_ONCE)
    with InProcessTarget.from_path(workflow) as target:
        report = fuzz(target, FuzzConfig(**FAST))  # type: ignore[arg-type]
    assert report.findings == []
    [route] = report.routes
    assert route.search is not None
    [note] = [n for n in route.search.notes if "held the event loop" in n]
    assert note.startswith("smoke: ") and "warm_up.py:12 held the event loop 1" in note
    assert note.endswith("ms once, and not when the same request was sent again (a first run's warm-up, or a busy "
                         "machine); not a finding")


def test_work_after_the_answer_is_found_and_tied_to_its_request() -> None:
    found = {f.route: f for f in findings("background_failure")}
    assert {r: f.kind for r, f in found.items()} == {"POST /signup": "background-exception",
                                                    "POST /refresh": "background-exception"}
    assert found["POST /signup"].message.startswith("KeyError in a BackgroundTasks function, after the 202 answer")
    assert found["POST /refresh"].message.startswith("AttributeError in a task the request started, after the 202")
    assert found["POST /refresh"].location.endswith("background_failure.py:48")
    assert found["POST /signup"].repro.request.json_body == {"email": "user@example.com"}


def test_the_near_misses_are_clean_and_a_logged_warning_is_a_note() -> None:
    with InProcessTarget.from_path(RUNTIME / "clean_near_misses.py") as target:
        report = fuzz(target, FuzzConfig(**FAST))  # type: ignore[arg-type]
        assert report.findings == []
        response = target.send("POST", "/notify", {"text": "a longer notice"})
        assert response.status == 202 and response.swallowed == () and response.blocks == ()
        assert response.logs and response.logs[0].startswith("WARNING near-misses: long notice: 15 characters (")
        lenient = target.send("POST", "/lenient", {"text": "x"})
        assert [e.type for e in lenient.swallowed] == ["ValueError"]  # seen, and not a programming error


def test_which_swallowed_exceptions_are_programming_errors(tmp_path: Path) -> None:
    from pydantic import BaseModel, ValidationError

    from cwtest.fuzz.classify import programming_error
    from cwtest.fuzz.target import exception_info, exception_of
    from cwtest.simulator.records import Call

    def caught(exc: BaseException) -> Any:
        try:
            raise exc
        except BaseException as raised:  # noqa: BLE001 - the test's own
            return exception_of(raised, __file__)

    def llm(text: str) -> Call:
        return Call(seq=1, service="openai", path="v1/chat/completions", method="POST", inputs={}, headers={},
                    correlation_id=None, request_id=None, in_background=False, status=200,
                    response={"choices": [{"message": {"content": text}}]})

    class Model(BaseModel):
        n: int

    try:
        Model(n="x")  # type: ignore[arg-type]
    except ValidationError as exc:
        invalid = exception_of(exc, __file__)
    [message] = run_code("import json\ndef main():\n    try:\n        return json.loads('Sure! Here is the JSON: {')\n"
                         "    except Exception:\n        return None\n", tmp_path)
    assert message.doc == "Sure! Here is the JSON: {"
    undecodable = exception_info(protocol.decode(protocol.encode(message).rstrip(b"\n"), protocol.CHILD))
    assert all(programming_error(caught(e), []) for e in (KeyError("k"), TypeError("t"), AttributeError("a"),
                                                          IndexError("i"), NameError("n"), UnboundLocalError("u")))
    assert programming_error(invalid, [])  # pydantic's ValidationError
    assert not programming_error(caught(ValueError("not a number")), [])  # the workflow's own validation
    assert not programming_error(caught(RuntimeError("upstream failed")), [])
    # a JSONDecodeError only on an LLM's text: its document is in an LLM call's answer of the request
    assert programming_error(undecodable, [llm("Sure! Here is the JSON: {")])
    assert not programming_error(undecodable, [llm("something else")])
    assert not programming_error(undecodable, [])


def test_a_task_still_running_when_the_wait_ends_is_counted_not_judged() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    keep: set[asyncio.Task[None]] = set()

    @app.post("/later")
    async def later() -> dict:
        keep.add(asyncio.create_task(asyncio.sleep(5)))
        return {"ok": True}

    with InProcessTarget(app, lifespan=False, wait=0.2) as target:
        response = target.send("POST", "/later")
        assert response.status == 200 and response.pending == 1 and response.exceptions == ()
    for task in keep:
        task.cancel()


@pytest.mark.parametrize(("inner", "cwtest", "judged"), [
    ("/usr/lib/python3.11/socket.py:706 in readinto", False, "finding"),
    ("/usr/lib/python3.11/threading.py:971 in start", False, "note"),  # a worker thread starting
    ("/usr/lib/python3.11/ssl.py:770 in create_default_context", False, "note"),  # an SSL context: a warm-up
    ("/usr/lib/python3.11/socket.py:706 in readinto", True, "note"),  # cwtest's routing below the line
])
def test_what_a_block_is_judged(inner: str, cwtest: bool, judged: str) -> None:
    from cwtest.fuzz.classify import Judge
    from cwtest.openapi import Route
    from cwtest.results import Block, Request, Response, RouteStats

    block = Block(150, 1, "/w/wf.py:9", "fetch()", "requests.get", ("/w/wf.py:9 in route", inner), cwtest)
    judge = Judge({}, frozenset({"fuzz"}), (), ())
    stats = RouteStats("POST /")
    found = judge.classify(Route("POST", "/"), "fuzz", Request("POST", "/", "/"), Response(200, {}, 0.2, blocks=(block,)),
                           [], None, stats)
    assert ("finding" if [o.kind for o in found] == ["blocking-call"] else "note" if stats.notes else "?") == judged
