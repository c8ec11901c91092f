from __future__ import annotations

from typing import Any

import libcst as cst

from cwlint.analysis.service_inputs import (
    NOT_LITERAL,
    LiteralDict,
    basis,
    describe,
    fits,
    json_type,
    literal_value,
    same_value,
    severity_for,
)
from cwlint.catalog import InputSpec, Variant
from cwlint.context import service_call, string_value
from cwlint.rule import Invalid, Rule, Valid


def _condition(spec: InputSpec) -> str:
    if not spec.required_when:
        return ""
    parts = []
    for key, wanted in spec.required_when.items():
        values = [wanted] if isinstance(wanted, str) else wanted
        parts.append(f'"{key}" is ' + " or ".join(f'"{v}"' for v in values))
    return " when " + " and ".join(parts)


def _known(allowed: list[Any]) -> str:
    return ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in allowed)


class InvalidServiceInputs(Rule):
    """A literal `inputs` dict that breaks the catalog's contract for the service it calls.

    ## What it does
    Checks a literal `inputs` dict (keyword or positional) against the catalog variant of
    the service and path called: a required key missing, a key the contract does not know
    when the catalog lists all of them, a literal outside the known values (a redis
    `operation` of `"fetch"`), a literal of the wrong JSON type (`"ttl": "3600"`). Nested
    literals are checked too (the steps of `chrome_extension`). The dict is read as it is
    after the catalog's renames: a renamed key (`action` for `operation`) is CW103's alone,
    and the key it stands for is not missing.

    Names, calls, f-string parts and `**spreads` are not guessed at: a dict with a spread
    or a computed key is never reported for a missing key.

    ## Why is this bad?
    A library service answers a request that breaks its contract with an error (which the
    client raises as `httpx.HTTPStatusError`) or, worse, with a success that did nothing: a
    redis `set` without a `value`, a string `ttl` the store ignores.

    Many contracts are only known from the docs' examples. A finding is an error when the
    fact it rests on is documented or read in the client's source, and a warning when it
    was only seen in examples, in an older revision of the docs, or inferred.

    ## Example
    ```python
    await client.run(
        service_id="redis_coordinator",
        inputs={"operation": "store", "key": key, "value": html, "ttl": "3600"},
    )
    ```

    ## Use instead
    ```python
    await client.run(
        service_id="redis_coordinator",
        inputs={"operation": "set", "key": key, "value": html, "ttl": 3600},
    )
    ```

    ## Fix safety
    No fix: which key or value the author meant is a guess (`"store"` could mean `set` or
    an operation the catalog has not seen yet).
    """

    code = "CW104"
    name = "invalid-service-inputs"
    #: A service call passes `service_id=` or is made on a client the file names.
    triggers = ("service_id", "CodewordsClient")

    VALID = [
        Valid(
            """
            import json
            from codewords_client import AsyncCodewordsClient

            async def remember(key: str, snapshot: dict) -> None:
                async with AsyncCodewordsClient() as client:
                    await client.run(
                        service_id="redis_coordinator",
                        inputs={"operation": "set", "key": key, "value": json.dumps(snapshot), "ttl": 30 * 24 * 3600},
                    )
                    await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": key})
            """
        ),
        # Open contracts take more keys; another workflow's inputs are unknown; a vendor path.
        Valid(
            """
            async def ask(client, prompt: str, lead: dict) -> None:
                await client.run(service_id="openai", inputs={"model": "gpt-4o-mini", "prompt": prompt, "temperature": 0.2})
                await client.run(service_id="lead_scorer_1a2b3c4d", inputs={"operation": "score"})
                await client.run(
                    service_id="openai",
                    path="v1/chat/completions",
                    inputs={"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]},
                )
            """
        ),
        # Dynamic inputs: a spread, a variable, a computed value.
        Valid(
            """
            async def cache(client, base: dict, op: str, key: str, ttl) -> None:
                await client.run(service_id="redis_coordinator", inputs={**base, "operation": "set"})
                await client.run(service_id="redis_coordinator", inputs=base)
                await client.run(service_id="redis_coordinator", inputs={"operation": op, "key": key, "ttl": ttl})
            """
        ),
        # A renamed key is CW103's: neither it nor the key it stands for is reported here.
        Valid(
            """
            async def cached(client, key: str) -> None:
                await client.run(service_id="redis_coordinator", inputs={"action": "get", "key": key})
                await client.run(
                    service_id="pipedream",
                    inputs={"app_slug": "slack", "action_name": "send-message", "props": {"channel": "#ops", "text": "hi"}},
                )
            """
        ),
        # Steps the catalog knows, with their required fields.
        Valid(
            """
            async def grab(client, url: str) -> None:
                await client.run(
                    service_id="chrome_extension",
                    inputs={"actions": [{"type": "navigate", "url": url}, {"type": "wait", "time": 3}, {"type": "extract_html"}]},
                )
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def remember(key: str, html: str) -> None:
                async with AsyncCodewordsClient() as client:
                    await client.run(
                        service_id="redis_coordinator",
                        inputs={"operation": "store", "key": key, "value": html, "ttl": "3600"},
                    )
            """,
            expected=(("CW104", 7, 34), ("CW104", 7, 77)),
            message='"store" is not a known "operation" of redis_coordinator (known: "get", "set")',
        ),
        # Positional form: a set without its value; the renamed key still counts as the operation.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def remember(client: AsyncCodewordsClient, key: str) -> None:
                await client.run("redis_coordinator", {"operation": "set", "key": key})
                await client.run("redis_coordinator", {"action": "set", "key": key, "ttl": 60})
            """,
            expected=(("CW104", 4, 43), ("CW104", 5, 43)),
            message='redis_coordinator needs the input "value" when "operation" is "set"',
        ),
        # A closed contract: an unknown key, and a required one missing.
        Invalid(
            """
            async def notify(client, text: str) -> None:
                await client.run(
                    service_id="pipedream",
                    inputs={"app": "slack", "action": "send-message", "channel": "#ops", "text": text},
                )
            """,
            expected=(("CW104", 4, 16), ("CW104", 4, 59), ("CW104", 4, 78)),
        ),
        # Nested steps: a navigate without its url, a step type the catalog has not seen.
        Invalid(
            """
            async def grab(client) -> None:
                await client.run(
                    service_id="chrome_extension",
                    inputs={"actions": [{"type": "navigate"}, {"type": "click", "selector": "#go"}]},
                )
            """,
            expected=(("CW104", 4, 29), ("CW104", 4, 60)),
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None or call.service_id is None or call.path is None or call.literal_inputs is None:
            return
        method = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "method"), None)
        if method is not None and (string_value(method) or "").upper() == "GET":
            return  # client 0.4.11 sends no body with GET
        service = self.ctx.catalog.get(call.service_id)
        variant = service.variant(call.path, has_body=True) if service else None
        if variant is None:
            return
        self._check_inputs(call.service_id, variant, LiteralDict.read(call.literal_inputs))

    def _check_inputs(self, service_id: str, variant: Variant, view: LiteralDict) -> None:
        renamed = variant.renamed
        # The dict as it reads after the renames; a key written under its own name wins.
        present: dict[str, cst.DictElement] = {}
        for key, element in view.items:
            if key not in renamed:
                present[key] = element
        for key, element in view.items:
            if key in renamed:
                present.setdefault(renamed[key].to, element)
        values = self._values(view, present)

        if variant.closed:
            for key, element in view.items:
                if key in variant.inputs or key in renamed:
                    continue
                takes = ", ".join(f'"{k}"' for k in variant.inputs)
                self.report(
                    element.key,
                    f'"{key}" is not an input of {service_id}' + (f" (it takes {takes})" if takes else "")
                    + basis(variant.confidence, variant.source),
                    severity=severity_for(variant.confidence),
                )
        if not view.dynamic:
            for key, spec in variant.inputs.items():
                if key not in present and spec.is_required(values) is True:
                    self.report(
                        view.node,
                        f'{service_id} needs the input "{key}"{_condition(spec)}' + basis(spec.confidence, spec.source),
                        severity=severity_for(spec.confidence),
                    )
        for key, element in view.items:
            given = variant.inputs.get(key)
            if given is None or key in renamed or view.overridden(element):
                continue
            self._check_value(service_id, given, element.value, given.confidence, given.source, key)

    @staticmethod
    def _values(view: LiteralDict, present: dict[str, cst.DictElement]) -> dict[str, Any]:
        values = {}
        for key, element in present.items():
            value = literal_value(element.value)
            if value is not NOT_LITERAL and not view.overridden(element):
                values[key] = value
        return values

    def _check_value(
        self,
        service_id: str,
        spec: InputSpec,
        expr: cst.BaseExpression,
        confidence: str | None,
        source: str | None,
        label: str,
    ) -> None:
        actual = json_type(expr)
        if actual is None or actual in ("null", "set"):
            return  # unknown, None (no claim about nullability), or CW108's set
        why = basis(confidence, source)
        if not fits(actual, spec.type):
            self.report(
                expr,
                f'"{label}" of {service_id} takes {describe(spec.type)}, not {describe(actual)}' + why,
                severity=severity_for(confidence),
            )
            return
        value = literal_value(expr)
        known = spec.allowed
        if known is not None and value is not NOT_LITERAL and not any(same_value(value, a) for a in known):
            shown = f'"{value}"' if isinstance(value, str) else repr(value)
            self.report(
                expr,
                f'{shown} is not a known "{label}" of {service_id} (known: {_known(known)})' + why,
                severity=severity_for(confidence),
            )
            return
        if spec.properties and isinstance(expr, cst.Dict):
            self._check_object(service_id, spec.properties, LiteralDict.read(expr), confidence, source, label)
        elif spec.items is not None and isinstance(expr, (cst.List, cst.Tuple)):
            item = spec.items
            for index, element in enumerate(expr.elements):
                if isinstance(element, cst.StarredElement):
                    return  # later positions are unknown
                conf, where = item.confidence or confidence, item.source or source
                self._check_value(service_id, item, element.value, conf, where, f"{label}[{index}]")

    def _check_object(
        self,
        service_id: str,
        properties: dict[str, InputSpec],
        view: LiteralDict,
        confidence: str | None,
        source: str | None,
        label: str,
    ) -> None:
        present = {key: element for key, element in view.items}
        values = self._values(view, present)
        if not view.dynamic:
            for key, spec in properties.items():
                if key not in present and spec.is_required(values) is True:
                    conf = spec.confidence or confidence
                    why = basis(conf, spec.source or source)
                    self.report(
                        view.node,
                        f'"{label}" of {service_id} needs "{key}"{_condition(spec)}' + why,
                        severity=severity_for(conf),
                    )
        for key, element in view.items:
            given = properties.get(key)
            if given is None or view.overridden(element):
                continue
            self._check_value(
                service_id, given, element.value, given.confidence or confidence, given.source or source, f"{label}.{key}"
            )
