"""``source.decode`` skips ``tokenize`` for files without a BOM or a coding declaration.

The shortcut must decide exactly as ``tokenize.detect_encoding`` does; the reference below is
the decoder as it was before the shortcut, compared on written and generated inputs.
"""

from __future__ import annotations

import codecs
import io
import tokenize
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwlint.source import FileProblem, SourceFile, decode


def reference(data: bytes, path: str) -> SourceFile:
    if b"\0" in data[:8192]:
        raise FileProblem("CW904", "binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc):
            raise FileProblem("CW903", f"cannot decode: {exc}") from None
        encoding = "utf-8"
    bom = encoding == "utf-8-sig"
    if bom:
        encoding = "utf-8"
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        declared = "declared " if encoding != "utf-8" or b"coding" in data[:200] else ""
        raise FileProblem(
            "CW903",
            f"not valid {declared}{encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start}"
            " (add a PEP 263 '# -*- coding: ... -*-' line or re-save as UTF-8)",
        ) from None
    except LookupError:
        raise FileProblem("CW903", f"unknown encoding {encoding!r} in the coding declaration") from None
    return SourceFile(path=path, text=text, encoding=encoding, bom=bom)


def outcome(function: Callable[[bytes, str], SourceFile], data: bytes) -> tuple[object, ...]:
    try:
        source = function(data, "w.py")
    except FileProblem as problem:
        return ("problem", problem.code, problem.message)
    return ("ok", source.text, source.encoding, source.bom)


CASES = [
    b"x = 1\n",
    b"",
    b"\r\n\r\nx = '\xc3\xa9'\r\n",
    codecs.BOM_UTF8 + b"x = 1\n",
    b"# -*- coding: latin-1 -*-\nx = '\xe9'\n",
    b"#!/usr/bin/env python\n# coding=cp1252\nx = '\x80'\n",
    b"x = 1\n# coding: latin-1\n",  # a third line: not a declaration
    b"\n\n# coding: latin-1\nx = '\xe9'\n",
    b"# coding: no-such-codec\n",
    b"x = '\xff'\n",
    b"\xff\xfe = 1\n",
    b"# no newline at all, coding: utf-8",
    b"x = 1\rcoding = 2\r# coding: latin-1\r",  # CR line ends: one line for the reader
    b"# vim: set fileencoding=utf-8 :\nx = 1\n",
    codecs.BOM_UTF8 + b"# coding: latin-1\n",
    b"x = 1\x00\n",
]


@pytest.mark.parametrize("data", CASES)
def test_decode_matches_the_tokenize_reference(data: bytes) -> None:
    assert outcome(decode, data) == outcome(reference, data)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", codecs.BOM_UTF8, b"# coding: latin-1\n", b"\n# -*- coding: utf-8 -*-\n", b"#!python\n"]),
    body=st.binary(max_size=60) | st.text(max_size=40).map(lambda t: t.encode("utf-8")),
)
def test_decode_matches_the_reference_on_generated_bytes(prefix: bytes, body: bytes) -> None:
    assert outcome(decode, prefix + body) == outcome(reference, prefix + body)
