from __future__ import annotations

import libcst as cst

from cwlint.analysis.header_layout import StringItem, report_at, scan
from cwlint.diagnostics import Applicability, Edit
from cwlint.rule import Invalid, Rule, Valid

#: The names ``logging`` accepts for a level given as a string (``logging._nameToLevel``).
LEVELS = ("CRITICAL", "FATAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "NOTSET")

#: Env vars parsed with ``int()`` by codewords-client, and when a bad value breaks.
INTEGERS = {
    "PORT": "`run_service` starts uvicorn with `int(PORT)`: the app never starts",
    "ERROR_TRACE_MAX_FRAMES": "codewords-client 0.4 parses it with `int()` inside the 500 handler: every error response fails",
    "ERROR_TRACE_MAX_CHARS": "codewords-client 0.4 parses it with `int()` inside the 500 handler: every error response fails",
}


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


class InvalidEnvDefault(Rule):
    """A `NAME=default` in `env_vars` that breaks the workflow when it is used.

    ## What it does
    Reports defaults in the header's `env_vars` that the client cannot parse:
    - `LOGLEVEL` not one of `CRITICAL`, `FATAL`, `ERROR`, `WARN`, `WARNING`, `INFO`, `DEBUG`,
      `NOTSET` (upper case: `logging` does not accept `info` or `verbose`);
    - `PORT` not an integer from 1 to 65535;
    - `ERROR_TRACE_MAX_FRAMES` / `ERROR_TRACE_MAX_CHARS` not integers.

    ## Why is this bad?
    `import codewords_client` runs `logging.basicConfig(level=LOGLEVEL)`, which raises
    `ValueError: Unknown level: 'info'`: the workflow dies at import, before any log line.
    `run_service` calls `int(PORT)` and binds the port: `PORT=auto` or `PORT=80000` stops the
    app from starting. The default applies whenever the user sets nothing, which is always in
    a fresh workflow.

    ## Example
    ```python
    # [tool.env-checker]
    # env_vars = ["PORT=8000", "LOGLEVEL=info"]
    ```

    ## Use instead
    ```python
    # [tool.env-checker]
    # env_vars = ["PORT=8000", "LOGLEVEL=INFO"]
    ```

    ## Fix safety
    Safe, for a `LOGLEVEL` that is a level name in the wrong case: upper-casing it gives the
    level the author named, where the workflow failed at import before. Other values need a
    decision and are not fixed.
    """

    code = "CW406"
    name = "invalid-env-default"
    scope = "workflow"
    triggers = ("LOGLEVEL=", "PORT=", "ERROR_TRACE_MAX_")
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "LOGLEVEL=WARNING",
            #     "CODEWORDS_API_KEY",
            #     "ERROR_TRACE_MAX_FRAMES=10",
            # ]
            # ///
            """
        ),
        # Other variables' defaults are the workflow's business; a bare PORT has no default.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["PORT", "LOG_FORMAT=info", "REPORT_PORT=auto", "APP_LOGLEVEL=verbose"]
            # ///
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "LOGLEVEL=info",
            # ]
            # ///
            """,
            expected=(("CW406", 7, 17),),
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "LOGLEVEL=INFO",
            # ]
            # ///
            """,
            message="Unknown level",
        ),
        # Not a level at all, and ports that cannot be bound: no fix.
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.4.11"]
            # [tool.env-checker]
            # env_vars = ["PORT=80000", "LOGLEVEL=20"]
            # ///
            """,
            expected=(("CW406", 4, 21), ("CW406", 4, 39)),
        ),
        # env_vars at the top level (no table) counts too.
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.4.11"]
            # env_vars = ["LOGLEVEL=VERBOSE", "PORT=${PORT}", "ERROR_TRACE_MAX_CHARS=2k"]
            # ///
            """,
            expected=(("CW406", 3, 25), ("CW406", 3, 41), ("CW406", 3, 74)),
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        header = self.ctx.header
        if header is None or header.end_line is None or header.error:
            return
        problems = []  # (name, default, (message, fixed default or None))
        for var in header.env_vars:
            if var.default is None:
                continue
            problem = self._problem(var.name, var.default)
            if problem is not None:
                problems.append((var.name, var.default, problem))
        if not problems:
            return
        items = scan(self.ctx.text, header).env_var_items()
        by_entry: dict[tuple[str, str], StringItem] = {}
        for item in items:  # split as Header.env_vars splits, to find each entry's string
            name, _, default = item.value.strip().partition("=")
            by_entry.setdefault((name.strip(), default), item)
        for name, default, (message, fixed) in problems:
            entry = by_entry.get((name, default))
            if entry is None or not entry.raw.endswith(default + entry.raw[-1]):
                report_at(self, header.start_line, 1, None, message)
                continue
            column = entry.end_column - 1 - len(default)
            fix = None
            if fixed is not None and "\\" not in entry.raw:
                start = self.ctx.offset(entry.line, column)
                fix = self.make_fix(
                    f"Use `{name}={fixed}`",
                    [Edit(start, start + len(default), fixed)],
                    Applicability.SAFE,
                )
            report_at(self, entry.line, column, column + len(default), message, fix=fix)

    @staticmethod
    def _problem(name: str, default: str) -> tuple[str, str | None] | None:
        value = default.strip()
        if name == "LOGLEVEL":
            if value in LEVELS:
                return None
            fixed = value.upper() if value.upper() in LEVELS and value == default else None
            return (
                f"`LOGLEVEL={default}`: `import codewords_client` calls `logging.basicConfig(level=...)`,"
                f" which raises `ValueError: Unknown level: {value!r}`; use DEBUG, INFO, WARNING, ERROR or CRITICAL",
                fixed,
            )
        if name in INTEGERS:
            number = _int(value)
            if number is not None and (name != "PORT" or 0 < number < 65536):
                return None
            why = "not an integer" if number is None else "not a port (1-65535)"
            return (f"`{name}={default}` is {why}: {INTEGERS[name]}", None)
        return None
