from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from cwlint import noqa
from cwlint.analysis.env_reads import is_env_style
from cwlint.analysis.header_layout import declare_env_vars
from cwlint.context import dict_items, service_call, string_value
from cwlint.diagnostics import Applicability, Diagnostic
from cwlint.header import add_env_var
from cwlint.rule import Invalid, Rule, Valid

if TYPE_CHECKING:  # the catalog's models import pydantic: only when a file needs them
    from cwlint.catalog import EnvFromInput, Variant


class MissingPipedreamAccess(Rule):
    """A Pipedream call for app X without `PIPEDREAM_<X>_ACCESS` in the header's `env_vars`.

    ## What it does
    Reports the `app` of a `pipedream` service call when it is a literal (or a name bound
    once to a literal, or a dict bound once to a name and passed as `inputs`) and the header
    does not declare the access variable the catalog names for it: `PIPEDREAM_` + the slug
    upper-cased (`-` becomes `_`) + `_ACCESS`, e.g. `PIPEDREAM_SLACK_ACCESS` for `slack`.
    The old key `app_slug` counts as `app` here (CW103 reports the key itself).

    ## Why is this bad?
    The platform gives a workflow access to the user's connected app only when the header
    declares the variable ("Critical" in the platform's MCP instructions). Without it the call
    fails at run time although the user connected the app, and the error does not say which
    line of the header is missing.

    ## Example
    ```python
    # [tool.env-checker]
    # env_vars = ["PORT=8000"]
    ...
    await client.run(service_id="pipedream", inputs={"app": "slack", "action": "send-message", "props": props})
    ```

    ## Use instead
    ```python
    # [tool.env-checker]
    # env_vars = ["PORT=8000", "PIPEDREAM_SLACK_ACCESS"]
    ```

    ## Fix safety
    Safe: the variable is appended to `env_vars` (bare, as the docs declare it) in the
    header's own layout; the call could not work without it. Every fix of a file declares all
    the file's missing apps in one edit, so one `--fix` declares any number of them; an app
    whose call carries `# noqa: CW404` is left out.
    """

    code = "CW404"
    name = "missing-pipedream-access"
    scope = "workflow"
    triggers = ("pipedream",)
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
            #     "PIPEDREAM_SLACK_ACCESS",
            #     "PIPEDREAM_GOOGLE_SHEETS_ACCESS",
            # ]
            # ///
            from codewords_client import AsyncCodewordsClient

            async def notify(text: str, row: list) -> None:
                async with AsyncCodewordsClient() as client:
                    await client.run(
                        service_id="pipedream",
                        inputs={"app": "slack", "action": "send-message", "props": {"channel": "#ops", "text": text}},
                    )
                    await client.run(service_id="pipedream", inputs={"app": "google_sheets", "action": "add-single-row", "props": {"row": row}})
            """
        ),
        # A dynamic app cannot be checked; other services' "app" keys are not Pipedream's.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000"]
            # ///
            from codewords_client import AsyncCodewordsClient

            async def run_action(client: AsyncCodewordsClient, app: str, action: str, props: dict) -> None:
                await client.run(service_id="pipedream", inputs={"app": app, "action": action, "props": props})

            async def deploy(client: AsyncCodewordsClient) -> None:
                await client.run(service_id="my_deployer_1a2b3c4d", inputs={"app": "slack"})
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "LOGLEVEL=INFO",
            # ]
            # ///
            from codewords_client import AsyncCodewordsClient

            async def notify(text: str) -> None:
                async with AsyncCodewordsClient() as client:
                    await client.run(
                        service_id="pipedream",
                        inputs={"app": "slack", "action": "send-message", "props": {"channel": "#ops", "text": text}},
                    )
            """,
            expected=(("CW404", 16, 28),),
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = [
            #     "PORT=8000",
            #     "LOGLEVEL=INFO",
            #     "PIPEDREAM_SLACK_ACCESS",
            # ]
            # ///
            from codewords_client import AsyncCodewordsClient

            async def notify(text: str) -> None:
                async with AsyncCodewordsClient() as client:
                    await client.run(
                        service_id="pipedream",
                        inputs={"app": "slack", "action": "send-message", "props": {"channel": "#ops", "text": text}},
                    )
            """,
            message="PIPEDREAM_SLACK_ACCESS",
        ),
        # The app through a constant, inputs built beforehand, the old `app_slug` key, and a
        # slug with a dash.
        Invalid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000"]
            # ///
            from codewords_client import AsyncCodewordsClient

            CRM_APP = "hubspot"

            async def update(client: AsyncCodewordsClient, ticket_id: str) -> None:
                payload = {"app": CRM_APP, "action": "update-ticket", "props": {"ticket_id": ticket_id}}
                await client.run(service_id="pipedream", inputs=payload)
                await client.run(service_id="pipedream", inputs={"app_slug": "google-calendar", "action": "quick-add-event", "props": {}})
            """,
            expected=(("CW404", 11, 23), ("CW404", 13, 66)),
            fixed="""
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000", "PIPEDREAM_HUBSPOT_ACCESS", "PIPEDREAM_GOOGLE_CALENDAR_ACCESS"]
            # ///
            from codewords_client import AsyncCodewordsClient

            CRM_APP = "hubspot"

            async def update(client: AsyncCodewordsClient, ticket_id: str) -> None:
                payload = {"app": CRM_APP, "action": "update-ticket", "props": {"ticket_id": ticket_id}}
                await client.run(service_id="pipedream", inputs=payload)
                await client.run(service_id="pipedream", inputs={"app_slug": "google-calendar", "action": "quick-add-event", "props": {}})
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        #: Names bound exactly once to a literal (a string or a dict display); None: ambiguous.
        self.bindings: dict[str, cst.BaseExpression | None] = {}
        self.reported: set[str] = set()
        #: Findings with a fix, and the name each declares (all declared in one edit at the end).
        self.pending: list[tuple[Diagnostic, str]] = []

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self._bind(target.target.value, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name) and node.value is not None:
            self._bind(node.target.value, node.value)

    def visit_Param(self, node: cst.Param) -> None:
        self.bindings[node.name.value] = None

    def _bind(self, name: str, value: cst.BaseExpression) -> None:
        literal = isinstance(value, cst.Dict) or string_value(value) is not None
        self.bindings[name] = value if literal and name not in self.bindings else None

    def _resolve(self, expr: cst.BaseExpression | None) -> cst.BaseExpression | None:
        if isinstance(expr, cst.Name):
            return self.bindings.get(expr.value)
        return expr

    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None or call.service_id is None:
            return
        service = self.ctx.catalog.get(call.service_id)
        if service is None:
            return
        inputs = self._resolve(call.inputs)
        if not isinstance(inputs, cst.Dict):
            return
        for variant in service.variants:
            rule = variant.env_from_input
            if rule is not None:
                self._check(variant, rule, inputs)

    def _check(self, variant: Variant, rule: EnvFromInput, inputs: cst.Dict) -> None:
        keys = {rule.input} | {old for old, rename in variant.renamed.items() if rename.to == rule.input}
        header = self.ctx.header
        for key, element in dict_items(inputs):
            if key not in keys:
                continue
            value_node = element.value
            literal = self._resolve(value_node)
            value = string_value(literal) if literal is not None else None
            if not value:
                continue
            env = rule.env_var(value)
            if not is_env_style(env) or env in self.reported:
                continue
            if header is None or header.end_line is None or header.error or header.declares_env(env):
                continue
            self.reported.add(env)
            edits = add_env_var(self.ctx.text, header, env)
            fix = self.make_fix(f"Declare `{env}` in `env_vars`", edits, Applicability.SAFE) if edits else None
            self.report(
                value_node,
                f"Pipedream app `{value}` needs `{env}` in the header's `env_vars`: without it the"
                " platform does not give the workflow access to the connected app",
                fix=fix,
            )
            if fix is not None:
                self.pending.append((self.diagnostics[-1], env))

    def leave_Module(self, node: cst.Module) -> None:
        """Every fix declares all the file's missing names in one edit, the same in each (the
        engine applies it once): any number of apps is fixed in one round. A finding suppressed
        with ``# noqa: CW404`` keeps its name out of the header."""
        header = self.ctx.header
        if len(self.pending) < 2 or header is None:
            return
        suppressions = noqa.parse(self.ctx.text)
        names = [env for d, env in self.pending if not suppressions.hides(d, self.ctx.settings.bare_noqa)]
        shared = declare_env_vars(self.ctx.text, header, names)
        if not shared:
            return  # a layout one edit cannot extend: one name per round, as before
        listed = ", ".join(f"`{name}`" for name in names)
        for diagnostic, env in self.pending:
            if env in names:
                diagnostic.fix = self.make_fix(f"Declare {listed} in `env_vars`", shared, Applicability.SAFE)
