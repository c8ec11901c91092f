"""The ``project`` fixture: a temporary project run with the plugin (see ``plugin_support``)."""

from __future__ import annotations

import pytest
from plugin_support import Project, make_project


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(pytester, monkeypatch)
