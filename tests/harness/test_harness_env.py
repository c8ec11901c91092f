"""Environments built with uv: cached by header, built once under a lock, never downloading a Python."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cwtest.harness.env import EnvError, EnvManager, EnvSpec

#: A tiny pure-Python wheel keeps the build test to a second or two.
TINY = EnvSpec(requires_python=None, dependencies=("iniconfig==2.0.0",))


def test_a_python_that_is_not_installed_is_a_finding_not_a_download(tmp_path: Path) -> None:
    manager = EnvManager("uv", tmp_path)
    with pytest.raises(EnvError) as caught:
        manager.prepare(EnvSpec(requires_python="==3.99.*", dependencies=("fastapi==0.116.1",)))
    assert caught.value.kind == "python-unavailable"
    assert "3.99" in caught.value.message and "\n" not in caught.value.message
    assert not any(p.name.startswith(".") for p in (tmp_path / "envs").iterdir())  # staging removed


def test_an_unresolvable_dependency_is_an_env_build_finding(tmp_path: Path) -> None:
    manager = EnvManager("uv", tmp_path)
    with pytest.raises(EnvError) as caught:
        manager.prepare(EnvSpec(requires_python=None, dependencies=("iniconfig==0.0.0.999",)))
    assert caught.value.kind == "env-build"
    assert "iniconfig" in caught.value.message


def test_concurrent_runs_build_one_environment_once(tmp_path: Path) -> None:
    manager = EnvManager("uv", tmp_path)
    results = []

    def prepare() -> None:
        results.append(manager.prepare(TINY))

    threads = [threading.Thread(target=prepare) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(results) == 3
    assert len({r.python for r in results}) == 1
    assert sorted(r.cached for r in results) == [False, True, True]  # one built, two waited and reused
    assert results[0].python.exists()
    envs = [p for p in (tmp_path / "envs").iterdir() if p.is_dir()]
    assert [p.name for p in envs] == [TINY.key()]  # no staging directory left
    again = EnvManager("uv", tmp_path).prepare(TINY)
    assert again.cached and again.python == results[0].python and again.key == TINY.key()


def test_env_current_checks_every_pin() -> None:
    import pytest as installed

    manager = EnvManager("current")
    ok = manager.prepare(EnvSpec(requires_python=">=3.11", dependencies=(f"pytest=={installed.__version__}",)))
    assert ok.kind == "current"
    with pytest.raises(EnvError) as caught:
        manager.prepare(EnvSpec(requires_python="==3.8.*",
                                dependencies=("pytest==0.0.1", "surely-not-installed-cwtest==1.0")))
    assert caught.value.kind == "env-mismatch"
    message = caught.value.message
    assert "requires-python ==3.8.*" in message and "pytest==0.0.1" in message
    assert "surely-not-installed-cwtest==1.0 (not installed)" in message
