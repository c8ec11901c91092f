"""``import codewords_client`` patches ``FastAPI.__init__`` process-wide; the simulator must not care."""

from __future__ import annotations

import json

import pytest

from cwtest_support import REPO, HERE, run_python

pytestmark = pytest.mark.protocol


def probe(client_env, mode: str, tmp_path) -> dict:
    stdout = run_python(client_env.python, [str(HERE / "clients" / "patch_probe.py"), mode],
                        {"PYTHONPATH": str(REPO), "HOME": str(tmp_path)}, tmp_path)
    [line] = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def test_the_simulator_answers_the_same_in_a_process_the_client_patched(client_env, tmp_path):
    plain = probe(client_env, "plain", tmp_path)
    patched = probe(client_env, "patched", tmp_path)
    assert patched["fastapi_patched"] and not plain["fastapi_patched"]  # the premise holds
    assert patched["asgi"] == plain["asgi"] and patched["http"] == plain["http"]
    # nothing of the client's middleware or error handlers leaked in
    for answer in patched["asgi"] + patched["http"]:
        assert "x-request-id" not in answer["headers"] and "error-origin" not in answer["headers"]
    statuses = [a["status"] for a in patched["http"]]
    assert statuses == [200, 401, 422, 404, 403, 503, 200, 200, 200, 404]
    assert patched["asgi"] == patched["http"]
