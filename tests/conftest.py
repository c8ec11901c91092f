"""The whole suite: ``tests/`` on ``sys.path`` (pytest's default ``prepend`` import mode does that for
this file's directory), so that every test directory imports ``needs``, the one helper that skips a
test whose system tool, sandbox layer or cgroup is missing (and fails it under ``CI=true``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _workflow_identity_reaches_the_tests_directories(request: pytest.FixtureRequest) -> None:
    """As root, outside bubblewrap (Landlock, the audit layer: a machine without bwrap), cwtest runs
    the workflow as an unprivileged uid of its own, which must reach the environment cache and the
    files a test puts in ``tmp_path`` (or pytester's directory). pytest makes those directories
    ``0700``; add only the search bit (``o+x``: no listing, no reading of anything not itself
    readable) to them and their parents, as a user would for a cache directory of their own."""
    if os.geteuid() != 0:
        return
    names = request.fixturenames
    paths = [request.getfixturevalue("tmp_path")] if "tmp_path" in names else []
    if "pytester" in names:
        paths.append(request.getfixturevalue("pytester").path)
    for path in paths:
        for directory in (path, *path.parents):
            if directory == Path("/"):
                break
            mode = directory.stat().st_mode
            if not mode & 0o001:
                directory.chmod(mode | 0o001)
