"""The real codewords-client, per pinned version, against the served simulator."""

from __future__ import annotations

import pytest

from conftest import run_scenario

pytestmark = pytest.mark.protocol


def test_smoke(client_env, runtime, tmp_path):
    [result] = run_scenario(client_env, runtime, tmp_path, "run_many",
                            calls=[{"service_id": "openai", "inputs": {"model": "gpt-4o", "prompt": "hi"}}])
    assert result["ok"], result
    [call] = runtime.calls("openai")
    assert call.status == 200
