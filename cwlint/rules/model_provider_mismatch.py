from __future__ import annotations

import libcst as cst

from cwlint.analysis.service_inputs import LiteralDict, basis, severity_for, weakest
from cwlint.catalog import Service
from cwlint.context import service_call, string_value
from cwlint.rule import Invalid, Rule, Valid


def _prefix(service: Service, model: str) -> str | None:
    """The catalog prefix of ``service`` that ``model`` starts with, if any."""
    if service.models is None:
        return None
    return next((p for p in service.models.prefixes if model.startswith(p.lower())), None)


def _literals(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The string literals a model expression can be: itself, or each branch of ``a if c else b``."""
    if isinstance(expr, cst.IfExp):
        return _literals(expr.body) + _literals(expr.orelse)
    return [expr] if string_value(expr) is not None else []


class ModelProviderMismatch(Rule):
    """A literal model name sent to another provider's LLM service.

    ## What it does
    Reports the literal `model` of a literal `inputs` dict sent to an LLM library service
    (`openai`, `anthropic`, `gemini`) when the name does not start with one of that
    service's model prefixes but does start with another service's (`claude-*` sent to
    `openai`, `gpt-*` to `anthropic`). The prefixes come from the catalog's `[models]`
    tables; each literal branch of `a if cond else b` is checked. Names no service claims
    (`llama-3.1-70b`, `openai/gpt-4o`) and models held in variables are left alone.

    ## Why is this bad?
    Each library service forwards to one provider, which rejects a model it does not
    serve: the call fails on every request (`httpx.HTTPStatusError`), typically after a
    model was swapped during cost tuning without switching the service.

    The prefix lists are known from doc examples (and partly inferred), so findings are
    warnings until the catalog documents them.

    ## Example
    ```python
    resp = await client.run(
        service_id="openai",
        inputs={"model": "claude-3-5-haiku-20241022", "prompt": prompt},
    )
    ```

    ## Use instead
    ```python
    resp = await client.run(
        service_id="anthropic",
        inputs={"model": "claude-3-5-haiku-20241022", "prompt": prompt},
    )
    ```

    ## Fix safety
    No fix: whether the service or the model is the mistake is the author's call (the
    other provider's contract, cost and answer shape may differ).
    """

    code = "CW107"
    name = "model-provider-mismatch"
    #: A service call passes `service_id=` or is made on a client the file names.
    triggers = ("service_id", "CodewordsClient")

    VALID = [
        Valid(
            """
            from codewords_client import AsyncCodewordsClient

            async def summarise(text: str) -> str:
                async with AsyncCodewordsClient() as client:
                    quick = await client.run(service_id="openai", inputs={"model": "gpt-4o-mini", "prompt": text})
                    deep = await client.run(service_id="anthropic", inputs={"model": "claude-sonnet-4-20250514", "prompt": text})
                    cheap = await client.run(service_id="gemini", inputs={"model": "gemini-2.5-flash", "prompt": text})
                    reason = await client.run(service_id="openai", inputs={"model": "o3-mini", "prompt": text})
                    return quick.json()["response"] + deep.json()["response"] + cheap.json()["response"] + reason.json()["response"]
            """
        ),
        # A routed model, a name no provider claims, another workflow that takes a model.
        Valid(
            """
            MODEL_BY_TASK = {"simple": "gpt-4o-mini", "analysis": "claude-sonnet-4-20250514"}

            async def route(client, task: str, prompt: str) -> None:
                model = MODEL_BY_TASK[task]
                service = "anthropic" if model.startswith("claude-") else "openai"
                await client.run(service_id=service, inputs={"model": model, "prompt": prompt})
                await client.run(service_id="openai", inputs={"model": "llama-3.1-70b", "prompt": prompt})
                await client.run(service_id="summariser_1a2b3c4d", inputs={"model": "claude-3-5-haiku-20241022"})
                await client.run(service_id="openai", path="v1/embeddings", inputs={"model": "text-embedding-3-small", "input": prompt})
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def analyse(prompt: str) -> dict:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(
                        service_id="openai",
                        inputs={"model": "claude-3-5-haiku-20241022", "prompt": prompt},
                    )
                    return resp.json()
            """,
            expected=(("CW107", 7, 30),),
            message='"claude-3-5-haiku-20241022" is not a model of openai',
        ),
        # Positional form, and the reasoning family.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def review(client: AsyncCodewordsClient, diff: str) -> None:
                await client.run("anthropic", {"model": "gpt-4o", "prompt": diff})
                await client.run("anthropic", {"prompt": diff, "model": "o3-mini"})
                await client.run(service_id="gemini", inputs={"model": "gpt-4.1-mini", "prompt": diff})
            """,
            expected=(("CW107", 4, 45), ("CW107", 5, 61), ("CW107", 6, 60)),
        ),
        # Each literal branch of a conditional model is checked.
        Invalid(
            """
            async def reply(client, tier: str, prompt: str) -> None:
                await client.run(
                    service_id="openai",
                    inputs={"model": "claude-sonnet-4-20250514" if tier == "enterprise" else "gpt-4o", "prompt": prompt},
                )
            """,
            expected=(("CW107", 4, 26),),
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None or call.service_id is None or call.literal_inputs is None:
            return
        catalog = self.ctx.catalog
        service = catalog.get(call.service_id)
        if service is None or service.models is None:
            return
        view = LiteralDict.read(call.literal_inputs)
        element = next((el for key, el in reversed(view.items) if key == "model"), None)
        if element is None or view.overridden(element):
            return
        for literal in _literals(element.value):
            self._check(call.service_id, service, literal)

    def _check(self, service_id: str, service: Service, literal: cst.BaseExpression) -> None:
        catalog = self.ctx.catalog
        model = string_value(literal)
        if not model:
            return
        lowered = model.strip().lower()
        if _prefix(service, lowered) is not None:
            return
        owners = [
            (other, prefix)
            for other in catalog.services.values()
            if other.id != service.id and (prefix := _prefix(other, lowered)) is not None
        ]
        if not owners:
            return
        models = service.models
        if models is None:  # visit_Call only asks about services with models
            return
        fact = weakest([models, *(other.models for other, _ in owners)])
        own = ", ".join(f"`{p}`" for p in models.prefixes)
        where = " or ".join(f'service_id="{other.id}" (`{prefix}` models)' for other, prefix in owners)
        self.report(
            literal,
            f'"{model}" is not a model of {service_id} (it takes {own}); it belongs to {where}'
            + basis(fact.confidence, fact.source),
            severity=severity_for(fact.confidence),
        )
