from __future__ import annotations

from cwlint.diagnostics import Severity
from cwlint.rule import Invalid, Rule, Valid


class SyntaxError_(Rule):
    """A file that does not parse.

    ## What it does
    Reports the first syntax error of a file, with CPython's own message, line and column.
    Integer literals separated only by spaces (`30 24 3600`) get the hint that `*` was eaten
    by Markdown: code copied from rendered docs loses the asterisks, which render as italics.

    ## Why is this bad?
    The platform cannot import the workflow: every run fails before the first line of it.

    ## Example
    ```python
    await redis_set(key, value, ttl=30 24 3600)
    ```

    ## Use instead
    ```python
    await redis_set(key, value, ttl=30 * 24 * 3600)
    ```

    ## Fix safety
    No fix: what the author meant is a guess. No other rule runs on a file that does not
    parse.
    """

    code = "CW901"
    name = "syntax-error"
    engine_rule = True

    VALID = [Valid("TTL = 30 * 24 * 3600\n")]
    INVALID = [
        Invalid(
            """
            TTL = 30 24 3600
            """,
            expected=(("CW901", 1, 10),),
            message="did you mean `30 * 24 * 3600`?",
        ),
        Invalid(
            """
            def handler(request)
                return request
            """,
            expected=(("CW901", 1, 21),),
            message="expected ':'",
        ),
    ]


class UnsupportedSyntax(Rule):
    """Valid Python that LibCST cannot parse.

    ## What it does
    Reports a file that CPython compiles but LibCST, cwlint's parser, rejects (syntax newer
    than the LibCST release in use). The file is not linted.

    ## Why is this bad?
    It is not a bug in the workflow; it means cwlint saw nothing of this file, which should
    not pass silently.

    ## Example
    ```python
    # syntax newer than the installed LibCST understands
    ```

    ## Use instead
    ```python
    # upgrade cwkit (and so LibCST), or ignore CW902 for this file in per-file-ignores
    ```

    ## Fix safety
    No fix.
    """

    code = "CW902"
    name = "unsupported-syntax"
    severity = Severity.WARNING
    engine_rule = True
    shown_by = "tests/test_engine.py::test_libcst_only_failure_is_cw902"

    VALID = [Valid("x = 1\n")]
    INVALID = []
