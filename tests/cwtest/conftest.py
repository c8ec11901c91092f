"""Fixtures for cwtest's tests: a served simulator, and client environments built once a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client_envs import CLIENT_VERSIONS, build_env, client_requirements
from cwtest import SimulatedRuntime
from cwtest_support import ClientEnv, ScenarioWorker


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "protocol: runs the real codewords-client (built with uv per version) against the simulator"
    )
    config.addinivalue_line("markers", "redis: needs Debian's redis-server (CI installs it)")


@pytest.fixture
def runtime() -> Iterator[SimulatedRuntime]:
    with SimulatedRuntime(connected_apps={"slack", "hubspot"}) as served:
        yield served


@pytest.fixture(scope="session", params=CLIENT_VERSIONS, ids=lambda v: f"client-{v}")
def client_env(request: pytest.FixtureRequest) -> Iterator[ClientEnv]:
    python = build_env(client_requirements(request.param))
    worker = ScenarioWorker(python)
    yield ClientEnv(request.param, python, worker)
    worker.close()
