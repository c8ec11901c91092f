"""Fixtures for cwtest's tests: a served simulator, and client environments built once a session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cwtest import SimulatedRuntime
from client_envs import CLIENT_VERSIONS, build_env, client_requirements

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCENARIOS = HERE / "clients" / "scenarios.py"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "protocol: runs the real codewords-client (built with uv per version) against the simulator"
    )
    config.addinivalue_line("markers", "redis: needs Debian's redis-server (CI installs it)")


@pytest.fixture
def runtime() -> Iterator[SimulatedRuntime]:
    with SimulatedRuntime(connected_apps={"slack", "hubspot"}) as served:
        yield served


def require_redis() -> None:
    """Skip without redis-server on a developer machine; in CI its absence is a failure."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI: .ci/run must install it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")


@dataclass(frozen=True)
class ClientEnv:
    """One built environment: its interpreter and the client version it holds."""

    version: str
    python: Path

    @property
    def at_least_0_4(self) -> bool:
        return tuple(int(p) for p in self.version.split(".")) >= (0, 4)


@pytest.fixture(scope="session", params=CLIENT_VERSIONS, ids=lambda v: f"client-{v}")
def client_env(request: pytest.FixtureRequest) -> ClientEnv:
    return ClientEnv(request.param, build_env(client_requirements(request.param)))


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """Only what a process needs, so no credential of the developer's shell reaches the client."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    return {**keep, "LOGLEVEL": "INFO", **extra}


def run_python(python: Path, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run([str(python), *args], env=clean_env(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{args[:2]} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout


def run_scenario(env: ClientEnv, runtime: SimulatedRuntime, cwd: Path, name: str, **params: Any) -> Any:
    """Run one client scenario in the client environment; returns what it printed as its result."""
    stdout = run_python(env.python, [str(SCENARIOS), name, json.dumps(params)], {**runtime.env(), "HOME": str(cwd)},
                        cwd)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"scenario {name} printed no result:\n{stdout[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])
