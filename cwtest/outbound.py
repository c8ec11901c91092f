"""Outbound requests of a workflow: how cwtest answers them (mocks), and the 599 it answers otherwise.

A workflow's outbound httpx requests are never sent (``cwtest.harness.child.outbound`` routes them,
in the sandboxed child and for the in-process fuzz target alike). ``mock_external(url, response)``
answers those whose URL starts with ``url``: ``external_response`` turns what the user gives into
an ``ExternalResponse``, and ``ExternalResponse.as_mock`` into the ``protocol.Mock`` both targets
answer with. Every other one is answered with a 599 whose ``detail`` starts with ``UNSENT_DETAIL``
(and reported as an ``outbound-http`` finding). A workflow that passes that 599 on as its own 5xx
has not failed on its own: on the platform the request might succeed. The smoke run
(``cwtest.harness.runner``) and the search (``cwtest.fuzz.engine``) both note it instead of
reporting a ``server-error``.

Imports nothing of cwtest but the child's stdlib-only modules (where the constants live, since the
child cannot import this package).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cwtest.harness.child import protocol
from cwtest.harness.child.outbound import UNSENT_DETAIL, UNSENT_STATUS

__all__ = ["UNSENT_DETAIL", "UNSENT_STATUS", "ExternalResponse", "external_response", "unsent_outbound"]


def unsent_outbound(status: int | None, detail: str) -> bool:
    """An answer that only passes on cwtest's own 599 for an outbound request it did not send."""
    return status == UNSENT_STATUS and UNSENT_DETAIL in detail


@dataclass(frozen=True)
class ExternalResponse:
    """What an intercepted outbound request is answered with (``mock_external``)."""

    status: int = 200
    json: Any = None
    text: str | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def as_mock(self, url: str, method: str | None) -> protocol.Mock:
        headers = dict(self.headers)
        if self.content is not None:
            body = self.content
        elif self.text is not None:
            body = self.text.encode()
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            body = json.dumps(self.json).encode()
            headers.setdefault("content-type", "application/json")
        return protocol.Mock(url=url, method=method, status=self.status, headers=headers,
                             body=base64.b64encode(body).decode())


def external_response(response: ExternalResponse | dict[str, Any] | list[Any] | str | bytes) -> ExternalResponse:
    """A dict or list is a 200 JSON body, a str a text body, bytes a raw body."""
    if isinstance(response, ExternalResponse):
        return response
    if isinstance(response, bytes):
        return ExternalResponse(content=response)
    if isinstance(response, str):
        return ExternalResponse(text=response)
    return ExternalResponse(json=response)
