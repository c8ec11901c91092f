"""Issue 17: nothing secret in any output. One redaction step (``cwtest.redact``) at every output.

The unit tests pin what is masked and what is left readable. The sandboxed test boots
``workflows/leaky.py``, which plants a secret in each place a report echoes: an API key in the
query string and a token in the headers of an outbound request whose error quotes the URL, a
known-format token in a request body (an example payload) and in a request header that become a
repro input, an ``--env`` value echoed in an exception message and in the stderr of a crash. It
first checks that each secret did reach the run's own results (so the planting works), then greps
every output format for it: the full text report, JSON, JUnit, the regression test files, the
curl commands, the in-process fuzz report, and the ``cwtest run`` command line's outputs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cwtest.redact import Redactor, credential_name, redact_report, secret_values

WORKFLOWS = Path(__file__).resolve().parent / "workflows"
REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "fixtures" / "real"
WEATHER_KEY = "wk_9fQ2xL7mP4vR8tZ1"
SERVICE_TOKEN = "st-Hx82kPq9Lm3Vz7Rw"
BODY_TOKEN = "sk-proj-Q7vX2mLp9RtK4wZc8NbY3hJd6FgS1aEu"


# --- what is masked, what is not -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "secret", "shown"), [
    ("GET https://api.x.example/v1?q=1&api_key=ABCDEF1234567890&page=2", "ABCDEF1234567890", "api_key=ABCD****&page=2"),
    ("curl -X POST 'http://127.0.0.1:8000/?token=zq81kdm2lq93' -H 'x: y'", "zq81kdm2lq93", "token=zq8****"),
    ("-H 'X-API-Key: kf82LmQ0Zp3x'", "kf82LmQ0Zp3x", "X-API-Key: kf8****"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abc", "eyJhbGciOiJIUzI1NiJ9abc", "Authorization: Bearer eyJh****"),
    ("send('POST', '/', {'text': 'x', 'password': 'hunter2hunter'})", "hunter2hunter", "'password': 'hun****'"),
    ('{"client_secret": "c2VjcmV0LXZhbHVl"}', "c2VjcmV0LXZhbHVl", '"client_secret": "c2Vj****"'),
    ("ValueError: bad note 'sk-proj-Q7vX2mLp9RtK4wZc8NbY3hJd6FgS1aEu'", BODY_TOKEN, "'sk-p****'"),
    ("https://h.example/cb?Key=abcdef123456", "abcdef123456", "Key=abc****"),
])
def test_credentials_are_masked_to_a_prefix(text: str, secret: str, shown: str) -> None:
    redacted = Redactor().text(text)
    assert secret not in redacted
    assert shown in redacted


@pytest.mark.parametrize("text", [
    "check: fuzz · key: data · answered 500",  # the catalog key a service-contract finding names
    "KeyError: 'choices'",
    "token_type: bearer",
    "GET https://api.x.example/v1?city=Paris&page=2",
    "max_tokens: 1500",
    "content-type: application/json",
    "cache_key=user-42",
    "password: required",  # a validation message, not a credential
    "api_key: missing; the token: expired",
])
def test_what_is_not_a_credential_stays_readable(text: str) -> None:
    assert Redactor().text(text) == text


def test_known_values_are_masked_wherever_they_appear_also_url_encoded() -> None:
    redactor = Redactor(["p@ss word/42!"])
    out = redactor.text("said p@ss word/42! and p%40ss%20word%2F42%21 and p%40ss+word%2F42%21")
    assert "p@ss word/42!" not in out and "p%40ss%20word%2F42%21" not in out and "p%40ss+word%2F42%21" not in out


def test_redaction_is_idempotent() -> None:
    redactor = Redactor([SERVICE_TOKEN])
    once = redactor.text(f"token {SERVICE_TOKEN} at https://x.example/?api_key={WEATHER_KEY} {BODY_TOKEN}")
    assert redactor.text(once) == once


def test_json_values_mask_request_fields_by_name_but_not_a_reports_key_field() -> None:
    data = {"key": "data", "input": {"query": {"key": "abc123456", "page": "2"},
                                     "headers": {"Authorization": "Bearer x123456789"}}}
    assert Redactor().value(data) == {"key": "data", "input": {"query": {"key": "ab****", "page": "2"},
                                                               "headers": {"Authorization": "Bear****"}}}


def test_credential_names_come_from_the_issue_and_cwlints_secret_name_list() -> None:
    for name in ("api_key", "token", "key", "secret", "password", "Authorization", "X-API-Key", "OPENAI_API_KEY",
                 "db_pass", "clientSecret"):
        assert credential_name(name), name
    for name in ("max_tokens", "cache_key", "KeyError", "content-type", "page", "SECRET_NAME", "TOKEN_URL"):
        assert not credential_name(name), name


def test_the_secret_values_of_an_env_plan() -> None:
    values = {"CODEWORDS_API_KEY": "cwtest-abcdef0123", "WEATHER_API_KEY": "short1", "MODEL": "gpt-4o-mini",
              "SIGNING_BLOB": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "DEBUG": "false", "OTHER_KEY": "cwtest-other-key",
              "HOME": "/tmp/x"}
    found = secret_values(values, given={"WEATHER_API_KEY", "MODEL", "SIGNING_BLOB"}, injected={"CODEWORDS_API_KEY"},
                          placeholders={"OTHER_KEY"})
    assert sorted(found) == sorted(["cwtest-abcdef0123", "short1", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"])


# --- every output of a run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> object:
    from cwtest.fuzz import FuzzConfig
    from cwtest.harness.runner import ExternalResponse, Harness

    harness = Harness(timeout=30, fuzz=FuzzConfig(examples=3, seed=0, shrink_time=0))
    harness.env_values.update({"WEATHER_API_KEY": WEATHER_KEY, "SERVICE_TOKEN": SERVICE_TOKEN})
    harness.mock_external("https://api.weather.example/", ExternalResponse(status=503, text="down"))
    return harness.run([WORKFLOWS / "leaky.py"])


@pytest.mark.sandbox
def test_each_planted_secret_reaches_the_runs_results(leaky: object) -> None:
    """The planting works: without redaction, every secret is in the results."""
    [result] = leaky.results  # type: ignore[attr-defined]
    raw = json.dumps(result.as_json(), default=str) + result.stderr_tail
    for secret in (WEATHER_KEY, SERVICE_TOKEN, BODY_TOKEN):
        assert secret in raw, secret
    assert WEATHER_KEY in result.secrets and SERVICE_TOKEN in result.secrets
    kinds = {(f.kind, f.route) for f in result.findings}
    assert {("unhandled-exception", "POST /weather"), ("unhandled-exception", "POST /echo"),
            ("unhandled-exception", "POST /env"), ("crash", "POST /zexit")} <= kinds
    weather = next(f for f in result.findings if f.route == "POST /weather")
    header = dict(weather.repro.request.headers)["x-api-key"]
    assert header.startswith("sk-proj-") and header in weather.repro.curl and header in weather.repro.regression_test


def _secrets_of(report: object) -> list[str]:
    [result] = report.results  # type: ignore[attr-defined]
    planted = [WEATHER_KEY, SERVICE_TOKEN, BODY_TOKEN, *result.secrets]
    for finding in result.findings:  # the generated header values (a known format, and named x-api-key)
        if finding.repro is not None:
            planted += [v for n, v in finding.repro.request.headers if n == "x-api-key"]
    return planted


@pytest.mark.sandbox
def test_no_output_format_shows_a_secret_whole(leaky: object, tmp_path: Path) -> None:
    from cwtest.harness.fuzzing import write_regression_tests
    from cwtest.harness.report import render_full, render_json, render_junit

    [result] = leaky.results  # type: ignore[attr-defined]
    buffer = io.StringIO()
    render_full(leaky, Console(file=buffer, no_color=True, soft_wrap=True, width=200))  # type: ignore[arg-type]
    written = write_regression_tests(result.findings, tmp_path / "tests", result.secrets)
    assert len(written) >= 4
    outputs = {"full": buffer.getvalue(), "json": render_json(leaky), "junit": render_junit(leaky),  # type: ignore[arg-type]
               **{path.name: path.read_text() for path in written}}
    redacted = redact_report(leaky).results[0]
    outputs["curl"] = "\n".join(f.repro.curl for f in redacted.findings if f.repro)
    outputs["egress"] = json.dumps(redacted.egress)
    for name, text in outputs.items():
        for secret in _secrets_of(leaky):
            assert secret not in text, (name, secret)
    full = outputs["full"]
    assert "api_key=wk_9****" in full  # the error message's URL, masked to a prefix
    assert "sk-p****" in full and "st-H****" in full  # the body's token; the --env value in a message
    assert "stderr (tail):" in full and "fatal: SERVICE_TOKEN=st-H****" in full  # the crash's stderr tail
    assert "x-api-key: sk-p****" in outputs["curl"]
    assert json.loads(outputs["json"])["workflows"][0]["findings"]
    # the original report is untouched: the run keeps real values, the outputs do not
    assert any(WEATHER_KEY in f.message for f in result.findings)


@pytest.mark.sandbox
def test_the_command_line_shows_no_secret_in_any_format(tmp_path: Path) -> None:
    """``cwtest run --env ... --output-format full|json|junit -o ... --write-tests``, the key in a query
    string of fixtures/real/key_in_query.py: never shown whole, in any of them."""
    key = "wk_4TqV9xLm2Rp8Zs6N"
    outputs = {}
    for fmt in ("full", "json", "junit"):
        out = tmp_path / f"report.{fmt}"
        args = [sys.executable, "-m", "cwtest.harness.cli", "run", str(REAL / "key_in_query.py"), "--env",
                f"WEATHER_API_KEY={key}", "--mock-external", "https://api.weather.example/=503 down", "--examples",
                "3", "--shrink-time", "0", "--timeout", "30", "--output-format", fmt, "-o", str(out), "--no-progress"]
        if fmt == "full":
            args += ["--write-tests", str(tmp_path / "tests")]
        done = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO,
                              env={**os.environ, "NO_COLOR": "1"})
        assert done.returncode == 1, done.stderr[-2000:]
        outputs[fmt] = out.read_text() + done.stdout + done.stderr
    tests = list((tmp_path / "tests").glob("test_*.py"))
    assert tests
    outputs.update({path.name: path.read_text() for path in tests})
    for name, text in outputs.items():
        assert key not in text, name
    assert "api_key=wk_4****" in outputs["full"]
