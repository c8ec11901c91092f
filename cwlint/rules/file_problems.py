"""Files cwlint cannot read as Python source: one clear finding each, and the run goes on."""

from __future__ import annotations

import os
from pathlib import Path

from cwlint.diagnostics import Severity
from cwlint.rule import Invalid, Rule, Valid


def _latin1_without_declaration(path: Path) -> None:
    path.write_bytes("CITY = 'Z\u00fcrich'\n".encode("latin-1"))


def _latin1_with_declaration(path: Path) -> None:
    path.write_bytes("# -*- coding: latin-1 -*-\nCITY = 'Z\u00fcrich'\n".encode("latin-1"))


class UndecodableFile(Rule):
    """A file that is not valid in its encoding.

    ## What it does
    Reports a file whose bytes are not valid UTF-8 (or not valid in the encoding its PEP 263
    `# -*- coding: ... -*-` line declares), with the offending byte and its offset.

    ## Why is this bad?
    Python refuses to import it (`SyntaxError: Non-UTF-8 code`); so does the platform.

    ## Example
    ```python
    CITY = 'Z\\xfcrich'   # saved as Latin-1, no coding line
    ```

    ## Use instead
    ```python
    # -*- coding: latin-1 -*-
    CITY = 'Zürich'
    ```

    ## Fix safety
    No fix: the right encoding is a guess. Re-save the file as UTF-8.
    """

    code = "CW903"
    name = "undecodable-file"
    engine_rule = True
    VALID = [Valid("", make=_latin1_with_declaration)]
    INVALID = [Invalid("", expected=(("CW903", 1, 1),), make=_latin1_without_declaration, message="byte 0xfc")]


class BinaryFile(Rule):
    """A file with NUL bytes: binary data, not Python source.

    ## What it does
    Reports a `.py` file that contains NUL bytes (a compiled file, an archive, a copy gone
    wrong) instead of trying to parse it.

    ## Why is this bad?
    Python cannot import it; it is almost never what the author meant to commit.

    ## Example
    ```python
    # workflow.py holding the bytes of a .pyc
    ```

    ## Use instead
    ```python
    # the source file, or exclude the path
    ```

    ## Fix safety
    No fix.
    """

    code = "CW904"
    name = "binary-file"
    engine_rule = True
    VALID = [Valid("x = '\\\\0'\n")]
    INVALID = [Invalid("", expected=(("CW904", 1, 1),), make=lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"))]


class FileTooLarge(Rule):
    """A file over the size limit, skipped.

    ## What it does
    Reports a file larger than `max-file-size` (1 MB by default; 0 switches the limit off)
    and does not lint it.

    ## Why is this bad?
    Workflows are small; a file this large is generated or vendored, and linting it would
    cost time for findings nobody acts on. The warning says it was not checked.

    ## Example
    ```python
    # a 5 MB generated module next to the workflows
    ```

    ## Use instead
    ```python
    # exclude it, or raise max-file-size in [tool.cwlint]
    ```

    ## Fix safety
    No fix.
    """

    code = "CW905"
    name = "file-too-large"
    severity = Severity.WARNING
    engine_rule = True
    VALID = [Valid("x = 1\n", config={"max-file-size": 64})]
    INVALID = [Invalid("DATA = '" + "x" * 100 + "'\n", expected=(("CW905", 1, 1),), config={"max-file-size": 64})]


class UnreadableFile(Rule):
    """A path that cannot be read: not a regular file, no permission, gone, a symlink loop.

    ## What it does
    Reports a named or discovered `.py` path that is a FIFO, a socket or a device, cannot be
    opened, or is a symlink that leads nowhere.

    ## Why is this bad?
    Nothing in it was checked; saying so beats passing silently.

    ## Example
    ```python
    # workflow.py -> ../missing.py (a dangling symlink)
    ```

    ## Use instead
    ```python
    # fix the link or the permissions, or exclude the path
    ```

    ## Fix safety
    No fix.
    """

    code = "CW906"
    name = "unreadable-file"
    engine_rule = True
    VALID = [Valid("x = 1\n")]
    INVALID = [Invalid("", expected=(("CW906", 1, 1),), make=lambda p: os.mkfifo(p), message="not a regular file")]


class FixFailed(Rule):
    """Fixes that would break the file: nothing was written.

    ## What it does
    Reports a file whose fixes produced code that does not parse, or kept producing new
    fixes past the iteration limit. The file is left byte-for-byte as it was and its
    findings are reported unfixed.

    ## Why is this bad?
    It is cwlint's bug, not yours; it is reported so that `--fix` never silently does half a
    job. Please report it with the file.

    ## Example
    ```python
    # cwlint --fix on a file where two fixes conflict
    ```

    ## Use instead
    ```python
    # fix the findings by hand, or ignore the rule whose fix failed
    ```

    ## Fix safety
    No fix.
    """

    code = "CW907"
    name = "fix-failed"
    engine_rule = True
    shown_by = "tests/test_engine.py::test_fix_that_breaks_code_leaves_file_unchanged"
    VALID = [Valid("x = 1\n")]
    INVALID = []
