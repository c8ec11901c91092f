from __future__ import annotations

import libcst as cst

from cwlint.catalog import FIRM
from cwlint.context import dict_items, service_call
from cwlint.diagnostics import Applicability, Severity
from cwlint.rule import Invalid, Rule, Valid


class RenamedInputKey(Rule):
    """An input key the catalog marks as renamed for the service it is sent to.

    ## What it does
    Reports a key of a literal `inputs` dict (keyword or positional) that the service
    catalog lists under `renamed` for the service and path called: `action` for
    `redis_coordinator` (now `operation`), `app_slug` and `action_name` for `pipedream`
    (now `app` and `action`).

    ## Why is this bad?
    The service ignores or rejects the old key: a redis `get` with `action` never reads,
    a pipedream call with `app_slug` never reaches the app. The docs themselves carried
    these keys before their "Fixed: was ..." corrections, so copied code still has them.

    ## Example
    ```python
    await client.run(
        service_id="redis_coordinator",
        inputs={"action": "get", "key": cache_key},
    )
    ```

    ## Use instead
    ```python
    await client.run(
        service_id="redis_coordinator",
        inputs={"operation": "get", "key": cache_key},
    )
    ```

    ## Fix safety
    Safe when the catalog documents the rename (the key's quotes are kept; nothing else
    moves). A rename known only from examples gives a warning without a fix, and so does a
    dict that already holds the new key (renaming would duplicate it).
    """

    code = "CW103"
    name = "renamed-input-key"
    triggers = ("service_id", "run(")
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            async def remember(client, key: str, value: str) -> None:
                await client.run(
                    service_id="redis_coordinator",
                    inputs={"operation": "set", "key": key, "value": value, "ttl": 3600},
                )
            """
        ),
        # `action` is pipedream's own key.
        Valid(
            """
            async def notify(client, text: str) -> None:
                await client.run(
                    service_id="pipedream",
                    inputs={"app": "slack", "action": "send-message", "props": {"channel": "#ops", "text": text}},
                )
            """
        ),
        # A dict that is not service inputs.
        Valid(
            """
            event = {"action": "get", "key": "k"}
            audit_log.append({"app_slug": "slack", "action_name": "send-message"})
            """
        ),
        # Another workflow's id: the catalog does not know its inputs.
        Valid(
            """
            async def run_other(client) -> None:
                await client.run(service_id="lead_scorer_1a2b3c4d", inputs={"action": "score"})
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def cached(key: str) -> str | None:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(
                        service_id="redis_coordinator",
                        inputs={"action": "get", "key": key},
                    )
                    return resp.json().get("value")
            """,
            expected=(("CW103", 7, 21),),
            fixed="""
            from codewords_client import AsyncCodewordsClient

            async def cached(key: str) -> str | None:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(
                        service_id="redis_coordinator",
                        inputs={"operation": "get", "key": key},
                    )
                    return resp.json().get("value")
            """,
        ),
        # Positional form, single quotes kept, both pipedream keys.
        Invalid(
            """
            async def notify(client, text):
                await client.run('pipedream', {'app_slug': 'slack', 'action_name': 'send-message', 'props': {'text': text}})
            """,
            expected=(("CW103", 2, 36), ("CW103", 2, 57)),
            fixed="""
            async def notify(client, text):
                await client.run('pipedream', {'app': 'slack', 'action': 'send-message', 'props': {'text': text}})
            """,
        ),
        # The new key is already there: reported, not fixed.
        Invalid(
            """
            async def cached(client, key):
                await client.run(service_id="redis_coordinator", inputs={"action": "get", "operation": "get", "key": key})
            """,
            expected=(("CW103", 2, 62),),
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None or call.service_id is None or call.path is None or call.literal_inputs is None:
            return
        service = self.ctx.catalog.get(call.service_id)
        variant = service.variant(call.path, has_body=True) if service else None
        if variant is None or not variant.renamed:
            return
        items = dict_items(call.literal_inputs)
        present = {key for key, _ in items}
        for key, element in items:
            rename = variant.renamed.get(key)
            if rename is None:
                continue
            firm = rename.confidence in FIRM
            message = f'"{key}" is not an input of {call.service_id}; it was renamed to "{rename.to}"'
            fix = None
            if firm and rename.to not in present and isinstance(element.key, cst.SimpleString):
                quoted = element.key.prefix + element.key.quote + rename.to + element.key.quote
                fix = self.make_fix(f'Rename to "{rename.to}"', [self.ctx.replace(element.key, quoted)], Applicability.SAFE)
            self.report(
                element.key,
                message + ("" if firm else f" (seen in examples only: {rename.source})"),
                fix=fix,
                severity=None if firm else Severity.WARNING,
            )
