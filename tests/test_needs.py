"""tests/needs.py itself: a missing tool skips with its install line, and fails under CI=true."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from needs import in_ci, need_memory_cgroup, need_redis, need_tool

from cwtest.harness import sandbox


@pytest.mark.parametrize(("ci", "outcome"), [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_a_missing_tool_skips_with_its_install_line_or_fails_in_ci(ci: str | None, outcome: type[BaseException],
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    for call, line in ((lambda: need_tool("bwrap"), "apt-get install bubblewrap"),
                       (need_redis, "apt-get install redis-server")):
        with pytest.raises(outcome) as raised:
            call()
        assert line in str(raised.value)
        assert ("CI=true" in str(raised.value)) is (ci is not None)


def test_a_tool_on_the_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "openssl"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert need_tool("openssl") == str(tool)


def test_ci_means_a_true_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (("true", True), ("1", True), ("", False), ("false", False), ("0", False)):
        monkeypatch.setenv("CI", value)
        assert in_ci() is expected


def test_no_memory_cgroup_skips_with_the_probes_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    found = sandbox.probe()
    gone = replace(found, cgroup=replace(found.cgroup, version=None, parent=None, reason="no writable hierarchy")) \
        if found.cgroup is not None else found
    monkeypatch.setattr(sandbox, "probe", lambda: gone)
    with pytest.raises(pytest.skip.Exception, match="no writable hierarchy|not probed"):
        need_memory_cgroup()
