"""Hooks the plugin adds; implement them in a ``conftest.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_cwtest_mock_external(path: Path, config: pytest.Config) -> dict[str, Any] | None:
    """Answers for the outbound requests (httpx, requests, urllib, aiohttp) of the workflow at
    ``path`` in its items.

    Return ``{url_prefix: response}``: a dict or list is a 200 JSON body, a str a text body, bytes a
    raw body, ``cwtest.harness.runner.ExternalResponse(status=..., json=..., headers=...)`` anything
    else. The longest matching prefix wins. A request no answer (nor the cassette beside the
    workflow) matches is never sent: the client raises its own connection error, as with no
    network, and an item it makes fail is skipped as inconclusive, naming the request. Every
    implementation is called; their answers are merged.
    """
