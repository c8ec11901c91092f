"""The answer a sandboxed workflow gets for an outbound request cwtest does not send.

The bootstrap (``cwtest/harness/bootstrap.py``, which cannot import this package and repeats
the two constants) answers such a request with a 599 whose ``detail`` starts with
``UNSENT_DETAIL``, and reports an ``outbound-http`` finding. A workflow that passes that 599 on
as its own 5xx has not failed on its own: on the platform the request might succeed. The smoke
run (``cwtest.harness.runner``) and the search (``cwtest.fuzz.engine``) both note it instead of
reporting a ``server-error``. Imports nothing.
"""

from __future__ import annotations

UNSENT_STATUS = 599
UNSENT_DETAIL = "cwtest: the request to "


def unsent_outbound(status: int | None, detail: str) -> bool:
    """An answer that only passes on cwtest's own 599 for an outbound request it did not send."""
    return status == UNSENT_STATUS and UNSENT_DETAIL in detail
