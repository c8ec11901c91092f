"""``cwtest record`` and the replay of its cassette: a local HTTP server stands in for the outside
API and a second simulator for the real runtime; nothing here reaches the internet.

The recording run performs the workflow's outbound requests from cwtest's process (the sandbox
still has no network) and sends its library-service calls to the "real" runtime; the cassette
(VCR.py's YAML) holds them with the secrets redacted; a run with both servers gone replays it
and gets the same answers and the same results.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness_support import WORKFLOWS

from cwtest.fuzz import FuzzConfig
from cwtest.harness.cli import record_main, run_main
from cwtest.harness.runner import Harness
from cwtest.simulator import SimulatedRuntime

pytestmark = pytest.mark.sandbox
TOKEN = "prices-token-5f2c9a81d7e4b3"


class _Prices(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Prices.seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "key": self.headers.get("X-Api-Key")})
        body = json.dumps({"price": 42.5} if self.path.startswith("/v1/quote") else {"volume": 1200}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=abc123secretcookie")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def outside() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prices)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Prices.seen = []
    yield server
    server.shutdown()
    server.server_close()


def test_record_then_replay_offline_gives_the_same_answers_and_results(tmp_path: Path, outside: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = tmp_path / "recorded_quote.py"
    shutil.copy(WORKFLOWS / "recorded_quote.py", workflow)
    real = SimulatedRuntime(api_key="real-runtime-key-7a1c", seed=99).start()
    base = f"http://127.0.0.1:{outside.server_address[1]}"
    values = {"PRICES_URL": base, "PRICES_TOKEN": TOKEN}
    try:
        recorder = Harness(timeout=60, record=True, runtime_url=real.url, runtime_key=real.api_key, env_values=values)
        with recorder.boot(workflow) as booted:
            recorded = booted.client.post("/", json={"symbol": "ACME"}).json()
        [llm] = real.calls("openai")  # the library call went to the "real" runtime, with the real key
        assert llm.status == 200
    finally:
        real.stop()
    assert recorded["price"] == 42.5 and recorded["volume"] == 1200
    assert [s["auth"] for s in _Prices.seen] == [f"Bearer {TOKEN}", None] and _Prices.seen[1]["key"] == TOKEN
    cassette = tmp_path / "cassettes" / "recorded_quote.yaml"
    text = cassette.read_text()
    assert TOKEN not in text and "abc123secretcookie" not in text and "real-runtime-key-7a1c" not in text
    data = yaml.safe_load(text)
    assert data["version"] == 1
    uris = [i["request"]["uri"] for i in data["interactions"]]
    assert uris == ["{{PRICES_URL}}/v1/quote?symbol=ACME&api_key={{PRICES_TOKEN}}",
                    "{{PRICES_URL}}/v1/volume?symbol=ACME", "http://runtime.cwtest.invalid/run/openai/"]
    quote = data["interactions"][0]
    assert quote["request"]["headers"]["authorization"] == ["REDACTED"]
    assert quote["response"]["headers"]["set-cookie"] == ["REDACTED"]
    assert json.loads(quote["response"]["body"]["string"]) == {"price": 42.5}
    # offline: both servers gone, no value given (the variables get placeholders)
    outside.shutdown()
    with Harness(timeout=60).boot(workflow) as booted:
        replayed = booted.client.post("/", json={"symbol": "ACME"}).json()
    assert replayed == recorded  # the outside API's answers and the "real" runtime's LLM answer
    assert len(_Prices.seen) == 2  # nothing reached the server again



def test_a_run_replaying_a_recorded_run_has_the_same_results(tmp_path: Path, outside: Any) -> None:
    workflow = tmp_path / "recorded_quote.py"
    shutil.copy(WORKFLOWS / "recorded_quote.py", workflow)
    real = SimulatedRuntime(api_key="real-runtime-key-7a1c", seed=99).start()
    values = {"PRICES_URL": f"http://127.0.0.1:{outside.server_address[1]}", "PRICES_TOKEN": TOKEN}
    config = FuzzConfig(examples=3, seed=0, shrink_time=0, checks=("fuzz",))
    try:
        recording = Harness(timeout=60, record=True, runtime_url=real.url, runtime_key=real.api_key,
                            env_values=values, fuzz=config).run([workflow]).results[0]
    finally:
        real.stop()
    outside.shutdown()
    replay = Harness(timeout=60, fuzz=config).run([workflow]).results[0]

    def shape(result: Any) -> Any:
        return (result.verdict, [(r.name, r.status, result.route_verdict(r)) for r in result.routes],
                [(f.kind, f.message) for f in result.findings], (result.fuzz or {}).get("requests"))

    assert recording.cassette["recorded"] >= 3 and replay.cassette["played"] == recording.cassette["recorded"]
    assert shape(replay) == shape(recording) and recording.verdict.value == "passed"


def test_cwtest_record_and_run_from_the_command_line(tmp_path: Path, outside: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / "recorded_quote.py"
    shutil.copy(WORKFLOWS / "recorded_quote.py", workflow)
    env = tmp_path / ".env"
    env.write_text(f"PRICES_URL=http://127.0.0.1:{outside.server_address[1]}\nPRICES_TOKEN={TOKEN}\n")
    assert record_main([str(workflow), "--env-file", str(env)]) == 0
    assert "3 interaction(s) written" not in capsys.readouterr().out  # no --runtime: the LLM call is simulated
    assert (tmp_path / "cassettes" / "recorded_quote.yaml").is_file()
    outside.shutdown()
    out = tmp_path / "report.json"
    assert run_main([str(workflow), "--examples", "0", "--no-progress", "--output-format", "json",
                     "-o", str(out)]) == 0
    [result] = json.loads(out.read_text())["workflows"]
    assert result["verdict"] == "passed" and result["cassette"]["played"] == 2
    assert {e["answers"].get("cassette") for e in result["egress"]} == {1}
    assert run_main([str(workflow), "--examples", "0", "--no-progress", "--no-cassettes", "--output-format",
                     "json", "-o", str(out)]) == 0  # refused without it: inconclusive, not a finding
    assert json.loads(out.read_text())["workflows"][0]["verdict"] == "inconclusive"
