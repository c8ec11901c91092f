"""The format a request field implies when its schema says only ``"type": "string"``.

Workflows take URLs and e-mail addresses as plain ``str`` fields and check them in a validator
(``if not v.startswith(("http://", "https://")): raise ValueError(...)``), and CodeWords file
inputs are plain strings marked with ``contentMediaType`` (``json_schema_extra={"contentMediaType":
"image/*"}``) whose value is the URL of the uploaded file. A generator that follows the schema
alone sends ``"aaaaaaaaaa"`` to such a field: every request is refused with a 422 and the route's
handler, where the bugs are, is never reached. So the smoke call and the search use the format
the field implies, from its name or its ``contentMediaType``:

* ``uri``: a name ending in ``url``, ``uri``, ``link``, ``href``, ``website``, ``homepage``,
  ``endpoint`` or ``webhook`` (``image_url``, ``websiteURL``, ``link``), or a
  ``contentMediaType`` without ``contentEncoding`` (a CodeWords file input);
* ``email``: ``email``, ``e_mail``, ``mail``, ``email_address``, ``contact_email``...

A field with its own ``format``, ``pattern``, ``enum`` or ``const`` keeps it. The search draws
from both the implied format and the plain strings, so the edge cases still reach a field whose
validator is looser than its name suggests. Shared by ``cwtest.harness.smoke`` and
``cwtest.fuzz.schema``; imports nothing.
"""

from __future__ import annotations

import re
from typing import Any

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_URL = re.compile(r"(?:^|_)(?:url|uri|link|href|website|homepage|endpoint|webhook)s?$")
_EMAIL = re.compile(r"(?:^|_)(?:e_?mail|mail)(?:_address)?s?$")


def implied_format(name: str, schema: Any) -> str | None:
    """``"uri"``, ``"email"`` or None for a property ``name`` with this (resolved) schema."""
    if not isinstance(schema, dict) or schema.get("type") != "string":
        return None
    if any(key in schema for key in ("format", "pattern", "enum", "const")):
        return None
    if schema.get("contentMediaType") and not schema.get("contentEncoding"):
        return "uri"
    words = _CAMEL.sub("_", name).lower()
    if _URL.search(words):
        return "uri"
    if _EMAIL.search(words):
        return "email"
    return None


def with_implied_format(name: str, schema: Any) -> dict[str, Any] | None:
    """The schema with the implied format added, or None when the name implies none.

    ``Optional[str]`` (``anyOf: [string, null]``) gets it on its string branch; pydantic puts a
    ``json_schema_extra`` such as ``contentMediaType`` beside the ``anyOf``, so it counts there too.
    """
    if not isinstance(schema, dict):
        return None
    implied = implied_format(name, schema)
    if implied is not None:
        return {**schema, "format": implied}
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or "type" in schema:
        return None
    extra = {k: schema[k] for k in ("contentMediaType", "contentEncoding") if k in schema}
    hinted = [with_implied_format(name, {**branch, **extra}) if isinstance(branch, dict) else None
              for branch in branches]
    if not any(hinted):
        return None
    return {**schema, "anyOf": [h if h is not None else b for h, b in zip(hinted, branches, strict=True)]}
